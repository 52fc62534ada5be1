"""The one judgement of nightly series (lseprof.analysis.verdicts), as `lseprof nightly`
and the dashboard both use it.

Records are built with RunRecord and go through a real SQLite store and the real
`lseprof dashboard` command; the assertions look for the attributes that only a
detected regression puts on the page (``data-regression``), never for words that
every page contains.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np

from lseprof.analysis.verdicts import Settings, build_series, judge_series
from lseprof.store import RunRecord, new_id, open_store
from tests.helpers import LSEPROF, run

START = datetime(2026, 1, 1, 2, 0, tzinfo=UTC)
# Nine nights, a 10% step at the seventh: a permutation test over 6 + 3 nights cannot
# reach p < 0.01 (the best split is 1 of 84 orderings), but does reach p < 0.05.
NIGHTS, STEP_AT = 9, 6
NIGHTLY = Settings(min_size=3, alpha=0.05)


def nights(
    *,
    step: bool,
    config_key: str | None = "bpe-tiny",
    judgement: Settings | None = NIGHTLY,
    seed: int = 0,
) -> list[RunRecord]:
    rng = np.random.default_rng(seed)
    records = []
    for night in range(NIGHTS):
        slow = step and night >= STEP_AT
        extra = {"judgement": judgement.to_dict()} if judgement else {}
        records.append(
            RunRecord(
                run_id=new_id(),
                group_id=f"night-{night}-{config_key}",
                status="ok",
                created_at=(START + timedelta(days=night)).isoformat(),
                workload="bpe-encode",
                variant="window",
                target="host",
                threads=4,
                throughput_mib_s=100.0 * (0.9 if slow else 1.0) * (1 + rng.normal(0, 0.005)),
                atomic_helper_share=1.0 + rng.normal(0, 0.02),
                hostname="ci-1",
                source_commit=f"commit-{night}",
                config_key=config_key,
                extra=extra,
            )
        )
    return records


def dashboard(tmp_path: Path, records: list[RunRecord]) -> str:
    store = tmp_path / "runs.sqlite"
    with open_store(store) as opened:
        opened.add_many(records)
    proc = run([LSEPROF, "dashboard", "--store", store, "--out", tmp_path / "dash"])
    assert proc.returncode == 0, proc.stderr
    return (tmp_path / "dash" / "index.html").read_text()


def alerts(page: str) -> list[dict[str, str]]:
    """The regression alerts of a page, as their data attributes."""
    return [
        dict(re.findall(r'data-([a-z-]+)="([^"]*)"', tag))
        for tag in re.findall(r"<li [^>]*data-regression=[^>]*>", page)
    ]


def test_the_dashboard_marks_that_series_and_that_night(tmp_path: Path) -> None:
    page = dashboard(tmp_path, nights(step=True) + nights(step=False, config_key="other"))
    found = alerts(page)
    assert found == [
        {"regression": "throughput", "config-key": "bpe-tiny", "night": f"night-{STEP_AT}-bpe-tiny"}
    ], found


def test_no_step_means_no_alert(tmp_path: Path) -> None:
    page = dashboard(tmp_path, nights(step=False))
    assert alerts(page) == []
    assert "No regression at the newest nights" in page


def test_the_page_judges_with_the_settings_stored_with_the_runs(tmp_path: Path) -> None:
    # The same history without stored settings is judged at the default alpha (0.01),
    # which nine nights cannot reach: the stored alpha is what makes the alert.
    assert alerts(dashboard(tmp_path / "a", nights(step=True, judgement=None))) == []
    assert len(alerts(dashboard(tmp_path / "b", nights(step=True)))) == 1


def test_nightly_and_dashboard_agree() -> None:
    records = nights(step=True) + nights(step=False, config_key="other", seed=1)
    verdicts = judge_series(records, ["bpe-tiny", "other"], NIGHTLY)
    by_name = {v.key[0]: v for v in verdicts}
    assert by_name["bpe-tiny"].regressed and not by_name["other"].regressed
    assert by_name["bpe-tiny"].commits == (f"commit-{STEP_AT - 1}", f"commit-{STEP_AT}")
    series = {s.config_key: s for s in build_series(records)}
    assert series["bpe-tiny"].regressed and not series["other"].regressed


def test_ad_hoc_runs_are_not_mixed_into_a_nightly_series() -> None:
    # Same workload, variant, threads, target and host: still two series.
    records = nights(step=True) + nights(step=False, config_key=None, judgement=None, seed=2)
    series = build_series(records)
    assert sorted((s.config_key or "", len(s.nights)) for s in series) == [
        ("", NIGHTS),
        ("bpe-tiny", NIGHTS),
    ]
    assert [v.key[0] for v in judge_series(records, ["bpe-tiny"], NIGHTLY)] == ["bpe-tiny"]


def test_stored_settings_that_make_no_sense_are_ignored() -> None:
    base = Settings()
    assert base.updated({"alpha": 2.0, "min_size": True, "noise_floor_pct": "x"}) == base
    assert base.updated({"alpha": 0.05, "min_size": 1}) == Settings(alpha=0.05, min_size=2)
