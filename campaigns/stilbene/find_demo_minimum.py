"""Relax trans-stilbene on S0 with the shipped demo potential; write the minimum the demo
samples from (``stilbene_s012_demo_trans_minimum.xyz``) after checking its normal modes.

Starts from the xTB trans minimum of ``pool/pool_xtb.extxyz`` (subset ``minimum_xtb``, the
one whose C2-C1-C0-C8 torsion is closest to 180°).

    python campaigns/stilbene/find_demo_minimum.py
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

import ase.io
import numpy as np
import torch
from ase.optimize import BFGS
from paths import POOL, POTENTIALS

from fusionpot.calculators import FusionCalculator
from fusionpot.namd import ExportedModelProvider, normal_modes
from fusionpot.namd.units import HBAR_EV_FS

HERE = Path(__file__).resolve().parent
POTENTIAL = POTENTIALS / "stilbene_s012_demo.pt"
OUT = POTENTIALS / "stilbene_s012_demo_trans_minimum.xyz"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--potential", default=str(POTENTIAL))
    parser.add_argument("--output", default=str(OUT))
    args = parser.parse_args()
    pool = ase.io.read(POOL / "pool_xtb.extxyz", index=":")
    assert isinstance(pool, list)
    minima = [a for a in pool if a.info.get("subset") == "minimum_xtb"]
    atoms = min(minima, key=lambda a: abs(a.get_dihedral(2, 1, 0, 8) - 180.0))
    print(f"start: torsion {atoms.get_dihedral(2, 1, 0, 8):.1f}°")
    atoms = ase.Atoms(atoms.numbers, atoms.positions)
    atoms.calc = FusionCalculator(args.potential, device="cpu", state=0)
    BFGS(atoms, logfile=None).run(fmax=1e-3, steps=2000)
    fmax = float(np.abs(atoms.get_forces()).max())
    print(f"relaxed: max |F| {fmax:.1e} eV/Å, torsion {atoms.get_dihedral(2, 1, 0, 8):.1f}°")
    provider = ExportedModelProvider(args.potential)
    omega, _ = normal_modes(
        provider,
        torch.tensor(atoms.positions, dtype=torch.float64),
        torch.tensor(atoms.numbers),
        torch.tensor(atoms.get_masses(), dtype=torch.float64),
    )
    wavenumbers = omega.numpy() * HBAR_EV_FS / 1.239841984e-4  # eV -> cm^-1
    print(f"{len(omega)} real modes, {wavenumbers.min():.0f} to {wavenumbers.max():.0f} cm-1")
    energies = atoms.calc.get_property("state_energies", atoms)
    comment = (
        f"S0 minimum of stilbene_s012_demo.pt (BFGS, max |F| {fmax:.1e} eV/A); "
        f"E_S0..S2 = {' '.join(f'{e:.4f}' for e in energies)} eV"
    )
    out = Path(args.output)
    tmp = out.with_suffix(".tmp")
    ase.io.write(tmp, ase.Atoms(atoms.numbers, atoms.positions), format="xyz", comment=comment)
    os.replace(tmp, out)


if __name__ == "__main__":
    main()
