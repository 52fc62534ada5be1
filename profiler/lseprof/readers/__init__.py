"""Readers: perf output of every kind turned into the samples table (``lseprof.samples``).

Lives here: the perf.data reader (``perf_data``: ``perf script`` driven in slices,
with ``perf_data_info``, ``perf_data_script`` and ``forked_calls``), the parsers of
``perf script`` text (``perf_script`` and its ``perf_script_*`` parts) and of
``perf report --stdio`` text (``perf_report``, ``perf_report_rows``,
``perf_report_graph``), qemu ``-perfmap`` files, perf's recorded mmaps, and the
input-kind detection. May import the core modules and ``lseprof.capture`` (to
start perf); never symbols, analysis, reporters or the CLI.
"""
