"""Errors that mean "the input is wrong", as opposed to a bug in fusionpot.

The command line (:func:`fusionpot.cli.main`) prints these as one line on stderr and
exits with status 2; anything else is a bug and keeps its traceback. The family it treats
as user errors is :data:`USER_ERRORS`:

- :class:`UserError` and its subclasses (:class:`ConfigError` for a configuration key,
  :class:`DataError` for labelled frames), raised where input is validated;
- ``ValueError``: by the project's convention (STYLE.md) bad input raises ``ValueError``
  naming the value, and the configuration and data checks do;
- the ``OSError`` kinds that say a path given by the user is wrong: missing, a directory
  where a file is expected (or the reverse), already there, or not allowed.

``fusionpot --debug COMMAND ...`` shows the traceback of these as well.
"""

from __future__ import annotations

import os

__all__ = ["USER_ERRORS", "ConfigError", "DataError", "UserError", "user_message"]


class UserError(Exception):
    """Bad input (a file, key or value the user gave); the message names it."""


class ConfigError(UserError, ValueError):
    """A configuration value of the wrong type or range: names the file and the key."""

    def __init__(self, message: str, source: str | os.PathLike[str] | None = None) -> None:
        self.source = None if source is None else os.fspath(source)
        super().__init__(message if source is None else f"{os.fspath(source)}: {message}")


class DataError(UserError, ValueError):
    """Labelled frames that cannot serve as asked (a label key found in no frame, ...)."""


#: what ``fusionpot.cli.main`` reports as one line with exit status 2
USER_ERRORS: tuple[type[BaseException], ...] = (
    UserError,
    ValueError,
    FileNotFoundError,
    FileExistsError,
    IsADirectoryError,
    NotADirectoryError,
    PermissionError,
)


def user_message(error: BaseException) -> str:
    """One line for ``error``: an OSError as 'reason: path', others as their message."""
    if isinstance(error, OSError) and error.filename is not None and error.strerror:
        text = f"{error.strerror}: {os.fspath(error.filename)}"
    elif isinstance(error, KeyError) and error.args:
        text = str(error.args[0])
    else:
        text = str(error) or type(error).__name__
    return " ".join(part.strip() for part in text.splitlines() if part.strip())
