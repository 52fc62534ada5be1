"""Analysis: from a named samples table to answers.

Lives here: classification of every sample by the TOML rules in ``rules/``,
attribution (shares by category, helper, caller), the report pipeline that chains
reader -> symbolizer -> classifier -> attribution, statistics, change points,
nightly verdicts, folded stacks and the A/B diff. May import the core modules,
``lseprof.store``, ``lseprof.capture``, ``lseprof.readers`` and ``lseprof.symbols``;
never reporters, jobs or the CLI.
"""
