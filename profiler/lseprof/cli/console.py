"""Shared rich consoles: results go to stdout, messages and progress to stderr."""

from __future__ import annotations

import sys

from rich.console import Console

# Piped output is read in files and CI logs, not an 80-column terminal: give tables room.
_PIPE_WIDTH = 160
# soft_wrap keeps a one-line message on one line whatever the width.
out = Console(highlight=False, soft_wrap=True, width=None if sys.stdout.isatty() else _PIPE_WIDTH)
err = Console(
    stderr=True, highlight=False, soft_wrap=True, width=None if sys.stderr.isatty() else _PIPE_WIDTH
)


def warn(message: str) -> None:
    """A soft problem: the result is still produced, but the user should know."""
    err.print(f"[yellow]lseprof: warning:[/] {message}", markup=True)
