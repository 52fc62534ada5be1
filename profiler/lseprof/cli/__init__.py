"""The ``lseprof`` command line: one module per subcommand, each a few lines binding
options to library calls; ``app`` assembles them and maps ``LseprofError`` to one
line on stderr and an exit code; ``entry`` is the console script, and ``prefetch``
the head start it gives `lseprof report`. The top layer: may import anything,
nothing imports it.
"""

from lseprof.cli.entry import main

__all__ = ["main"]
