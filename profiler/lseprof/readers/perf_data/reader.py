"""The perf.data reader: checks a file, starts ``perf script`` on it (one per time
slice of a big file) and parses its output into a :class:`lseprof.samples.Capture`
(see the package docstring)."""

from __future__ import annotations

import functools
import gc
import re
import subprocess
from pathlib import Path
from typing import TYPE_CHECKING

from lseprof.capture.perf_cli import first_error, perf_argv, start_perf
from lseprof.capture.perf_env import find_perf
from lseprof.errors import LseprofError
from lseprof.readers.perf_data.forked import in_processes, reap
from lseprof.readers.perf_data.header import (
    PerfDataHeader,
    parse_build_ids,
    read_header,
    read_lost,
)
from lseprof.readers.perf_data.script_procs import (
    TRACE_MAX_STACK,
    ScriptProc,
    SymbolFiles,
    default_jobs,
    link_registers_argv,
    parse_link_registers,
    parse_slice,
    parse_times,
    script_argv,
    start_script,
    time_slices,
    times_argv,
)
from lseprof.readers.time_range import TimeRange, cut_capture, perf_time_arg, window_slices

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt
    import pandas as pd

    from lseprof import samples as S
    from lseprof.readers.script import ParsedScript


# This module loads neither numpy nor pandas until the samples are read, so that
# `lseprof report` can start perf before it imports them (start_perf_data).

MAGIC = b"PERFILE2"
SPLIT_ABOVE_BYTES = 8 << 20  # smaller files are not worth several perf processes
# Whole stacks: the kernel records at most kernel.perf_event_max_stack frames (127 by
# default), so asking perf script for this many keeps whatever was recorded.
FULL_STACK = 4096
# Frames read by default: the sampled one, its caller, and enough above them for the
# callchain step to see what scheduler and system-call entry/exit code serves (the
# arm64 entry el0_svc_common sits 4-6 frames under the user code that made the call).
DEFAULT_MAX_STACK = 8


def is_perf_data(path: Path) -> bool:
    try:
        with open(path, "rb") as handle:
            return handle.read(8) == MAGIC
    except OSError:
        return False


class PerfDataReader:
    """perf.data being read: :func:`start_perf_data` checks the file and starts perf
    script (one per time slice); :meth:`finish` parses its output into a Capture.

    Between the two the caller can do other work, such as importing pandas, while
    perf runs; :meth:`abort` stops perf if that work fails.

    `time_range`: only that stretch of the profile (perf cuts it where the header has
    the sample times, else the rows are cut after reading); `times`: fill the
    ``time`` column, from a second, symbol-free perf script pass (the samples pass
    leaves time out, see the package docstring).
    """

    def __init__(
        self,
        path: Path,
        perf: str,
        head: PerfDataHeader,
        max_stack: int,
        jobs: int,
        time_range: TimeRange | None = None,
        times: bool = False,
        files: SymbolFiles | None = None,
    ) -> None:
        self.path = path
        self.files = files or SymbolFiles()
        self.perf = perf
        self.head = head
        self.scripts: list[ScriptProc] = []
        self.times: ScriptProc | None = None
        self.link_registers: ScriptProc | None = None  # see PerfDataHeader.leaf_callers_here
        self._children: list[int] = []  # forked parsers, reaped in abort()
        # One event in the file: perf need not print its name on every sample.
        sampling = head.sampling_events
        self.event = sampling[0] if len(sampling) == 1 else None
        # Scheduler events in the file: read in the same pass, for the off-CPU view.
        self.tracepoints = head.has_sched_events
        self.time_range = time_range
        self.window: tuple[int, int] | None = None
        if time_range is not None and head.first_sample_ns and head.last_sample_ns:
            self.window = time_range.window_ns(head.first_sample_ns, head.last_sample_ns)
        # Without sample times in the header, a range is cut by the samples' own times.
        times = times or (time_range is not None and self.window is None)
        slices = window_slices(*self.window, jobs) if self.window else time_slices(jobs)
        try:
            if times:
                whole = perf_time_arg(*self.window) if self.window else None
                self.times = start_script(times_argv(perf, path, whole, bool(head.tracepoints)))
            if head.leaf_callers_here:
                whole = perf_time_arg(*self.window) if self.window else None
                self.link_registers = start_script(
                    link_registers_argv(perf, path, whole, bool(head.tracepoints))
                )
            for time_slice in slices:
                self.scripts.append(
                    start_script(
                        script_argv(
                            perf,
                            path,
                            max_stack,
                            time_slice,
                            head.callchain,
                            self.event is not None,
                            bool(head.tracepoints),
                            self.tracepoints,
                            self.files.perf_options(head.emulated),
                        )
                    )
                )
            # Two quick perf calls (they read the header only), collected when needed.
            self._ids = start_perf(
                perf_argv(perf, "buildid-list", "-i", path),
                stdout=subprocess.PIPE,
                stderr=subprocess.DEVNULL,
            )
            self._version = start_perf(
                perf_argv(perf, "--version"), stdout=subprocess.PIPE, stderr=subprocess.DEVNULL
            )
        except BaseException:
            self.abort()
            raise
        self._build_ids: dict[str, str] | None = None
        self._perf_version: str | None = None

    @property
    def build_ids(self) -> dict[str, str]:
        """DSO path -> build-id, as recorded (`perf buildid-list`)."""
        if self._build_ids is None:
            self._build_ids = parse_build_ids(self._ids.communicate()[0])
        return self._build_ids

    @property
    def perf_version(self) -> str:
        """The version of the perf that reads the file (as ``perf_env.perf_version``)."""
        if self._perf_version is None:
            text = self._version.communicate()[0].decode("utf-8", "replace")
            match = re.search(r"(\d+\.\d+(?:\.\d+)?)", text)
            self._perf_version = match[1] if match else text.strip() or "unknown"
        return self._perf_version

    def abort(self) -> None:
        reap(self._children)
        for script in self.scripts:
            script.close()
        self.scripts = []
        for side_pass in (self.times, self.link_registers):
            if side_pass is not None:
                side_pass.close()
        self.times = self.link_registers = None
        for proc in (getattr(self, "_ids", None), getattr(self, "_version", None)):
            if proc is not None and proc.poll() is None:
                proc.kill()
                proc.communicate()

    def finish(self) -> S.Capture:
        """Wait for perf, parse its text (slices in parallel) and build the Capture."""
        # The parsers make millions of short-lived, acyclic objects (sample blocks):
        # without this the cycle collector walks every live object again and again.
        collecting = gc.isenabled()
        gc.disable()
        try:
            return self._finish()
        finally:
            if collecting:
                gc.enable()
            self.abort()

    def _finish(self) -> S.Capture:
        from lseprof import samples as S
        from lseprof.readers.script import apply_comms, merge_parts

        path, head = self.path, self.head
        calls = [
            functools.partial(parse_slice, s, head.callchain, self.event, self.tracepoints)
            for s in self.scripts
        ]
        results = calls[0]() if len(calls) == 1 else None
        slices = (
            [results] if results is not None else in_processes(calls[1:], calls[0], self._children)
        )
        for script in self.scripts:
            script.proc.wait()
            if script.proc.returncode != 0:
                script.errors.seek(0)
                raise LseprofError(
                    f"{path}: perf script failed ("
                    f"{first_error(script.errors.read())[:60]}); the file is "
                    "damaged, record it again"
                )
        if head.callchain:
            parts = [s.parts for s in slices if s.parts is not None]
            merged = merge_parts(parts, "perf-data")
            # Every time slice repeats the whole task history (and the LOST records).
            first = max(parts, key=lambda p: len(p.tasks.records))
            apply_comms(merged.samples, first.tasks)
            merged.lost_records = first.lost_records
            merged.mappings = list(dict.fromkeys(m for p in parts for m in p.tasks.mappings))
        else:
            texts = [s.text for s in slices if s.text is not None]
            merged = texts[0]
            merged.samples = S.concat([t.samples for t in texts])
            merged.lost_records = max(t.lost_records for t in texts)
            merged.unknown_lines = sum(t.unknown_lines for t in texts)
            merged.unknown_examples = [x for t in texts for x in t.unknown_examples][:5]
            merged.mappings = list(dict.fromkeys(m for t in texts for m in t.mappings))
            merged.trace_text = b"".join(t.trace_text for t in texts)
        return self._capture(merged)

    def _capture(self, merged: ParsedScript) -> S.Capture:
        import numpy as np

        from lseprof import samples as S

        path, perf, head = self.path, self.perf, self.head
        frame = merged.samples
        # Events in order of appearance, from the codes (no million-row string column).
        codes = frame["event"].cat.codes.to_numpy()
        names = [str(e) for e in frame["event"].cat.categories]
        present = np.flatnonzero(np.bincount(codes[codes >= 0], minlength=len(names)))
        first_at = [int(np.argmax(codes == c)) for c in present.tolist()]
        seen = [names[c] for _, c in sorted(zip(first_at, present.tolist(), strict=True))]
        events = [e for e in head.events if e in seen] + [e for e in seen if e not in head.events]
        lost = read_lost(perf, path) if merged.lost_records else {}
        warnings = []
        if head.perf_version and head.perf_version != self.perf_version:
            warnings.append(
                f"recorded with perf {head.perf_version}, read with perf {self.perf_version}"
            )
        capture = S.Capture(
            warnings=warnings,
            samples=self._with_link_registers(self._timed(frame, warnings), warnings),
            source_kind="perf-data",
            path=str(path),
            events=events,
            perf_version=self.perf_version,
            lost_samples={e: lost.get(e, 0) for e in events},
            sample_counts={},
            unknown_lines=merged.unknown_lines,
            unknown_examples=merged.unknown_examples,
            build_ids=self.build_ids,
            arch=head.arch,
            ip_precision=head.ip_precision,
            runtime_ips=not head.callchain,
            stacks=merged.stacks,
            stack_frames=merged.frames,
            mappings=merged.mappings,
            sched_text=merged.trace_text,
            first_ns=head.first_sample_ns,
            last_ns=head.last_sample_ns,
            window_ns=self.window,
        )
        self._cut(capture)
        capture.validate()
        return capture

    def _timed(self, frame: pd.DataFrame, warnings: list[str]) -> pd.DataFrame:
        """The table with its ``time`` column from the times pass, if there was one."""
        if self.times is None:
            return frame
        tids, stamps = parse_times(self.times)
        if self._matched(frame, tids, "sample times", "times left out", warnings):
            frame["time"] = stamps / 1e9
        return frame

    def _with_link_registers(self, frame: pd.DataFrame, warnings: list[str]) -> pd.DataFrame:
        """The table with its ``lr`` column from the link-register pass, if there was one."""
        if self.link_registers is None:
            return frame
        tids, lrs = parse_link_registers(self.link_registers)
        consequence = "leaf functions' callers are as the frame pointers say"
        if self._matched(frame, tids, "link registers", consequence, warnings):
            frame["lr"] = lrs
        return frame

    def _matched(
        self,
        frame: pd.DataFrame,
        tids: npt.NDArray[np.int64],
        what: str,
        consequence: str,
        warnings: list[str],
    ) -> bool:
        """Whether a side pass printed one line per sample of the main pass, in its
        order (the same thread ids); a warning when not."""
        if tids.size == len(frame) and not (tids != frame["tid"].to_numpy()).any():
            return True
        warnings.append(
            f"the {what} of {self.path.name} could not be matched to its samples "
            f"({tids.size} {what}, {len(frame)} samples); {consequence}"
        )
        return False

    def _cut(self, capture: S.Capture) -> None:
        """A range perf could not cut (no sample times in the header): cut the rows by
        their own times."""
        if self.time_range is not None and self.window is None:
            cut_capture(capture, self.time_range)


def start_perf_data(
    path: Path,
    max_stack: int | None = None,
    jobs: int | None = None,
    split_above_bytes: int = SPLIT_ABOVE_BYTES,
    time_range: TimeRange | None = None,
    times: bool = False,
    files: SymbolFiles | None = None,
) -> PerfDataReader:
    """Check a perf.data and start perf script on it (see :class:`PerfDataReader`);
    `files` are the recording machine's, where it was another."""
    path = Path(path)
    if files is not None:
        files.check()
    try:
        size = path.stat().st_size
    except OSError as exc:
        raise LseprofError(f"{path}: {exc.strerror}; check the path") from None
    if size == 0:
        raise LseprofError(f"{path} is empty; record the profile again (perf record -g ...)")
    try:
        perf = find_perf()
    except LseprofError:
        # perf_env's message lists every distribution; one short line is enough here.
        raise LseprofError(
            f"perf is not on PATH; install it (Debian: linux-perf) to read {path.name}"
        ) from None
    head = read_header(perf, path)
    if head.data_offset and head.data_offset + head.data_size > size:
        raise LseprofError(
            f"{path} is truncated ({size} of {head.data_offset + head.data_size} "
            "bytes); copy or record it again"
        )
    if max_stack is None:
        max_stack = 64 if head.emulated else DEFAULT_MAX_STACK
    if not head.callchain:
        max_stack = 1
    if head.has_sched_events:  # the tracepoints' stacks say where threads went to sleep
        max_stack = max(max_stack, TRACE_MAX_STACK)
    if jobs is None:
        jobs = default_jobs()
    if size < split_above_bytes or not head.has_time:
        jobs = 1
    return PerfDataReader(path, perf, head, max_stack, jobs, time_range, times, files)


def read_perf_data(
    path: Path,
    max_stack: int | None = None,
    jobs: int | None = None,
    split_above_bytes: int = SPLIT_ABOVE_BYTES,
    time_range: TimeRange | None = None,
    times: bool = False,
    files: SymbolFiles | None = None,
) -> S.Capture:
    """Run perf on a perf.data and return its samples (see the module docstring)."""
    reader = start_perf_data(path, max_stack, jobs, split_above_bytes, time_range, times, files)
    return reader.finish()
