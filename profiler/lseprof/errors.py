"""The one exception type for problems a user can fix.

Library code raises :class:`LseprofError`; the CLI prints its message on one line
and exits with its ``exit_code``. Anything else escaping is a bug in lseprof.
"""

from __future__ import annotations

# Exit codes, shared by every subcommand.
EXIT_OK = 0
EXIT_FAILED = 1  # the work ran but its outcome is bad (a failed run, a regression)
EXIT_USAGE = 2  # bad input: fix the command line or the files given


class LseprofError(Exception):
    """A problem with the user's input or environment, with what to do about it."""

    def __init__(self, message: str, exit_code: int = EXIT_USAGE) -> None:
        super().__init__(message)
        self.message = message
        self.exit_code = exit_code

    def __str__(self) -> str:
        return self.message


def require_at_least(option: str, value: float | None, minimum: float) -> None:
    """A usage error unless `value` is at least `minimum`; None (not given) passes."""
    if value is not None and value < minimum:
        raise LseprofError(f"{option} must be {minimum:g} or more, not {value:g}")


def require_one_format(as_json: bool, markdown: bool) -> None:
    """A usage error when both --json and --markdown are asked for."""
    if as_json and markdown:
        raise LseprofError("--json and --markdown exclude each other; pick one")
