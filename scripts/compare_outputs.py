"""Record, or compare, what every offline lseprof command prints on the repo's fixtures.

A restructuring must leave every command's output byte-identical. Run this before the
change with ``--save DIR``, after it with ``--against DIR``: it runs the same command
lines (report in every format on every captured fixture, inspect on the real ELF
files, diff of perf files and of binaries, the help texts) and prints each one whose
stdout, stderr or exit code differs.

    .venv/bin/python scripts/compare_outputs.py --save /tmp/before
    .venv/bin/python scripts/compare_outputs.py --against /tmp/before

Commands that run workloads (run, nightly) are left out: their numbers differ from
run to run; the test suite covers them.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
FIX = "tests/fixtures/perf"
BIN = "tests/fixtures/bin"


def command_lines() -> list[list[str]]:
    """The command lines compared, relative to the repo root."""
    reports = [
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
    lines: list[list[str]] = []
    for path in reports:
        for fmt in ([], ["--json"], ["--markdown"]):
            lines.append(["report", path, *fmt])
    for arch in ("a53", "n1"):
        d = f"{FIX}/aarch64-qemu-{arch}"
        perf_map = next((ROOT / d).glob("perf-*.map")).relative_to(ROOT)
        for fmt in ([], ["--json"]):
            lines.append(["report", f"{d}/script.txt", "--perf-map", str(perf_map),
                          "--binary", f"{BIN}/contend-aarch64", *fmt])
    lines.append(["report", f"{FIX}/x86-stripped/perf.data", "--binary",
                  f"{BIN}/contend-x86_64"])
    for elf in (f"{BIN}/contend-aarch64", f"{BIN}/contend-x86_64", f"{BIN}/stripped/contend-x86_64",
                "data/elf-fixtures/jiter/jiter.cpython-311-aarch64-linux-gnu.so",
                "data/elf-fixtures/pydantic-core/_pydantic_core.cpython-311-aarch64-linux-gnu.so"):
        lines.append(["inspect", elf])
        lines.append(["inspect", elf, "--json"])
    a, b = f"{FIX}/x86-contend/perf.data", f"{FIX}/x86-stripped/perf.data"
    for fmt in ([], ["--json"], ["--markdown"]):
        lines.append(["diff", a, b, *fmt])
        lines.append(["diff", f"{BIN}/contend-x86_64", f"{BIN}/other-build/contend-x86_64", *fmt])
    lines.append(["report", "no-such-file.data"])
    lines.append(["diff", a])
    lines.append(["--help"])
    for cmd in ("build", "dashboard", "data", "diff", "doctor", "inspect", "nightly",
                "report", "run", "runs"):
        lines.append([cmd, "--help"])
    return lines


def run_all() -> dict[str, dict[str, object]]:
    exe = str(ROOT / ".venv" / "bin" / "lseprof")
    env = {**os.environ, "COLUMNS": "120", "NO_COLOR": "1", "TERM": "dumb"}
    results: dict[str, dict[str, object]] = {}
    for line in command_lines():
        proc = subprocess.run([exe, *line], cwd=ROOT, env=env, capture_output=True,
                              timeout=300, check=False)
        key = " ".join(line)
        results[key] = {
            "rc": proc.returncode,
            "stdout": proc.stdout.decode(errors="replace"),
            "stderr": proc.stderr.decode(errors="replace"),
        }
        print(f"{proc.returncode:3d} {hashlib.sha1(proc.stdout).hexdigest()[:10]} {key}",
              file=sys.stderr)
    return results


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    group = parser.add_mutually_exclusive_group(required=True)
    group.add_argument("--save", type=Path, help="write the outputs to this directory")
    group.add_argument("--against", type=Path, help="compare with outputs saved earlier")
    args = parser.parse_args()
    results = run_all()
    if args.save:
        args.save.mkdir(parents=True, exist_ok=True)
        (args.save / "outputs.json").write_text(json.dumps(results, indent=1))
        print(f"saved {len(results)} command outputs to {args.save}")
        return 0
    before = json.loads((args.against / "outputs.json").read_text())
    differ = [k for k in sorted(set(before) | set(results)) if before.get(k) != results.get(k)]
    for key in differ:
        print(f"DIFFERS: lseprof {key}")
        old, new = before.get(key, {}), results.get(key, {})
        for field in ("rc", "stdout", "stderr"):
            if old.get(field) != new.get(field):
                print(f"  {field}: before {str(old.get(field))[:300]!r}")
                print(f"  {field}: after  {str(new.get(field))[:300]!r}")
    print(f"{len(results) - len(differ)} of {len(results)} command outputs identical")
    return 1 if differ else 0


if __name__ == "__main__":
    sys.exit(main())
