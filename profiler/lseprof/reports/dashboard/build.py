"""The dashboard's files: the index, a page per run group, written only when changed
(see the package docstring)."""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterable, Sequence
from pathlib import Path

from lseprof.analysis.verdicts import Settings, one_series, series_jobs
from lseprof.errors import LseprofError
from lseprof.reports.dashboard.groups import group_job
from lseprof.reports.dashboard.html import group_file
from lseprof.reports.dashboard.index import fit_index
from lseprof.reports.dashboard.workers import pmap
from lseprof.store import RunRecord
from lseprof.version import __version__

SIZE_BUDGET = 5_000_000  # bytes of index.html
MARKER = ".lseprof-dashboard"  # marks a directory as ours, so regenerating it is safe
_GROUP_HASH = re.compile(r"<!-- lseprof-dashboard-group ([0-9a-f]{64}) -->")


# --------------------------------------------------------------------------- output


def _prepare(out: Path, force: bool) -> bool:
    """Make ``out`` ready; True when it already holds a dashboard of ours."""
    if out.exists() and not out.is_dir():
        raise LseprofError(f"--out {out} is a file, not a directory")
    if (out / MARKER).is_file():
        return True
    if out.is_dir() and any(out.iterdir()) and not force:
        raise LseprofError(f"{out} is not empty and holds no dashboard; use --force")
    try:
        (out / "groups").mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise LseprofError(f"cannot create --out {out} ({exc.strerror or exc})") from None
    return False


def _write(path: Path, text: str) -> None:
    # Write-then-rename: a page viewed while a nightly job regenerates it is always whole.
    tmp = path.with_name(f".{path.name}.tmp")
    try:
        tmp.write_text(text, encoding="utf-8")
        tmp.replace(path)
    except OSError as exc:
        raise LseprofError(f"cannot write {path} ({exc.strerror or exc})") from None


# What draws a group page: the dashboard's own code (this module checks the hash it writes).
_RENDERERS = sorted(Path(__file__).parent.glob("*.py"))


def _digest(runs: Sequence[RunRecord]) -> str:
    # A page depends on its runs and on the renderer's code, so both go into the hash.
    payload = json.dumps([r.to_dict() for r in runs], sort_keys=True, default=str)
    code = b"".join(p.read_bytes() for p in _RENDERERS)
    return hashlib.sha256(code + payload.encode()).hexdigest()


def _unchanged(path: Path, digest: str) -> bool:
    if not path.is_file():
        return False
    with path.open(encoding="utf-8", errors="replace") as fh:
        found = _GROUP_HASH.search(fh.read(300))
    return found is not None and found.group(1) == digest


def _write_groups(out: Path, by_group: dict[str, list[RunRecord]], ours: bool) -> None:
    groups = out / "groups"
    groups.mkdir(parents=True, exist_ok=True)
    jobs = []
    for gid, runs in by_group.items():
        digest = _digest(runs)
        # In our own directory an unchanged page is kept: nightly builds redo new groups only.
        if not (ours and _unchanged(groups / group_file(gid), digest)):
            jobs.append((gid, runs, digest))
    for (gid, _, _), text in zip(jobs, pmap(group_job, jobs), strict=True):
        _write(groups / group_file(gid), text)
    if ours:  # only in our own directory are stale pages ours to remove
        wanted = {group_file(gid) for gid in by_group}
        for stale in groups.glob("*.html"):
            if stale.name not in wanted:
                stale.unlink()


def build_dashboard(
    records: Iterable[RunRecord],
    out_dir: Path,
    *,
    force: bool = False,
    size_budget: int = SIZE_BUDGET,
    settings: Settings | None = None,
) -> Path:
    """Write the dashboard of ``records`` into ``out_dir``; returns the index.html path.

    A non-empty ``out_dir`` that is not a previous dashboard is refused unless
    ``force`` (nothing in it is then removed, only our files written). The index
    is downsampled, and says so, when it would exceed ``size_budget`` bytes.
    """
    out = Path(out_dir)
    ours = _prepare(out, force)
    settings = settings or Settings()
    runs = sorted(records, key=lambda r: (r.created_at, r.run_id))
    by_group: dict[str, list[RunRecord]] = {}
    for record in runs:
        by_group.setdefault(record.group_id, []).append(record)
    series = [s for s in pmap(one_series, series_jobs(runs, settings)) if s is not None]
    index = fit_index(runs, series, by_group, settings, size_budget)
    _write_groups(out, by_group, ours)
    _write(out / MARKER, json.dumps({"generator": f"lseprof {__version__}"}) + "\n")
    _write(out / "index.html", index)
    return out / "index.html"
