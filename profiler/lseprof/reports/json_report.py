"""`lseprof report --json`: the attribution as JSON.

One event section gives one object; several give a list of objects, in the
order the events appear. Keys: source_kind, path, event, samples, samples_exact,
lost_samples, perf_version, categories {name: share%}, atomic_helper_share,
helpers [{symbol, op, size, order, share, samples, lse_path_share,
llsc_path_share, flag_path_share, dso, guest_share}], helper_callers [{helper,
caller, share, basis, dso}], inline_atomics, top_symbols [{symbol, dso, category,
share, guest_share}], emulated_share, emulator_share, guest_named_share,
guest_categories, unknown_lines, notes, and offcpu (the scheduler view, see
lseprof.analysis.offcpu.model.OffCpu.to_dict: offcpu_share, wakeups_per_item,
wakeups_per_s, wakeup_latency_us {p50, p99}, threads, wakers, blocking_paths;
None without scheduler events; a file with only those gives {"offcpu": ...}).
Shares are percentages of the section's samples (or weight); ``guest_*`` ones,
for emulated runs (None otherwise), of its guest samples.
"""

from __future__ import annotations

import json
import math
from typing import Any

from lseprof.analysis.attribution import Attribution


def _clean(value: Any) -> Any:
    if isinstance(value, float):
        return round(value, 4) if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: _clean(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_clean(v) for v in value]
    return value


def to_obj(section: Attribution) -> dict[str, Any]:
    data = section.to_dict()
    order = [
        "source_kind",
        "path",
        "event",
        "samples",
        "samples_exact",
        "lost_samples",
        "perf_version",
        "categories",
        "atomic_helper_share",
        "helpers",
        "helper_callers",
        "inline_atomics",
        "top_symbols",
        "emulated_share",
        "emulator_share",
        "guest_named_share",
        "guest_categories",
        "unknown_lines",
        "unknown_examples",
        "notes",
    ]
    cleaned: dict[str, Any] = _clean({key: data[key] for key in order})
    return cleaned


def to_json(sections: list[Attribution], offcpu: dict[str, Any] | None = None) -> str:
    objs = [{**to_obj(s), "offcpu": _clean(offcpu)} for s in sections]
    payload: Any = objs[0] if len(objs) == 1 else objs
    if not sections and offcpu is not None:
        payload = {"offcpu": _clean(offcpu)}
    return json.dumps(payload, indent=2)
