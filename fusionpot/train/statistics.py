"""Statistics of the training set fixed before training: E0, scale, shift, neighbours."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from fusionpot.data import neighbor_list, species_index
from fusionpot.models import fit_reference_energies
from fusionpot.train.dataset import LabelledFrames

__all__ = ["EnergyStatistics", "average_num_neighbors", "energy_statistics"]


@dataclass(frozen=True)
class EnergyStatistics:
    """reference_energies [n_elements, S] eV (least squares per state), scale [S] eV
    (RMS force component per state, eV/Å × 1 Å), shift [S] eV (mean residual per atom)."""

    reference_energies: np.ndarray
    scale: np.ndarray
    shift: np.ndarray


def energy_statistics(data: LabelledFrames, elements: Sequence[str]) -> EnergyStatistics:
    """E0 per element and state by least squares over the frames labelled for that state;
    the shift is the mean per-atom energy left after E0; the scale the RMS of the force
    components (the RMS of the per-atom residual where a state has no forces; 1 if neither
    varies)."""
    counts = np.zeros((len(data), len(elements)))
    for g, atoms in enumerate(data.frames):
        counts[g] = np.bincount(species_index(atoms.numbers, elements), minlength=len(elements))
    n_atoms = counts.sum(axis=1)
    e0 = np.zeros((len(elements), data.n_states))
    scale = np.ones(data.n_states)
    shift = np.zeros(data.n_states)
    for s in range(data.n_states):
        rows = data.energy_mask[:, s]
        if rows.any():
            e0[:, s] = fit_reference_energies(counts[rows], data.energy[rows, s : s + 1])[:, 0]
            residual = (data.energy[rows, s] - counts[rows] @ e0[:, s]) / n_atoms[rows]
            shift[s] = residual.mean()
        labelled = [f[:, s] for f, m in zip(data.forces, data.forces_mask[:, s], strict=True) if m]
        spread = (
            np.sqrt(np.mean(np.concatenate(labelled) ** 2))
            if labelled
            else (residual.std() if rows.any() else 0.0)
        )
        scale[s] = spread if spread > 1e-12 else 1.0
    return EnergyStatistics(e0, scale, shift)


def average_num_neighbors(data: LabelledFrames, r_max: float) -> float:
    """Mean number of neighbours within ``r_max`` Å per atom over the frames."""
    n_edges = sum(neighbor_list(atoms, r_max)[0].shape[1] for atoms in data.frames)
    n_atoms = sum(len(atoms) for atoms in data.frames)
    return max(n_edges / n_atoms, 1.0)
