"""`perf annotate` text -> annotated functions (:class:`lseprof.samples.Listing`) and
the samples table.

Read layouts (each has a real perf 6.1 fixture under tests/fixtures/perf/annotate):

* ``perf annotate --stdio`` (with or without ``--no-source``; one function or all of
  them, each under its ``Percent | Source code & Disassembly of DSO for EVENT (N
  samples, ...)`` heading);
* the interactive screen (``perf annotate --tui``, ``perf report`` then ``a``, ``perf
  top`` then ``a``) as a person copies it from the terminal: the ``Samples: ... of
  event`` title, the ``SYMBOL  DSO [Percent: local period]`` line, ``Percent│``, the
  source lines interleaved with the instructions, jump labels (``20:``), the arrows
  perf draws (``→ ↑ ↓ ←``, the current jump's ``┌─→ │ └──``, or their ASCII
  ``+- | +--``), a scrollbar column at the right edge, the objdump view's addresses;
* lines of an annotated function pasted without their heading (after a ``perf
  report`` paste: :func:`parse_listings` with ``fragments``).

Percentages are the function's own (perf's ``local period``): a row's ``weight`` is
its share of the function's samples where ``--stdio`` printed their number, else
the printed percentage. A listing without any percentage is read for what it shows
and gives no rows: its instructions are there, shares are not invented. A screen
that shows part of a function leaves the rest of its samples ``[not listed]``.

Modules: the ``--stdio`` layout (``stdio``), the interactive screen and fragments
(``screen``), and the samples table made from listings (``table``).
"""

from lseprof.readers.annotate.table import looks_like_annotate, parse_listings, read_annotate_text

__all__ = ["looks_like_annotate", "parse_listings", "read_annotate_text"]
