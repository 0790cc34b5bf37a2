"""Errors of a model per group of frames (``fusionpot eval --by KEY``): the MAE and the
mean signed error (model − label) of the energy per atom, the force MAE, and the mean
signed error of the pressure, per value of one ``atoms.info`` key (a condition, a
``config_type``, a data source).

A MAE hides a systematic error: a potential whose energy is 2 meV/atom too low on every
gas-phase frame, or whose pressure is 0.1 GPa too low at every density, has a small MAE
and the wrong density. The mean signed error per group shows it; its ± is the standard
error over the group's frames, which frames of one trajectory (correlated) make too small.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from ase.units import GPa

from fusionpot.errors import DataError
from fusionpot.train.dataset import LabelledFrames
from fusionpot.train.evaluate import Predictions

__all__ = ["GroupErrors", "group_errors", "grouped_table"]

#: the group of frames without the key, and the row of all frames
NO_VALUE = "(none)"
ALL = "(all)"


@dataclass(frozen=True)
class GroupErrors:
    """Errors over one group's frames; NaN where no frame of it has the label.

    energy_mae, energy_mean_error, energy_sem: [S] meV/atom (mean error = model − label,
    sem = its standard error); forces_mae: [S] meV/Å; stress_mae: meV/Å³ (the 9
    components of S0's stress); pressure_mean_error, pressure_sem: GPa (P = −tr σ / 3 of
    S0, model − label; the kinetic term is the same in both and cancels)."""

    name: str
    n_frames: int
    energy_mae: np.ndarray
    energy_mean_error: np.ndarray
    energy_sem: np.ndarray
    forces_mae: np.ndarray
    stress_mae: float
    pressure_mean_error: float
    pressure_sem: float


def _mean_and_sem(values: np.ndarray) -> tuple[float, float]:
    """Mean and standard error of the finite entries of a 1-d array (NaN where none, and
    a NaN sem for a single value)."""
    finite = values[np.isfinite(values)]
    if finite.size == 0:
        return math.nan, math.nan
    sem = float(finite.std(ddof=1) / math.sqrt(finite.size)) if finite.size > 1 else math.nan
    return float(finite.mean()), sem


def _nan_mean(values: np.ndarray, axis: int = 0) -> np.ndarray:
    """Mean over ``axis`` of the finite entries, NaN (no warning) where there are none."""
    finite = np.isfinite(values)
    return _ratio(np.where(finite, values, 0.0).sum(axis=axis), finite.sum(axis=axis))


def _ratio(total: np.ndarray, count: np.ndarray) -> np.ndarray:
    """total / count, NaN where count is 0."""
    return np.where(count > 0, total / np.maximum(count, 1), np.nan)


def group_errors(data: LabelledFrames, predictions: Predictions, key: str) -> list[GroupErrors]:
    """One :class:`GroupErrors` per value of ``atoms.info[key]`` (sorted by name; frames
    without the key form the group ``"(none)"``), then one of all frames, ``"(all)"``.

    ``DataError`` when no frame has ``key`` (a misspelt key), naming the info keys the
    frames do have."""
    values = [frame.info.get(key) for frame in data.frames]
    if all(value is None for value in values):
        present = sorted({k for frame in data.frames for k in frame.info})
        raise DataError(
            f"--by {key}: no frame has info key {key!r}; the frames have: {', '.join(present)}"
        )
    names = np.array([NO_VALUE if value is None else str(value) for value in values])
    n_atoms = np.array([len(frame) for frame in data.frames], dtype=float)

    energy_error = (predictions.energy - data.energy) / n_atoms[:, None] * 1e3  # meV/atom
    energy_error[~data.energy_mask.astype(bool)] = np.nan
    forces_mask = data.forces_mask.astype(bool)  # [n_frames, S]
    forces_abs_sum = np.array(
        [
            np.abs(p - f).sum(axis=(0, 2))
            for p, f in zip(predictions.forces, data.forces, strict=True)
        ]
    ) * np.where(forces_mask, 1e3, 0.0)  # [n_frames, S] meV/Å
    forces_count = np.where(forces_mask, 3 * n_atoms[:, None], 0.0)
    stress_abs = np.full(len(data), np.nan)
    pressure_error = np.full(len(data), np.nan)
    if predictions.stress is not None:
        labelled = data.stress_mask.astype(bool)
        delta = predictions.stress[labelled] - data.stress[labelled]  # eV/Å³
        stress_abs[labelled] = np.abs(delta).mean(axis=(1, 2)) * 1e3
        pressure_error[labelled] = -np.trace(delta, axis1=1, axis2=2) / 3.0 / GPa

    groups = []
    for name in [*sorted(set(names.tolist())), ALL]:
        rows = np.ones(len(data), dtype=bool) if name == ALL else names == name
        mean_sem = [_mean_and_sem(column) for column in energy_error[rows].T]
        p_mean, p_sem = _mean_and_sem(pressure_error[rows])
        groups.append(
            GroupErrors(
                name=name,
                n_frames=int(rows.sum()),
                energy_mae=_nan_mean(np.abs(energy_error[rows])),
                energy_mean_error=np.array([m for m, _ in mean_sem]),
                energy_sem=np.array([s for _, s in mean_sem]),
                forces_mae=_ratio(forces_abs_sum[rows].sum(axis=0), forces_count[rows].sum(axis=0)),
                stress_mae=float(_nan_mean(stress_abs[rows])),
                pressure_mean_error=p_mean,
                pressure_sem=p_sem,
            )
        )
    return groups


def _cell(value: float, digits: int) -> str:
    return "—" if math.isnan(value) else f"{value:.{digits}f}"


def _pm(mean: float, sem: float, digits: int) -> str:
    if math.isnan(mean):
        return "—"
    return f"{mean:+.{digits}f}" + ("" if math.isnan(sem) else f" ± {sem:.{digits}f}")


def grouped_table(groups: list[GroupErrors], key: str) -> str:
    """A Markdown table, one row per group: per state the energy MAE and mean error ± its
    standard error (meV/atom) and the force MAE (meV/Å); the stress MAE (meV/Å³) and the
    pressure's mean error ± standard error (GPa) where some frame has a stress label.

    >>> import numpy as np
    >>> g = GroupErrors("gas", 6, np.array([3.4]), np.array([-3.43]), np.array([0.1]),
    ...                 np.array([20.0]), 0.05, -0.0027, 0.0009)
    >>> print(grouped_table([g], "subset"))
    E in meV/atom, F in meV/Å, σ in meV/Å³, P in GPa; mean error: model − label ± its standard error
    <BLANKLINE>
    | subset | frames | S0 E MAE | S0 E mean error | S0 F MAE | σ MAE | P mean error |
    |---|---:|---:|---:|---:|---:|---:|
    | gas | 6 | 3.40 | -3.43 ± 0.10 | 20.0 | 0.050 | -0.0027 ± 0.0009 |
    """
    n_states = len(groups[0].energy_mae)
    with_stress = any(not math.isnan(g.stress_mae) for g in groups)
    header = [key, "frames"]
    for s in range(n_states):
        header += [f"S{s} E MAE", f"S{s} E mean error", f"S{s} F MAE"]
    if with_stress:
        header += ["σ MAE", "P mean error"]
    units = "E in meV/atom, F in meV/Å" + (", σ in meV/Å³, P in GPa" if with_stress else "")
    lines = [
        f"{units}; mean error: model − label ± its standard error",
        "",
        "| " + " | ".join(header) + " |",
        "|---|" + "---:|" * (len(header) - 1),
    ]
    for g in groups:
        cells = [g.name, str(g.n_frames)]
        for s in range(n_states):
            cells += [
                _cell(g.energy_mae[s], 2),
                _pm(g.energy_mean_error[s], g.energy_sem[s], 2),
                _cell(g.forces_mae[s], 1),
            ]
        if with_stress:
            cells += [_cell(g.stress_mae, 3), _pm(g.pressure_mean_error, g.pressure_sem, 4)]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)
