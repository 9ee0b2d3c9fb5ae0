"""The one exception type for bad input.

Anything a user can fix (a recipe key, a data file, a column name) raises
:class:`UserError`. The CLI prints its message without a traceback and exits
with status 2; programmatic callers can catch it like any ``ValueError``.
"""


class UserError(ValueError):
    """Bad input that the user can fix: the message says what, where and what to do."""
