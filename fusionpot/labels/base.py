"""The labeller interface: geometries in, per-state energies, forces and provenance out.

Every backend converts its native units at its own edge; everything that crosses this
interface is in eV, eV/Å and eV/Å³.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np
from ase import Atoms
from ase.data import chemical_symbols

__all__ = ["Label", "LabelError", "Labeller", "ProgramNotFoundError", "check_atoms"]


class LabelError(RuntimeError):
    """A calculation ran but gave no usable label (e.g. an unconverged SCF)."""


class ProgramNotFoundError(RuntimeError):
    """The electronic-structure program a backend needs is not installed."""


@dataclass(frozen=True)
class Label:
    """The ab initio label of one geometry.

    energies: [n_states] eV, absolute, state 0 first.
    forces: [n_atoms, n_states, 3] eV/Å (-dE_k/dx), or None in energies-only mode (the
        layout of :data:`fusionpot.data.keys.FORCES`: atoms first, then states).
    stress: [6] eV/Å³ (Voigt, ground state, periodic cells only) or None.
    couplings: [n_atoms, n_pairs, 3] 1/Å derivative couplings, or None when the method
        gives none.
    provenance: program and version, method, functional, basis, convergence, wall_s.
    """

    energies: np.ndarray
    forces: np.ndarray | None = None
    stress: np.ndarray | None = None
    couplings: np.ndarray | None = None
    provenance: dict[str, Any] = field(default_factory=dict)

    @property
    def n_states(self) -> int:
        return int(self.energies.shape[0])


class Labeller(ABC):
    """A backend that labels one geometry at a time.

    ``supports_guess`` says whether ``label`` can start from orbitals saved by an
    earlier call (``guess``) and save its own (``save_orbitals``); the runner uses it to
    reuse converged orbitals of the nearest finished geometry.
    """

    n_states: int = 1
    supports_guess: bool = False
    max_atomic_number: int = 86

    @abstractmethod
    def label(
        self,
        atoms: Atoms,
        *,
        forces: bool = True,
        guess: Path | None = None,
        save_orbitals: Path | None = None,
    ) -> Label:
        """Label ``atoms`` (positions [n_atoms, 3] Å); raise LabelError when it fails."""

    @abstractmethod
    def describe(self) -> dict[str, Any]:
        """The level of theory as a flat dict (program, method, functional, basis...)."""


def check_atoms(atoms: Atoms, *, max_atomic_number: int = 86, name: str = "geometry") -> None:
    """Raise ValueError for input no backend can label.

    Rejects empty structures, dummy or unknown elements (atomic number 0 or above
    ``max_atomic_number``) and non-finite coordinates or cell.
    """
    if not isinstance(atoms, Atoms):
        raise TypeError(f"{name}: expected ase.Atoms, got {type(atoms).__name__}")
    if len(atoms) == 0:
        raise ValueError(f"{name}: no atoms")
    numbers = atoms.get_atomic_numbers()
    bad = [int(z) for z in numbers if z < 1 or z > max_atomic_number]
    if bad:
        symbols = sorted(
            {chemical_symbols[z] if z < len(chemical_symbols) else str(z) for z in bad}
        )
        raise ValueError(
            f"{name}: unsupported element(s) {symbols} (this backend handles Z = 1.."
            f"{max_atomic_number})"
        )
    positions = atoms.get_positions()
    if not np.all(np.isfinite(positions)):
        rows = sorted({int(i) for i in np.argwhere(~np.isfinite(positions))[:, 0]})
        raise ValueError(f"{name}: non-finite coordinates on atom(s) {rows}")
    if atoms.pbc.any() and not np.all(np.isfinite(atoms.cell.array)):
        raise ValueError(f"{name}: non-finite cell {atoms.cell.array.tolist()}")


def finite_or_error(values: np.ndarray, what: str) -> np.ndarray:
    """Return ``values`` or raise LabelError when a backend produced NaN/inf."""
    if not np.all(np.isfinite(values)):
        raise LabelError(f"{what} contains non-finite values")
    return values


def package_version(name: str) -> str:
    """Installed version of the Python package ``name`` for provenance, or ``"unknown"``."""
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return "unknown"
