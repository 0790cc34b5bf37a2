"""tblite backend: GFN1/GFN2-xTB ground-state energy, forces and (periodic) stress.

Runs in-process through tblite's ASE calculator, which already reports eV, eV/Å and
eV/Å³.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from ase import Atoms
from ase.calculators.calculator import Calculator

from fusionpot.labels.base import (
    Label,
    LabelError,
    Labeller,
    ProgramNotFoundError,
    check_atoms,
    finite_or_error,
    package_version,
)

__all__ = ["XTBLabeller"]

METHODS = ("GFN1-xTB", "GFN2-xTB")


@dataclass
class XTBLabeller(Labeller):
    """GFN-xTB ground state with tblite; one state (S0).

    method: "GFN1-xTB" or "GFN2-xTB"; charge: total charge (e);
    accuracy: tblite's numerical accuracy; electronic_temperature: K;
    threads: OMP_NUM_THREADS set before tblite's first call (None: unchanged).
    """

    method: str = "GFN2-xTB"
    charge: int = 0
    accuracy: float = 1.0
    electronic_temperature: float = 300.0
    max_iterations: int = 250
    threads: int | None = None
    n_states: int = 1
    max_atomic_number: int = 86

    def __post_init__(self) -> None:
        if self.method not in METHODS:
            raise ValueError(f"unknown xTB method {self.method!r}; choose one of {METHODS}")

    def describe(self) -> dict[str, Any]:
        version = package_version("tblite")
        return {
            "program": f"tblite {version}",
            "method": self.method,
            "basis": "minimal (xTB)",
            "states": "S0",
            "accuracy": self.accuracy,
            "electronic_temperature_K": self.electronic_temperature,
        }

    def calculator(self) -> Calculator:
        """tblite's ASE calculator with these settings (eV, eV/Å, eV/Å³), e.g. to drive MD
        on the Hamiltonian that labels the frames; raises ProgramNotFoundError without
        tblite."""
        try:
            from tblite.ase import TBLite
        except ImportError as error:
            raise ProgramNotFoundError("tblite is not installed (pip install tblite)") from error
        if self.threads is not None:
            os.environ["OMP_NUM_THREADS"] = str(self.threads)
        return TBLite(
            method=self.method,
            charge=self.charge,
            accuracy=self.accuracy,
            electronic_temperature=self.electronic_temperature,
            max_iterations=self.max_iterations,
            verbosity=0,
        )

    def label(
        self,
        atoms: Atoms,
        *,
        forces: bool = True,
        guess: Path | None = None,
        save_orbitals: Path | None = None,
    ) -> Label:
        """Energy [1] eV, forces [n_atoms, 1, 3] eV/Å, stress [6] eV/Å³ for periodic cells."""
        check_atoms(atoms, max_atomic_number=self.max_atomic_number)
        work = atoms.copy()
        work.calc = self.calculator()
        start = time.perf_counter()
        properties = ["energy"] + (["forces"] if forces else [])
        if forces and atoms.pbc.all():
            properties.append("stress")
        try:
            work.calc.calculate(work, properties=properties, system_changes=["positions"])
        except Exception as error:  # tblite raises plain exceptions for SCF failures
            raise LabelError(f"tblite {self.method}: {error}") from error
        results = work.calc.results
        energy = finite_or_error(np.array([float(results["energy"])]), "energy")
        label_forces = None
        if forces:
            label_forces = finite_or_error(np.asarray(results["forces"])[:, None], "forces")
        stress = None
        if "stress" in properties:
            stress = finite_or_error(np.asarray(results["stress"], dtype=float), "stress")
        provenance = {**self.describe(), "wall_s": round(time.perf_counter() - start, 3)}
        return Label(energies=energy, forces=label_forces, stress=stress, provenance=provenance)
