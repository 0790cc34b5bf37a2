"""Readers for third-party data sets and the ``fusionpot convert`` pipeline.

Every reader returns ``list[ase.Atoms]`` in the project's convention (eV, Å, eV/Å;
``energy``/``forces`` for one state, ``energy_s{k}``/``forces_s{k}`` for several,
``nac_s{i}{j}`` where present, provenance in ``info``); :func:`convert` writes them to
extxyz atomically.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from ase import Atoms
from ase.io import write

from fusionpot._io import atomic_write
from fusionpot.data.formats._common import Indices, select_indices, unit_factor
from fusionpot.data.formats.pyrai2md import read_pyrai2md
from fusionpot.data.formats.rmd17 import read_rmd17
from fusionpot.data.formats.spainn import read_spainn
from fusionpot.errors import UserError

__all__ = [
    "READERS",
    "Indices",
    "convert",
    "detect_format",
    "read_dataset",
    "read_pyrai2md",
    "read_rmd17",
    "read_spainn",
    "select_indices",
    "unit_factor",
    "write_extxyz",
]

READERS: dict[str, Callable[..., list[Atoms]]] = {
    "rmd17": read_rmd17,
    "pyrai2md": read_pyrai2md,
    "spainn": read_spainn,
}

_SUFFIXES = {".npz": "rmd17", ".json": "pyrai2md", ".xz": "pyrai2md", ".gz": "pyrai2md"}
_SUFFIXES |= {".tar": "pyrai2md", ".db": "spainn"}


def detect_format(path: Path | str) -> str:
    """Format name from the file name: ``.npz`` rmd17, ``.json``/``.tar.*`` pyrai2md, ``.db``
    spainn.

    >>> detect_format("hexafluorobenzene.json.tar.xz")
    'pyrai2md'
    """
    suffix = Path(path).suffix.lower()
    if suffix not in _SUFFIXES:
        raise ValueError(
            f"cannot tell the format of {path} from its suffix {suffix!r}; "
            f"pass one of {sorted(READERS)}"
        )
    return _SUFFIXES[suffix]


def read_dataset(
    path: Path | str, format: str | None = None, indices: Indices = None, **options: object
) -> list[Atoms]:
    """Read ``path`` with the reader of ``format`` (detected from the suffix when None)."""
    name = format or detect_format(path)
    if name not in READERS:
        raise ValueError(f"unknown format {name!r}; known: {sorted(READERS)}")
    return READERS[name](path, indices, **options)


def write_extxyz(path: Path | str, frames: list[Atoms]) -> None:
    """Write frames to extxyz atomically (temp file in the same folder + ``os.replace``)."""
    atomic_write(path, lambda tmp: write(tmp, frames, format="extxyz"))


def _show(indices: Indices) -> str:
    """``slice(5, 2)`` -> ``"5:2"``, ``[1, 3]`` -> ``"1,3"``, None -> ``"all"``."""
    if indices is None:
        return "all"
    if isinstance(indices, slice):
        parts = [indices.start, indices.stop] + ([indices.step] if indices.step else [])
        return ":".join("" if p is None else str(p) for p in parts)
    return ",".join(str(i) for i in indices)


def convert(
    source: Path | str,
    output: Path | str,
    format: str | None = None,
    indices: Indices = None,
    max_frames: int | None = None,
    **options: object,
) -> int:
    """Convert ``source`` to the project's extxyz at ``output``; returns the frame count.

    indices selects frames; max_frames then keeps the first ``max_frames`` of them.
    """
    frames = read_dataset(source, format, indices, **options)[:max_frames]
    if not frames:
        raise UserError(f"{source}: no frame selected (indices {_show(indices)}); nothing written")
    write_extxyz(output, frames)
    return len(frames)
