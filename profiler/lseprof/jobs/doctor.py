"""`lseprof doctor`: everything lseprof needs on this machine, and how to fix what is missing."""

from __future__ import annotations

import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

from lseprof.capture import build as builds
from lseprof.capture.perf_cli import perf_argv, run_perf
from lseprof.capture.perf_env import (
    check_recording_allowed,
    event_supported,
    find_perf,
    paranoid_level,
    perf_version,
)
from lseprof.capture.sched_record import sched_tracepoints_problem
from lseprof.emulation.sysroot import problems, sysroot_dir
from lseprof.emulation.user import MIN_QEMU, qemu_version
from lseprof.errors import LseprofError
from lseprof.workloads.data import missing_data


@dataclass(frozen=True)
class Check:
    name: str
    ok: bool
    detail: str
    fix: str = ""
    required: bool = True


def _perf_checks() -> list[Check]:
    try:
        perf = find_perf()
    except LseprofError as exc:
        return [Check("perf", False, "not installed", str(exc).split("; ", 1)[-1])]
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
    for mode, flags in (("fp", ["-g"]), ("dwarf", ["--call-graph", "dwarf"])):
        with tempfile.TemporaryDirectory() as tmp:
            proc = run_perf(
                perf_argv(
                    perf,
                    "record",
                    "-q",
                    "-e",
                    "cpu-clock",
                    *flags,
                    "-o",
                    Path(tmp) / "p.data",
                    "--",
                    "true",
                ),
                "perf record",
                timeout=60,
                text=True,
            )
        checks.append(
            Check(
                f"call graph {mode}",
                proc.returncode == 0,
                "works" if proc.returncode == 0 else proc.stderr.strip()[:80],
                "see `perf record --call-graph` in man perf-record",
                required=mode == "fp",
            )
        )
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


def _toolchain_checks() -> list[Check]:
    checks = []
    cargo = Path("/usr/bin/cargo") if Path("/usr/bin/cargo").exists() else shutil.which("cargo")
    checks.append(
        Check(
            "cargo",
            cargo is not None,
            str(cargo or "missing"),
            "sudo apt-get install rustc-web cargo-web",
        )
    )
    if not builds.host_is_aarch64():
        std = Path("/usr/lib/rustlib/aarch64-unknown-linux-gnu").is_dir()
        checks.append(
            Check(
                "rust std for aarch64",
                std,
                "present" if std else "missing",
                "sudo dpkg --add-architecture arm64 && sudo apt-get update && "
                "sudo apt-get install libstd-rust-web-dev:arm64",
            )
        )
        linker = shutil.which("aarch64-linux-gnu-gcc")
        checks.append(
            Check(
                "aarch64 cross linker",
                linker is not None,
                linker or "missing",
                "sudo apt-get install gcc-aarch64-linux-gnu",
            )
        )
        qemu = shutil.which("qemu-aarch64")
        version = qemu_version(qemu) if qemu else None
        ok = version is not None and version >= MIN_QEMU
        shown = ".".join(map(str, version)) if version else "missing"
        checks.append(
            Check(
                "qemu-aarch64 with -perfmap",
                ok,
                shown,
                "sudo apt-get install -t bookworm-backports qemu-user",
            )
        )
    return checks


def _project_checks() -> list[Check]:
    missing = missing_data()
    checks = [
        Check(
            "data files",
            not missing,
            "present" if not missing else f"missing: {', '.join(p.name for p in missing)}",
            ".venv/bin/lseprof data fetch",
        )
    ]
    built = {(b.target, b.variant) for b in builds.list_builds()}
    wanted = [(t, v) for t in builds.TARGETS for v in builds.VARIANTS]
    absent = [f"{t}/{v}" for t, v in wanted if (t, v) not in built]
    checks.append(
        Check(
            "native builds",
            not absent,
            "all 6 built" if not absent else f"missing: {', '.join(absent)}",
            ".venv/bin/lseprof build",
            required=False,
        )
    )
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
    return checks


def run_checks() -> list[Check]:
    return [*_perf_checks(), *_toolchain_checks(), *_project_checks()]
