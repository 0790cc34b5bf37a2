"""Liquid benzene (8 molecules, 96 atoms, periodic) at 300 K with FusionCalculator:
Langevin NVT, 0.5 fs.

    python examples/ase/benzene_nvt.py                        # 2000 steps (1 ps)
    python examples/ase/benzene_nvt.py --model my_model.pt --steps 200 --out run.traj

Starts from examples/lammps/benzene/benzene.data (the LAMMPS example's cell: types
1 = H, 2 = C), draws velocities at the temperature, and writes an ASE trajectory every
``--write-every`` steps. The last line gives the mean temperature and potential energy
(over the second half of the run) and the milliseconds per MD step.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
from ase import Atoms, units
from ase.constraints import FixCom
from ase.io import read
from ase.io.trajectory import Trajectory
from ase.md.langevin import Langevin
from ase.md.velocitydistribution import Stationary, thermalize_momenta
from tqdm import tqdm

from fusionpot import FusionCalculator

ROOT = Path(__file__).resolve().parents[2]
MODEL = ROOT / "potentials" / "benzene" / "benzene_liquid.pt"
START = ROOT / "examples" / "lammps" / "benzene" / "benzene.data"
#: LAMMPS atom type -> atomic number (pair_coeff * * model.pt H C)
Z_OF_TYPE = {1: 1, 2: 6}


def read_start(path: Path) -> Atoms:
    """The cell of a LAMMPS data file (types 1 = H, 2 = C), positions in Å."""
    atoms = read(path, format="lammps-data", Z_of_type=Z_OF_TYPE, units="metal")
    assert isinstance(atoms, Atoms)
    atoms.set_momenta(np.zeros((len(atoms), 3)))  # velocities come from --temperature
    return atoms


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", type=Path, default=MODEL, help="exported model (H, C)")
    parser.add_argument("--steps", type=int, default=2000, help="MD steps of 0.5 fs")
    parser.add_argument("--temperature", type=float, default=300.0, help="K")
    parser.add_argument("--device", default="auto", help="auto, cpu, cuda, cuda:1, ...")
    parser.add_argument("--out", type=Path, default=Path("benzene_nvt.traj"), help="trajectory")
    parser.add_argument("--write-every", type=int, default=20, help="steps between frames")
    parser.add_argument("--start", type=Path, default=START, help="LAMMPS data file")
    parser.add_argument("--friction", type=float, default=0.01, help="Langevin, 1/fs")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    for name, path in (("model", args.model), ("start", args.start)):
        if not path.is_file():
            parser.error(f"no {name} file at {path}")
    if args.steps < 1 or args.write_every < 1:
        parser.error(
            f"--steps and --write-every must be >= 1, got {args.steps}, {args.write_every}"
        )

    atoms = read_start(args.start)
    atoms.calc = FusionCalculator(args.model, device=args.device)
    rng = np.random.default_rng(args.seed)
    thermalize_momenta(atoms, args.temperature, rng=rng)
    Stationary(atoms)
    atoms.set_constraint(FixCom())
    dynamics = Langevin(
        atoms,
        0.5 * units.fs,
        temperature_K=args.temperature,
        friction=args.friction / units.fs,
        fixcm=False,
        rng=rng,
    )
    trajectory = Trajectory(args.out, "w", atoms)
    dynamics.attach(trajectory.write, interval=args.write_every)
    temperatures: list[float] = []
    energies: list[float] = []

    def observe() -> None:  # after every step (and once before the first)
        temperatures.append(atoms.get_temperature())
        energies.append(atoms.get_potential_energy())
        if dynamics.nsteps > 0:
            bar.update(1)
        if dynamics.nsteps % 20 == 0:
            bar.set_postfix(T=f"{temperatures[-1]:.0f} K", Epot=f"{energies[-1]:.2f} eV")

    dynamics.attach(observe, interval=1)
    print(
        f"{len(atoms)} atoms, {atoms.get_volume():.1f} Å³; model {args.model.name} on "
        f"{atoms.calc.device}; {args.steps} steps of 0.5 fs at {args.temperature:g} K"
    )
    bar = tqdm(total=args.steps, unit="step")
    start = time.perf_counter()
    dynamics.run(args.steps)
    bar.close()
    ms = 1000.0 * (time.perf_counter() - start) / args.steps
    trajectory.close()
    half = len(temperatures) // 2
    print(
        f"mean T {np.mean(temperatures[half:]):.1f} K, mean Epot {np.mean(energies[half:]):.4f} "
        f"eV ({np.mean(energies[half:]) / len(atoms):.5f} eV/atom) over the last "
        f"{len(temperatures) - half} steps; {ms:.1f} ms/step; trajectory {args.out}"
    )


if __name__ == "__main__":
    main()
