"""One error type for user mistakes.

Anything a user can get wrong (a missing file, a malformed line, an unknown label, an
inconsistent model folder, an invalid option value) raises :class:`UserError` with a one-line
message that says what is wrong and where. The CLI prints it to stderr as ``error: <message>``
and exits with status 2, without a traceback. It is a :class:`ValueError` (a bad value given),
so a library caller may catch either. Programming errors keep their own exception types.
"""

from __future__ import annotations


class UserError(ValueError):
    """A mistake in what the user gave us: bad input, bad options, a broken model folder."""

    exit_code = 2

    def __init__(self, message: str):
        # Keep the message on one line: the CLI prints exactly this.
        message = " ".join(str(message).split())
        super().__init__(message)

    @property
    def message(self) -> str:
        return self.args[0]


def deprecated(old: str, new: str) -> None:
    """Warn that ``old`` (a method, a command, an HTTP operation) is now ``new``: a
    :class:`DeprecationWarning` pointing at the caller's line (Python shows it for code run in
    ``__main__`` and in notebooks, and pytest shows it); the old name still works."""
    import warnings

    warnings.warn(f"{old} is deprecated and will be removed in a later release: use {new}", DeprecationWarning,
                  stacklevel=3)
