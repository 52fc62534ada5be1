"""The golden tier: what every offline lseprof command prints on the repository's
fixtures, kept as files under tests/golden/outputs/ and compared byte for byte.

Each command runs in this process through the real command line (typer's test
runner, program name ``lseprof``, 120 columns, no colour), so the whole tier takes
seconds: a restructuring that changes any output, any exit code or any message
shows up as a diff. When a change of output is meant, write the files anew and
review their diff with git:

    .venv/bin/python -m pytest tests/unit/test_golden.py --update-golden

Commands that run workloads (run, nightly) are left out: their numbers differ from
run to run; the e2e tests cover them.
"""

from __future__ import annotations

import re
import tempfile
from dataclasses import dataclass
from pathlib import Path

from tests.helpers import REPO

OUTPUTS = Path(__file__).resolve().parent / "outputs"
FIX = "tests/fixtures/perf"
BIN = "tests/fixtures/bin"
COH = "tests/fixtures/coherence"  # lseprof vm run --coherence (see its meta.json)
# An empty home: perf's build-id cache (~/.debug) starts empty, so a binary another
# test recorded cannot name a stripped fixture's samples.
ENV = {
    "COLUMNS": "120",
    "NO_COLOR": "1",
    "TERM": "dumb",
    "HOME": tempfile.mkdtemp(prefix="lseprof-golden-home-"),
}

_REPORTS = [
    f"{FIX}/x86-contend/perf.data",
    f"{FIX}/x86-contend/script.txt",
    f"{FIX}/x86-contend/script-nocallchain.txt",
    f"{FIX}/x86-contend/report-flat.txt",
    f"{FIX}/x86-contend/report-children.txt",
    f"{FIX}/x86-contend/report-callers.txt",
    f"{FIX}/x86-contend/report-truncated.txt",
    f"{FIX}/x86-contend/report-ipc.txt",
    f"{FIX}/x86-dwarf-inline/script.txt",
    f"{FIX}/x86-lost/perf.data",
    f"{FIX}/x86-stripped/perf.data",
    f"{FIX}/x86-two-events/perf.data",
    f"{FIX}/rayon-host-88/script.txt.gz",
    f"{FIX}/rayon-host-88/report.txt",
]
_ALL = ((), ("--json",), ("--markdown",))
_ANNOTATE = [  # perf annotate text (tests/fixtures/perf/annotate/meta.json)
    ("aarch64-cortex-a57/annotate-outline-__aarch64_ldadd8_acq_rel.txt", _ALL),
    ("aarch64-max/annotate-outline-__aarch64_cas4_acq.txt", (("--json",),)),
    ("aarch64-max/annotate-lse-rmw_mix.txt", _ALL),
    ("aarch64-max/tui-annotate-outline-yield_spin.txt", ((), ("--json",))),
    ("aarch64-max/annotate-lse-wfe_section.txt", (("--json",),)),
    ("x86/annotate-rmw_mix.txt", ((), ("--json",))),
    ("x86/tui-annotate-spin_section.txt", ((), ("--json",))),
    ("x86/tui-annotate-pthread_mutex_lock-cold.txt", (("--json",),)),
    ("top/tui-top-annotate.txt", (("--json",),)),
]
# Two public pastes whose findings differ: diff shows the new and the gone one.
_FINDINGS_DIFF = ("arm64-ll_sc-posix_spawn", "osq_lock-rwsem-unixbench-quoted")
_ELVES = [
    f"{BIN}/contend-aarch64",
    f"{BIN}/contend-x86_64",
    f"{BIN}/stripped/contend-x86_64",
    "data/elf-fixtures/jiter/jiter.cpython-311-aarch64-linux-gnu.so",
    "data/elf-fixtures/pydantic-core/_pydantic_core.cpython-311-aarch64-linux-gnu.so",
]
_SUBCOMMANDS = (
    "build",
    "dashboard",
    "data",
    "diff",
    "doctor",
    "inspect",
    "nightly",
    "report",
    "run",
    "runs",
    "vm",
)


@dataclass(frozen=True)
class Command:
    args: tuple[str, ...]

    @property
    def needs_perf(self) -> bool:
        """perf reads a perf.data (installed by make test; not a run)."""
        return any(a.endswith("perf.data") for a in self.args)

    @property
    def file(self) -> Path:
        text = " ".join(
            a.removeprefix(f"{FIX}/").removeprefix(f"{BIN}/").removeprefix("tests/fixtures/")
            for a in self.args
        )
        return OUTPUTS / (re.sub(r"[^A-Za-z0-9._-]+", "_", text).strip("_") + ".txt")

    def __str__(self) -> str:
        return " ".join(self.args)


def _report_commands() -> list[Command]:
    lines = [
        Command(("report", path, *fmt))
        for path in _REPORTS
        for fmt in ((), ("--json",), ("--markdown",))
    ]
    for arch in ("a53", "n1"):
        d = f"{FIX}/aarch64-qemu-{arch}"
        perf_map = next((REPO / d).glob("perf-*.map")).relative_to(REPO)
        lines += [
            Command(
                (
                    "report",
                    f"{d}/script.txt",
                    "--perf-map",
                    str(perf_map),
                    "--binary",
                    f"{BIN}/contend-aarch64",
                    *fmt,
                )
            )
            for fmt in ((), ("--json",))
        ]
    lines.append(
        Command(("report", f"{FIX}/x86-stripped/perf.data", "--binary", f"{BIN}/contend-x86_64"))
    )
    # Recorded in a full aarch64 Linux: unnamed here, then named from the binary.
    for arch in ("max", "a57"):
        d = f"{FIX}/aarch64-vm-{arch}"
        lines.append(Command(("report", f"{d}/perf.data")))
        lines += [
            Command(("report", f"{d}/perf.data", "--binary", f"{BIN}/contend-aarch64", *fmt))
            for fmt in ((), ("--json",), ("--markdown",))
        ]
    for path, formats in _ANNOTATE:
        lines += [Command(("report", f"{FIX}/annotate/{path}", *fmt)) for fmt in formats]
    # Time and threads (docs/time.md): a range of a perf.data and of text, per-thread
    # tables, thread filters, and the errors of each.
    contend, script = f"{FIX}/x86-contend/perf.data", f"{FIX}/x86-contend/script.txt"
    lines += [
        Command(("report", contend, "--time-range", "0.2,0.6", "--per-thread", *fmt))
        for fmt in ((), ("--json",), ("--markdown",))
    ]
    lines += [
        Command(("report", script, "--time-range", "10%,60%", "--json")),
        Command(("report", f"{FIX}/rayon-host-88/script.txt.gz", "--per-thread", "--top", "5")),
        Command(("report", contend, "--tid", "22244", "--per-thread", "--json")),
        Command(("report", contend, "--comm", "no-such-*")),
        Command(("report", contend, "--time-range", "5,6")),
        Command(("report", contend, "--time-range", "2,1")),
        Command(("report", contend, "--tid", "x")),
        Command(("report", f"{FIX}/x86-contend/report-flat.txt", "--time-range", "0,1")),
        Command(("report", contend, "--heatmap", "out.png")),
    ]
    pastes = sorted((REPO / FIX / "pastes").rglob("*.txt"))
    lines += [Command(("report", str(p.relative_to(REPO)), "--json")) for p in pastes]
    return lines


def _coherence_commands() -> list[Command]:
    """Cache lines between cores: the false-sharing program padded and not, named from
    its binary; a run killed mid-way; unnamed; the diff of the two."""
    fs = ("--binary", f"{BIN}/coherence-fs-aarch64")
    lines = [
        Command(("report", f"{COH}/{name}", *fs, *fmt))
        for name in ("fs-unpadded", "fs-padded")
        for fmt in _ALL
    ]
    lines += [
        Command(("report", f"{COH}/fs-killed/coherence.txt", *fs)),
        Command(("report", f"{COH}/fs-unpadded/coherence.txt", "--top", "3")),
    ]
    lines += [Command(("diff", f"{COH}/fs-unpadded", f"{COH}/fs-padded", *fmt)) for fmt in _ALL]
    return lines


def commands() -> list[Command]:
    """The command lines of the tier, relative to the repository's root."""
    lines = _report_commands() + _coherence_commands()
    for elf in _ELVES:
        lines += [Command(("inspect", elf)), Command(("inspect", elf, "--json"))]
    a, b = f"{FIX}/x86-contend/perf.data", f"{FIX}/x86-stripped/perf.data"
    for fmt in ((), ("--json",), ("--markdown",)):
        lines.append(Command(("diff", a, b, *fmt)))
        lines.append(
            Command(("diff", f"{BIN}/contend-x86_64", f"{BIN}/other-build/contend-x86_64", *fmt))
        )
    ll_sc, osq = (f"{FIX}/pastes/public/{n}.txt" for n in _FINDINGS_DIFF)
    lines += [Command(("diff", ll_sc, osq, *fmt)) for fmt in ((), ("--json",), ("--markdown",))]
    lines += [Command(("report", "no-such-file.data")), Command(("diff", a)), Command(("--help",))]
    lines += [Command((cmd, "--help")) for cmd in _SUBCOMMANDS]
    lines += [Command(("vm", cmd, "--help")) for cmd in ("make", "run")]
    return lines


def run(command: Command) -> str:
    """The command's exit code, stdout and stderr, as the golden file holds them."""
    from typer.testing import CliRunner

    import lseprof.cli.app as cli  # the typer application itself, in this process

    result = CliRunner().invoke(cli.app, list(command.args), env=ENV, prog_name="lseprof")
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    return (
        f"$ lseprof {command}\nexit: {result.exit_code}\n--- stdout\n{result.stdout}"
        f"--- stderr\n{result.stderr}"
    )
