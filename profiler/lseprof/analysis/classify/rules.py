"""The classification rule table: what a rule is, and loading it from TOML.

The defaults are ``profiler/lseprof/analysis/classify/default.toml``; ``--rules FILE`` puts the
user's rules in front of them (or replaces them, with ``replace_defaults = true``).
First match wins; :mod:`lseprof.analysis.classify.apply` applies the table to samples.

The same file holds two tables for the callchain step
(:mod:`lseprof.analysis.classify.chains`): ``[[kernel_path]]`` (generic kernel code
whose time belongs to what it serves: the scheduler, system-call entry and exit)
and ``[[serves]]`` (the frames further up a callchain that say what that is).
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

from lseprof.errors import LseprofError
from lseprof.results import CATEGORIES

_MATCHERS = ("symbol", "dso", "caller")
# [[serves]] may also send a sample to the user-space code it ran for.
USER = "user"


@dataclass(frozen=True)
class Rule:
    """One row of the rule table."""

    category: str
    symbol: re.Pattern[str] | None = None
    dso: re.Pattern[str] | None = None
    caller: re.Pattern[str] | None = None
    origin: str = ""
    why: str = ""
    source: str = ""

    def matches(self, symbol: str, dso: str, caller: str) -> bool:
        return (
            (self.symbol is None or self.symbol.search(symbol) is not None)
            and (self.dso is None or self.dso.search(dso) is not None)
            and (self.caller is None or self.caller.search(caller) is not None)
        )


@dataclass(frozen=True)
class ChainRules:
    """The callchain step's tables: generic kernel leaves, and what frames serve."""

    kernel_path: tuple[re.Pattern[str], ...]
    serves: tuple[tuple[re.Pattern[str], str], ...]  # (frame regex, category or USER)
    entries: tuple[dict[str, str], ...] = ()  # as written, for the docs table


def _document(text: str, origin: str) -> dict[str, Any]:
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise LseprofError(f"{origin} is not valid TOML ({exc}); fix the rules file") from None


def _regex(entry: dict[str, Any], key: str, where: str) -> re.Pattern[str]:
    try:
        return re.compile(str(entry[key]))
    except re.error as exc:
        raise LseprofError(f"{where}: bad {key} regex ({exc}); fix the rules file") from None


def _rule(entry: Any, where: str) -> Rule:
    if not isinstance(entry, dict):
        raise LseprofError(f"{where} is not a table; write it as [[rule]]")
    category = entry.get("category")
    if category not in CATEGORIES:
        raise LseprofError(
            f"{where}: category {category!r} is not one of "
            f"{', '.join(CATEGORIES)}; fix the rules file"
        )
    patterns = {key: _regex(entry, key, where) for key in _MATCHERS if key in entry}
    if not patterns:
        raise LseprofError(f"{where} has no symbol, dso or caller regex; add one")
    return Rule(
        category,
        patterns.get("symbol"),
        patterns.get("dso"),
        patterns.get("caller"),
        where,
        str(entry.get("why", "")),
        str(entry.get("source", "")),
    )


def _parse_rules(text: str, origin: str) -> tuple[list[Rule], bool]:
    doc = _document(text, origin)
    replace = bool(doc.get("replace_defaults", False))
    entries = doc.get("rule", [])
    if not isinstance(entries, list):
        raise LseprofError(
            f"{origin}: `rule` must be an array of tables ([[rule]]); fix the rules file"
        )
    rules = [_rule(entry, f"{origin} rule {n}") for n, entry in enumerate(entries, start=1)]
    return rules, replace


def _default_text() -> str:
    return resources.files("lseprof.analysis.classify").joinpath("default.toml").read_text("utf-8")


@cache
def default_rules() -> tuple[Rule, ...]:
    return tuple(_parse_rules(_default_text(), "default rules")[0])


@cache
def chain_rules() -> ChainRules:
    """The ``[[kernel_path]]`` and ``[[serves]]`` tables of the default rules file."""
    doc = _document(_default_text(), "default rules")
    paths = tuple(re.compile(str(e["symbol"])) for e in doc.get("kernel_path", []))
    serves = []
    for entry in doc.get("serves", []):
        category = str(entry["category"])
        if category not in (*CATEGORIES, USER):  # a broken default is a bug, not a user error
            raise ValueError(f"default rules: [[serves]] category {category!r}")
        serves.append((re.compile(str(entry["frame"])), category))
    entries = tuple(
        {"table": table, **{k: str(v) for k, v in e.items()}}
        for table in ("kernel_path", "serves")
        for e in doc.get(table, [])
    )
    return ChainRules(paths, tuple(serves), entries)


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


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def _names(rule: Rule) -> str:
    parts = [
        f"{key} `{_cell(pattern.pattern)}`"
        for key, pattern in (("symbol", rule.symbol), ("dso", rule.dso), ("caller", rule.caller))
        if pattern is not None
    ]
    return "<br>".join(parts)


def rules_table() -> str:
    """The default rules as Markdown tables (docs/contention.md holds this text): each
    rule's category, the names it matches, why, and where the names come from; then
    the callchain step's tables."""
    lines = ["| # | category | matches | why | source |", "|---|---|---|---|---|"]
    for number, rule in enumerate(default_rules(), start=1):
        lines.append(
            f"| {number} | {rule.category} | {_names(rule)} | {_cell(rule.why)} "
            f"| {_cell(rule.source)} |"
        )
    lines += ["", "| table | frame | category | why | source |", "|---|---|---|---|---|"]
    for entry in chain_rules().entries:
        frame = entry.get("frame", entry.get("symbol", ""))
        lines.append(
            f"| {entry['table']} | `{_cell(frame)}` | {entry.get('category', '-')} "
            f"| {_cell(entry.get('why', ''))} | {_cell(entry.get('source', ''))} |"
        )
    return "\n".join(lines)
