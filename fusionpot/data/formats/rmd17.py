"""Revised MD17 (rMD17) ``.npz`` files: kcal/mol and Å in, eV and eV/Å out.

Keys used: ``nuclear_charges [n_atoms]``, ``coords [n_frames, n_atoms, 3]`` Å,
``energies [n_frames]`` kcal/mol, ``forces [n_frames, n_atoms, 3]`` kcal/mol/Å (forces,
not gradients). The ``old_*`` arrays (the original MD17 labels) are not read.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from ase import Atoms

from fusionpot.data.formats._common import Indices, converted_frame, select_indices, unit_factor

__all__ = ["read_rmd17"]

_SHAPES = {
    "nuclear_charges": "[n_atoms]",
    "coords": "[n_frames, n_atoms, 3]",
    "energies": "[n_frames]",
    "forces": "[n_frames, n_atoms, 3]",
}


def read_rmd17(path: Path | str, indices: Indices = None) -> list[Atoms]:
    """Frames of an rMD17 npz as ``ase.Atoms`` with ``info["energy"]`` eV, ``forces`` eV/Å.

    indices: None (all), a slice or a list of frame indices.
    """
    path = Path(path)
    with np.load(path) as npz:
        missing = [key for key in _SHAPES if key not in npz.files]
        if missing:
            raise ValueError(
                f"{path}: not an rMD17 file, missing keys {missing} (has {sorted(npz.files)})"
            )
        z, coords, energies, forces = (np.asarray(npz[key]) for key in _SHAPES)
    n_frames, n_atoms = len(energies), len(z)
    expected = {
        "nuclear_charges": (n_atoms,),
        "coords": (n_frames, n_atoms, 3),
        "energies": (n_frames,),
        "forces": (n_frames, n_atoms, 3),
    }
    for (key, shape), array in zip(expected.items(), (z, coords, energies, forces), strict=True):
        if array.shape != shape:
            raise ValueError(
                f"{path}: {key} has shape {array.shape}, expected {_SHAPES[key]} = {shape}"
            )
    factor = unit_factor("kcal/mol")
    converted = f"energies kcal/mol x {factor!r} -> eV; forces kcal/mol/Å x {factor!r} -> eV/Å"
    frames = []
    for index in select_indices(indices, n_frames, path):
        provenance: dict[str, str | int | float] = {
            "source": path.name,
            "source_index": index,
            "source_format": "rmd17",
            "units_converted": converted,
        }
        frames.append(
            converted_frame(
                z.astype(np.int64),
                coords[index],
                energies[index : index + 1] * factor,
                forces[index][:, None, :] * factor,
                provenance,
            )
        )
    return frames
