"""Per-element reference energies E0 fitted by least squares, one column per state."""

from __future__ import annotations

import numpy as np
import torch

__all__ = [
    "copy_energy_normalisation",
    "fit_reference_energies",
    "scaled_energies",
    "species_counts",
]


def species_counts(species: torch.Tensor, batch: torch.Tensor, n_elements: int) -> torch.Tensor:
    """How many atoms of each element every graph has: [n_graphs, n_elements].

    species: [n_atoms] element indices; batch: [n_atoms] graph indices.
    """
    n_graphs = int(batch.max()) + 1 if batch.numel() else 0
    counts = torch.zeros(n_graphs, n_elements, dtype=torch.int64, device=species.device)
    return counts.index_put_((batch, species), torch.ones_like(species), accumulate=True)


def fit_reference_energies(counts: np.ndarray, energies: np.ndarray) -> np.ndarray:
    """Solve ``min ‖counts @ E0 - energies‖²`` for E0, every state at once.

    counts: [n_graphs, n_elements] atoms per element; energies: [n_graphs, n_states] eV.
    Returns E0: [n_elements, n_states] eV. Elements absent from every graph get 0, and
    when compositions do not determine E0 (e.g. one molecule's MD), the minimum-norm
    solution is returned, as numpy's ``lstsq`` does.
    """
    counts = np.asarray(counts, dtype=np.float64)
    energies = np.asarray(energies, dtype=np.float64)
    if counts.ndim != 2:
        raise ValueError(f"counts must be [n_graphs, n_elements], got shape {counts.shape}")
    if energies.ndim != 2 or energies.shape[0] != counts.shape[0]:
        raise ValueError(
            f"energies must be [n_graphs, n_states] with n_graphs = {counts.shape[0]}, "
            f"got shape {energies.shape}"
        )
    if not (np.isfinite(counts).all() and np.isfinite(energies).all()):
        raise ValueError("counts and energies must be finite")
    solution, *_ = np.linalg.lstsq(counts, energies, rcond=None)
    return solution


def scaled_energies(
    readout_sum: torch.Tensor,
    species: torch.Tensor,
    batch: torch.Tensor,
    n_graphs: int,
    reference_energies: torch.Tensor,
    scale: torch.Tensor,
    shift: torch.Tensor,
) -> tuple[torch.Tensor, torch.Tensor]:
    """``E_i,s = E0[Z_i, s] + scale_s · readout_i,s + shift_s`` and its sum per graph.

    readout_sum: [n_atoms, n_states] in the model's dtype; species, batch: [n_atoms];
    reference_energies: [n_elements, n_states] eV, float64; scale, shift: [n_states] eV.
    Returns (atomic_energy [n_atoms, n_states] eV, energy [n_graphs, n_states] eV), both
    float64 whatever the model's dtype: the learned part ``scale · readout + shift`` (a few
    eV per atom) is computed in the model's dtype, and the large per-element references
    (~−1000 eV per carbon) and the sum per graph stay in float64, so that a float32 model
    resolves energy differences far below its absolute energy's float32 spacing (2^-10 eV
    near −14 700 eV). Gradients flow back into the model's dtype unchanged.
    """
    learned = (scale * readout_sum + shift).to(reference_energies.dtype)
    atomic_energy = reference_energies.index_select(0, species) + learned
    energy = atomic_energy.new_zeros(n_graphs, atomic_energy.shape[1])
    return atomic_energy, energy.index_add(0, batch, atomic_energy)


def copy_energy_normalisation(
    model: torch.nn.Module,
    reference_energies: torch.Tensor,
    scale: torch.Tensor,
    shift: torch.Tensor,
) -> None:
    """Copy E0 [n_elements, n_states], scale [n_states] and shift [n_states] (eV) into the
    model's buffers of those names, checking shapes."""
    for name, value in (
        ("reference_energies", reference_energies),
        ("scale", scale),
        ("shift", shift),
    ):
        buffer = getattr(model, name)
        value = torch.as_tensor(value)
        if value.shape != buffer.shape:
            raise ValueError(
                f"{name} must have shape {list(buffer.shape)}, got {list(value.shape)}"
            )
        buffer.copy_(value)
