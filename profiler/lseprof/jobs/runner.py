"""`lseprof run`: the matrix of (variant, threads, repetition) runs under perf.

Repetitions are interleaved across variants (A B A B ..., the order flipping
each repetition) so that drift on the machine hits both alike. Every run gets a
directory with perf.data, qemu's perf map for emulated runs, the workload's
output and run.json; one row per run goes to the store. A run that fails or
times out is kept and marked, and the others still run; Ctrl-C stores the run
in progress as interrupted and stops.
"""

from __future__ import annotations

import json
import re
import secrets
import socket
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from lseprof.analysis.run_analysis import analyze_record
from lseprof.capture import build as builds
from lseprof.capture.control import DELAY, MARKERS, WHOLE, RegionPlan, check_region
from lseprof.capture.perf_env import check_recording_allowed, choose_event, find_perf, host_facts
from lseprof.capture.record import (
    FAILED,
    INTERRUPTED,
    OK,
    RecordOutcome,
    RecordSpec,
    RegionSetup,
    run_recorded,
    write_artifact,
)
from lseprof.capture.sched_record import sched_recording, sched_tracepoints_problem
from lseprof.emulation.user import emulated_command, needs_emulation
from lseprof.errors import LseprofError
from lseprof.paths import REPO_ROOT
from lseprof.store import NoPerfRun, RunExtra, RunRecord, RunStoreProtocol
from lseprof.workloads import bpe
from lseprof.workloads import hf_tokenizers as hf
from lseprof.workloads.data import DataFiles, require_data

# Hz: enough samples in a few seconds. A PMU or a bare-metal timer sample costs a few µs
# (well under 1% at this rate); a cpu-clock sample in a nested VM costs 30-40 µs, ~3-4%
# (measure yours with benchmarks/bench_overhead.py or `lseprof run --overhead`).
DEFAULT_FREQ = 999
DEFAULT_DURATION = 5.0


@dataclass(frozen=True)
class RunPlan:
    """Everything `lseprof run` was asked to do."""

    workload: str = bpe.NAME
    variants: tuple[str, ...] = ("rayon", "window")
    threads: tuple[int, ...] = (88,)
    repeat: int = 3
    target: str = "host"
    cpu: str | None = None
    duration: float | None = DEFAULT_DURATION
    freq: int = DEFAULT_FREQ
    event: str | None = None
    call_graph: str = "fp"
    timeout: float | None = None
    perf: bool = True
    overhead: bool = False
    corpus: Path | None = None
    batch_size: int | None = None
    workload_args: tuple[str, ...] = ()
    command: tuple[str, ...] = ()
    throughput_regex: str | None = None
    config_key: str | None = None
    # How `lseprof nightly` judges this series (alpha, noise floors, min nights), stored
    # with every run so the dashboard re-renders with the same judgement.
    judgement: dict[str, float] | None = None
    # Scheduler events (off-CPU time, wake-ups) recorded system-wide beside the samples.
    sched: bool = False
    # What perf records: markers (the workload's measured region), whole (the whole
    # process) or None (markers for the built-in workloads, whole for a command);
    # `delay`: from that many seconds after the start (lseprof.capture.control).
    region: str | None = None
    delay: float | None = None
    # The aarch64 machine (--target aarch64-vm): its vCPUs and memory (MiB).
    smp: int | None = None
    memory: int | None = None
    # False: record and store the runs only; their figures come later (the aarch64
    # machine's runs are analysed on the host that started it).
    analyze: bool = True
    # The session's id, when whoever started it chose one (the host of the machine).
    session_id: str | None = None
    # Cache lines between cores (--target aarch64-vm off-arm): qemu's coherence plugin
    # loaded, one boot per run (lseprof.jobs.vm_runs).
    coherence: bool = False
    # In the machine, for such a boot: run only the plan's run of this index (in
    # plan_order), its workload exec'd through this program (the plugin's coh-exec,
    # which makes the plugin follow the workload and not lseprof or perf around it).
    run_index: int | None = None
    exec_through: str | None = None

    @property
    def region_mode(self) -> str:
        """markers, delay or whole: how this plan's runs are recorded."""
        if self.delay is not None:
            return DELAY
        if self.region is not None:
            return self.region
        return MARKERS if self.workload in (bpe.NAME, hf.NAME) else WHOLE

    def region_plan(self) -> RegionPlan | None:
        """The region of every profiled run (None: the whole process)."""
        return check_region(self.region_mode, self.delay)

    def _validate_machine(self) -> None:
        """--smp and --memory size the aarch64 machine, and nothing else."""
        if self.target != builds.VM_TARGET:
            for name, value in (("--smp", self.smp), ("--memory", self.memory)):
                if value is not None:
                    raise LseprofError(f"{name} sizes the aarch64 machine: add --target aarch64-vm")
            return
        if self.smp is not None and self.smp < 1:
            raise LseprofError("--smp must be at least 1")
        if self.memory is not None and self.memory < 256:
            raise LseprofError("--memory is in MiB and must be at least 256")
        if self.workload == hf.NAME and not builds.host_is_aarch64():
            raise LseprofError(
                f"{hf.NAME} does not run in the aarch64 machine (its wheels are not in the "
                "guest); use --workload bpe-encode or `-- CMD`"
            )

    def _validate_coherence(self) -> None:
        """--coherence needs the emulated machine: qemu runs the model."""
        if not self.coherence:
            return
        if self.target != builds.VM_TARGET:
            raise LseprofError(
                "--coherence counts cache lines moving between the emulated aarch64 "
                "machine's CPUs: add --target aarch64-vm"
            )
        if builds.host_is_aarch64():
            raise LseprofError(
                "--coherence needs the emulated aarch64 machine (a qemu plugin), which an "
                "aarch64 host does not boot; use perf c2c (with SPE) here"
            )

    def validate(self) -> None:
        if (not self.threads and self.workload != "command") or min(self.threads or (1,)) < 1:
            raise LseprofError("--threads must be positive integers, e.g. --threads 1,2,8,88")
        if self.repeat < 1:
            raise LseprofError("--repeat must be at least 1")
        if self.batch_size is not None and self.batch_size < 1:
            raise LseprofError("--batch-size must be at least 1")
        if self.freq < 1:
            raise LseprofError("--freq must be at least 1 Hz")
        if self.call_graph not in ("fp", "dwarf"):
            raise LseprofError("--call-graph must be fp or dwarf")
        if self.workload not in (bpe.NAME, hf.NAME, "command"):
            raise LseprofError(
                f"unknown workload {self.workload!r}; "
                f"use {bpe.NAME}, {hf.NAME}, or `-- CMD ARGS` for a command"
            )
        if self.workload == "command" and not self.command:
            raise LseprofError("give the command to profile after `--`")
        if self.delay is not None and self.region is not None:
            raise LseprofError(
                f"--delay and {'--whole-process' if self.region == WHOLE else '--region-markers'}"
                " exclude each other; pick one"
            )
        self.region_plan()
        builds.expand(self.target, builds.RUN_TARGETS, "target")
        self._validate_machine()
        self._validate_coherence()
        if self.workload == hf.NAME:
            if set(self.variants) != {hf.VARIANT}:
                raise LseprofError(
                    f"{hf.NAME} has one variant, {hf.VARIANT}; leave out "
                    "--variant or pass --variant upstream"
                )
            return
        for variant in self.variants:
            builds.expand(variant, builds.VARIANTS, "variant")
        if self.throughput_regex:
            try:
                re.compile(self.throughput_regex)
            except re.error as exc:
                raise LseprofError(f"--throughput-regex is not a valid regex ({exc})") from None


@dataclass
class RunSession:
    session_id: str
    event: str | None
    records: list[RunRecord] = field(default_factory=list)
    interrupted: bool = False


def _stamp() -> str:
    return datetime.now(UTC).strftime("%Y%m%dT%H%M%S")


def source_commit() -> str | None:
    try:
        proc = subprocess.run(
            ["git", "-C", str(REPO_ROOT), "rev-parse", "--short=12", "HEAD"],
            capture_output=True,
            text=True,
            check=False,
            timeout=10,
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    return proc.stdout.strip() or None


def _build_id(path: Path) -> str | None:
    from lseprof.symbols.elf import ElfImage

    try:
        return ElfImage(path).build_id
    except LseprofError:
        return None


def _throughput_from_text(regex: str | None, stdout: str) -> float | None:
    if not regex:
        return None
    match = re.search(regex, stdout)
    if not match:
        return None
    try:
        return float(match.group(1) if match.groups() else match.group(0))
    except ValueError:
        return None


def _ensure_build(target: str, variant: str) -> builds.Build:
    path = builds.binary_path(target, variant)
    return (
        builds.build(target, variant)
        if not path.is_file()
        else builds.require_build(target, variant)
    )


def plan_order(plan: RunPlan) -> list[tuple[str, int | None, int]]:
    """(variant, threads, repetition) in execution order: interleaved, alternating.

    A command whose threads lseprof does not set (`-- CMD` without --threads) runs
    with threads None: its runs say the count is unknown, not a default."""
    order: list[tuple[str, int | None, int]] = []
    counts: tuple[int | None, ...] = plan.threads or (None,)
    for threads in counts:
        for rep in range(plan.repeat):
            variants = plan.variants if rep % 2 == 0 else tuple(reversed(plan.variants))
            order.extend((variant, threads, rep) for variant in variants)
    return order


@dataclass
class _Launch:
    """How the plan's workload starts, whatever the variant and thread count."""

    plan: RunPlan
    kind: str  # bpe-encode, hf-tokenizers or command
    perfmap: bool  # emulated and profiled: qemu writes its perf map
    files: DataFiles | None = None
    corpus: Path | None = None
    command: list[str] = field(default_factory=list)
    builds: dict[str, builds.Build] = field(default_factory=dict)
    build_ids: dict[str, str | None] = field(default_factory=dict)

    @property
    def reports_json(self) -> bool:
        """Both built-in workloads print the native encoder's one-line JSON."""
        return self.kind in (bpe.NAME, hf.NAME)

    def argv(self, variant: str, threads: int | None) -> tuple[list[str], dict[str, str] | None]:
        plan = self.plan
        if self.kind == bpe.NAME:
            assert self.files is not None and self.corpus is not None and threads is not None
            options = bpe.EncodeOptions(
                threads,
                self.corpus,
                self.files.vocab_dir,
                duration=plan.duration,
                batch_size=plan.batch_size,
                extra_args=plan.workload_args,
            )
            return bpe.encoder_argv(self.builds[variant], options, plan.cpu, self.perfmap), None
        if self.kind == hf.NAME:
            assert self.files is not None and self.corpus is not None and threads is not None
            argv, extra_env = hf.encoder_argv(
                plan.target,
                self.corpus,
                self.files.vocab_dir,
                plan.duration,
                plan.batch_size,
                plan.cpu,
                perfmap=self.perfmap,
            )
            return argv, hf.environment(extra_env, threads)
        return command_argv(self.command, threads)

    def build_facts(self, variant: str, argv: list[str], commit: str | None) -> dict[str, Any]:
        if self.kind == bpe.NAME:
            build = self.builds[variant]
            return {
                "target": self.plan.target,
                "atomics": build.atomics,
                "build_id": self.build_ids[variant],
                "path": str(build.path),
                "source_commit": commit,
            }
        if self.kind == hf.NAME:
            return {"target": self.plan.target, "tokenizers": hf.VERSION}
        return {"command": argv}

    def throughput(self, stdout: str) -> float | None:
        if self.reports_json:
            try:
                return float(json.loads(stdout.strip().splitlines()[-1])["mib_per_s"])
            except (ValueError, KeyError, IndexError, TypeError):
                return None
        return _throughput_from_text(self.plan.throughput_regex, stdout)

    def report(self, stdout: str) -> dict[str, Any] | None:
        """The workload's own JSON line (the built-in workloads'), if it printed one."""
        return _last_json(stdout) if self.reports_json else None


THREADS_PLACEHOLDER = "{threads}"


def command_argv(
    command: list[str], threads: int | None
) -> tuple[list[str], dict[str, str] | None]:
    """A user's command for one thread count: ``{threads}`` in its arguments replaced,
    and the count in the environment variables common runtimes read (None: as given)."""
    if threads is None:
        return list(command), None
    argv = [a.replace(THREADS_PLACEHOLDER, str(threads)) for a in command]
    count = str(threads)
    return argv, {"LSEPROF_THREADS": count, "OMP_NUM_THREADS": count, "RAYON_NUM_THREADS": count}


def _launch(plan: RunPlan, profiled: bool) -> _Launch:
    emulated = needs_emulation(plan.target)
    launch = _Launch(plan, plan.workload, perfmap=emulated and profiled)
    if launch.reports_json:
        launch.files = require_data()
        launch.corpus = plan.corpus or launch.files.corpus
        if not launch.corpus.is_file():
            raise LseprofError(
                f"corpus {launch.corpus} does not exist; pass an existing file to --corpus"
            )
    else:
        launch.command = (
            emulated_command(plan.command, plan.cpu, profiled) if emulated else list(plan.command)
        )
    if launch.kind == bpe.NAME:
        target = builds.build_target(plan.target)
        launch.builds = {v: _ensure_build(target, v) for v in plan.variants}
        launch.build_ids = {v: _build_id(b.path) for v, b in launch.builds.items()}
        if profiled and plan.region_mode == MARKERS:
            for build in launch.builds.values():
                bpe.require_region(build)
    return launch


@dataclass
class _Session:
    """What every run of one plan shares."""

    plan: RunPlan
    launch: _Launch
    perf: str | None
    spec: RecordSpec | None
    sched: bool
    sched_note: str  # why scheduler events were asked for and are not recorded
    record: RunSession
    facts: dict[str, Any]
    commit: str | None
    hostname: str


def for_running(plan: RunPlan) -> RunPlan:
    """The plan as it runs: a command is one variant, "command"."""
    return replace(plan, variants=("command",)) if plan.workload == "command" else plan


def _prepare(plan: RunPlan, on_progress: Callable[[str], None]) -> _Session:
    plan.validate()
    plan = for_running(plan)
    perf = find_perf() if plan.perf else None
    if perf and (problem := check_recording_allowed()):
        raise LseprofError(problem)
    event = choose_event(plan.event) if perf else None
    sched, sched_note = bool(plan.sched and perf), ""
    if sched and (problem := sched_tracepoints_problem()):
        # The on-CPU profile still runs; the runs say why they have no off-CPU view.
        on_progress(f"--sched: {problem}")
        sched, sched_note = False, f"no scheduler events: {problem}"
    emulated = needs_emulation(plan.target)
    spec = RecordSpec(event, plan.freq, plan.call_graph, guest_mmaps=emulated) if event else None
    return _Session(
        plan,
        _launch(plan, perf is not None),
        perf,
        spec,
        sched,
        sched_note,
        RunSession(plan.session_id or f"{_stamp()}-{secrets.token_hex(3)}", event),
        host_facts().to_dict(),
        source_commit(),
        socket.gethostname(),
    )


@dataclass
class _Recorded:
    """One run's recording and what it printed, before analysis."""

    outcome: RecordOutcome
    sched_data: Path | None
    no_perf: NoPerfRun | None
    report: dict[str, Any] | None
    throughput: float | None


def _record(s: _Session, run_dir: Path, argv: list[str], env: dict[str, str] | None) -> _Recorded:
    plan, launch = s.plan, s.launch
    # The profiled run through --exec-through (the run without perf is not counted).
    traced = [plan.exec_through, *argv] if plan.exec_through else argv
    no_perf: NoPerfRun | None = None
    if plan.overhead and s.perf:
        # The same run without perf, right before the profiled one: perf's cost.
        bare = run_recorded(argv, run_dir / "no-perf", None, None, plan.timeout, env)
        no_perf = NoPerfRun(
            bare.status,
            str(run_dir / "no-perf"),
            launch.throughput(bare.stdout) if bare.status == OK else None,
        )
    sched_data = None
    region = plan.region_plan() if s.perf else None
    if s.sched and s.perf:
        with sched_recording(s.perf, run_dir, enabled=region is None) as sched:
            others = [sched.control] if sched.control is not None else []
            setup = RegionSetup(region, others) if region is not None else None
            outcome = run_recorded(traced, run_dir, s.perf, s.spec, plan.timeout, env, setup)
            sched_data = sched.output
    else:
        setup = RegionSetup(region) if region is not None else None
        outcome = run_recorded(traced, run_dir, s.perf, s.spec, plan.timeout, env, setup)
    ok = outcome.status == OK
    return _Recorded(
        outcome,
        sched_data,
        no_perf,
        launch.report(outcome.stdout) if ok else None,
        launch.throughput(outcome.stdout) if ok else None,
    )


def _run_one(
    s: _Session, variant: str, threads: int | None, rep: int, runs_root: Path
) -> RunRecord:
    plan, launch = s.plan, s.launch
    group_id = "-".join(
        str(p)
        for p in (
            s.record.session_id,
            variant,
            f"t{threads}" if threads is not None else None,
            plan.target,
        )
        if p
    )
    run_dir = runs_root / f"{group_id}-r{rep}"
    argv, env = launch.argv(variant, threads)
    got = _record(s, run_dir, argv, env)
    outcome = got.outcome
    region_notes = outcome.region.notes if outcome.region is not None else []
    notes = [m for m in (outcome.message, *region_notes, s.sched_note) if m]
    return RunRecord(
        run_id=f"{group_id}-r{rep}",
        group_id=group_id,
        created_at=datetime.now(UTC).isoformat(timespec="seconds"),
        status=outcome.status,
        message="; ".join(notes) or None,
        workload=plan.workload,
        variant=variant,
        target=plan.target,
        emulated=needs_emulation(plan.target),
        cpu_model=plan.cpu,
        threads=threads,
        repeat_index=rep,
        throughput_mib_s=got.throughput,
        event=s.record.event,
        perf_data=str(outcome.perf_data) if outcome.perf_data else None,
        run_dir=str(run_dir),
        hostname=s.hostname,
        host=s.facts,
        build=launch.build_facts(variant, argv, s.commit),
        source_commit=s.commit,
        build_id=launch.build_ids.get(variant),
        config_key=plan.config_key,
        extra=RunExtra(
            argv=argv,
            workload_report=got.report if launch.reports_json else _last_json(outcome.stdout),
            record_seconds=outcome.seconds,
            perf_map=str(outcome.perf_map) if outcome.perf_map else None,
            freq=plan.freq,
            call_graph=plan.call_graph,
            sched_data=str(got.sched_data) if got.sched_data else None,
            no_perf=got.no_perf,
            judgement=plan.judgement or None,
            region=outcome.region,
        ),
    )


def _analyzed(record: RunRecord, plan: RunPlan) -> RunRecord:
    """The record with its profile's figures (a record-only plan: as recorded)."""
    if plan.analyze:
        notes = [record.message] if record.message else []
        analyze_record(record, notes)
    return record


def runs_to_make(plan: RunPlan) -> list[tuple[int, tuple[str, int | None, int]]]:
    """The plan's runs with their places in it (from 1): all of them, or the one its
    ``run_index`` names (a boot of the aarch64 machine that counts cache lines)."""
    order = list(enumerate(plan_order(plan), start=1))
    if plan.run_index is None:
        return order
    if not 0 <= plan.run_index < len(order):
        raise LseprofError(f"--run-index {plan.run_index}: the plan has {len(order)} runs")
    return [order[plan.run_index]]


def execute_here(
    plan: RunPlan,
    store: RunStoreProtocol,
    runs_root: Path,
    on_progress: Callable[[str], None] = lambda _m: None,
) -> RunSession:
    """Run the whole plan on this host; returns the records (also written to `store`).
    :func:`lseprof.jobs.sessions.execute` is the entry that also boots the machine."""
    s = _prepare(plan, on_progress)
    total = len(plan_order(s.plan))
    for index, (variant, threads, rep) in runs_to_make(s.plan):
        shown = threads if threads is not None else "as given"
        on_progress(f"[{index}/{total}] {variant} threads={shown} rep={rep + 1}")
        record = _analyzed(_run_one(s, variant, threads, rep, runs_root), s.plan)
        problem = write_artifact(
            Path(str(record.run_dir)) / "run.json",
            json.dumps(record.to_dict(), indent=2, default=str),
        )
        if problem:
            record.status = FAILED if record.status == OK else record.status
            record.message = "; ".join(m for m in (record.message, problem) if m)
        store.add(record)
        s.record.records.append(record)
        if record.status == INTERRUPTED:
            s.record.interrupted = True
            break
        time.sleep(0)  # a cancellation point between runs
    return s.record


def _last_json(stdout: str) -> dict[str, Any] | None:
    """A command's last stdout line, if it is a JSON object (its own report)."""
    lines = stdout.strip().splitlines()
    try:
        value = json.loads(lines[-1]) if lines else None
    except ValueError:
        return None
    return value if isinstance(value, dict) else None


def session_summary(session: RunSession) -> dict[str, Any]:
    return {
        "session_id": session.session_id,
        "event": session.event,
        "runs": [r.to_dict() for r in session.records],
    }
