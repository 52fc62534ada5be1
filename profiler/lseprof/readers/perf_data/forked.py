"""Calls run side by side in forked child processes, their results pickled back
(the time slices of a perf.data, see :mod:`lseprof.readers.perf_data.reader`)."""

from __future__ import annotations

import contextlib
import os
import pickle
import tempfile
import threading
from collections.abc import Callable, Sequence
from typing import IO, NoReturn, TypeVar

_T = TypeVar("_T")


def in_processes(
    calls: Sequence[Callable[[], _T]], here: Callable[[], _T], children: list[int]
) -> list[_T]:
    """`here()` in this process and each of `calls` in a forked child, all at once;
    the results, here's first. The children's pids are added to `children`: they
    are reaped later (:func:`reap`), so that the parent need not wait while the
    kernel takes a child's memory apart.

    Fork, not a fresh interpreter: the children start with numpy and the parsers
    already imported. Results (or exceptions) come back pickled in an unnamed
    temporary file (one write, one read: a pipe would take a few hundred wake-ups
    for the ~15 MB of codes of half a million samples); a one-byte pipe says when
    it is complete.
    """
    started: list[tuple[IO[bytes], int]] = []
    outcomes: list[tuple[bool, object]] = []
    try:
        for call in calls:
            box = tempfile.TemporaryFile(prefix="lseprof-slice-")  # noqa: SIM115
            ready, ready_w = os.pipe()
            pid = os.fork()
            if pid == 0:  # pragma: no cover  (the child; coverage does not follow it)
                os.close(ready)
                _child(call, box, ready_w)
            os.close(ready_w)
            children.append(pid)
            started.append((box, ready))
        outcomes.append((True, here()))
    finally:
        for result, ready in started:
            with result:
                done = os.read(ready, 1)  # b"" if the child died before writing
                os.close(ready)
                result.seek(0)
                try:
                    outcomes.append(
                        pickle.load(result)
                        if done
                        else (False, RuntimeError("a perf script worker died"))
                    )
                except Exception:
                    outcomes.append((False, RuntimeError("a perf script worker died")))
    for ok, value in outcomes:
        if not ok:
            raise value  # type: ignore[misc]
    return [value for _, value in outcomes]  # type: ignore[misc]


def reap(children: list[int]) -> None:
    """Wait for the forked parsers in a thread: a child that has sent its result may
    still be exiting (the kernel freeing its memory), and nothing needs to wait."""

    def wait(pids: list[int]) -> None:
        for pid in pids:
            with contextlib.suppress(ChildProcessError):
                os.waitpid(pid, 0)

    if children:
        threading.Thread(target=wait, args=(list(children),), daemon=True).start()
    children.clear()


def _child(call: Callable[[], object], box: IO[bytes], ready: int) -> NoReturn:  # pragma: no cover
    status = 0
    try:
        try:
            payload = pickle.dumps((True, call()), protocol=pickle.HIGHEST_PROTOCOL)
        except BaseException as exc:  # handed to the parent to raise
            try:
                payload = pickle.dumps((False, exc))
            except Exception:
                payload = pickle.dumps((False, RuntimeError(repr(exc))))
        box.write(payload)
        box.flush()
        os.write(ready, b"1")
    except BaseException:
        status = 1
    finally:
        # Never run the parent's exit handlers or flush its buffers twice.
        os._exit(status)
