"""Analysis of a merged run: populations, excited-state lifetime, products, quantum yields."""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import h5py
import numpy as np
from scipy.optimize import curve_fit

__all__ = [
    "CollectiveVariable",
    "LifetimeFit",
    "ProductRule",
    "classify",
    "fit_lifetime",
    "load_run",
    "plot_populations",
    "quantum_yields",
    "state_fractions",
]


def load_run(path: str | os.PathLike[str]) -> dict[str, Any]:
    """The arrays of a merged ``run.h5`` (see ``io.py``) as numpy arrays, plus its attributes."""
    with h5py.File(path, "r") as f:
        data: dict[str, Any] = {k: f[k][()] for k in f if isinstance(f[k], h5py.Dataset)}
        for group in ("final", "hops"):
            data[group] = {k: v[()] for k, v in f[group].items()}
        data["attrs"] = dict(f.attrs)
    return data


def _forward_fill(active: np.ndarray) -> np.ndarray:
    """Carry each trajectory's last state past its stop (−1 entries) to the end."""
    valid = active >= 0
    index = np.where(valid, np.arange(active.shape[1])[None, :], 0)
    np.maximum.accumulate(index, axis=1, out=index)
    return np.take_along_axis(active, index, axis=1)


def state_fractions(active: np.ndarray, n_states: int) -> np.ndarray:
    """Fraction of trajectories on each state: [n_frames, n_states] from active [n_traj,
    n_frames] (a stopped trajectory counts on its last state until the end)."""
    filled = _forward_fill(active)
    return np.stack([(filled == s).mean(axis=0) for s in range(n_states)], axis=1)


def plot_populations(
    time: np.ndarray, fractions: np.ndarray, path: str | os.PathLike[str], fit: LifetimeFit | None
) -> None:
    """PNG of state fractions vs time (fs), with the fitted excited-state decay if given."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4))
    for s in range(fractions.shape[1]):
        ax.plot(time, fractions[:, s], label=f"S{s}")
    if fit is not None:
        label = f"fit τ = {fit.tau:.0f} fs [{fit.tau_low:.0f}, {fit.tau_high:.0f}]"
        ax.plot(time, fit.model(time), "k--", label=label)
    ax.set_xlabel("time / fs")
    ax.set_ylabel("population (fraction of trajectories)")
    ax.set_ylim(-0.02, 1.02)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def _decay(t: np.ndarray, tau: float, t0: float) -> np.ndarray:
    """P(t) = 1 for t < t0, exp(−(t − t0)/τ) after (delayed exponential)."""
    return np.exp(-np.clip(t - t0, 0.0, None) / tau)


@dataclass(frozen=True)
class LifetimeFit:
    """Excited-state decay P(t) = exp(−(t − t0)/τ) (t > t0): τ and t0 in fs with the
    bootstrap confidence interval of τ at ``level``."""

    tau: float
    t0: float
    tau_low: float
    tau_high: float
    level: float

    def model(self, t: np.ndarray) -> np.ndarray:
        return _decay(t, self.tau, self.t0)


def _fit(time: np.ndarray, excited: np.ndarray) -> tuple[float, float]:
    guess_tau = max(float(np.trapezoid(excited, time)), time[1] - time[0])
    bounds = ([1e-3, 0.0], [1e9, float(time[-1])])
    (tau, t0), _ = curve_fit(_decay, time, excited, p0=[guess_tau, 0.0], bounds=bounds)
    return float(tau), float(t0)


def fit_lifetime(
    time: np.ndarray,
    active: np.ndarray,
    n_boot: int = 200,
    level: float = 0.95,
    seed: int = 0,
) -> LifetimeFit:
    """Fit the fraction of trajectories on any excited state (active > 0) with
    :func:`_decay` (scipy.optimize.curve_fit); confidence interval by resampling
    trajectories with replacement ``n_boot`` times (percentile interval).

    time: [n_frames] fs; active: [n_traj, n_frames].
    """
    if not 0 < level < 1:
        raise ValueError(f"level must be in (0, 1), got {level}")
    filled = _forward_fill(active) > 0
    tau, t0 = _fit(time, filled.mean(axis=0))
    rng = np.random.default_rng(seed)
    taus = [
        _fit(time, filled[rng.integers(0, len(filled), len(filled))].mean(axis=0))[0]
        for _ in range(n_boot)
    ]
    low, high = np.quantile(taus, [(1 - level) / 2, (1 + level) / 2])
    return LifetimeFit(tau, t0, float(low), float(high), level)


@dataclass(frozen=True)
class CollectiveVariable:
    """A geometric coordinate: ``kind`` "distance" (Å, 2 atoms) or "dihedral" (|φ| in
    degrees, 0..180, 4 atoms), over 0-based atom ``indices``."""

    kind: str
    indices: tuple[int, ...]

    def __post_init__(self) -> None:
        sizes = {"distance": 2, "dihedral": 4}
        if self.kind not in sizes:
            raise ValueError(f"collective variable kind must be one of {sorted(sizes)}")
        if len(self.indices) != sizes[self.kind]:
            raise ValueError(f"a {self.kind} takes {sizes[self.kind]} atoms, got {self.indices}")

    def __call__(self, positions: np.ndarray) -> np.ndarray:
        """Values [n] from positions [n, n_atoms, 3] Å."""
        p = [positions[:, i] for i in self.indices]
        if self.kind == "distance":
            return np.linalg.norm(p[1] - p[0], axis=-1)
        b0, b1, b2 = p[0] - p[1], p[2] - p[1], p[3] - p[2]
        b1n = b1 / np.linalg.norm(b1, axis=-1, keepdims=True)
        v = b0 - (b0 * b1n).sum(-1, keepdims=True) * b1n
        w = b2 - (b2 * b1n).sum(-1, keepdims=True) * b1n
        x = (v * w).sum(-1)
        y = (np.cross(b1n, v) * w).sum(-1)
        return np.abs(np.degrees(np.arctan2(y, x)))


@dataclass(frozen=True)
class ProductRule:
    """A product: its ``name`` and a [lo, hi] range for each named collective variable."""

    name: str
    ranges: dict[str, tuple[float, float]]


def classify(
    positions: np.ndarray,
    variables: dict[str, CollectiveVariable],
    rules: Sequence[ProductRule],
) -> np.ndarray:
    """Product name of each geometry [n, n_atoms, 3] Å: the first rule whose every range
    holds, else "other". Returns [n] array of str."""
    values = {name: cv(positions) for name, cv in variables.items()}
    labels = np.full(len(positions), "other", dtype=object)
    unset = np.ones(len(positions), dtype=bool)
    for rule in rules:
        missing = set(rule.ranges) - set(values)
        if missing:
            raise ValueError(f"product {rule.name!r} uses undefined variables {sorted(missing)}")
        ok = unset.copy()
        for name, (lo, hi) in rule.ranges.items():
            ok &= (values[name] >= lo) & (values[name] <= hi)
        labels[ok] = rule.name
        unset &= ~ok
    return labels


def quantum_yields(
    labels: np.ndarray,
    names: Sequence[str],
    n_boot: int = 1000,
    level: float = 0.95,
    seed: int = 0,
) -> dict[str, tuple[float, float, float]]:
    """Yield of each product (fraction of trajectories) with a bootstrap percentile
    interval: {name: (yield, low, high)}."""
    rng = np.random.default_rng(seed)
    samples = [labels[rng.integers(0, len(labels), len(labels))] for _ in range(n_boot)]
    out = {}
    for name in names:
        boot = [float(np.mean(s == name)) for s in samples]
        low, high = np.quantile(boot, [(1 - level) / 2, (1 + level) / 2])
        out[name] = (float(np.mean(labels == name)), float(low), float(high))
    return out
