"""Reporters: analysed results rendered as terminal tables, JSON, Markdown, HTML and plots.

Each module takes the objects built by ``lseprof.analysis`` (or stored runs) and
returns or writes text; none runs a program or reads perf output itself, so every
report can be re-rendered from what was saved. May import every layer below:
the core modules, ``lseprof.store``, ``capture``, ``readers``, ``symbols`` and
``analysis``; never ``lseprof.jobs`` or the CLI.
"""
