"""What every reader shares: unit factors, frame selection, converted ``ase.Atoms``.

The project's extxyz convention (the one the trainer reads):

- one state: ``info["energy"]`` eV and ``arrays["forces"]`` eV/Å;
- S states: ``info["energy_s{k}"]`` eV and ``arrays["forces_s{k}"]`` eV/Å, k = 0..S-1;
- NAC vectors, where the source has them: ``arrays["nac_s{i}{j}"]`` (i < j), units in
  ``info["nac_units"]``;
- provenance: ``info["source"]`` (file name), ``info["source_index"]`` (frame index in
  the source), ``info["source_format"]`` and ``info["units_converted"]`` (what was
  multiplied by what).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
from ase import Atoms, units
from ase.data import atomic_numbers, chemical_symbols

from fusionpot.data.labelled import labelled_atoms

__all__ = ["Indices", "converted_frame", "select_indices", "unit_factor"]

#: frames to read: None (all), a slice, or explicit indices (negative counts from the end)
Indices = slice | Sequence[int] | None

_UNITS = {
    "ev": 1.0,
    "hartree": units.Hartree,
    "ha": units.Hartree,
    "kcal/mol": units.kcal / units.mol,
    "kj/mol": units.kJ / units.mol,
    "angstrom": 1.0,
    "ang": 1.0,
    "å": 1.0,
    "bohr": units.Bohr,
}


def unit_factor(unit: str) -> float:
    """Factor that converts ``unit`` to eV/Å-based units, e.g. ``"Hartree/Bohr"`` → eV/Å.

    Understands ``energy``, ``length`` and ``energy/length`` built from eV, Hartree,
    kcal/mol, kJ/mol, Å and Bohr.

    >>> round(unit_factor("kcal/mol/Angstrom"), 6)
    0.043364
    """
    text = unit.strip().lower().replace("kcal/mol", "kcal|mol").replace("kj/mol", "kj|mol")
    factor = 1.0
    for position, part in enumerate(text.split("/")):
        name = part.replace("kcal|mol", "kcal/mol").replace("kj|mol", "kj/mol")
        if name not in _UNITS:
            raise ValueError(f"unknown unit {part!r} in {unit!r}; known: {sorted(_UNITS)}")
        factor = factor * _UNITS[name] if position == 0 else factor / _UNITS[name]
    return factor


def select_indices(indices: Indices, n_frames: int, source: Path | str) -> list[int]:
    """Explicit frame indices from ``indices``; out-of-range indices name the file."""
    if indices is None:
        return list(range(n_frames))
    if isinstance(indices, slice):
        return list(range(n_frames))[indices]
    chosen = []
    for index in indices:
        if not -n_frames <= int(index) < n_frames:
            raise IndexError(f"{source}: frame {index} requested, the file has {n_frames}")
        chosen.append(int(index) % n_frames)
    return chosen


def converted_frame(
    numbers: np.ndarray | Sequence[int] | Sequence[str],
    positions: np.ndarray,
    energies: np.ndarray,
    forces: np.ndarray,
    provenance: dict[str, str | int | float],
    nacs: dict[tuple[int, int], np.ndarray] | None = None,
) -> Atoms:
    """One converted frame in the project's convention (all inputs already in eV, Å).

    numbers: [n_atoms] atomic numbers or symbols; positions: [n_atoms, 3] Å;
    energies: [n_states] eV; forces: [n_atoms, n_states, 3] eV/Å;
    nacs: {(i, j): [n_atoms, 3]} with i < j, written as ``nac_s{i}{j}``. A single state
    is written as ``energy``/``forces``, several as ``energy_s{k}``/``forces_s{k}``
    (:func:`fusionpot.data.labelled.labelled_atoms`).
    """
    where = f"frame {provenance.get('source_index')} of {provenance.get('source')}"
    if positions.shape != (len(numbers), 3):
        raise ValueError(
            f"{where}: positions have shape {positions.shape}, expected ({len(numbers)}, 3)"
        )
    geometry = Atoms(symbols=[_atomic_number(e, where) for e in numbers], positions=positions)
    vectors = {f"nac_s{i}{j}": vector for (i, j), vector in (nacs or {}).items()}
    return labelled_atoms(
        geometry,
        energies,
        forces,
        vectors=vectors,
        info=provenance,
        plain_single_state=True,
        where=where,
    )


def _atomic_number(element: int | str | np.integer, where: str) -> int:
    if isinstance(element, str):
        if element not in atomic_numbers or element == "X":
            raise ValueError(f"{where}: unknown element {element!r}")
        return atomic_numbers[element]
    if not 1 <= int(element) < len(chemical_symbols):
        raise ValueError(f"{where}: atomic number {int(element)} is not an element")
    return int(element)
