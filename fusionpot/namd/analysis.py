"""Analysis of a merged run: populations, excited-state lifetime, products, quantum yields.

Each estimate says what the run does not show: a lifetime is fitted only when enough
trajectories reached S0 (else "not reached within T fs"), trajectories that stopped early
are censored rather than counted as excited forever, and a trajectory counts towards a
product only if it ended on S0 inside that product's region (else it is undetermined).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import h5py
import numpy as np
from scipy.optimize import curve_fit

__all__ = [
    "UNDETERMINED",
    "CollectiveVariable",
    "Lifetime",
    "ProductRule",
    "classify",
    "fit_lifetime",
    "kaplan_meier",
    "load_run",
    "outcomes",
    "plot_populations",
    "quantum_yields",
    "state_fractions",
    "time_to_ground",
]

#: the outcome of a trajectory that did not end on S0 inside a product region
UNDETERMINED = "undetermined"


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
    time: np.ndarray,
    fractions: np.ndarray,
    path: str | os.PathLike[str],
    lifetime: Lifetime | None = None,
) -> None:
    """PNG of state fractions vs time (fs); with ``lifetime``, also its Kaplan–Meier
    survival on the excited states and, if one was fitted, the fitted decay."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4))
    for s in range(fractions.shape[1]):
        ax.plot(time, fractions[:, s], label=f"S{s}")
    if lifetime is not None and lifetime.n_traj:
        ax.plot(lifetime.time, lifetime.survival, "k:", label="not yet on S0 (Kaplan–Meier)")
        if lifetime.reached:
            tau, low, high = lifetime.tau, lifetime.tau_low, lifetime.tau_high
            label = f"fit τ = {tau:.0f} fs [{low:.0f}, {high:.0f}]"
            ax.plot(time, lifetime.model(time), "k--", label=label)
        else:
            ax.set_title(f"lifetime not reached within {lifetime.t_max:.0f} fs", fontsize=10)
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


def time_to_ground(time: np.ndarray, active: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """First arrival of each trajectory on S0, or the end of its record.

    time: [n_frames] fs; active: [n_traj, n_frames] (−1 after a trajectory stopped).
    Returns (t [n_traj] fs, decayed [n_traj] bool): t is the first frame on S0 where
    ``decayed``, else the last recorded frame (the trajectory is censored there).
    """
    on_ground = active == 0
    decayed = on_ground.any(axis=1)
    recorded = active >= 0
    if not bool(recorded.any(axis=1).all()):
        raise ValueError("every trajectory needs at least one recorded frame (active >= 0)")
    last = active.shape[1] - 1 - np.argmax(recorded[:, ::-1], axis=1)
    return np.where(decayed, time[np.argmax(on_ground, axis=1)], time[last]), decayed


def kaplan_meier(
    t: np.ndarray, decayed: np.ndarray, grid: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Kaplan–Meier estimate of the probability of not having reached S0 by each time.

    Ŝ(t) = Π_{t_j ≤ t} (1 − d_j / n_j), with t_j the distinct arrival times, d_j the
    arrivals at t_j and n_j the trajectories still recorded and not yet arrived at t_j
    (a trajectory censored at t_j is at risk at t_j). t, decayed: [n_traj] from
    :func:`time_to_ground`; grid: [n] fs. Returns (Ŝ [n], n at risk [n]); Ŝ is NaN
    after the last recorded time, where nothing is known.
    """
    times, arrivals = np.unique(t[decayed], return_counts=True)
    at_risk_j = (t[None, :] >= times[:, None]).sum(axis=1)
    steps = np.concatenate([[1.0], np.cumprod(1.0 - arrivals / at_risk_j)])
    survival = steps[np.searchsorted(times, grid, side="right")]
    at_risk = (t[None, :] >= grid[:, None]).sum(axis=1)
    return np.where(grid <= t.max(initial=-np.inf), survival, np.nan), at_risk


def _fit_survival(time: np.ndarray, t: np.ndarray, decayed: np.ndarray) -> tuple[float, float]:
    """(τ, t0) of :func:`_decay` least-squares fitted to the Kaplan–Meier curve."""
    if not bool(decayed.any()):
        return np.inf, 0.0
    survival, _ = kaplan_meier(t, decayed, time)
    known = np.isfinite(survival)
    x, y = time[known], survival[known]
    guess_tau = max(float(np.trapezoid(y, x)), float(time[1] - time[0]))
    bounds = ([1e-3, 0.0], [1e9, float(x[-1])])
    (tau, t0), _ = curve_fit(_decay, x, y, p0=[guess_tau, 0.0], bounds=bounds)
    return float(tau), float(t0)


@dataclass(frozen=True, eq=False)
class Lifetime:
    """What an ensemble says about its excited-state lifetime.

    n_traj: trajectories that started on an excited state; n_decayed: those recorded on
    S0; t_max: fs, last recorded time; time [n_frames] fs and survival [n_frames]: the
    Kaplan–Meier probability of not yet having reached S0 (NaN after the last record);
    min_decayed, min_fraction: the thresholds a fit needed. When it was fitted, ``tau``,
    ``t0`` (fs) of P(t) = exp(−(t − t0)/τ) for t > t0, and the bootstrap interval
    [tau_low, tau_high] at ``level``; all four None when not reached.
    """

    n_traj: int
    n_decayed: int
    t_max: float
    time: np.ndarray
    survival: np.ndarray
    min_decayed: int
    min_fraction: float
    level: float
    tau: float | None = None
    t0: float | None = None
    tau_low: float | None = None
    tau_high: float | None = None

    @property
    def reached(self) -> bool:
        """Whether enough trajectories decayed for a lifetime to be fitted."""
        return self.tau is not None

    @property
    def fraction_decayed(self) -> float:
        return self.n_decayed / self.n_traj if self.n_traj else 0.0

    def model(self, t: np.ndarray) -> np.ndarray:
        """The fitted P(t) at times t [n] fs."""
        if self.tau is None or self.t0 is None:
            raise ValueError("no lifetime was fitted (not reached within the run)")
        return _decay(t, self.tau, self.t0)

    def describe(self) -> str:
        """One line: τ with its interval, or "not reached within T fs" with the count."""
        if not self.n_traj:
            return "excited-state lifetime: no trajectory started on an excited state"
        counted = (
            f"{self.n_decayed} of {self.n_traj} trajectories "
            f"({100 * self.fraction_decayed:.0f} %) reached S0"
        )
        if not self.reached:
            return (
                f"excited-state lifetime: not reached within {self.t_max:.1f} fs — {counted} "
                f"(a fit needs ≥ {self.min_decayed} and ≥ {100 * self.min_fraction:.0f} %)"
            )
        assert self.tau is not None and self.t0 is not None
        extrapolated = (
            f"; τ > the {self.t_max:.0f} fs recorded: extrapolated" if self.tau > self.t_max else ""
        )
        return (
            f"excited-state lifetime τ = {self.tau:.1f} fs ({100 * self.level:.0f}% CI "
            f"{self.tau_low:.1f}–{self.tau_high:.1f}), delay {self.t0:.1f} fs; "
            f"Kaplan–Meier, {counted}{extrapolated}"
        )

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready summary (no arrays)."""
        return {
            "reached": self.reached,
            "tau": self.tau,
            "t0": self.t0,
            "ci": None if not self.reached else [self.tau_low, self.tau_high],
            "level": self.level,
            "n_traj": self.n_traj,
            "n_decayed": self.n_decayed,
            "fraction_decayed": self.fraction_decayed,
            "t_max": self.t_max,
            "method": "Kaplan-Meier survival of the first arrival on S0 (censored at the last "
            "recorded frame), delayed exponential fitted by least squares, bootstrap over "
            "trajectories",
            "min_decayed": self.min_decayed,
            "min_fraction": self.min_fraction,
        }


def fit_lifetime(
    time: np.ndarray,
    active: np.ndarray,
    n_boot: int = 200,
    level: float = 0.95,
    seed: int = 0,
    min_decayed: int = 5,
    min_fraction: float = 0.1,
) -> Lifetime:
    """Excited-state lifetime of an ensemble, or the statement that it was not reached.

    Method. Each trajectory that starts on an excited state (active > 0 at frame 0) gives
    the time of its first frame on S0, or, if it never got there, the time of its last
    recorded frame, where it is *censored* (:func:`time_to_ground`): a trajectory that
    stopped early is not counted as excited forever. The Kaplan–Meier estimate Ŝ(t)
    (:func:`kaplan_meier`) of the probability of not yet having reached S0 is fitted with
    the delayed exponential P(t) = exp(−(t − t0)/τ) for t > t0 (1 before) by least squares
    (scipy.optimize.curve_fit) over the times with records. The interval of τ is the
    bootstrap percentile interval at ``level`` over ``n_boot`` resamples of the
    trajectories with replacement, each refitted the same way.

    A lifetime is fitted only if at least ``min_decayed`` trajectories, and at least a
    fraction ``min_fraction`` of them, reached S0; otherwise the result is "not reached"
    (``tau`` None) with the count that did. Trajectories starting on S0 are left out.

    time: [n_frames] fs; active: [n_traj, n_frames], −1 after a trajectory stopped.
    """
    if not 0 < level < 1:
        raise ValueError(f"level must be in (0, 1), got {level}")
    if min_decayed < 1 or not 0 <= min_fraction <= 1:
        raise ValueError(
            f"min_decayed must be ≥ 1 and min_fraction in [0, 1], got {min_decayed}, {min_fraction}"
        )
    if active.ndim != 2 or active.shape[1] != len(time):
        raise ValueError(f"active must be [n_traj, {len(time)}], got {active.shape}")
    active = active[active[:, 0] > 0]
    t, decayed = time_to_ground(time, active) if len(active) else (np.zeros(0), np.zeros(0, bool))
    n_traj, n_decayed = len(active), int(decayed.sum())
    survival = kaplan_meier(t, decayed, time)[0] if n_traj else np.full(len(time), np.nan)
    t_max = float(t.max()) if n_traj else 0.0
    common = (n_traj, n_decayed, t_max, time, survival, min_decayed, min_fraction, level)
    if n_decayed < min_decayed or n_decayed < min_fraction * n_traj:
        return Lifetime(*common)
    tau, t0 = _fit_survival(time, t, decayed)
    rng = np.random.default_rng(seed)
    taus = []
    for _ in range(n_boot):
        pick = rng.integers(0, n_traj, n_traj)
        taus.append(_fit_survival(time, t[pick], decayed[pick])[0])
    low, high = np.quantile(taus, [(1 - level) / 2, (1 + level) / 2]) if taus else (tau, tau)
    return Lifetime(*common, tau=tau, t0=t0, tau_low=float(low), tau_high=float(high))


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


def outcomes(labels: np.ndarray, final_active: np.ndarray) -> np.ndarray:
    """Outcome of each trajectory: its product label (from :func:`classify`) if it ended
    on S0 inside a product region, else :data:`UNDETERMINED` (still excited at the end,
    or on S0 in no region, "other"). labels, final_active: [n_traj] (final_active −1 for a
    trajectory without a final record). Returns [n_traj] array of str."""
    if labels.shape != final_active.shape:
        raise ValueError(f"labels {labels.shape} and final states {final_active.shape} differ")
    decided = (final_active == 0) & (labels != "other")
    return np.where(decided, labels, UNDETERMINED).astype(object)


def quantum_yields(
    labels: np.ndarray,
    names: Sequence[str],
    n_boot: int = 1000,
    level: float = 0.95,
    seed: int = 0,
) -> dict[str, tuple[float, float, float]]:
    """Yield of each name in ``labels`` [n_traj] (fraction of all trajectories; pass the
    labels of :func:`outcomes` and include :data:`UNDETERMINED` among the names) with a
    bootstrap percentile interval over resampled trajectories: {name: (yield, low, high)}.
    An interval of zero width (a name no or every trajectory has) says only that the
    resamples cannot vary it, not that the yield is known exactly."""
    rng = np.random.default_rng(seed)
    samples = [labels[rng.integers(0, len(labels), len(labels))] for _ in range(n_boot)]
    out = {}
    for name in names:
        boot = [float(np.mean(s == name)) for s in samples]
        low, high = np.quantile(boot, [(1 - level) / 2, (1 + level) / 2])
        out[name] = (float(np.mean(labels == name)), float(low), float(high))
    return out
