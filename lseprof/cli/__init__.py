"""The ``lseprof`` command line: one module per subcommand, each a few lines binding
options to library calls; ``main`` assembles them and maps ``LseprofError`` to one line
on stderr and an exit code. The top layer: may import anything, nothing imports it.
"""
