"""Capture the paste fixtures that this script made (tests/fixtures/perf/pastes):
real perf output of the committed perf.data files, then cut as a person would cut
it. Tests never run this; it says exactly how each file was made, and re-running
it on another perf gives files the tests still accept (they check invariants).

Made here:
  stdio-wrapped-mail.txt      perf report --stdio, wrapped by a mail client (fold -s -w 60)
  stdio-wrapped-terminal.txt  the same, cut hard at 64 columns (a terminal that does not
                              rejoin soft-wrapped lines when copying)
  stdio-sort-pid-first.txt    --sort pid,comm,dso,sym (perf's "Pid:Command" column)
  stdio-sort-sym-pid-dso.txt  --sort sym,pid,dso (the symbol first)
  two-events/tui-screens.txt  the interactive report of a two-event perf.data: both
                              events' screens (TAB switches event), title and column
                              header above each screen's rows, one after the other

usage: .venv/bin/python scripts/capture_pastes.py
"""

from __future__ import annotations

import contextlib
import datetime
import fcntl
import json
import os
import platform
import pty
import re
import select
import struct
import subprocess
import sys
import tempfile
import termios
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
FIX = REPO / "tests/fixtures/perf"
PASTES = FIX / "pastes"
CONTEND = FIX / "x86-contend/perf.data"
TWO = FIX / "x86-two-events/perf.data"


def perf(*args: str, buildid_dir: Path) -> str:
    # An empty build-id cache, as tests/fixtures/perf/regenerate.sh uses.
    return subprocess.run(
        ["perf", "--buildid-dir", str(buildid_dir), *args],
        capture_output=True,
        text=True,
        check=True,
    ).stdout


def fold(text: str, width: int, at_spaces: bool) -> str:
    flag = ["-s"] if at_spaces else []
    return subprocess.run(
        ["fold", *flag, "-w", str(width)], input=text, capture_output=True, text=True, check=True
    ).stdout


def drive_tui(data: Path, keys: list[bytes], cwd: Path, buildid_dir: Path) -> str:
    """perf report --tui in a 120x40 pty, fed ``keys``; the terminal output, escape
    codes left in (perf writes its P dumps as perf.hist.N into ``cwd``)."""
    pid, fd = pty.fork()
    if pid == 0:  # the child: perf on the pty
        os.chdir(cwd)
        os.environ.update(COLUMNS="120", LINES="40", TERM="xterm")
        os.execvp(
            "perf",
            [
                "perf",
                "--buildid-dir",
                str(buildid_dir),
                "report",
                "-i",
                str(data),
                "--tui",
                "--no-children",
            ],
        )
    fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 120, 0, 0))
    screen = bytearray()

    def drain(seconds: float) -> None:
        end = time.time() + seconds
        while time.time() < end:
            if select.select([fd], [], [], 0.1)[0]:
                try:
                    screen.extend(os.read(fd, 65536))
                except OSError:
                    return

    drain(3.0)
    for key in keys:
        os.write(fd, key)
        drain(1.5)
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, 9)
    os.waitpid(pid, 0)
    return screen.decode("utf-8", "replace")


def tui_two_events(buildid_dir: Path) -> str:
    with tempfile.TemporaryDirectory() as work:
        # ENTER opens the first event's histogram, P dumps it, TAB goes to the next event.
        screen = drive_tui(TWO, [b"\r", b"P", b"\t", b"P", b"q", b"q"], Path(work), buildid_dir)
        dumps = [(Path(work) / f"perf.hist.{i}").read_text() for i in (0, 1)]
    titles = re.findall(
        r"Samples: [^\x1b]*?of event '[^']*', Event count \(approx\.\): \d+", screen
    )
    header = re.search(r"Overhead\s+Command\s+Shared Object\s+Symbol", screen)
    if len(titles) < 2 or header is None:
        sys.exit("the TUI screen has no two titles and a column header; see its output")
    parts = [
        f"{title}\n{header[0].rstrip()}\n{dump}"
        for title, dump in zip(titles[:2], dumps, strict=True)
    ]
    return "\n".join(parts)


def main() -> None:
    with tempfile.TemporaryDirectory() as empty:
        cache = Path(empty) / ".debug"
        flat = perf(
            "report",
            "-i",
            str(CONTEND),
            "--stdio",
            "--no-children",
            "-g",
            "none",
            "--percent-limit",
            "0",
            buildid_dir=cache,
        )
        made = {
            "stdio-wrapped-mail.txt": fold(flat, 60, at_spaces=True),
            "stdio-wrapped-terminal.txt": fold(flat, 64, at_spaces=False),
            "stdio-sort-pid-first.txt": perf(
                "report",
                "-i",
                str(CONTEND),
                "--stdio",
                "--no-children",
                "-g",
                "none",
                "--sort",
                "pid,comm,dso,sym",
                buildid_dir=cache,
            ),
            "stdio-sort-sym-pid-dso.txt": perf(
                "report",
                "-i",
                str(CONTEND),
                "--stdio",
                "--no-children",
                "-g",
                "none",
                "--sort",
                "sym,pid,dso",
                buildid_dir=cache,
            ),
            "two-events/tui-screens.txt": tui_two_events(cache),
        }
    for name, text in made.items():
        (PASTES / name).parent.mkdir(parents=True, exist_ok=True)
        (PASTES / name).write_text(text)
        print(f"{name}: {len(text.splitlines())} lines")
    version = subprocess.run(
        ["perf", "--version"], capture_output=True, text=True, check=True
    ).stdout.strip()
    stamp = {
        "made_by": "scripts/capture_pastes.py",
        "perf_version": version,
        "date": datetime.datetime.now(datetime.UTC).replace(microsecond=0).isoformat(),
        "machine_arch": platform.machine(),
        "kernel": platform.release(),
    }
    meta = PASTES / "two-events/meta.json"
    meta.write_text(
        json.dumps(
            {
                **stamp,
                "source": str(TWO.relative_to(REPO)),
                "files": {
                    "tui-screens.txt": "perf report --tui --no-children of a cpu-clock + "
                    "task-clock perf.data in a 120x40 pty: ENTER, P, TAB, P; each event's "
                    "screen title and column header (from the terminal output, "
                    "escape codes removed) above its P dump"
                },
            },
            indent=2,
        )
        + "\n"
    )
    print(json.dumps(stamp))


if __name__ == "__main__":
    main()
