"""Whether the process may end without the interpreter's teardown (see :func:`lseprof.cli.app.run`).

Its own module so that a subcommand can ask for it without importing ``app``,
which imports every subcommand.
"""

from __future__ import annotations

_teardown_free = False


def skip_teardown() -> None:
    """Called by a command whose output is complete and that leaves nothing to clean up
    at exit (no open files, no child processes): :func:`lseprof.cli.app.run` then ends
    the process without the interpreter's teardown, which takes ~0.2 s once pandas is
    loaded."""
    global _teardown_free
    _teardown_free = True


def skipped() -> bool:
    """True once :func:`skip_teardown` was called."""
    return _teardown_free
