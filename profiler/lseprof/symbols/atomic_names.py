"""Names of aarch64 outline-atomic helpers (libgcc / compiler-rt `lse.S`).

A helper is `__aarch64_<op><size>_<order>`: op in cas, swp, ldadd, ldclr, ldeor,
ldset; size in bytes (cas also has 16); order relax, acq, rel, acq_rel or sync.
Each tests `__aarch64_have_lse_atomics` and runs either one LSE instruction or
an LDXR/STXR retry loop.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

LSE_FLAG_SYMBOL = "__aarch64_have_lse_atomics"
OPS = ("cas", "swp", "ldadd", "ldclr", "ldeor", "ldset")
ORDERS = ("relax", "acq", "rel", "acq_rel", "sync")

_HELPER_RE = re.compile(
    r"^__aarch64_(?P<op>cas|swp|ldadd|ldclr|ldeor|ldset)(?P<size>1|2|4|8|16)"
    r"_(?P<order>relax|acq_rel|acq|rel|sync)$"
)


@dataclass(frozen=True)
class HelperName:
    """A parsed helper symbol: `__aarch64_ldadd8_acq_rel` -> ldadd, 8 bytes, acq_rel."""

    symbol: str
    op: str
    size: int
    order: str


def parse_helper(symbol: str) -> HelperName | None:
    """Parse a helper symbol, or None if `symbol` is not an outline-atomic helper.

    Accepts perf decorations such as a trailing `@plt`, `+0x10` or ` (inlined)`.
    """
    base = symbol.split(" ", 1)[0].split("+", 1)[0].removesuffix("@plt")
    match = _HELPER_RE.match(base)
    if match is None:
        return None
    size = int(match["size"])
    if size == 16 and match["op"] != "cas":
        return None
    return HelperName(base, match["op"], size, match["order"])


def helper_symbol(op: str, size: int, order: str) -> str:
    """The helper symbol for an op/size/order triple."""
    return f"__aarch64_{op}{size}_{order}"


def all_helper_symbols() -> list[str]:
    """Every helper name libgcc can provide."""
    names: list[str] = []
    for op in OPS:
        for size in (1, 2, 4, 8, 16):
            if size == 16 and op != "cas":
                continue
            names.extend(helper_symbol(op, size, order) for order in ORDERS)
    return names
