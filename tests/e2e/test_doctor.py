"""`lseprof doctor` on this host, as JSON: four statuses, the call graphs tried with the
event lseprof would record, missing files named by path."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from lseprof.capture.build import host_arch, host_is_aarch64
from tests.helpers import LSEPROF, needs_perf, run


def _doctor(env: dict[str, str] | None = None) -> tuple[int, dict[str, Any]]:
    proc = run([LSEPROF, "doctor", "--json"], env=env, timeout=300)
    assert proc.returncode in (0, 1), proc.stderr
    return proc.returncode, json.loads(proc.stdout)


@needs_perf
def test_doctor_json_says_what_works_here() -> None:
    code, report = _doctor()
    checks = {c["name"]: c for c in report["checks"]}
    assert report["arch"] == host_arch()
    assert {c["status"] for c in checks.values()} <= {"ok", "missing", "failed", "optional"}
    assert code == int(any(c["status"] in ("missing", "failed") for c in checks.values()))
    event = "cycles" if checks["event cycles"]["status"] == "ok" else "cpu-clock"
    assert checks["call graph fp"]["detail"] == f"works with {event}"
    assert checks["call graph dwarf"]["detail"].startswith((f"works with {event}", f"{event}: "))
    assert ("aarch64 machine (lseprof vm)" in checks) != host_is_aarch64()


@needs_perf
def test_doctor_names_the_data_files_it_misses(tmp_path: Path) -> None:
    code, report = _doctor({**os.environ, "LSEPROF_DATA_DIR": str(tmp_path)})
    data = next(c for c in report["checks"] if c["name"] == "data files")
    assert code == 1
    assert data["status"] == "missing"
    assert f"{tmp_path}/gpt2/encoder.json" in data["detail"]
    assert f"{tmp_path}/english-prose.txt" in data["detail"]
    assert data["fix"].endswith("lseprof data fetch")
