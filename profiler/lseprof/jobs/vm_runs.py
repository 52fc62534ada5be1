"""`lseprof run --target aarch64-vm` on a host that is not aarch64: the plan's runs
recorded inside the aarch64 machine (:mod:`lseprof.emulation.vm`), analysed here.

One boot per plan. In the machine, lseprof itself records the runs as it does on any
aarch64 host (``lseprof run --target aarch64-vm --record-only``: the aarch64 builds,
the guest's perf with ``cycles`` from the emulated PMU, the measured region, the
scheduler events), writing each run's directory and run.json to the out share; it
then copies the guest's /proc/kallsyms out (the kernel boots without KASLR, so one
copy names every run of the image). Here, each run's perf.data is analysed with a
``--symfs`` made of the guest's files (:class:`lseprof.emulation.vm.GuestView`) and
that kallsyms, the run is marked as a virtual CPU's, and it is stored like every run.

With ``--coherence`` (cache lines between cores), one boot per run instead: the
coherence plugin counts what it follows over a whole boot, and a boot of one program
is what its file can name (static binaries load at the same addresses). qemu loads
the plugin; the guest's lseprof makes only that run (``--run-index``) and starts its
workload through the plugin's ``coh-exec`` (``--exec-through``), so that the
workload's process tree is counted and not lseprof or perf; the boot's
coherence.txt and coherence.json then go into that run's directory, beside its
perf.data, with the run's command and work, and the run's record keeps the result
(``extra.coherence``: ``lseprof report``, ``lseprof diff``, the dashboard).

Progress: the guest's lseprof prints its steps, which are passed on. Faults: what
the guest finished is kept, stored and marked, whatever stopped the machine (a
timeout, a kernel panic, Ctrl-C); the machine's own error is raised after.
"""

from __future__ import annotations

import io
import json
import re
import secrets
import socket
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any

from lseprof.analysis.run_analysis import analyze_record
from lseprof.capture import build as builds
from lseprof.capture.perf_env import host_facts
from lseprof.capture.record import INTERRUPTED
from lseprof.emulation.vm import (
    COHERENCE_FILE,
    EXIT_INTERRUPTED,
    CoherenceSettings,
    GuestView,
    Share,
    coherence_share,
    guest_program,
    move_coherence,
    reported_work,
    run_in_vm,
)
from lseprof.errors import EXIT_FAILED, LseprofError
from lseprof.jobs.runner import RunPlan, RunSession, for_running, plan_order, source_commit
from lseprof.store import RunRecord, RunStoreProtocol, record_from_run_json
from lseprof.workloads import bpe
from lseprof.workloads.data import require_data

GUEST_RUNS = "/out/runs"
KALLSYMS = "kallsyms"
DEFAULT_CPU = "max"
DEFAULT_SMP = 2
DEFAULT_MEMORY = 4096  # MiB
_STEP = re.compile(rb"^\[\d+/\d+\] ")
_ERROR = b"lseprof: error:"
BOOT_SECONDS = 300.0  # boot and the guest lseprof's start, at most (a loaded host)
RUN_MARGIN = 180.0  # a run's start-up and perf's finishing, beyond its own time
COHERENCE_SLOWDOWN = 10  # a run's time with the plugin (rr), against without (x)


@dataclass
class _Steps(io.RawIOBase):
    """The guest's standard error: its lseprof's step lines go to `on_progress`, the
    rest to `sink` as it comes."""

    on_progress: Callable[[str], None]
    sink: IO[bytes]
    pending: bytes = b""
    error: str = ""  # the guest lseprof's last one-line error

    def writable(self) -> bool:
        return True

    def write(self, data: Any) -> int:
        chunk = bytes(data)
        *lines, self.pending = (self.pending + chunk).split(b"\n")
        for line in lines:
            if _STEP.match(line):
                self.on_progress(line.decode("utf-8", "replace"))
            elif line.startswith(_ERROR):
                self.error = line[len(_ERROR) :].decode("utf-8", "replace").strip()
            else:
                self.sink.write(line + b"\n")
                self.sink.flush()
        return len(chunk)


@dataclass
class _Machine:
    """One boot of the machine for a plan: where its files are, here and there."""

    plan: RunPlan
    session_id: str
    out: Path
    view: GuestView
    shares: list[Share] = field(default_factory=list)
    corpus: str | None = None  # the corpus as the guest sees it
    commit: str | None = None  # the checkout's (the guest has no git)

    @property
    def cpu(self) -> str:
        return self.plan.cpu or DEFAULT_CPU


def execute_in_vm(
    plan: RunPlan,
    store: RunStoreProtocol,
    runs_root: Path,
    on_progress: Callable[[str], None] = lambda _m: None,
) -> RunSession:
    """Boot the machine, record the plan's runs in it, then analyse and store each one
    here; returns them as :func:`lseprof.jobs.runner.execute_here` does."""
    plan.validate()
    plan = for_running(plan)
    machine = _prepare(plan, runs_root)
    total = len(plan_order(plan))
    steps = _Steps(on_progress, sys.stderr.buffer)
    code, failure = _boot_all(machine, steps, on_progress, total)
    session = RunSession(machine.session_id, None)
    session.records = _collect(machine, store, on_progress, total)
    session.event = next((r.event for r in session.records if r.event), None)
    session.interrupted = code == EXIT_INTERRUPTED or any(
        r.status == INTERRUPTED for r in session.records
    )
    if failure is not None and not session.interrupted:
        raise failure
    if code not in (0, EXIT_FAILED) and not session.records and not session.interrupted:
        # lseprof in the machine refused the plan: its one-line error, said here.
        raise LseprofError(
            f"in the aarch64 machine: {steps.error or f'lseprof exited {code}'}",
            code if 0 < code < 124 else EXIT_FAILED,
        )
    return session


def _boot_all(
    machine: _Machine, steps: _Steps, on_progress: Callable[[str], None], total: int
) -> tuple[int, LseprofError | None]:
    """One boot for the plan; with coherence one per run, each run's coherence file
    kept in its directory (the plugin counts a whole boot). The guest's last exit
    status, and the machine's error that stopped the boots, if any (what the guest
    finished is still stored, then it is raised)."""
    indexes: list[int | None] = list(range(total)) if machine.plan.coherence else [None]
    code = 0
    for index in indexes:
        plugin = " with the coherence plugin" if index is not None else ""
        on_progress(
            f"[{(index or 0) + 1}/{total}] booting the aarch64 machine (-cpu {machine.cpu}){plugin}"
        )
        before = _run_dirs(machine.out)
        try:
            code = _boot(machine, steps, index).exit_code
        except LseprofError as exc:
            return code, exc
        finally:
            if index is not None:
                _keep_coherence(machine.out, before, index)
        if code not in (0, EXIT_FAILED):  # refused, or interrupted: no more boots
            break
    return code, None


def _run_dirs(out: Path) -> set[Path]:
    return {path.parent for path in out.glob("runs/*/run.json")}


def _keep_coherence(out: Path, before: set[Path], index: int) -> None:
    """A boot's coherence file into the directory of the run it recorded, with that
    run's command and work (elsewhere under ``out`` if it recorded none)."""
    new = sorted(_run_dirs(out) - before)
    if len(new) != 1:
        move_coherence(out, out / f"boot-{index + 1}", {})
        return
    record = record_from_run_json(new[0] / "run.json")
    argv = record.extra.argv or []
    move_coherence(out, new[0], {"argv": argv, "work": reported_work(record.extra.workload_report)})


def _prepare(plan: RunPlan, runs_root: Path) -> _Machine:
    session_id = f"{datetime.now(UTC).strftime('%Y%m%dT%H%M%S')}-{secrets.token_hex(3)}"
    out = (runs_root / f"{session_id}-{builds.VM_TARGET}").resolve()
    out.mkdir(parents=True, exist_ok=True)
    shares: list[Share] = []
    corpus: str | None = None
    if plan.workload == bpe.NAME:
        for variant in plan.variants:  # cross-built here: the guest has no cargo
            target = builds.build_target(plan.target)
            if not builds.binary_path(target, variant).is_file():
                builds.build(target, variant)
        require_data()  # said here, not after a boot
        if plan.corpus is not None:
            if not plan.corpus.is_file():
                raise LseprofError(
                    f"corpus {plan.corpus} does not exist; pass an existing file to --corpus"
                )
            shares.append(Share.extra(plan.corpus.resolve().parent, "corpus", writable=False))
            corpus = f"/mnt/corpus/{plan.corpus.name}"
    # With the plugin, its build directory is shared too (its programs, coh-exec).
    view = GuestView.of(out, [*shares, coherence_share()] if plan.coherence else shares)
    return _Machine(plan, session_id, out, view, shares, corpus, source_commit())


def guest_argv(machine: _Machine, index: int | None = None) -> list[str]:
    """The command the machine runs: lseprof recording the plan (its run ``index``
    alone, the workload followed by the coherence plugin, when given), then the
    kallsyms copy (whatever lseprof's status, which is the command's)."""
    plan = machine.plan
    args = [
        "run",
        "--target",
        builds.VM_TARGET,
        "--record-only",
        "--session-id",
        machine.session_id,
        "--runs-dir",
        GUEST_RUNS,
        "--store",
        "/tmp/guest-runs.sqlite",
        "--repeat",
        str(plan.repeat),
        "--freq",
        str(plan.freq),
        "--call-graph",
        plan.call_graph,
        "--json",
        *_optional(plan, machine.corpus),
    ]
    if index is not None:
        args += ["--run-index", str(index), "--exec-through", guest_program("coh-exec")]
    if plan.workload == "command":
        args += ["--", *(_in_guest(arg, machine.view) for arg in plan.command)]
    script = f'lseprof "$@"; rc=$?; cat /proc/kallsyms > /out/{KALLSYMS}; exit $rc'
    return ["sh", "-c", script, "sh", *args]


def _in_guest(arg: str, view: GuestView) -> str:
    """A command's argument as the guest must see it: a file of the checkout (or of
    another share) by its guest path, anything else as it is."""
    if "/" not in arg or not Path(arg).exists():
        return arg
    return view.guest_path(Path(arg)) or arg


def _optional(plan: RunPlan, corpus: str | None) -> list[str]:
    options: list[tuple[str, object]] = [
        ("--workload", plan.workload if plan.workload != "command" else None),
        ("--variant", _variant_option(plan) if plan.workload == bpe.NAME else None),
        ("--threads", ",".join(map(str, plan.threads)) if plan.threads else None),
        ("--duration", plan.duration if plan.workload != "command" else None),
        ("--event", plan.event),
        ("--timeout", plan.timeout),
        ("--corpus", corpus),
        ("--batch-size", plan.batch_size),
        ("--throughput-regex", plan.throughput_regex),
        ("--delay", plan.delay),
    ]
    argv = [part for name, value in options if value is not None for part in (name, str(value))]
    argv += [part for arg in plan.workload_args for part in ("--workload-arg", arg)]
    flags = {
        "--sched": plan.sched,
        "--overhead": plan.overhead,
        "--no-perf": not plan.perf,
        "--whole-process": plan.region == "whole",
        "--region-markers": plan.region == "markers",
    }
    return argv + [flag for flag, on in flags.items() if on]


def _variant_option(plan: RunPlan) -> str:
    return "both" if set(plan.variants) == set(builds.VARIANTS) else plan.variants[0]


def _boot(machine: _Machine, steps: _Steps, index: int | None = None) -> Any:
    """Boot for the whole plan, or (``index``) for one run with the coherence plugin."""
    plan = machine.plan
    runs = len(plan_order(plan)) if index is None else 1
    slower = COHERENCE_SLOWDOWN if index is not None else 1
    per_run = (plan.timeout or max(60.0, 4 * (plan.duration or 30.0)) * slower) + RUN_MARGIN
    return run_in_vm(
        guest_argv(machine, index),
        shares=machine.shares,
        cpu=machine.cpu,
        smp=plan.smp or DEFAULT_SMP,
        memory=plan.memory or DEFAULT_MEMORY,
        timeout=BOOT_SECONDS + runs * per_run,
        out_dir=machine.out,
        stdout=io.BytesIO(),  # the guest lseprof's JSON: the run.json files say it all
        stderr=steps,  # type: ignore[arg-type]
        # The workload runs through coh-exec (guest_argv), not lseprof and perf.
        coherence=CoherenceSettings(wrap=False) if index is not None else None,
    )


def _collect(
    machine: _Machine,
    store: RunStoreProtocol,
    on_progress: Callable[[str], None],
    total: int,
) -> list[RunRecord]:
    """Every run the guest wrote, in the order it ran: analysed, marked and stored."""
    found = sorted(machine.out.glob("runs/*/run.json"), key=lambda p: p.stat().st_mtime)
    kallsyms = machine.out / KALLSYMS
    symfs = machine.view.symfs(machine.out / "symfs")
    records = []
    for index, path in enumerate(found, start=1):
        on_progress(f"[{index}/{total}] analysing {path.parent.name}")
        record = record_from_run_json(path)
        _on_host(record, machine, symfs, kallsyms if kallsyms.is_file() else None)
        analyze_record(record, [record.message] if record.message else [])
        _add_coherence(record)
        path.write_text(json.dumps(record.to_dict(), indent=2, default=str))
        store.add(record)
        records.append(record)
    return records


def _add_coherence(record: RunRecord) -> None:
    """The run's cache lines between cores, when its boot counted them; a file that
    cannot be read is said in the run's message, the run kept."""
    run_dir = Path(str(record.run_dir))
    if not (run_dir / COHERENCE_FILE).is_file():
        return
    from lseprof.analysis.coherence import load_coherence

    try:
        record.extra.coherence = load_coherence(run_dir)
    except LseprofError as exc:
        record.message = "; ".join(m for m in (record.message, f"coherence: {exc}") if m)


def _on_host(record: RunRecord, machine: _Machine, symfs: Path, kallsyms: Path | None) -> None:
    """A guest's record as this host keeps it: host paths, this host's name and
    commit, the virtual CPU it ran on."""
    view = machine.view
    record.run_dir = str(view.host_path(str(record.run_dir)))
    if record.perf_data:
        record.perf_data = str(view.host_path(record.perf_data))
    extra = record.extra
    if extra.sched_data:
        extra.sched_data = str(view.host_path(extra.sched_data))
    if record.build.get("path"):
        record.build["path"] = str(view.host_path(str(record.build["path"])))
    extra.symfs, extra.kallsyms = str(symfs), str(kallsyms) if kallsyms else None
    record.target = builds.VM_TARGET
    record.emulated = False
    record.cpu_model = machine.cpu
    record.hostname = socket.gethostname()
    record.source_commit = record.source_commit or machine.commit
    record.host = {
        **record.host,
        "virtual": f"qemu-system-aarch64 (TCG), -cpu {machine.cpu}, "
        f"{machine.plan.smp or DEFAULT_SMP} vCPUs: not hardware timing",
        "machine_host": host_facts().to_dict(),
    }
