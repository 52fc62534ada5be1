"""``python -m lseprof``: the command line."""

from lseprof.cli import main

main()
