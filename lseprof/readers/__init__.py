"""Readers: perf output of every kind turned into the samples table (``lseprof.samples``).

Lives here: the perf.data reader (``perf script`` driven in slices), the parsers of
``perf script`` and ``perf report --stdio`` text, qemu ``-perfmap`` files, perf's
recorded mmaps, and the input-kind detection. May import the core modules and
``lseprof.capture`` (to start perf); never symbols, analysis, reporters or the CLI.
"""
