"""`lseprof diff BINARY_A BINARY_B`: the static diff of two encoder builds, checked
against `lseprof inspect` of each file."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from lseprof import inspect
from tests.helpers import LSEPROF, build_for, run


def inspect_json(path: Path) -> dict[str, Any]:
    """What `lseprof inspect --json` reports for one file (the library, in process)."""
    return inspect(path).to_dict()


def test_outline_rayon_against_lse_window() -> None:
    outline = build_for("aarch64", "rayon").path
    lse = build_for("aarch64-lse", "window").path
    proc = run([LSEPROF, "diff", outline, lse, "--json"])
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout)
    assert result["kind"] == "static" and result["throughput"] is None
    static = result["static"]
    a, b = inspect_json(outline), inspect_json(lse)
    assert (static["verdict_a"], static["verdict_b"]) == (a["verdict"], b["verdict"])
    sites_a = {h["symbol"]: h["call_sites"] for h in a["helpers"]}
    sites_b = {h["symbol"]: h["call_sites"] for h in b["helpers"]}
    helpers = {h["symbol"]: h for h in static["helpers"]}
    assert set(helpers) == set(sites_a) | set(sites_b)
    for symbol, h in helpers.items():
        assert (h["a"], h["b"]) == (sites_a.get(symbol, 0), sites_b.get(symbol, 0))
        assert h["delta"] == h["b"] - h["a"]
    # The crate's own atomics go inline with +lse: those helpers vanish, none appears,
    # and inline LSE shows up. (The precompiled Rust std keeps calling its helpers.)
    vanished = [s for s, h in helpers.items() if h["status"] == "vanished"]
    assert vanished and all(s not in sites_b for s in vanished)
    assert not [h for h in helpers.values() if h["status"] == "appeared"]
    totals = {t["name"]: t for t in static["totals"]}
    assert totals["helper call sites"]["a"] == a["call_sites_total"]
    assert totals["helper call sites"]["b"] == b["call_sites_total"]
    assert totals["helper call sites"]["delta"] < 0
    assert totals["inline LSE"]["a"] == 0 < totals["inline LSE"]["b"]
    assert totals["x86 lock"] == {"name": "x86 lock", "a": 0, "b": 0, "delta": 0}

    text = run([LSEPROF, "diff", outline, lse])
    assert text.returncode == 0, text.stderr
    for word in ("verdict A:", "verdict B:", "vanished", "helper call sites"):
        assert word in text.stdout, word
    # --fail-on-regression has nothing to check in a static diff; it says so.
    gate = run([LSEPROF, "diff", outline, lse, "--json", "--fail-on-regression", "1"])
    assert gate.returncode == 0 and json.loads(gate.stdout)["regression"]["notes"]


def test_binary_that_is_not_elf() -> None:
    outline = build_for("aarch64", "rayon").path
    proc = run([LSEPROF, "diff", outline, "/etc/hostname"])
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1
