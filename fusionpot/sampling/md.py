"""Hot molecular dynamics snapshots (Langevin thermostat)."""

from __future__ import annotations

import numpy as np
from ase import Atoms, units
from ase.calculators.calculator import Calculator
from ase.md.langevin import Langevin
from ase.md.velocitydistribution import MaxwellBoltzmannDistribution

from fusionpot.sampling.provenance import derived

__all__ = ["hot_md"]


def hot_md(
    atoms: Atoms,
    calc: Calculator,
    *,
    temperature: float,
    n_frames: int,
    stride_fs: float = 20.0,
    timestep_fs: float = 0.5,
    friction_per_fs: float = 0.01,
    equilibration_fs: float = 200.0,
    rng: np.random.Generator,
) -> list[Atoms]:
    """``n_frames`` snapshots every ``stride_fs`` fs of Langevin MD at ``temperature`` K.

    Starts from ``atoms`` with Maxwell-Boltzmann velocities and discards the first
    ``equilibration_fs`` fs. Each frame has ``info["md_time_fs"]`` and ``atoms``'
    provenance, not its labels.
    """
    if temperature <= 0 or n_frames < 0 or stride_fs <= 0 or timestep_fs <= 0:
        raise ValueError(
            f"need temperature > 0 K, n_frames >= 0, stride and timestep > 0 fs; got "
            f"{temperature}, {n_frames}, {stride_fs}, {timestep_fs}"
        )
    work = derived(atoms)
    work.calc = calc
    MaxwellBoltzmannDistribution(work, temperature_K=temperature, rng=rng)
    dyn = Langevin(
        work,
        timestep=timestep_fs * units.fs,
        temperature_K=temperature,
        friction=friction_per_fs / units.fs,
        fixcm=False,
        rng=rng,
    )
    stride = max(1, round(stride_fs / timestep_fs))
    dyn.run(round(equilibration_fs / timestep_fs))
    frames = []
    for k in range(n_frames):
        dyn.run(stride)
        time_fs = equilibration_fs + (k + 1) * stride * timestep_fs
        frames.append(derived(atoms, work.positions, md_time_fs=time_fs))
    return frames
