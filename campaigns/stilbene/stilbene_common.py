"""What the stilbene scripts of this folder share: the C=C torsion, the seed set's xTB
minima, and the held-out errors of a model."""

from __future__ import annotations

import os

import ase
import ase.io
import numpy as np
import torch
from paths import SEED_SET

from fusionpot.active.select import model_predictions

TORSION = (8, 0, 1, 2)  # central C=C dihedral (examples/namd/stilbene_products.yaml)
#: MRSF S1-S0 gap (eV) below which a frame counts as near the seam
NEAR_SEAM_EV = 0.5


def seed_minima() -> dict[str, ase.Atoms]:
    """The seed set's three MRSF-labelled xTB minima as bare geometries (no labels):
    {"cis": ..., "trans": ..., "dhp": ...}; the seed stores them in that order
    (``seed_index``)."""
    frames = ase.io.read(SEED_SET, index=":")
    assert isinstance(frames, list)
    minima = sorted(
        (a for a in frames if a.info.get("subset") == "minimum_xtb"),
        key=lambda a: a.info["seed_index"],
    )
    if len(minima) != 3:
        raise SystemExit(f"{SEED_SET}: expected 3 minimum_xtb frames, found {len(minima)}")
    names = ("cis", "trans", "dhp")
    return {n: ase.Atoms(a.numbers, a.positions) for n, a in zip(names, minima, strict=True)}


def xtb_minima() -> dict[str, ase.Atoms]:
    """The cis and trans entries of :func:`seed_minima`, where the dynamics start."""
    minima = seed_minima()
    return {name: minima[name] for name in ("cis", "trans")}


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
            np.abs(f[:, s] - a.arrays[f"forces_s{s}"]).ravel()
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
