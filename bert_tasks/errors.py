"""The one exception type for bad input.

Anything a user can fix (a recipe key, a data file, a column name) raises
:class:`UserError`. The CLI prints its message without a traceback and exits
with status 2; programmatic callers can catch it like any ``ValueError``.
"""


class UserError(ValueError):
    """Bad input that the user can fix: the message says what, where and what to do.

    ``index``: which of a list of inputs is at fault, for a caller that can name its place better
    (``predict_file`` names the file's line)."""

    def __init__(self, message: str = "", index: int | None = None):
        super().__init__(message)
        self.index = index


def shown(value: object, limit: int = 60) -> str:
    """A short form of a bad value for a message: ``null`` for None, else its repr cut to ``limit`` characters."""
    if value is None:
        return "null"
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."
