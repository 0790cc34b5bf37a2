"""OpenQP backend: MRSF-TDDFT energies and analytic gradients of S0..S{n-1}.

OpenQP runs as a subprocess (``openqp input.inp``) in a scratch folder; the energies and
gradients are parsed from its log. Hartree and Hartree/Bohr stay inside this module and
are converted with ``ase.units`` at its edge. OpenQP honours only ``OMP_NUM_THREADS``
for its thread count, so ``threads`` is passed through the environment.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from ase import Atoms, units

from fusionpot.labels.base import (
    Label,
    LabelError,
    Labeller,
    ProgramNotFoundError,
    check_atoms,
    finite_or_error,
    package_version,
)

__all__ = ["OpenQPLabeller", "find_executable", "parse_openqp_log"]

_FLOAT = r"[-+]?\d+\.\d+(?:[EeDd][-+]?\d+)?"
_SCF_ITERATIONS = re.compile(
    r"Final (\w+) energy is\s+(" + _FLOAT + r")\s+after\s+(\d+)\s+iterations"
)
# fatal: "SCF energy / TD energy / TD Z-vector is not converged"; OpenQP's recoverable
# "SCF not converged; escalating to ..." is not matched
_NOT_CONVERGED = re.compile(r"PyOQP: ([\w -]+?) is not converged", re.IGNORECASE)


def parse_openqp_log(text: str, n_states: int, n_atoms: int) -> dict[str, Any]:
    """Energies [n_states] Hartree and gradients [n_atoms, n_states, 3] Hartree/Bohr (dE/dx).

    Reads the "PyOQP: Final Energy" and "PyOQP: Final Gradient" blocks (electronic
    values; no dispersion correction is requested). Gradients are None when the run
    computed none. Raises LabelError when the log reports non-convergence or lacks the
    final energies.
    """
    failed = _NOT_CONVERGED.search(text)
    if failed:
        raise LabelError(f"OpenQP: {failed.group(0).removeprefix('PyOQP: ')}")
    if "PyOQP: Final Energy" not in text:
        raise LabelError("OpenQP log has no final energies (the run stopped early)")
    energy_block = text.split("PyOQP: Final Energy", 1)[1]
    energies = []
    for k in range(n_states):
        match = re.search(rf"PyOQP S{k}\s+({_FLOAT})\s*$", energy_block, re.MULTILINE)
        if match is None:
            raise LabelError(f"OpenQP log has no final energy for S{k}")
        energies.append(float(match.group(1)))
    result: dict[str, Any] = {"energies": np.array(energies), "gradients": None}
    if "PyOQP: Final Gradient" in text:
        block = text.split("PyOQP: Final Gradient", 1)[1]
        block = block.split("PyOQP electronic gradients", 1)[1].split("PyOQP dftd", 1)[0]
        gradients = np.zeros((n_atoms, n_states, 3))
        for k in range(n_states):
            part = block.split(f"PyOQP S{k}", 1)
            if len(part) < 2:
                raise LabelError(f"OpenQP log has no gradient for S{k}")
            rows = part[1].strip().splitlines()[:n_atoms]
            gradients[:, k] = [[float(v) for v in row.split()[1:4]] for row in rows]
        result["gradients"] = gradients
    scf = _SCF_ITERATIONS.search(text)
    if scf is not None:
        result["scf_type"] = scf.group(1)
        result["scf_iterations"] = int(scf.group(3))
    return result


def find_executable(name: str) -> str | None:
    """``name`` on PATH, else beside the running Python (an unactivated virtualenv)."""
    return shutil.which(name) or shutil.which(name, path=os.path.dirname(sys.executable))


@dataclass
class OpenQPLabeller(Labeller):
    """MRSF-TDDFT on a triplet ROHF reference (OpenQP); default BHHLYP/6-31G, S0-S2.

    n_states: singlet states S0..S{n-1} (S0 is MRSF response root 1).
    threads: OMP_NUM_THREADS for OpenQP (None keeps the caller's environment).
    scf_conv, td_conv: convergence thresholds (Hartree-based, OpenQP's defaults 1e-6).
    executable: the ``openqp`` command.
    """

    n_states: int = 3
    functional: str = "bhhlyp"
    basis: str = "6-31g"
    charge: int = 0
    threads: int | None = None
    scf_conv: float = 1e-6
    td_conv: float = 1e-6
    scf_maxit: int = 100
    executable: str = "openqp"
    supports_guess: bool = True
    max_atomic_number: int = 30

    def __post_init__(self) -> None:
        if self.n_states < 1:
            raise ValueError(f"n_states must be >= 1, got {self.n_states}")
        if self.threads is not None and self.threads < 1:
            raise ValueError(f"threads must be >= 1, got {self.threads}")

    def describe(self) -> dict[str, Any]:
        version = package_version("openqp")
        return {
            "program": f"OpenQP {version}",
            "method": "MRSF-TDDFT",
            "functional": self.functional.upper(),
            "basis": self.basis.upper(),
            "reference": "ROHF triplet",
            "states": ",".join(f"S{k}" for k in range(self.n_states)),
            "scf_conv": self.scf_conv,
            "td_conv": self.td_conv,
        }

    def _input(self, atoms: Atoms, forces: bool, guess: Path | None, save: bool) -> str:
        system = "\n".join(
            f"   {z:d} {x:.10f} {y:.10f} {w:.10f}"
            for z, (x, y, w) in zip(atoms.get_atomic_numbers(), atoms.get_positions(), strict=True)
        )
        guess_lines = (
            f"type=json\nfile={guess}\ncontinue_geom=false" if guess is not None else "type=huckel"
        )
        grads = ",".join(str(k + 1) for k in range(self.n_states))
        return (
            f"[input]\nsystem=\n{system}\ncharge={self.charge}\n"
            f"runtype={'grad' if forces else 'energy'}\nbasis={self.basis}\n"
            f"functional={self.functional}\nmethod=tdhf\n\n"
            f"[guess]\n{guess_lines}\nsave_mol={'true' if save else 'false'}\n\n"
            f"[scf]\nmultiplicity=3\ntype=rohf\nconv={self.scf_conv}\nmaxit={self.scf_maxit}\n"
            f"save_molden=false\n\n"
            f"[tdhf]\ntype=mrsf\nnstate={self.n_states}\nconv={self.td_conv}\n"
            + (f"\n[properties]\ngrad={grads}\n" if forces else "")
        )

    def label(
        self,
        atoms: Atoms,
        *,
        forces: bool = True,
        guess: Path | None = None,
        save_orbitals: Path | None = None,
    ) -> Label:
        """Energies [n_states] eV and forces [n_atoms, n_states, 3] eV/Å of ``atoms``.

        guess: an OpenQP JSON restart from a nearby geometry (orbitals reused as the
        SCF guess); save_orbitals: where to keep this run's JSON restart.
        """
        check_atoms(atoms, max_atomic_number=self.max_atomic_number)
        if atoms.pbc.any():
            raise ValueError("OpenQP backend labels molecules only; got a periodic cell")
        exe = find_executable(self.executable)
        if exe is None:
            raise ProgramNotFoundError(
                f"OpenQP executable {self.executable!r} not found on PATH "
                "(pip install openqp==1.2.1)"
            )
        env = dict(os.environ)
        if self.threads is not None:
            env["OMP_NUM_THREADS"] = str(self.threads)
        with tempfile.TemporaryDirectory(prefix="fusionpot-openqp-") as tmp:
            work = Path(tmp)
            guess_copy = None
            if guess is not None:
                guess_copy = work / "guess.json"
                shutil.copyfile(guess, guess_copy)
            (work / "frame.inp").write_text(
                self._input(atoms, forces, guess_copy, save_orbitals is not None)
            )
            start = time.perf_counter()
            proc = subprocess.run(
                [exe, "frame.inp"], cwd=work, env=env, capture_output=True, text=True
            )
            wall = time.perf_counter() - start
            log_path = work / "frame.log"
            log = log_path.read_text(errors="replace") if log_path.exists() else ""
            if proc.returncode != 0 and "PyOQP: Final Energy" not in log:
                tail = (proc.stderr or proc.stdout).strip().splitlines()[-3:]
                raise LabelError(f"OpenQP exited with {proc.returncode}: {' | '.join(tail)}")
            parsed = parse_openqp_log(log, self.n_states, len(atoms))
            if save_orbitals is not None and (work / "frame.json").exists():
                tmp_target = save_orbitals.with_name(save_orbitals.name + ".tmp")
                shutil.copyfile(work / "frame.json", tmp_target)
                os.replace(tmp_target, save_orbitals)
        energies = finite_or_error(parsed["energies"] * units.Hartree, "energies")
        label_forces = None
        if forces:
            if parsed["gradients"] is None:
                raise LabelError("OpenQP log has no gradients")
            label_forces = finite_or_error(
                -parsed["gradients"] * (units.Hartree / units.Bohr), "forces"
            )
        provenance = {
            **self.describe(),
            "wall_s": round(wall, 1),
            "threads": env.get("OMP_NUM_THREADS", ""),
            "guess": "orbitals of a neighbouring geometry" if guess is not None else "huckel",
            "scf_iterations": parsed.get("scf_iterations", -1),
        }
        return Label(energies=energies, forces=label_forces, provenance=provenance)
