"""Put every sample into exactly one category (:data:`lseprof.samples.CATEGORIES`).

The name-based part is data, not code: an ordered rule table in TOML
(``profiler/lseprof/analysis/classify/default.toml``, plus ``--rules FILE`` in front of it), first
match wins. Rules run once per distinct (symbol, DSO, caller) triple, not per
sample. Samples no rule claims are checked at the instruction level: where the
binary's bytes are known, the instruction at the sample address is decoded
(:func:`lseprof.symbols.insn.classify_instruction`, once per distinct address) and an
atomic makes the sample ``inline_atomic``; an address inside a spin loop (a short
backward loop around ``isb``, ``yield``, ``wfe``/``sevl``, ``sb`` or ``pause``, found by
decoding its function once: :mod:`lseprof.symbols.spin_loops`) makes it ``spin``,
whatever the function is called.

Outline-atomic helper samples also get ``helper_path``: whether the sampled
instruction lies on the helper's LSE path, its LDXR/STXR retry loop, or the test
of ``__aarch64_have_lse_atomics`` that picks between them.

Generic kernel code (the scheduler, system-call entry and exit) is then attributed
to what it serves by the samples' callchains (``chains``: the ``[[kernel_path]]`` and
``[[serves]]`` tables of the rules file).

Modules: applying the table and the decoders to a samples table (``apply``), the
rule table and its TOML (``rules``, ``default.toml``), and the instruction-level
checks (``decode``).
"""

from lseprof.analysis.classify.apply import DISTINCT_ABOVE_ROWS, classify
from lseprof.analysis.classify.chains import ChainOutcome, attribute_chains
from lseprof.analysis.classify.decode import helper_path_at, warm_up
from lseprof.analysis.classify.rules import (
    ChainRules,
    Rule,
    chain_rules,
    default_rules,
    load_rules,
    rules_table,
)

__all__ = [
    "DISTINCT_ABOVE_ROWS",
    "ChainOutcome",
    "ChainRules",
    "Rule",
    "attribute_chains",
    "chain_rules",
    "classify",
    "default_rules",
    "helper_path_at",
    "load_rules",
    "rules_table",
    "warm_up",
]
