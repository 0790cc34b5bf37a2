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
    (eV/Å). Each field is a [S] tensor; add batches with ``+=``.
    """

    energy_sq: torch.Tensor
    energy_abs: torch.Tensor
    energy_n: torch.Tensor
    forces_sq: torch.Tensor
    forces_abs: torch.Tensor
    forces_n: torch.Tensor
    _names: ClassVar[tuple[str, ...]] = (
        "energy_sq",
        "energy_abs",
        "energy_n",
        "forces_sq",
        "forces_abs",
        "forces_n",
    )

    def __iadd__(self, other: ErrorSums) -> ErrorSums:
        for name in self._names:
            setattr(self, name, getattr(self, name) + getattr(other, name).detach())
        return self

    def detached(self) -> ErrorSums:
        return ErrorSums(*(getattr(self, name).detach() for name in self._names))

    def metrics(self) -> dict[str, list[float]]:
        """MAE and RMSE per state: energy in meV/atom, forces in meV/Å (NaN if unlabelled)."""
        out = {}
        for kind in ("energy", "forces"):
            n = getattr(self, f"{kind}_n").double()
            mae = 1000.0 * getattr(self, f"{kind}_abs").double() / n
            rmse = 1000.0 * torch.sqrt(getattr(self, f"{kind}_sq").double() / n)
            nan = torch.full_like(mae, float("nan"))
            out[f"{kind}_mae"] = torch.where(n > 0, mae, nan).tolist()
            out[f"{kind}_rmse"] = torch.where(n > 0, rmse, nan).tolist()
        return out


def batch_errors(out: dict[str, torch.Tensor], batch: Batch) -> ErrorSums:
    """Errors of a model output (``energy`` [G, S] eV, ``forces`` [N, S, 3] eV/Å) against
    the batch's labels, masked where a label is absent."""
    de = (out[keys.ENERGY] - batch.energy) / batch.n_atoms[:, None]
    de = torch.where(batch.energy_mask, de, torch.zeros_like(de))
    df = out[keys.FORCES] - batch.forces
    df = torch.where(batch.forces_mask[..., None], df, torch.zeros_like(df))
    return ErrorSums(
        energy_sq=(de**2).sum(0),
        energy_abs=de.abs().sum(0),
        energy_n=batch.energy_mask.sum(0),
        forces_sq=(df**2).sum((0, 2)),
        forces_abs=df.abs().sum((0, 2)),
        forces_n=3 * batch.forces_mask.sum(0),
    )


def weighted_loss(
    errors: ErrorSums, energy_weight: torch.Tensor, forces_weight: torch.Tensor
) -> torch.Tensor:
    """``Σ_s w_E,s · MSE(E_s / n_atoms) + w_F,s · MSE(F_s)`` (states without labels add 0).

    energy_weight, forces_weight: [S].
    """
    e_mse = errors.energy_sq / errors.energy_n.clamp_min(1)
    f_mse = errors.forces_sq / errors.forces_n.clamp_min(1)
    return (energy_weight * e_mse + forces_weight * f_mse).sum()
