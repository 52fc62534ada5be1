"""Stored runs read back as typed records (lseprof.store.run_results): entries of
every age and shape, keys this version does not know, and the fields the analysis
writes."""

from __future__ import annotations

import json
from pathlib import Path

from lseprof.results import CallerShare, HelperShare, SymbolShare
from lseprof.store import NoPerfRun, open_store
from tests.unit.test_store import full_record


def test_stored_entries_read_back_typed_whatever_their_age(store_path: Path) -> None:
    """Entries as lseprof 0.1 stored them (bare names, name/percent), values of the
    wrong type and items of no known shape: typed entries, None for what cannot be
    read, the rest left out; never a dict handed to a reader."""
    record = full_record(
        run_id="old",
        helpers=[
            "__aarch64_cas4_acq",
            {"name": "__aarch64_swp8_rel", "percent": 2.5},
            {"symbol": "__aarch64_ldadd4_acq", "share": "9", "size": "4"},
            42,
            {"no": "symbol"},
        ],
        helper_callers=[
            {"helper": "h", "caller": "c", "share": None, "basis": "static"},
            {"helper": "h"},
            "rayon::join",
        ],
        extra={
            "freq": "999",
            "offcpu": [1],
            "argv": "not a list",
            "command": ["enc", "-t", "8"],
            "top_symbols": [{"symbol": "merge_word", "share": 12.5}, 7],
            "no_perf": {"throughput_mib_s": 80.0, "status": "ok"},
        },
    )
    with open_store(store_path) as store:
        store.add(record)
        back = store.get("old")
    assert back.helpers == [
        HelperShare("__aarch64_cas4_acq"),
        HelperShare("__aarch64_swp8_rel", share=2.5),
        HelperShare("__aarch64_ldadd4_acq", share=0.0, size=None),
    ]
    assert back.helpers[0].kind == "-" and back.helpers[1].share == 2.5
    assert back.helper_callers == [CallerShare("h", "c", None, "static")]
    extra = back.extra
    assert (extra.freq, extra.offcpu, extra.argv) == (None, None, None)
    assert extra.command_text == "enc -t 8"
    assert extra.top_symbols == [SymbolShare("merge_word", "[unknown]", share=12.5)]
    assert extra.no_perf == NoPerfRun("ok", None, 80.0)


def test_keys_this_version_does_not_know_are_kept(store_path: Path) -> None:
    """A store written by a newer lseprof loses nothing when this one re-stores it."""
    future = {"helper_heat": [1, 2], "nested": {"a": None}}
    record = full_record(
        run_id="new",
        helpers=[{"symbol": "__aarch64_cas8_acq_rel", "share": 4.0, "simd": True}],
        extra={
            **future,
            "offcpu": {
                "offcpu_share": 40.0,
                "per_core": [3, 4],
                "wakeup_latency_us": {"p50": 12.0, "p999": 90.0},
            },
        },
    )
    with open_store(store_path) as store:
        store.add(record)
        back = store.get("new")
        back.run_id = "new-again"
        store.add(back)
        raw = dict(
            store._conn.execute(
                "SELECT run_id, extra FROM runs WHERE run_id = 'new-again'"
            ).fetchall()
        )
        helpers = store._conn.execute(
            "SELECT helpers FROM runs WHERE run_id = 'new-again'"
        ).fetchone()[0]
    assert back.extra.other == future
    assert back.extra.offcpu is not None and back.extra.offcpu.wakeup_p50_us == 12.0
    stored = json.loads(raw["new-again"])
    assert {k: stored[k] for k in future} == future
    assert stored["offcpu"]["per_core"] == [3, 4]
    assert stored["offcpu"]["wakeup_latency_us"]["p999"] == 90.0
    assert json.loads(helpers)[0]["simd"] is True


def test_one_declaration_of_each_result_record() -> None:
    """Analysis, store and API share the records of lseprof.results: the stored entries
    are the very classes the analysis builds, not copies of their fields."""
    from lseprof.analysis import attribution
    from lseprof.store import records

    assert attribution.HelperShare is HelperShare and records.HelperShare is HelperShare
    assert attribution.CallerShare is CallerShare and records.CallerShare is CallerShare
    assert attribution.SymbolShare is SymbolShare
