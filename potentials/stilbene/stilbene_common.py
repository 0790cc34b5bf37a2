"""What the stilbene scripts of this folder share: the seed set's path, the C=C torsion,
the starting geometries of the minima, and the held-out errors of a model."""

from __future__ import annotations

import os
from pathlib import Path

import ase
import ase.io
import numpy as np
import torch

from fusionpot.active.select import model_predictions

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
SEED_SET = REPO.parent / "shared/data/stilbene_mrsf_seed/stilbene_mrsf_seed.extxyz"
TORSION = (8, 0, 1, 2)  # central C=C dihedral (examples/namd/stilbene_products.yaml)
#: MRSF S1-S0 gap (eV) below which a frame counts as near the seam
NEAR_SEAM_EV = 0.5


def xtb_minima() -> dict[str, ase.Atoms]:
    """The seed set's MRSF-labelled xTB minima closest to cis (|φ| → 0°) and trans (180°),
    as geometries only: {"cis": ..., "trans": ...}."""
    seed = ase.io.read(SEED_SET, index=":")
    assert isinstance(seed, list)
    minima = [a for a in seed if a.info.get("subset") == "minimum_xtb"]
    out = {}
    for name, target in (("cis", 0.0), ("trans", 180.0)):
        start = min(minima, key=lambda a: abs(abs(a.get_dihedral(*TORSION) - 180) - 180 + target))
        out[name] = ase.Atoms(start.numbers, start.positions)
    return out


def held_out_errors(
    model: str | os.PathLike[str] | torch.nn.Module, frames: list[ase.Atoms]
) -> dict[str, float]:
    """MAEs of one model on labelled frames: ``E{s}`` meV/atom, ``F{s}`` meV/Å per state,
    ``gap`` (S1-S0, meV) on all frames and ``gap_near`` on the ``n_near`` frames whose
    MRSF gap is below :data:`NEAR_SEAM_EV` (NaN if none)."""
    energies, forces = model_predictions(model, frames)
    n_states = energies.shape[1]
    labels = np.array([[a.info[f"energy_s{s}"] for s in range(n_states)] for a in frames])
    n_atoms = np.array([len(a) for a in frames])
    out: dict[str, float] = {"n_frames": float(len(frames))}
    for s in range(n_states):
        out[f"E{s}"] = 1000 * float(np.mean(np.abs(energies[:, s] - labels[:, s]) / n_atoms))
        errors = [
            np.abs(f[s] - a.arrays[f"forces_s{s}"]).ravel()
            for f, a in zip(forces, frames, strict=True)
        ]
        out[f"F{s}"] = 1000 * float(np.mean(np.concatenate(errors)))
    gap = labels[:, 1] - labels[:, 0]
    gap_error = np.abs(energies[:, 1] - energies[:, 0] - gap)
    near = gap < NEAR_SEAM_EV
    out["gap"] = 1000 * float(gap_error.mean())
    out["n_near"] = float(near.sum())
    out["gap_near"] = 1000 * float(gap_error[near].mean()) if near.any() else float("nan")
    return out
