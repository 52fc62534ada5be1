"""`lseprof doctor`: everything lseprof needs on this machine, and how to fix what is missing.

Each check ends ok, missing (required and absent), failed (required, present, but not
working) or optional (not required, and not there or not working here). Checks run
with what lseprof itself would use: the call graphs are recorded with the event
lseprof would choose (cycles where the PMU has it), and the builds are judged by the
architecture in their ELF headers, so the answers hold on aarch64 hosts and inside
``lseprof vm`` too.
"""

from __future__ import annotations

import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

from lseprof.capture import build as builds
from lseprof.capture.perf_cli import perf_argv, run_perf
from lseprof.capture.perf_env import (
    check_recording_allowed,
    cpu_has_lse,
    event_supported,
    find_perf,
    paranoid_level,
    perf_version,
)
from lseprof.capture.sched_record import sched_tracepoints_problem
from lseprof.emulation.sysroot import problems, sysroot_dir
from lseprof.emulation.user import MIN_QEMU, qemu_version
from lseprof.emulation.vm import find_qemu, image_dir, image_info, image_problems
from lseprof.errors import LseprofError
from lseprof.workloads.data import missing_data


@dataclass(frozen=True)
class Check:
    name: str
    ok: bool
    detail: str
    fix: str = ""
    required: bool = True
    present: bool = True  # not ok and required: failed if present, else missing

    @property
    def status(self) -> str:
        if self.ok:
            return "ok"
        if not self.required:
            return "optional"
        return "failed" if self.present else "missing"

    def to_dict(self) -> dict[str, str]:
        return {
            "name": self.name,
            "status": self.status,
            "detail": self.detail,
            "fix": "" if self.ok else self.fix,
        }


def perf_error_line(stderr: str) -> str:
    """What perf said went wrong: its "Error:" line with the words after it (perf puts
    them on the next line), else its last line; hints and warnings left out."""
    lines = [line.strip() for line in stderr.splitlines() if line.strip()]
    for index, line in enumerate(lines):
        if line.startswith("Error"):
            if line.rstrip(":") == "Error" and index + 1 < len(lines):
                line = f"Error: {lines[index + 1]}"
            return line[:160]
    return (lines or ["no message"])[-1][:160]


def _call_graph_checks(perf: str, event: str) -> list[Check]:
    checks = []
    for mode, flags in (("fp", ["-g"]), ("dwarf", ["--call-graph", "dwarf"])):
        with tempfile.TemporaryDirectory() as tmp:
            output = Path(tmp) / "p.data"
            argv = perf_argv(perf, "record", "-q", "-e", event, *flags, "-o", output, "--", "true")
            proc = run_perf(argv, "perf record", timeout=120, text=True)
        works = proc.returncode == 0
        checks.append(
            Check(
                f"call graph {mode}",
                works,
                f"works with {event}" if works else f"{event}: {perf_error_line(proc.stderr)}",
                f"check `perf record -e {event} {' '.join(flags)} -- true` (man perf-record)",
                required=mode == "fp",
            )
        )
    return checks


def _perf_checks() -> list[Check]:
    try:
        perf = find_perf()
    except LseprofError as exc:
        return [Check("perf", False, "not installed", str(exc).split("; ", 1)[-1], present=False)]
    checks = [Check("perf", True, f"{perf} (version {perf_version(perf)})")]
    level = paranoid_level()
    problem = check_recording_allowed(level)
    checks.append(
        Check(
            "perf_event_paranoid",
            problem is None,
            f"{level}",
            "sudo sysctl kernel.perf_event_paranoid=2" if problem else "",
        )
    )
    cycles, clock = event_supported("cycles", perf), event_supported("cpu-clock", perf)
    checks.append(
        Check(
            "event cycles",
            cycles,
            "supported"
            if cycles
            else "not supported (no hardware PMU here): cpu-clock will be used",
            required=False,
        )
    )
    checks.append(
        Check(
            "event cpu-clock",
            clock,
            "supported" if clock else "not supported",
            "check `perf stat -e cpu-clock true`",
        )
    )
    checks += _call_graph_checks(perf, "cycles" if cycles else "cpu-clock")
    sched = sched_tracepoints_problem()
    checks.append(
        Check(
            "scheduler tracepoints (--sched)",
            sched is None,
            "recordable system-wide" if sched is None else sched.split("; ")[0],
            "; ".join(sched.split("; ")[1:]) if sched else "",
            required=False,
        )
    )
    return checks


def _cross_checks() -> list[Check]:
    """What an aarch64 build and its emulation need on another host."""
    std = Path("/usr/lib/rustlib/aarch64-unknown-linux-gnu").is_dir()
    linker = shutil.which("aarch64-linux-gnu-gcc")
    qemu = shutil.which("qemu-aarch64")
    version = qemu_version(qemu) if qemu else None
    return [
        Check(
            "rust std for aarch64",
            std,
            "present" if std else "missing",
            "sudo dpkg --add-architecture arm64 && sudo apt-get update && "
            "sudo apt-get install libstd-rust-web-dev:arm64",
            present=std,
        ),
        Check(
            "aarch64 cross linker",
            linker is not None,
            linker or "missing",
            "sudo apt-get install gcc-aarch64-linux-gnu",
            present=False,
        ),
        Check(
            "qemu-aarch64 with -perfmap",
            version is not None and version >= MIN_QEMU,
            ".".join(map(str, version)) if version else "missing",
            "sudo apt-get install -t bookworm-backports qemu-user",
            present=version is not None,
        ),
    ]


def _toolchain_checks() -> list[Check]:
    cargo = Path("/usr/bin/cargo") if Path("/usr/bin/cargo").exists() else shutil.which("cargo")
    # cargo only builds: where every build is already here (handed in, as in the
    # aarch64 machine of `lseprof vm`), it is not needed.
    built = all(builds.binary_path(t, v).is_file() for t in builds.TARGETS for v in builds.VARIANTS)
    checks = [
        Check(
            "cargo",
            cargo is not None,
            str(cargo) if cargo else "missing" + (" (every build is here)" if built else ""),
            "sudo apt-get install rustc-web cargo-web",
            required=not built,
            present=False,
        )
    ]
    if not builds.host_is_aarch64():
        checks += _cross_checks()
    return checks


def _builds_check() -> Check:
    """Every (target, variant) built, for a machine that can run it: on aarch64 every
    build must be aarch64 (a host build copied from x86 is not), and the LSE build needs
    a CPU with LSE atomics."""
    found = {(b.target, b.variant): b for b in builds.list_builds()}
    wanted = [(t, v) for t in builds.TARGETS for v in builds.VARIANTS]
    absent = [f"{t}/{v}" for t, v in wanted if (t, v) not in found]
    foreign = [
        f"{b.target}/{b.variant} is {b.arch}"
        for b in found.values()
        if not b.runs_here() and not (b.arch == "aarch64" and b.target != "host")
    ]
    problems_found = [f"missing: {', '.join(absent)}"] if absent else []
    problems_found += foreign
    notes = []
    if builds.host_is_aarch64() and not cpu_has_lse():
        notes.append("this CPU has no LSE atomics: the aarch64-lse builds cannot run here")
    detail = "; ".join(problems_found or [f"all {len(wanted)} built"]) + "".join(
        f"; {n}" for n in notes
    )
    return Check(
        "native builds",
        not problems_found,
        detail,
        ".venv/bin/lseprof build" + (" --target host" if foreign and not absent else ""),
        required=False,
    )


def _data_check() -> Check:
    missing = missing_data()
    return Check(
        "data files",
        not missing,
        "present" if not missing else f"missing or damaged: {', '.join(map(str, missing))}",
        ".venv/bin/lseprof data fetch",
        present=False,
    )


def _vm_check() -> Check:
    name = "aarch64 machine (lseprof vm)"
    fix = "sudo bash scripts/install-system.sh && sudo .venv/bin/lseprof vm make"
    try:
        find_qemu()
    except LseprofError as exc:
        return Check(name, False, str(exc).split("; ", 1)[0], fix, required=False)
    image = image_dir()
    found = image_problems(image)
    if found:
        return Check(name, False, found[0], fix, required=False)
    boot = image_info(image).boot_seconds
    shown = f", boot-to-command {boot:.1f} s" if boot is not None else ""
    return Check(name, True, f"{image}{shown}")


def _project_checks() -> list[Check]:
    checks = [_data_check(), _builds_check()]
    if not builds.host_is_aarch64():
        root = sysroot_dir()
        found = problems(root) if root.exists() else [f"{root} is not made yet"]
        checks.append(
            Check(
                "aarch64 sysroot (dynamic programs under qemu)",
                not found,
                str(root) if not found else found[0],
                ".venv/bin/lseprof sysroot",
                required=False,
            )
        )
        checks.append(_vm_check())
    return checks


def run_checks() -> list[Check]:
    return [*_perf_checks(), *_toolchain_checks(), *_project_checks()]
