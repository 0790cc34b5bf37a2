"""Frames from a file, with errors that name it: the one reader of ``ase.Atoms`` files
used by ``fusionpot train``/``eval`` and ``fusionpot label`` (no torch needed).

>>> import tempfile, ase.io
>>> from ase.build import molecule
>>> path = tempfile.mkdtemp() + "/water.xyz"
>>> ase.io.write(path, [molecule("H2O")] * 2)
>>> len(read_atoms(path))
2
>>> read_atoms(path + ".missing")
Traceback (most recent call last):
...
FileNotFoundError: ....missing: no such data file
"""

from __future__ import annotations

from pathlib import Path

import ase
import ase.io

__all__ = ["read_atoms"]


def read_atoms(path: str | Path) -> list[ase.Atoms]:
    """Every frame of ``path`` (any format ``ase.io.read`` knows); errors name the file."""
    try:
        frames = ase.io.read(path, index=":")
    except FileNotFoundError:
        raise FileNotFoundError(f"{path}: no such data file") from None
    except Exception as error:
        raise ValueError(f"{path}: cannot read it with ase.io.read: {error}") from error
    return frames if isinstance(frames, list) else [frames]
