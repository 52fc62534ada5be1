"""The one way lseprof starts perf: its command lines, and perf's failures turned
into the project's one error type.

Every perf process (record, script, report, stat, buildid-list, sched) starts here:
:func:`run_perf` for the calls whose output is read when perf is done,
:func:`start_perf` for the ones read while perf writes (perf script on big files)
or that run beside a workload (perf record). Both give one-line
:class:`~lseprof.errors.LseprofError` messages for a perf that cannot start or
does not finish in time; what perf's own exit status means is the caller's to say,
with :func:`first_error` for perf's first message.
"""

from __future__ import annotations

import subprocess
from collections.abc import Sequence
from pathlib import Path
from typing import IO, Any

from lseprof.errors import LseprofError


def perf_argv(perf: str, sub: str, *args: str | Path) -> list[str]:
    """``perf SUB ARGS...`` as a list of strings."""
    return [perf, sub, *(str(a) for a in args)]


def _cannot_start(argv: Sequence[str], exc: OSError) -> LseprofError:
    return LseprofError(f"cannot run {argv[0]} ({exc.strerror}); check the perf install")


def run_perf(
    argv: Sequence[str], what: str, timeout: float | None = 600, text: bool = False
) -> subprocess.CompletedProcess[Any]:
    """Run perf to completion with its output captured (bytes, or text with
    undecodable bytes replaced)."""
    try:
        return subprocess.run(
            list(argv),
            capture_output=True,
            check=False,
            timeout=timeout,
            text=text,
            errors="replace" if text else None,
        )
    except OSError as exc:
        raise _cannot_start(argv, exc) from None
    except subprocess.TimeoutExpired:
        raise LseprofError(
            f"{what} took longer than {timeout:.0f} s; try a smaller perf.data"
        ) from None


def start_perf(
    argv: Sequence[str],
    *,
    stdout: int | IO[Any] | None = None,
    stderr: int | IO[Any] | None = None,
    text: bool = False,
    **popen: Any,
) -> subprocess.Popen[Any]:
    """Start perf without waiting for it (further ``subprocess.Popen`` options pass
    through: pass_fds, start_new_session, env)."""
    try:
        return subprocess.Popen(
            list(argv),
            stdout=stdout,
            stderr=stderr,
            text=text,
            errors="replace" if text else None,
            **popen,
        )
    except OSError as exc:
        raise _cannot_start(argv, exc) from None


def first_error(stderr: bytes | str) -> str:
    """perf's first message line (it prints hints and banners after it)."""
    text = stderr.decode("utf-8", "replace") if isinstance(stderr, bytes) else stderr
    for line in text.splitlines():
        line = line.strip()
        if line and not line.lower().startswith(("warning", "hint", "please use", "(if")):
            return line
    return "no message"
