"""How reports mark the columns that rest on the sampled instruction (a helper's
LSE / LL/SC / flag-test path, an inline atomic's instruction) when the samples'
addresses are not the instruction that ran (see lseprof.results.IP_PRECISIONS)."""

from __future__ import annotations

from lseprof.results import Attribution

PATH_COLUMNS = ("LSE path", "LL/SC path", "flag test")
# Appended to those columns' titles: "~" approximate (skid), "?" not measured (an
# emulated PMU; the report's warning says why).
MARKS = {"skid": "~", "block": "?"}
SKID_NOTE = (
    "~ the sampled address may be a few instructions after the one that ran "
    "(no precise sampling): path and instruction columns are approximate"
)


def mark_of(section: Attribution) -> str:
    """The mark for the section's path and instruction columns ("" when exact or unknown)."""
    return MARKS.get(section.ip_precision or "", "")
