"""Shared rich consoles: results go to stdout, messages and progress to stderr."""

from __future__ import annotations

from rich.console import Console

out = Console(highlight=False, soft_wrap=True)
err = Console(stderr=True, highlight=False, soft_wrap=True)


def warn(message: str) -> None:
    """A soft problem: the result is still produced, but the user should know."""
    err.print(f"[yellow]lseprof: warning:[/] {message}", markup=True)
