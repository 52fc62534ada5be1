"""The classification rule table: what a rule is, and loading it from TOML.

The defaults are ``profiler/lseprof/analysis/classify/default.toml``; ``--rules FILE`` puts the
user's rules in front of them (or replaces them, with ``replace_defaults = true``).
First match wins; :mod:`lseprof.analysis.classify.apply` applies the table to samples.
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass
from functools import cache
from importlib import resources
from pathlib import Path

from lseprof.errors import LseprofError
from lseprof.results import CATEGORIES

_MATCHERS = ("symbol", "dso", "caller")


@dataclass(frozen=True)
class Rule:
    """One row of the rule table."""

    category: str
    symbol: re.Pattern[str] | None = None
    dso: re.Pattern[str] | None = None
    caller: re.Pattern[str] | None = None
    origin: str = ""

    def matches(self, symbol: str, dso: str, caller: str) -> bool:
        return (
            (self.symbol is None or self.symbol.search(symbol) is not None)
            and (self.dso is None or self.dso.search(dso) is not None)
            and (self.caller is None or self.caller.search(caller) is not None)
        )


def _parse_rules(text: str, origin: str) -> tuple[list[Rule], bool]:
    try:
        doc = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise LseprofError(f"{origin} is not valid TOML ({exc}); fix the rules file") from None
    replace = bool(doc.get("replace_defaults", False))
    entries = doc.get("rule", [])
    if not isinstance(entries, list):
        raise LseprofError(
            f"{origin}: `rule` must be an array of tables ([[rule]]); fix the rules file"
        )
    rules = []
    for number, entry in enumerate(entries, start=1):
        where = f"{origin} rule {number}"
        if not isinstance(entry, dict):
            raise LseprofError(f"{where} is not a table; write it as [[rule]]")
        category = entry.get("category")
        if category not in CATEGORIES:
            raise LseprofError(
                f"{where}: category {category!r} is not one of "
                f"{', '.join(CATEGORIES)}; fix the rules file"
            )
        patterns: dict[str, re.Pattern[str]] = {}
        for key in _MATCHERS:
            if key in entry:
                try:
                    patterns[key] = re.compile(str(entry[key]))
                except re.error as exc:
                    raise LseprofError(
                        f"{where}: bad {key} regex ({exc}); fix the rules file"
                    ) from None
        if not patterns:
            raise LseprofError(f"{where} has no symbol, dso or caller regex; add one")
        rules.append(
            Rule(
                category, patterns.get("symbol"), patterns.get("dso"), patterns.get("caller"), where
            )
        )
    return rules, replace


@cache
def default_rules() -> tuple[Rule, ...]:
    text = resources.files("lseprof.analysis.classify").joinpath("default.toml").read_text("utf-8")
    return tuple(_parse_rules(text, "default rules")[0])


def load_rules(user_file: Path | None = None) -> list[Rule]:
    """The rule table: the user's rules (if any) in front of the defaults."""
    if user_file is None:
        return list(default_rules())
    try:
        text = Path(user_file).read_text("utf-8")
    except OSError as exc:
        raise LseprofError(
            f"cannot read --rules {user_file} ({exc.strerror}); check the path"
        ) from None
    rules, replace = _parse_rules(text, str(user_file))
    return rules if replace else [*rules, *default_rules()]
