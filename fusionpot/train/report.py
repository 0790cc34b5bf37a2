"""Reports of a run: the error table (Markdown), metrics.csv, learning curves, parity plots."""

from __future__ import annotations

import csv
import io
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from ase.units import GPa

from fusionpot._io import atomic_write_text
from fusionpot.train.dataset import LabelledFrames
from fusionpot.train.evaluate import Predictions

#: 1 meV/Å³ in GPa (ase.units.GPa = 1 GPa in eV/Å³)
_GPA_PER_MEV_A3 = 1e-3 / GPa

__all__ = [
    "metrics_table",
    "plot_learning_curves",
    "plot_parity",
    "read_metrics_csv",
    "write_metrics_csv",
]


def metrics_table(metrics: dict[str, list[float]]) -> str:
    """A Markdown table, one row per state: energy MAE/RMSE in meV/atom, forces in meV/Å;
    then the MAE of the gaps between adjacent states (meV) and of S0's stress (meV/Å³ and
    GPa) where ``metrics`` has them.

    >>> print(metrics_table({"energy_mae": [1.0], "energy_rmse": [2.0],
    ...                      "forces_mae": [30.0], "forces_rmse": [40.5]}))
    | state | E MAE (meV/atom) | E RMSE (meV/atom) | F MAE (meV/Å) | F RMSE (meV/Å) |
    |---|---:|---:|---:|---:|
    | S0 | 1.00 | 2.00 | 30.00 | 40.50 |
    """
    columns = ("energy_mae", "energy_rmse", "forces_mae", "forces_rmse")
    lines = [
        "| state | E MAE (meV/atom) | E RMSE (meV/atom) | F MAE (meV/Å) | F RMSE (meV/Å) |",
        "|---|---:|---:|---:|---:|",
    ]
    for s in range(len(metrics["energy_mae"])):
        cells = ["—" if math.isnan(metrics[c][s]) else f"{metrics[c][s]:.2f}" for c in columns]
        lines.append(f"| S{s} | " + " | ".join(cells) + " |")
    gaps = [
        f"S{k + 1}-S{k} {mae:.1f}"
        for k, mae in enumerate(metrics.get("gap_mae", []))
        if not math.isnan(mae)
    ]
    if gaps:
        lines.append(f"\nGap MAE (meV, whole frame): {', '.join(gaps)}")
    stress = metrics.get("stress_mae", [math.nan])[0]
    if not math.isnan(stress):
        rmse = metrics["stress_rmse"][0]
        lines.append(
            f"\nStress MAE (S0): {stress:.3f} meV/Å³ ({stress * _GPA_PER_MEV_A3:.4f} GPa), "
            f"RMSE {rmse:.3f} meV/Å³ ({rmse * _GPA_PER_MEV_A3:.4f} GPa)"
        )
    return "\n".join(lines)


def write_metrics_csv(history: Sequence[dict[str, Any]], path: Path) -> None:
    """One row per epoch (columns from the first row), replaced atomically."""
    if not history:
        return
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=list(history[0]), lineterminator="\n")
    writer.writeheader()
    writer.writerows(history)
    atomic_write_text(path, buffer.getvalue())


def read_metrics_csv(path: str | Path) -> list[dict[str, float]]:
    """The rows of a run's ``metrics.csv`` as numbers (epoch 0: the untrained model)."""
    with open(path) as fh:
        return [{k: float(v) for k, v in row.items()} for row in csv.DictReader(fh)]


def _pyplot() -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def plot_learning_curves(history: Sequence[dict[str, Any]], path: Path) -> None:
    """Training and validation loss, and the learning rate, against epoch (PNG)."""
    plt = _pyplot()
    epochs = [row["epoch"] for row in history]
    fig, (ax_loss, ax_lr) = plt.subplots(1, 2, figsize=(10, 4))
    for name in ("train_loss", "valid_loss"):
        values = [row[name] for row in history]
        if not all(math.isnan(v) for v in values):
            ax_loss.semilogy(epochs, values, label=name.replace("_", " "))
    ax_loss.set_xlabel("epoch")
    ax_loss.set_ylabel("loss")
    ax_loss.legend()
    ax_lr.semilogy(epochs, [row["lr"] for row in history])
    ax_lr.set_xlabel("epoch")
    ax_lr.set_ylabel("learning rate")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def plot_parity(data: LabelledFrames, predictions: Predictions, path: Path) -> None:
    """Predicted against reference energy per atom (eV/atom) and force components (eV/Å),
    one column per state, labelled values only (PNG)."""
    plt = _pyplot()
    n_states = data.n_states
    fig, axes = plt.subplots(2, n_states, figsize=(4 * n_states, 8), squeeze=False)
    n_atoms = np.array([len(a) for a in data.frames], dtype=float)
    for s in range(n_states):
        mask = data.energy_mask[:, s]
        ref = data.energy[mask, s] / n_atoms[mask]
        pred = predictions.energy[mask, s] / n_atoms[mask]
        labelled = np.flatnonzero(data.forces_mask[:, s])
        f_ref = np.concatenate([data.forces[i][:, s].ravel() for i in labelled] + [np.zeros(0)])
        f_pred = np.concatenate(
            [predictions.forces[i][:, s].ravel() for i in labelled] + [np.zeros(0)]
        )
        for ax, x, y, unit in (
            (axes[0, s], ref, pred, "energy (eV/atom)"),
            (axes[1, s], f_ref, f_pred, "force (eV/Å)"),
        ):
            ax.scatter(x, y, s=4, alpha=0.5)
            if x.size:
                lo, hi = min(x.min(), y.min()), max(x.max(), y.max())
                ax.plot([lo, hi], [lo, hi], "k--", lw=0.8)
            ax.set_xlabel(f"reference {unit}")
            ax.set_ylabel(f"predicted {unit}")
            ax.set_title(f"S{s}")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
