"""Whatever the input, lseprof writes only where it was told to: fuzzed inputs
(damaged real profiles and pastes) through the commands that write files
(`report --format pprof|speedscope -o`, `report --offcpu-folded`), each run in an
empty working directory with its own HOME and TMPDIR. Afterwards the only new file
is the output asked for (none after an error), the input is unchanged, and the
temporary directory is empty again. Part of issue #12's fuzzing; its inputs per run
are a tenth of ``LSEPROF_FUZZ_EXAMPLES`` (at least 10): each is three CLI runs.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
from datetime import timedelta
from pathlib import Path

import pytest
from hypothesis import HealthCheck, example, given, settings

from tests.helpers import LSEPROF
from tests.unit.test_fuzz_readers import (
    EXAMPLES,
    REPORT_SEEDS,
    SCRIPT_SEEDS,
    damaged,
    head_of,
    text_of,
)

WRITES = settings(
    max_examples=max(10, EXAMPLES // 10),
    deadline=timedelta(seconds=120),
    derandomize="LSEPROF_FUZZ_EXAMPLES" not in os.environ,
    suppress_health_check=[
        HealthCheck.too_slow,
        HealthCheck.data_too_large,
        HealthCheck.function_scoped_fixture,
    ],
)
SEEDS = [head_of(text_of(p), 20_000) for p in [*REPORT_SEEDS, *SCRIPT_SEEDS[:2]]]


def _tree(root: Path) -> dict[str, str]:
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


@WRITES
@given(data=damaged(SEEDS))
@example(data=SEEDS[0])  # undamaged: both exports must succeed (and write only their file)
def test_nothing_is_written_outside_the_output(
    data: bytes, tmp_path_factory: pytest.TempPathFactory
) -> None:
    root = tmp_path_factory.mktemp("writes")
    work, home, tmp, inputs, outputs = (root / n for n in ("work", "home", "tmp", "in", "out"))
    for d in (work, home, tmp, inputs, outputs):
        d.mkdir()
    source = inputs / "profile.txt"
    source.write_bytes(data)
    before = {d: _tree(d) for d in (work, home, tmp, inputs)}
    env = {**os.environ, "HOME": str(home), "TMPDIR": str(tmp), "XDG_DATA_HOME": str(home / "x")}
    for argv, out in (
        (["--format", "pprof", "-o"], outputs / "p.pb.gz"),
        (["--format", "speedscope", "-o"], outputs / "s.json"),
        (["--offcpu-folded"], outputs / "off.folded"),
    ):
        proc = subprocess.run(
            [str(LSEPROF), "report", *argv, str(out), str(source)],
            cwd=work,
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert "Traceback" not in proc.stderr, proc.stderr
        assert proc.returncode in (0, 2), (argv, proc.returncode, proc.stderr)
        if data in SEEDS and "-o" in argv:
            assert proc.returncode == 0, (argv, proc.stderr)
        written = sorted(p.name for p in outputs.iterdir())
        assert written == ([out.name] if proc.returncode == 0 else []), (argv, written, proc.stderr)
        for p in outputs.iterdir():
            p.unlink()
        for d, files in before.items():
            assert _tree(d) == files, (argv, d.name, proc.stderr)
