"""The offline regression dashboard: one self-contained HTML file plus a page per run group.

``build_dashboard(records, out_dir)`` writes ``out_dir/index.html`` (nightly
series with change points, latest-vs-previous table, scaling view) and
``out_dir/groups/<group_id>.html``. The pages need no server, no network and no
JavaScript: plots are inline SVG drawn by matplotlib (why: see
:mod:`lseprof.reports.dashboard.plots`; a year of 8 nightly series measures 1.3 MB, see
docs/regressions.md). Series and change points come from
:mod:`lseprof.reports.dashboard.series`. The index page is drawn in
:mod:`lseprof.reports.dashboard.index`, group pages in
:mod:`lseprof.reports.dashboard.groups`, from the pieces in
:mod:`lseprof.reports.dashboard.html`; this module writes them out.

Everything taken from runs is HTML-escaped, and every page carries a
Content-Security-Policy that forbids scripts and all fetches, as a second line
of defence.

Modules: writing the files (``build``), the index page (``index``), the group pages
(``groups``) with their cache-lines-between-cores block (``coherence``), HTML blocks
(``html``), the series (``series``), the plots (``plots``) and the worker processes
(``workers``).
"""

from lseprof.reports.dashboard.build import MARKER, SIZE_BUDGET, build_dashboard
from lseprof.reports.dashboard.html import group_file
from lseprof.reports.dashboard.plots import scaling_svg

__all__ = ["MARKER", "SIZE_BUDGET", "build_dashboard", "group_file", "scaling_svg"]
