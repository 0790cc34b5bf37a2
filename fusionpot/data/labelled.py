"""A geometry and its per-state labels as one ``ase.Atoms`` frame of the project's extxyz.

The one writer of labels into frames: the format converters (``fusionpot convert``) and
the labelling job (``fusionpot label``) both call :func:`labelled_atoms`. Convention (the
one the trainer reads):

- S states: ``info["energy_s{k}"]`` eV and ``arrays["forces_s{k}"]`` eV/Å, k = 0..S-1;
- or, with ``plain_single_state`` and S = 1: ``info["energy"]`` and ``arrays["forces"]``;
- ground-state stress: ``info["stress"]`` (6 Voigt components, eV/Å³);
- other per-atom vectors under the caller's names (``nac_s{i}{j}``, ``coupling_{p}``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
from ase import Atoms

__all__ = ["labelled_atoms"]


def labelled_atoms(
    geometry: Atoms,
    energies: np.ndarray,
    forces: np.ndarray | None,
    *,
    stress: np.ndarray | None = None,
    vectors: Mapping[str, np.ndarray] | None = None,
    info: Mapping[str, Any] | None = None,
    plain_single_state: bool = False,
    where: str = "frame",
) -> Atoms:
    """``geometry`` (changed in place and returned) carrying its labels.

    energies: [n_states] eV; forces: [n_atoms, n_states, 3] eV/Å or None (energies only);
    stress: [6] eV/Å³ or None; vectors: per-atom arrays [n_atoms, 3] by name; info:
    scalars added to ``geometry.info`` last (provenance). Entries are written in this
    order (energies, forces, stress, vectors, info), which is the order of the extxyz
    columns and comment. ``where`` names the frame in the error raised for forces of
    the wrong shape.
    """
    n_states = len(energies)
    if forces is not None and forces.shape != (len(geometry), n_states, 3):
        raise ValueError(
            f"forces have shape {forces.shape}, expected {(len(geometry), n_states, 3)} ({where})"
        )
    plain = plain_single_state and n_states == 1
    for k in range(n_states):
        geometry.info["energy" if plain else f"energy_s{k}"] = float(energies[k])
    if forces is not None:
        for k in range(n_states):
            name = "forces" if plain else f"forces_s{k}"
            geometry.arrays[name] = np.array(forces[:, k], dtype=np.float64)
    if stress is not None:
        geometry.info["stress"] = np.asarray(stress, dtype=float)
    for name, vector in (vectors or {}).items():
        geometry.arrays[name] = np.array(vector, dtype=np.float64)
    geometry.info.update(info or {})
    return geometry
