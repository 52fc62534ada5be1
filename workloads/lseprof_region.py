"""Mark a program's measured region for a profiler: lseprof's region protocol
(docs/time.md), which is perf's own control-FIFO protocol (``perf record -D -1
--control fifo:CTL,ACK``).

A profiler that wants the region only sets ``LSEPROF_REGION_CTL`` and
``LSEPROF_REGION_ACK`` to two FIFOs. The program writes ``enable`` (a line) to the
first when its measured region begins and ``disable`` when it ends, and after each
reads the line ``ack`` from the second: then the profiler records (has stopped).
Without the variables nothing happens.

Standard library only (the hf-tokenizers driver runs it under a foreign
interpreter); copy it next to a script and::

    from lseprof_region import Region

    region = Region.from_env()
    with region:          # or region.enable() ... region.disable()
        timed_work()
"""

from __future__ import annotations

import os
from types import TracebackType
from typing import IO

CTL_ENV = "LSEPROF_REGION_CTL"
ACK_ENV = "LSEPROF_REGION_ACK"


class RegionError(RuntimeError):
    """The profiler's FIFOs cannot be used (a one-line message with what to do)."""


class Region:
    """The connection to the profiler, if the program runs under one that asked."""

    def __init__(self, out: IO[bytes] | None = None, inp: IO[bytes] | None = None) -> None:
        self._out = out
        self._in = inp

    @classmethod
    def from_env(cls) -> Region:
        """Connect to the FIFOs the environment names; a no-op region without them."""
        ctl, ack = os.environ.get(CTL_ENV, ""), os.environ.get(ACK_ENV, "")
        if not ctl or not ack:
            return cls()
        try:
            # The command FIFO first, then the answer FIFO: the order the profiler opens
            # its ends in (each open waits for the other side).
            # os.open: never create a file where a FIFO should be.
            out = os.fdopen(os.open(ctl, os.O_WRONLY | os.O_CLOEXEC), "wb", buffering=0)
            inp = os.fdopen(os.open(ack, os.O_RDONLY | os.O_CLOEXEC), "rb", buffering=0)
        except OSError as exc:
            raise RegionError(
                f"cannot open the region FIFO {exc.filename} ({exc.strerror}); run under "
                f"`lseprof run` or unset {CTL_ENV} and {ACK_ENV}"
            ) from None
        return cls(out, inp)

    @property
    def active(self) -> bool:
        """True when a profiler listens."""
        return self._out is not None

    def enable(self) -> None:
        """The measured region begins: returns once the profiler records."""
        self._send(b"enable")

    def disable(self) -> None:
        """The measured region ends: returns once the profiler has stopped."""
        self._send(b"disable")

    def _send(self, command: bytes) -> None:
        if self._out is None or self._in is None:
            return
        try:
            self._out.write(command + b"\n")
            # perf itself sends a NUL after "ack\n": it starts the next answer.
            answer = self._in.readline().strip(b"\0 \t\r\n")
        except OSError as exc:
            raise RegionError(
                f"region {command.decode()} failed ({exc.strerror}); is the profiler running?"
            ) from None
        if answer != b"ack":
            raise RegionError(
                f"region {command.decode()}: the profiler answered {answer[:40]!r}, not b'ack'"
            )

    def close(self) -> None:
        """Close the FIFOs (the profiler then sees the end of the commands)."""
        for handle in (self._out, self._in):
            if handle is not None:
                handle.close()
        self._out = self._in = None

    def __enter__(self) -> Region:
        self.enable()
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        value: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        self.disable()
