"""Errors that mean "the user asked for something that cannot work"; the CLI prints them plainly
(no traceback) and exits with status 2. Anything else is a bug and keeps its traceback."""


class CurateError(Exception):
    """A user-facing error with a message that says what is wrong and how to fix it."""
