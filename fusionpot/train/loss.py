"""Masked per-state errors, the weighted loss, and MAE/RMSE metrics built from them."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import torch

from fusionpot.data import keys
from fusionpot.train.dataset import Batch

__all__ = ["ErrorSums", "batch_errors", "weighted_loss"]


@dataclass
class ErrorSums:
    """Per-state sums over labelled values: squared and absolute errors and counts.

    Energies per atom (eV/atom) count once per frame; forces once per Cartesian component
    (eV/Å); gaps between adjacent states, ``E_k - E_{k-1}`` (eV, whole frame, not per atom),
    once per frame where both states are labelled; the stress of S0 (eV/Å³) once per
    component of the 3×3 tensor of a frame with a stress label. Energy and force fields
    are [S] tensors, gap fields [S - 1] (entry k - 1 is the gap S_k - S_{k-1}), stress
    fields [1] (S0); add batches with ``+=``.
    """

    energy_sq: torch.Tensor
    energy_abs: torch.Tensor
    energy_n: torch.Tensor
    forces_sq: torch.Tensor
    forces_abs: torch.Tensor
    forces_n: torch.Tensor
    gap_sq: torch.Tensor
    gap_abs: torch.Tensor
    gap_n: torch.Tensor
    stress_sq: torch.Tensor
    stress_abs: torch.Tensor
    stress_n: torch.Tensor
    _names: ClassVar[tuple[str, ...]] = (
        "energy_sq",
        "energy_abs",
        "energy_n",
        "forces_sq",
        "forces_abs",
        "forces_n",
        "gap_sq",
        "gap_abs",
        "gap_n",
        "stress_sq",
        "stress_abs",
        "stress_n",
    )

    def __iadd__(self, other: ErrorSums) -> ErrorSums:
        for name in self._names:
            setattr(self, name, getattr(self, name) + getattr(other, name).detach())
        return self

    def detached(self) -> ErrorSums:
        return ErrorSums(*(getattr(self, name).detach() for name in self._names))

    def metrics(self) -> dict[str, list[float]]:
        """MAE and RMSE per state: energy in meV/atom, forces in meV/Å; per adjacent pair of
        states (``gap_mae``, ``gap_rmse``, S - 1 values): gaps in meV; of S0's stress
        (``stress_mae``, ``stress_rmse``, one value): meV/Å³ (NaN if unlabelled)."""
        out = {}
        for kind in ("energy", "forces", "gap", "stress"):
            n = getattr(self, f"{kind}_n").double()
            mae = 1000.0 * getattr(self, f"{kind}_abs").double() / n
            rmse = 1000.0 * torch.sqrt(getattr(self, f"{kind}_sq").double() / n)
            nan = torch.full_like(mae, float("nan"))
            out[f"{kind}_mae"] = torch.where(n > 0, mae, nan).tolist()
            out[f"{kind}_rmse"] = torch.where(n > 0, rmse, nan).tolist()
        return out


def batch_errors(out: dict[str, torch.Tensor], batch: Batch) -> ErrorSums:
    """Errors of a model output (``energy`` [G, S] eV, ``forces`` [N, S, 3] eV/Å, and
    ``stress`` [G, S, 3, 3] eV/Å³ when it was computed) against the batch's labels, masked
    where a label is absent (an output without ``stress`` counts no stress error)."""
    error = out[keys.ENERGY] - batch.energy
    de = torch.where(batch.energy_mask, error / batch.n_atoms[:, None], torch.zeros_like(error))
    both = batch.energy_mask[:, 1:] & batch.energy_mask[:, :-1]
    dg = torch.where(both, error[:, 1:] - error[:, :-1], torch.zeros_like(error[:, 1:]))
    df = out[keys.FORCES] - batch.forces
    df = torch.where(batch.forces_mask[..., None], df, torch.zeros_like(df))
    stress_mask = batch.stress_mask & (keys.STRESS in out)
    ds = out[keys.STRESS][:, 0] - batch.stress if keys.STRESS in out else batch.stress
    ds = torch.where(stress_mask[:, None, None], ds, torch.zeros_like(ds))
    return ErrorSums(
        energy_sq=(de**2).sum(0),
        energy_abs=de.abs().sum(0),
        energy_n=batch.energy_mask.sum(0),
        forces_sq=(df**2).sum((0, 2)),
        forces_abs=df.abs().sum((0, 2)),
        forces_n=3 * batch.forces_mask.sum(0),
        gap_sq=(dg**2).sum(0),
        gap_abs=dg.abs().sum(0),
        gap_n=both.sum(0),
        stress_sq=(ds**2).sum().reshape(1),
        stress_abs=ds.abs().sum().reshape(1),
        stress_n=9 * stress_mask.sum().reshape(1),
    )


def weighted_loss(
    errors: ErrorSums,
    energy_weight: torch.Tensor,
    forces_weight: torch.Tensor,
    gap_weight: float = 0.0,
    stress_weight: float = 0.0,
) -> torch.Tensor:
    """``Σ_s w_E,s · MSE(E_s / n_atoms) + w_F,s · MSE(F_s) + w_gap · Σ_k MSE(E_k - E_{k-1})
    + w_σ · MSE(σ_S0)`` (states, pairs or stresses without labels add 0).

    energy_weight, forces_weight: [S]; gap_weight: one number (eV⁻²); stress_weight: one
    number ((Å³/eV)²), the MSE over the 9 components of the labelled frames' stress.
    """
    e_mse = errors.energy_sq / errors.energy_n.clamp_min(1)
    f_mse = errors.forces_sq / errors.forces_n.clamp_min(1)
    loss = (energy_weight * e_mse + forces_weight * f_mse).sum()
    if gap_weight > 0.0:
        loss = loss + gap_weight * (errors.gap_sq / errors.gap_n.clamp_min(1)).sum()
    if stress_weight > 0.0:
        loss = loss + stress_weight * (errors.stress_sq / errors.stress_n.clamp_min(1)).sum()
    return loss
