"""Capture: starting perf, qemu and cargo, and recording a workload into a run directory.

Lives here: finding perf and checking what it may record (``perf_env``), running a
command under ``perf record`` and keeping what it leaves (``record``), building the
native encoder (``build``). May import the core modules (``lseprof.errors``,
``lseprof.paths``, ``lseprof.samples``) and ``lseprof.store``; nothing that reads,
analyses or reports.
"""
