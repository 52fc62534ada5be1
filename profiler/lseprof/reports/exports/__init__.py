"""Profiles written for other tools' viewers (pprof, speedscope) from one report.

Reads the :class:`lseprof.analysis.pipeline.Report` already built (its classified
samples table) and, for speedscope from a perf.data, the whole folded stacks.

Modules: choosing and writing (``write``), pprof (``pprof``) and speedscope
(``speedscope``).
"""

from lseprof.reports.exports.pprof import build_pprof, write_pprof
from lseprof.reports.exports.speedscope import build_speedscope, write_speedscope
from lseprof.reports.exports.write import export_profile

__all__ = ["build_pprof", "build_speedscope", "export_profile", "write_pprof", "write_speedscope"]
