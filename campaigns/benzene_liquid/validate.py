"""Validation numbers for the liquid-benzene model card (issue 21), stage by stage.

    python campaigns/benzene_liquid/validate.py STAGE [--model M] [--ps PS] [--out DIR]

Stages (``all`` runs them in this order); each writes its results into ``--out``
(default ``potentials/benzene/validation/``), every file atomically:

- ``tblite-nvt``: the reference liquid: NVT Langevin MD on GFN1-xTB itself (tblite, the
  labeller's settings; 300 K, 0.5 fs, friction 0.01 fs⁻¹ as the data set's MD) from the
  latest 300 K frame at the experimental density of ``--start`` (default: the model-driven
  frames of the data set, a liquid equilibrated for ps, which the data set's own tblite
  MD, 0.45 ps from a lattice, is not); ``--equil-ps`` 0.1, then ``--ps`` 1, a frame with
  its GFN1-xTB energy, forces and stress every 10 fs. ``tblite_nvt.extxyz`` (frames the
  model never saw: the model's errors on them are in ``tblite_nvt.json``).
- ``model-errors``: another model's errors on the ``tblite_nvt.extxyz`` already in
  ``--out`` (the reference liquid does not depend on the model): rewrites the model's
  fields of ``tblite_nvt.json`` without running GFN1-xTB again (a minute, not an hour;
  not part of ``all``).
- ``rdf``: C–C and C–H radial distribution functions of NVT Langevin MD with the model
  (same thermostat; ``--equil-ps`` 2, then ``--ps`` 20 ps, a frame every 10 fs) against
  ``tblite_nvt.extxyz`` in ``--out`` (or, without it, the tblite-driven frames of
  condition T300_V1 of the data set, said in the result). ``rdf.png``, ``rdf.csv``,
  ``rdf.json``.
- ``density``: NPT (ASE ``LangevinBAOAB``, isotropic, 300 K, 1 atm; ``--equil-ps`` 5,
  then ``--ps`` 20) → mean density with a block-averaged error; GFN1-xTB's density from
  the P(V) at 300 K of the data set and of the model-driven sets beside it
  (``pressure_sets``, ``density_at_pressure``); and a direct check: every
  ``--check-every-fs`` (200) of the production, the model's geometry is labelled afresh
  by GFN1-xTB (``density_tblite_frames.extxyz``, resumable), and GFN1-xTB's pressure
  there is set beside 1 atm and beside the model's on the same geometries (paired).
  ``density.json``, ``density.csv``.
- ``drift``: NVE (velocity Verlet, 0.5 fs) for ``--ps`` 5 after ``--equil-ps`` 2 of NVT:
  drift of the total energy per atom per ps, from a linear fit. ``drift.json``, ``drift.csv``.
- ``speed``: ms per MD step of the model in ASE and (plugin built) LAMMPS against one
  GFN1-xTB energy + forces + stress call on the same cell. ``speed.json``.
- ``report``: ``validation.md``, a table of every number found in ``--out``.

MD stages are resumable: each keeps a checkpoint in ``--work/STAGE/`` (default
``campaigns/benzene_liquid/work/validation/``, git-ignored) every ``--checkpoint-fs``
(100 fs) of simulated time, and the same command continues from it; a kill loses at
most that much. ``--stop-after N`` stops after N MD steps in this invocation (time slices).
A checkpoint made with another model file, seed, temperature, --ps or --equil-ps is refused.

Run the long stages at one thread beside other jobs, e.g.
``OMP_NUM_THREADS=1 nice -n 10 python campaigns/benzene_liquid/validate.py all``.
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import hashlib
import io
import json
import math
import re
import subprocess
import sys
import tempfile
import time
import warnings
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
from ase import Atoms, units
from ase.calculators.calculator import Calculator, all_changes
from ase.constraints import FixCom
from ase.io import read, write
from ase.md.langevin import Langevin
from ase.md.langevinbaoab import LangevinBAOAB
from ase.md.md import MolecularDynamics
from ase.md.velocitydistribution import Stationary, thermalize_momenta
from ase.md.verlet import VelocityVerlet
from ase.units import _amu
from split_data import data_files  # the sibling script: which labelled sets a folder holds

from fusionpot import FusionCalculator
from fusionpot._io import atomic_write, atomic_write_text
from fusionpot.labels.runner import frame_id, label_frames
from fusionpot.labels.xtb import XTBLabeller

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
MODEL = ROOT / "potentials" / "benzene" / "benzene_liquid.pt"
DATA = HERE / "data" / "labelled.extxyz"
#: the model-driven frames: the liquid that ``tblite-nvt`` starts from
START = HERE / "data" / "driven_1" / "labelled.extxyz"
#: the GFN1-xTB NVT frames of ``tblite-nvt``, in ``--out``
TBLITE_NVT = "tblite_nvt.extxyz"
#: geometries of the model's NPT run labelled by GFN1-xTB (``density``'s pressure check)
DENSITY_FRAMES = "density_tblite_frames.extxyz"
#: default fs between the NPT geometries that GFN1-xTB labels (``density --check-every-fs``)
PRESSURE_CHECK_EVERY_FS = 200.0
OUT = ROOT / "potentials" / "benzene" / "validation"
WORK = HERE / "work" / "validation"
LAMMPS_INPUT = ROOT / "examples" / "lammps" / "benzene" / "in.npt_nve"
LAMMPS_DATA = ROOT / "examples" / "lammps" / "benzene" / "benzene.data"

#: the reference condition (tblite-driven Langevin MD at 300 K, 0.87 g/cm³)
REFERENCE = "T300_V1"
#: 1 atm in bar, and in eV/Å³
ATM_BAR = 1.01325
ATM = ATM_BAR * units.bar
#: g/cm³ of 1 amu in 1 Å³
AMU_PER_A3_IN_G_CM3 = _amu * 1e3 / 1e-24
#: per stage: (default --ps, default --equil-ps)
MD_DEFAULTS = {
    "tblite-nvt": (1.0, 0.1),
    "rdf": (20.0, 2.0),
    "density": (20.0, 5.0),
    "drift": (5.0, 2.0),
}
STAGES = ("tblite-nvt", "rdf", "density", "drift", "speed", "report")
#: stages that ``all`` does not run
EXTRA_STAGES = ("model-errors",)


class InputError(Exception):
    """Bad user input (a missing file, a wrong option): one line naming it."""


# ----------------------------------------------------------------------------- analysis


def rdf(
    frames: Sequence[Atoms],
    a: str,
    b: str,
    r_max: float,
    bin_width: float,
    *,
    intermolecular: bool = False,
) -> tuple[np.ndarray, np.ndarray]:
    """Radial distribution function g_ab(r) of periodic ``frames`` (minimum image).

    g_ab(r) = Σ_frames n_ab(r) / Σ_frames [N_a N_b' / V · 4π/3 (r₂³ − r₁³)], with n_ab the
    number of ordered (a, b) pairs, i ≠ j, whose distance falls in the shell [r₁, r₂),
    N_b' = N_b − 1 when a = b (else N_b) and V the frame's volume: g → 1 for an ideal gas.
    ``intermolecular``: only pairs of different ``arrays["mol_id"]``, with the same
    normalisation (g_inter = g − g_intra).

    frames: periodic cells; a, b: chemical symbols; r_max: Å, at most half the smallest
    width of every cell (minimum image); bin_width: Å. Returns (r [n_bins] Å, the bin
    centres; g [n_bins]). ValueError for an r_max beyond half a cell, no frames, a
    symbol absent from a frame, or no pair at all.
    """
    if not frames:
        raise ValueError("rdf needs at least one frame")
    if bin_width <= 0 or r_max <= bin_width:
        raise ValueError(f"need 0 < bin_width < r_max, got {bin_width}, {r_max}")
    n_bins = math.floor(r_max / bin_width + 1e-9)
    edges = np.linspace(0.0, n_bins * bin_width, n_bins + 1)
    counts = np.zeros(n_bins)
    ideal = 0.0  # Σ_frames N_a N_b' / V
    for k, atoms in enumerate(frames):
        if not atoms.pbc.all():
            raise ValueError(f"frame {k} is not periodic in all three directions")
        cell = atoms.cell.array
        volume = abs(np.linalg.det(cell))
        widths = volume / np.linalg.norm(np.cross(cell[[1, 2, 0]], cell[[2, 0, 1]]), axis=1)
        if edges[-1] > widths.min() / 2 + 1e-9:
            raise ValueError(
                f"r_max {edges[-1]:g} Å is beyond half the smallest width of frame {k} "
                f"({widths.min() / 2:g} Å): the minimum image would miss pairs"
            )
        symbols = np.array(atoms.get_chemical_symbols())
        ia, ib = np.flatnonzero(symbols == a), np.flatnonzero(symbols == b)
        if len(ia) == 0 or len(ib) == 0:
            raise ValueError(f"frame {k} has no {a if len(ia) == 0 else b} atom")
        d = _minimum_image_distances(atoms.positions[ia], atoms.positions[ib], cell)
        keep = ia[:, None] != ib[None, :]
        if intermolecular:
            mol = atoms.arrays["mol_id"]
            keep &= mol[ia][:, None] != mol[ib][None, :]
        counts += np.histogram(d[keep], bins=edges)[0]
        ideal += len(ia) * (len(ib) - (1 if a == b else 0)) / volume
    if ideal == 0:
        raise ValueError(f"no {a}–{b} pair in the frames (a single {a} atom)")
    shells = 4.0 * np.pi / 3.0 * (edges[1:] ** 3 - edges[:-1] ** 3)
    return 0.5 * (edges[1:] + edges[:-1]), counts / (ideal * shells)


def _minimum_image_distances(x: np.ndarray, y: np.ndarray, cell: np.ndarray) -> np.ndarray:
    """|x_i − y_j| [n_x, n_y] Å, minimum image in the periodic ``cell`` [3, 3] Å (rows are
    lattice vectors): the shortest of the 27 neighbouring images of the wrapped
    difference, exact for distances up to half the smallest cell width."""
    frac = (x[:, None, :] - y[None, :, :]) @ np.linalg.inv(cell)
    frac -= np.round(frac)
    shifts = np.array(np.meshgrid([-1, 0, 1], [-1, 0, 1], [-1, 0, 1])).reshape(3, -1).T
    vectors = (frac[:, :, None, :] + shifts[None, None]) @ cell  # [n_x, n_y, 27, 3]
    return np.sqrt((vectors**2).sum(-1)).min(-1)


def block_average(series: Sequence[float] | np.ndarray, n_blocks: int) -> tuple[float, float]:
    """(mean, standard error) of a correlated ``series`` from ``n_blocks`` equal blocks:
    stderr = std(block means, ddof 1) / √n_blocks. The first len % n_blocks values are
    dropped (the earliest, least equilibrated). ValueError for fewer than 2 blocks or
    fewer values than blocks."""
    x = np.asarray(series, dtype=float)
    if n_blocks < 2 or len(x) < n_blocks:
        raise ValueError(f"need 2 <= n_blocks <= len(series), got {n_blocks} and {len(x)}")
    size = len(x) // n_blocks
    blocks = x[len(x) - size * n_blocks :].reshape(n_blocks, size).mean(axis=1)
    return float(blocks.mean()), float(blocks.std(ddof=1) / math.sqrt(n_blocks))


@dataclass(frozen=True)
class DensityEstimate:
    """The density at which a linear fit P(V) = p0 + slope (V − v_mean) meets a pressure.

    density_g_cm3 ± error_g_cm3, volume_A3 ± error_A3 (Å³), slope ± slope_error (eV/Å⁶),
    p0 (eV/Å³), v_mean (Å³), chi2 of the fit; resolved: whether the number can be used,
    and note: why not, or a caveat (extrapolation).
    """

    density_g_cm3: float
    error_g_cm3: float
    volume_A3: float
    error_A3: float
    slope: float
    slope_error: float
    p0: float
    v_mean: float
    chi2: float
    resolved: bool
    note: str


def density_at_pressure(
    volumes: Sequence[float],
    pressures: Sequence[float],
    errors: Sequence[float],
    pressure: float,
    mass_amu: float,
) -> DensityEstimate:
    """Solve P(V) = ``pressure`` on a weighted least-squares line through (V_i, P_i ± σ_i).

    P(V) = p0 + s (V − V̄), weights 1/σ_i², V̄ their weighted mean volume (so p0 and s are
    uncorrelated); V* = V̄ + (P − p0)/s; σ_V*² = (σ_p0² + (V* − V̄)² σ_s²)/s² (first order);
    ρ = m/V*, σ_ρ = ρ σ_V*/V*. volumes: Å³; pressures, errors, pressure: one unit (e.g.
    eV/Å³); mass_amu: amu in the cell.

    Unresolved (``resolved=False``, said in ``note``) when the slope is not negative by
    three standard errors (a flat or unstable fit, or one whose 1/s is too skewed for the
    first-order error) or the density error exceeds 5 % (the ±5 % the conditions span);
    an extrapolation is noted. ValueError for fewer than two points or a non-positive
    error.
    """
    v, p, sigma = (np.asarray(x, dtype=float) for x in (volumes, pressures, errors))
    if len(v) < 2 or not len(v) == len(p) == len(sigma):
        raise ValueError(f"need >= 2 (V, P, error) points, got {len(v)}, {len(p)}, {len(sigma)}")
    if (sigma <= 0).any():
        raise ValueError(f"pressure errors must be > 0, got {sigma.tolist()}")
    w = 1.0 / sigma**2
    v_mean = float((w * v).sum() / w.sum())
    dv = v - v_mean
    p0 = float((w * p).sum() / w.sum())
    slope = float((w * dv * p).sum() / (w * dv**2).sum())
    var_p0, var_slope = 1.0 / w.sum(), 1.0 / (w * dv**2).sum()
    chi2 = float((w * (p - p0 - slope * dv) ** 2).sum())
    notes = []
    if slope >= 0 or slope > -3 * math.sqrt(var_slope):
        volume, error = math.nan, math.nan
        notes.append(
            f"dP/dV = {slope:.3g} ± {math.sqrt(var_slope):.2g} is not negative by three "
            "standard errors: the pressures do not resolve the equation of state"
        )
    else:
        volume = v_mean + (pressure - p0) / slope
        error = math.sqrt(var_p0 + (volume - v_mean) ** 2 * var_slope) / abs(slope)
    density = mass_amu * AMU_PER_A3_IN_G_CM3 / volume if volume > 0 else math.nan
    density_error = density * error / volume if volume > 0 else math.nan
    if not notes:
        if not density_error <= 0.05 * density:
            notes.append(
                f"the error ±{density_error:.3f} g/cm³ exceeds 5 % of the density: too large "
                "to tell the density apart from that of any condition in the data"
            )
        if not v.min() <= volume <= v.max():
            beyond = max(v.min() - volume, volume - v.max()) / (v.max() - v.min())
            notes.append(
                f"extrapolated {beyond:.0%} of the data's volume range beyond it (curvature "
                "of P(V) is not in the error)"
            )
    return DensityEstimate(
        density_g_cm3=density,
        error_g_cm3=density_error,
        volume_A3=volume,
        error_A3=error,
        slope=slope,
        slope_error=math.sqrt(var_slope),
        p0=p0,
        v_mean=v_mean,
        chi2=chi2,
        resolved=all(note.startswith("extrapolated") for note in notes),
        note="; ".join(notes),
    )


def virial_pressure(atoms: Atoms) -> float:
    """−trace(σ)/3 (eV/Å³) of ``atoms``' stress (its calculator's or its label's): the
    potential's part of the pressure."""
    return -float(np.mean(atoms.get_stress(voigt=True)[:3]))


def label_pressure(atoms: Atoms, temperature_K: float, n_fixed_dof: int = 3) -> float:
    """P = −trace(σ)/3 + N_dof k_B T / (3V) (eV/Å³) of a labelled frame: the stress label
    σ (eV/Å³) is the potential's (virial) part only; the kinetic part is the ideal gas at
    the thermostat's T with N_dof = 3N − ``n_fixed_dof`` (the data set's MD fixes the
    centre of mass)."""
    n_dof = 3 * len(atoms) - n_fixed_dof
    return virial_pressure(atoms) + n_dof * units.kB * temperature_K / (3.0 * atoms.get_volume())


def pressure_sets(data: Path) -> list[Path]:
    """The labelled sets whose pressures give GFN1-xTB's P(V): ``data`` (tblite-driven MD)
    and the model-driven ``*/labelled.extxyz`` beside it (``make_data.py --driver``; their
    configurations are the driver's, so their mean label pressure is GFN1-xTB's to first
    order; ``split_data.data_files`` says which sets a data folder holds). Each trajectory
    (``subset``) stays its own (V, P) point."""
    try:
        in_folder = data_files(data.parent)
    except FileNotFoundError:  # nothing there: reading ``data`` names the missing file
        in_folder = []
    return [data, *(path for path in in_folder if path.parent != data.parent)]


def tblite_density(frames: Sequence[Atoms], temperature_K: float, n_blocks: int) -> dict:
    """GFN1-xTB's density at 1 atm and ``temperature_K`` from the data set's conditions at
    that temperature: per condition, the mean label pressure (``label_pressure``) with a
    block-averaged error (``n_blocks``), then ``density_at_pressure``. Returns a JSON-ready
    dict: per condition (volume Å³, density, frames, MD fs span, P and error in bar), and
    the estimate (bar, eV/Å⁶ → GPa/Å³ where named)."""
    by_condition: dict[str, list[Atoms]] = {}
    for atoms in frames:
        if float(atoms.info["temperature_K"]) == temperature_K:
            by_condition.setdefault(str(atoms.info["subset"]), []).append(atoms)
    # a condition whose cell changes (NPT-driven frames, validate.py density) is no point
    # of P(V)
    variable_volume = sorted(
        name
        for name, group in by_condition.items()
        if np.ptp([a.get_volume() for a in group]) > 1e-6 * group[0].get_volume()
    )
    for name in variable_volume:
        del by_condition[name]
    if len(by_condition) < 2:
        raise InputError(
            f"need frames of >= 2 volumes at {temperature_K:g} K for P(V), got "
            f"{sorted(by_condition)}"
        )
    conditions: dict[str, dict[str, Any]] = {}
    for name, group in sorted(by_condition.items()):
        group.sort(key=lambda a: int(a.info["md_step"]))
        pressure = np.array([label_pressure(a, temperature_K) for a in group])
        mean, error = block_average(pressure, min(n_blocks, len(group)))
        times = [float(a.info["md_time_fs"]) for a in group]
        conditions[name] = {
            "frames": len(group),
            "md_time_fs": [min(times), max(times)],
            "volume_A3": float(group[0].get_volume()),
            "density_g_cm3": density_g_cm3(group[0]),
            "pressure_bar": mean / units.bar,
            "pressure_error_bar": error / units.bar,
        }
    rows = list(conditions.values())
    estimate = density_at_pressure(
        [c["volume_A3"] for c in rows],
        [c["pressure_bar"] for c in rows],
        [c["pressure_error_bar"] for c in rows],
        ATM_BAR,
        float(frames[0].get_masses().sum()),
    )
    return {
        "conditions": conditions,
        "variable_volume_skipped": variable_volume,
        "n_blocks": n_blocks,
        "estimate": asdict(estimate),
    }


def linear_drift(times: np.ndarray, values: np.ndarray) -> tuple[float, float]:
    """(slope, standard error) of an ordinary least-squares line through (times, values);
    the error assumes independent residuals (an underestimate for correlated MD)."""
    t, y = np.asarray(times, dtype=float), np.asarray(values, dtype=float)
    if len(t) < 3:
        raise ValueError(f"need >= 3 points for a drift, got {len(t)}")
    dt = t - t.mean()
    slope = float((dt * (y - y.mean())).sum() / (dt**2).sum())
    residual = y - y.mean() - slope * dt
    error = float(math.sqrt((residual**2).sum() / (len(t) - 2) / (dt**2).sum()))
    return slope, error


def density_g_cm3(atoms: Atoms) -> float:
    """g/cm³ of a cell."""
    return float(atoms.get_masses().sum() * AMU_PER_A3_IN_G_CM3 / atoms.get_volume())


# ------------------------------------------------------------------------ resumable MD


@dataclass(frozen=True)
class Phase:
    """A stretch of MD: ``ensemble`` ("nvt", "npt" or "nve") for ``steps`` steps,
    observables every ``record_every`` steps, positions every ``frames_every`` (0: none),
    with the calculator's energy, forces (no constraint applied) and stress if ``labels``."""

    name: str
    ensemble: str
    steps: int
    record_every: int = 10
    frames_every: int = 0
    labels: bool = False


@dataclass(frozen=True)
class MDSettings:
    """Thermostat and barostat: temperature_K (K), pressure_bar (bar, NPT), timestep_fs,
    friction_per_fs (Langevin, as the data set's MD), p_tau_fs (barostat time scale), seed
    (initial velocities and Langevin noise)."""

    temperature_K: float = 300.0
    pressure_bar: float = ATM_BAR
    timestep_fs: float = 0.5
    friction_per_fs: float = 0.01
    p_tau_fs: float = 500.0
    seed: int = 0


def make_dynamics(
    atoms: Atoms, ensemble: str, settings: MDSettings, rng: np.random.Generator
) -> MolecularDynamics:
    """ASE dynamics for ``ensemble``: "nvt" Langevin (centre of mass fixed by ``FixCom``,
    set on ``atoms``; the other ensembles clear the constraints), "npt"
    LangevinBAOAB (isotropic cell, Langevin on atoms and cell), "nve" velocity Verlet."""
    dt = settings.timestep_fs * units.fs
    atoms.set_constraint(FixCom() if ensemble == "nvt" else None)
    if ensemble == "nvt":
        return Langevin(
            atoms,
            dt,
            temperature_K=settings.temperature_K,
            friction=settings.friction_per_fs / units.fs,
            fixcm=False,
            rng=rng,
        )
    if ensemble == "npt":
        with warnings.catch_warnings():  # the heuristic barostat mass is announced
            warnings.simplefilter("ignore", UserWarning)
            return LangevinBAOAB(
                atoms,
                dt,
                temperature_K=settings.temperature_K,
                externalstress=-settings.pressure_bar * units.bar,
                hydrostatic=True,
                T_tau=1.0 / settings.friction_per_fs * units.fs,
                P_tau=settings.p_tau_fs * units.fs,
                rng=rng,
            )
    if ensemble == "nve":
        return VelocityVerlet(atoms, dt)
    raise ValueError(f"ensemble must be nvt, npt or nve, got {ensemble!r}")


def _observe(atoms: Atoms, ensemble: str, time_ps: float) -> dict[str, float]:
    epot = float(atoms.get_potential_energy())
    row = {
        "time_ps": time_ps,
        "temperature_K": float(atoms.get_temperature()),
        "epot_eV": epot,
        "etot_eV": epot + float(atoms.get_kinetic_energy()),
    }
    if ensemble == "npt":
        stress = atoms.get_stress(include_ideal_gas=True)
        row["volume_A3"] = float(atoms.get_volume())
        row["density_g_cm3"] = density_g_cm3(atoms)
        row["pressure_bar"] = -float(np.mean(stress[:3])) / units.bar
    return row


def _save_npz(path: Path, arrays: dict[str, np.ndarray]) -> None:
    def write(tmp: Path) -> None:
        with open(tmp, "wb") as fh:
            np.savez(fh, **arrays)  # type: ignore[arg-type]

    atomic_write(path, write)


def run_phases(
    atoms: Atoms,
    phases: Sequence[Phase],
    settings: MDSettings,
    checkpoint: Path,
    identity: dict[str, Any],
    *,
    checkpoint_every: int = 200,
    stop_after: int | None = None,
    label: str = "md",
) -> dict[str, dict[str, np.ndarray]] | None:
    """Run ``phases`` one after the other on ``atoms`` (its calculator attached),
    continuing from ``checkpoint`` (npz) if it exists, and checkpointing there every
    ``checkpoint_every`` steps and at each phase's end.

    identity: what a checkpoint must match to be continued (model hash, seed, ...);
    a mismatch is an InputError. stop_after: return None after that many steps of this
    call (checkpoint written). Returns per phase name its records: arrays [n_records] of
    ``_observe``'s keys, with "positions" [n_frames, n_atoms, 3] Å and "cells"
    [n_frames, 3, 3] Å where ``frames_every``; plus "_timing": "md_s" and "md_steps" of
    this call and the earlier ones (wall time inside the dynamics, ms/step).
    """
    rng = np.random.default_rng(settings.seed)
    meta: dict[str, Any] = {
        "identity": identity,
        "phase": 0,
        "step": 0,
        "p_eps": 0.0,
        "md_s": 0.0,
        "md_steps": 0,
    }
    records: dict[str, dict[str, list]] = {p.name: {} for p in phases}
    if checkpoint.exists():
        with np.load(checkpoint) as data:
            saved = json.loads(str(data["meta"]))
            if saved["identity"] != identity:
                differ = sorted(
                    key
                    for key in {*identity, *saved["identity"]}
                    if identity.get(key) != saved["identity"].get(key)
                )
                raise InputError(
                    f"{checkpoint} was made with other {', '.join(differ)} "
                    f"({saved['identity']}): delete it, give the same options (--ps, "
                    "--equil-ps, --model, --seed, --temperature) or another --work"
                )
            meta = saved
            atoms.set_cell(data["cell"])
            atoms.set_positions(data["positions"])
            atoms.set_momenta(data["momenta"])
            for key in data.files:
                if key.startswith("rec/"):
                    _, phase_name, name = key.split("/")
                    records[phase_name][name] = list(data[key])
        rng.bit_generator.state = meta["rng"]
        print(
            f"[{label}] resuming from {checkpoint}: phase {phases[meta['phase']].name} "
            f"step {meta['step']}"
            if meta["phase"] < len(phases)
            else f"[{label}] {checkpoint}: all phases done",
            flush=True,
        )
    else:
        thermalize_momenta(atoms, settings.temperature_K, rng=rng)
        Stationary(atoms)

    def save() -> None:
        meta["rng"] = rng.bit_generator.state
        arrays = {
            "meta": np.array(json.dumps(meta)),
            "cell": atoms.cell.array,
            "positions": atoms.positions,
            "momenta": atoms.get_momenta(),
        }
        for phase_name, rows in records.items():
            for name, values in rows.items():
                arrays[f"rec/{phase_name}/{name}"] = np.asarray(values)
        _save_npz(checkpoint, arrays)

    done_here = 0
    while meta["phase"] < len(phases):
        phase = phases[meta["phase"]]
        dynamics = make_dynamics(atoms, phase.ensemble, settings, rng)
        if phase.ensemble == "npt":
            dynamics.p_eps = meta["p_eps"]  # type: ignore[attr-defined]
        rows = records[phase.name]
        dt_ps = settings.timestep_fs / 1000.0
        if meta["step"] == 0 and not rows:
            _record(rows, atoms, phase, 0, dt_ps)
        while meta["step"] < phase.steps:
            step = meta["step"]
            stops = [phase.steps, _next(step, phase.record_every), _next(step, checkpoint_every)]
            if phase.frames_every:
                stops.append(_next(step, phase.frames_every))
            if stop_after is not None:
                stops.append(step + stop_after - done_here)
            n = min(stops) - step
            start = time.perf_counter()
            dynamics.run(n)
            meta["md_s"] += time.perf_counter() - start
            meta["md_steps"] += n
            meta["step"] = step = step + n
            done_here += n
            _record(rows, atoms, phase, step, dt_ps)
            if phase.ensemble == "npt":
                meta["p_eps"] = float(dynamics.p_eps)  # type: ignore[attr-defined]
            stopping = stop_after is not None and done_here >= stop_after
            if step % checkpoint_every == 0 or step == phase.steps or stopping:
                save()
                _progress(label, phase, step, atoms, meta)
            if stopping:
                print(f"[{label}] stopped after {done_here} steps (--stop-after)", flush=True)
                return None
        meta["phase"] += 1
        meta["step"] = 0
        meta["p_eps"] = 0.0
        save()
    out = {name: {k: np.asarray(v) for k, v in rows.items()} for name, rows in records.items()}
    out["_timing"] = {"md_s": np.array(meta["md_s"]), "md_steps": np.array(meta["md_steps"])}
    return out


def _next(step: int, every: int) -> int:
    return (step // every + 1) * every


def _record(rows: dict[str, list], atoms: Atoms, phase: Phase, step: int, dt_ps: float) -> None:
    if step % phase.record_every == 0 or step == phase.steps:
        for key, value in _observe(atoms, phase.ensemble, step * dt_ps).items():
            rows.setdefault(key, []).append(value)
        rows.setdefault("step", []).append(step)
    if phase.frames_every and step % phase.frames_every == 0:
        rows.setdefault("positions", []).append(atoms.positions.copy())
        rows.setdefault("cells", []).append(atoms.cell.array.copy())
        if phase.labels:
            rows.setdefault("energy", []).append(float(atoms.get_potential_energy()))
            rows.setdefault("forces", []).append(atoms.get_forces(apply_constraint=False))
            rows.setdefault("stress", []).append(atoms.get_stress(voigt=True))


def _progress(label: str, phase: Phase, step: int, atoms: Atoms, meta: dict) -> None:
    ms = 1000.0 * meta["md_s"] / max(meta["md_steps"], 1)
    left = (phase.steps - step) * ms / 60000.0
    extra = f", {density_g_cm3(atoms):.4f} g/cm³" if phase.ensemble == "npt" else ""
    print(
        f"[{label}] {phase.name} ({phase.ensemble}) step {step}/{phase.steps}: "
        f"T {atoms.get_temperature():.0f} K, Epot {atoms.get_potential_energy():.3f} eV"
        f"{extra}; {ms:.0f} ms/step, {left:.1f} min left in this phase",
        flush=True,
    )


# ---------------------------------------------------------------------------- inputs


def read_reference(data: Path) -> list[Atoms]:
    """Every frame of the data set at ``data``; InputError naming the file if missing."""
    if not data.is_file():
        raise InputError(f"no data set at {data} (campaigns/benzene_liquid/make_data.py)")
    frames = read(data, ":")
    return frames if isinstance(frames, list) else [frames]


def reference_frames(frames: Sequence[Atoms], subset: str = REFERENCE) -> list[Atoms]:
    """The frames of condition ``subset``, ordered by MD step."""
    chosen = [a for a in frames if a.info.get("subset") == subset]
    if not chosen:
        raise InputError(f"no frame of condition {subset} in the data set")
    return sorted(chosen, key=lambda a: int(a.info["md_step"]))


def unlabelled(frame: Atoms) -> Atoms:
    """``frame``'s numbers, positions and cell, periodic; no labels, no calculator."""
    return Atoms(numbers=frame.numbers, positions=frame.positions, cell=frame.cell, pbc=True)


def start_cell(frames: Sequence[Atoms]) -> Atoms:
    """The first T300_V1 frame (the geometry of examples/lammps/benzene/benzene.data),
    without labels, with ``arrays["mol_id"]`` (``molecule_ids``)."""
    atoms = unlabelled(reference_frames(frames)[0])
    atoms.arrays["mol_id"] = molecule_ids(atoms)
    return atoms


def liquid_start(frames: Sequence[Atoms], temperature_K: float) -> Atoms:
    """The frame at ``temperature_K`` and volume scale 1 latest in MD time (the longest
    equilibrated liquid of ``frames``), without labels, with ``arrays["mol_id"]`` and
    ``info["frame_id"]``; InputError when there is none."""
    chosen = [
        a
        for a in frames
        if float(a.info.get("temperature_K", math.nan)) == temperature_K
        and float(a.info.get("volume_scale", math.nan)) == 1.0
    ]
    if not chosen:
        raise InputError(f"no frame at {temperature_K:g} K and volume scale 1 to start from")
    last = max(chosen, key=lambda a: float(a.info["md_time_fs"]))
    atoms = unlabelled(last)
    atoms.arrays["mol_id"] = molecule_ids(atoms)
    atoms.info["frame_id"] = str(last.info.get("frame_id", ""))
    atoms.info["md_time_fs"] = float(last.info["md_time_fs"])
    return atoms


def molecule_ids(atoms: Atoms, mult: float = 1.2) -> np.ndarray:
    """The molecule of each atom [n_atoms]: connected components of the bonds, a bond
    being two atoms closer than ``mult`` × the sum of their covalent radii (ASE's
    ``natural_cutoffs``), minimum image."""
    from ase.neighborlist import NeighborList, natural_cutoffs
    from scipy.sparse.csgraph import connected_components

    neighbours = NeighborList(natural_cutoffs(atoms, mult=mult), self_interaction=False)
    neighbours.update(atoms)
    return connected_components(neighbours.get_connectivity_matrix(sparse=True))[1]


def model_calculator(model: Path, device: str) -> Calculator:
    """FusionCalculator of ``model`` (its forces of a periodic cell come with the stress:
    one model call per NPT step); InputError naming the file if missing."""
    if not model.is_file():
        raise InputError(f"no model file at {model} (give --model, an exported fusionpot model)")
    return FusionCalculator(model, device=device)


def file_sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _write_json(path: Path, obj: dict) -> None:
    atomic_write_text(path, json.dumps(obj, indent=2, default=_json_default) + "\n")


def _json_default(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    raise TypeError(f"not JSON: {value!r}")


def _write_csv(path: Path, columns: dict[str, np.ndarray]) -> None:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(list(columns))
    for row in zip(*columns.values(), strict=True):
        writer.writerow([f"{float(v):.6g}" for v in row])
    atomic_write_text(path, buffer.getvalue())


def _md_stage(args: argparse.Namespace, stage: str, phases: list[Phase]) -> tuple[Any, Atoms]:
    """(records or None when stopped early, the start cell) of a stage's MD phases with
    the model from the first T300_V1 frame of the data set."""
    frames = read_reference(args.data)
    calc = model_calculator(args.model, args.device)
    atoms = start_cell(frames)
    atoms.calc = calc
    return _run_md(args, stage, phases, atoms, {"model_sha256": file_sha256(args.model)}), atoms


def _run_md(
    args: argparse.Namespace,
    stage: str,
    phases: list[Phase],
    atoms: Atoms,
    source: dict[str, Any],
) -> dict[str, dict[str, np.ndarray]] | None:
    """``run_phases`` of a stage on ``atoms`` (calculator attached), its checkpoint in
    ``--work/STAGE/``; ``source`` (what computes the forces) joins the checkpoint's
    identity with the thermostat settings and the phases."""
    settings = MDSettings(temperature_K=args.temperature, seed=args.seed)
    identity = {
        **source,
        "settings": asdict(settings),
        "phases": [[p.name, p.ensemble, p.steps, p.record_every, p.frames_every] for p in phases],
    }
    return run_phases(
        atoms,
        phases,
        settings,
        args.work / stage / "checkpoint.npz",
        identity,
        checkpoint_every=max(1, round(args.checkpoint_fs / settings.timestep_fs)),
        stop_after=args.stop_after,
        label=stage,
    )


def _steps(ps: float, timestep_fs: float = 0.5) -> int:
    return max(1, round(ps * 1000.0 / timestep_fs))


def _provenance(args: argparse.Namespace, stage: str, extra: str = "") -> dict[str, Any]:
    import torch

    if args.model.resolve() != MODEL:
        extra += f" --model {args.model}"

    return {
        "model": str(args.model),
        "model_sha256": file_sha256(args.model) if args.model.is_file() else None,
        "data": str(args.data),
        "command": f"python campaigns/benzene_liquid/validate.py {stage}{extra}",
        "torch_threads": torch.get_num_threads(),
        "written": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
    }


# ---------------------------------------------------------------------------- stages


def stage_tblite_nvt(args: argparse.Namespace) -> None:
    """NVT MD on GFN1-xTB from a model-equilibrated liquid → tblite_nvt.extxyz (labelled
    frames: the g(r) reference), with the model's errors on those frames."""
    ps, equil = _md_options(args, "tblite-nvt")
    atoms = liquid_start(read_reference(args.start), args.temperature)
    labeller = XTBLabeller(method="GFN1-xTB")
    atoms.calc = labeller.calculator()
    phases = [
        Phase("equilibrate", "nvt", _steps(equil), record_every=20),
        Phase("production", "nvt", _steps(ps), record_every=20, frames_every=20, labels=True),
    ]
    source = {"calculator": labeller.describe(), "start_frame_id": atoms.info["frame_id"]}
    records = _run_md(args, "tblite-nvt", phases, atoms, source)
    if records is None:
        return
    production = records["production"]
    frames = []
    for k in range(len(production["positions"])):
        positions, cell = production["positions"][k], production["cells"][k]
        frame = Atoms(numbers=atoms.numbers, positions=positions, cell=cell, pbc=True)
        frame.info.update(
            md_time_fs=1000.0 * equil + 10.0 * k,
            temperature_K=args.temperature,
            md_method="ASE Langevin on tblite GFN1-xTB (validate.py tblite-nvt)",
            energy_s0=float(production["energy"][k]),
            **labeller.describe(),
        )
        if atoms.info["frame_id"]:  # (an empty extxyz value would swallow the next key)
            frame.info["start_frame_id"] = atoms.info["frame_id"]
        frame.arrays["forces_s0"] = np.asarray(production["forces"][k])
        frame.info["stress"] = np.asarray(production["stress"][k])
        frames.append(frame)
    args.out.mkdir(parents=True, exist_ok=True)
    atomic_write(args.out / TBLITE_NVT, partial(write, images=frames, format="extxyz"))
    errors = model_errors(args.model, args.device, frames) if args.model.is_file() else None
    result = {
        "stage": "tblite-nvt",
        **_provenance(args, "tblite-nvt", f" --ps {ps:g} --equil-ps {equil:g}"),
        "start": {
            "file": str(args.start),
            "frame_id": atoms.info["frame_id"],
            "md_time_fs": atoms.info["md_time_fs"],
        },
        "md": {
            "ensemble": "NVT Langevin on GFN1-xTB, friction 0.01 1/fs, centre of mass fixed",
            "temperature_K": args.temperature,
            "timestep_fs": 0.5,
            "equilibration_ps": equil,
            "production_ps": ps,
            "frames": len(frames),
            "frame_every_fs": 10.0,
            "mean_temperature_K": float(production["temperature_K"][1:].mean()),
            "ms_per_step": _ms_per_step(records),
        },
        "model_errors": errors,
    }
    _write_json(args.out / "tblite_nvt.json", result)
    said = (
        ""
        if errors is None
        else (
            f"; model MAE E {errors['energy_meV_per_atom']:.2f} meV/atom, F "
            f"{errors['forces_meV_per_A']:.1f} meV/Å, stress {errors['stress_GPa']:.3f} GPa"
        )
    )
    print(
        f"[tblite-nvt] {len(frames)} GFN1-xTB frames over {ps:g} ps "
        f"({_ms_per_step(records):.0f} ms/step){said} → {args.out / TBLITE_NVT}",
        flush=True,
    )


def stage_model_errors(args: argparse.Namespace) -> None:
    """``--model``'s errors on the GFN1-xTB NVT frames already in ``--out`` → the model's
    fields of ``tblite_nvt.json`` (its MD fields, which describe the frames, are kept)."""
    frames_path, result_path = args.out / TBLITE_NVT, args.out / "tblite_nvt.json"
    for path in (frames_path, result_path):
        if not path.is_file():
            raise InputError(f"no {path} (run validate.py tblite-nvt --out {args.out} first)")
    if not args.model.is_file():
        raise InputError(f"no model at {args.model}")
    frames = read_reference(frames_path)
    for k, frame in enumerate(frames):  # (ASE's reader moves an extxyz "stress" into a calculator)
        if "stress" not in frame.info:
            if frame.calc is None or "stress" not in frame.calc.results:
                raise InputError(f"{frames_path}: frame {k} has no stress label")
            frame.info["stress"] = frame.get_stress(voigt=True)
    result = json.loads(result_path.read_text())
    provenance = _provenance(args, "model-errors")
    result.update(
        model=provenance["model"],
        model_sha256=provenance["model_sha256"],
        model_errors=model_errors(args.model, args.device, frames),
        model_errors_command=provenance["command"],
        model_errors_written=provenance["written"],
    )
    _write_json(result_path, result)
    errors = result["model_errors"]
    print(
        f"[model-errors] {len(frames)} GFN1-xTB frames: MAE E "
        f"{errors['energy_meV_per_atom']:.2f} meV/atom, F {errors['forces_meV_per_A']:.1f} "
        f"meV/Å, stress {errors['stress_GPa']:.3f} GPa, pressure bias "
        f"{errors['pressure_bias_bar']:+.0f} ± {errors['pressure_bias_error_bar']:.0f} bar "
        f"→ {result_path}",
        flush=True,
    )


def model_errors(model: Path, device: str, frames: Sequence[Atoms]) -> dict[str, float]:
    """Mean absolute errors of ``model`` against the ``energy_s0`` (eV), ``forces_s0``
    (eV/Å) and ``stress`` (Voigt eV/Å³) labels of ``frames``: energy in meV/atom, forces
    in meV/Å (per component), stress in GPa (per Voigt component); and the pressure bias,
    the mean of P_model − P_label = −tr(σ_model − σ_label)/3 (bar) over the frames with
    the standard error of 5 block means: paired on the same geometries, so the liquid's
    pressure fluctuations cancel and what is left says where the model puts the density."""
    calc = model_calculator(model, device)
    de, df, ds, dp = [], [], [], []
    for frame in frames:
        atoms = unlabelled(frame)
        atoms.calc = calc
        de.append((atoms.get_potential_energy() - frame.info["energy_s0"]) / len(atoms))
        df.append(np.abs(atoms.get_forces() - frame.arrays["forces_s0"]).ravel())
        difference = atoms.get_stress(voigt=True) - frame.info["stress"]
        ds.append(np.abs(difference))
        dp.append(-float(difference[:3].mean()) / units.bar)
    bias, bias_error = block_average(dp, min(5, len(dp))) if len(dp) >= 2 else (dp[0], math.nan)
    return {
        "frames": len(frames),
        "energy_meV_per_atom": 1000.0 * float(np.abs(de).mean()),
        "energy_bias_meV_per_atom": 1000.0 * float(np.mean(de)),
        "forces_meV_per_A": 1000.0 * float(np.concatenate(df).mean()),
        "stress_GPa": float(np.mean(ds)) / units.GPa,
        "pressure_bias_bar": bias,
        "pressure_bias_error_bar": bias_error,
    }


def reference_liquid(args: argparse.Namespace) -> tuple[list[Atoms], dict[str, Any]]:
    """The g(r) reference: ``tblite_nvt.extxyz`` in ``--out`` if there, else the data set's
    T300_V1 frames; with what they are (JSON-ready)."""
    path = args.out / TBLITE_NVT
    if path.is_file():
        frames = read_reference(path)
        source = "GFN1-xTB NVT (validate.py tblite-nvt) from a model-equilibrated liquid"
        name = str(path)
    else:
        frames = reference_frames(read_reference(args.data))
        source = f"the data set's tblite-driven frames of {REFERENCE}, MD from a lattice"
        name = str(args.data)
    for atoms in frames:
        atoms.arrays["mol_id"] = molecule_ids(atoms)
    times = [float(a.info["md_time_fs"]) for a in frames]
    about = {
        "source": source,
        "file": name,
        "frames": len(frames),
        "md_time_fs": [min(times), max(times)],
        "span_fs": max(times) - min(times),
    }
    return frames, about


def stage_rdf(args: argparse.Namespace) -> None:
    """NVT MD with the model → C–C and C–H g(r) against the tblite T300_V1 frames."""
    ps, equil = _md_options(args, "rdf")
    phases = [
        Phase("equilibrate", "nvt", _steps(equil), record_every=20),
        Phase("production", "nvt", _steps(ps), record_every=20, frames_every=20),
    ]
    records, start = _md_stage(args, "rdf", phases)
    if records is None:
        return
    production = records["production"]
    model_frames = [
        _frame(start, x, c)
        for x, c in zip(production["positions"], production["cells"], strict=True)
    ]
    reference, about_reference = reference_liquid(args)
    r_max = 0.5 * min(a.cell.lengths().min() for a in [*model_frames, *reference])
    r_max = math.floor(r_max / args.bin_width) * args.bin_width
    columns: dict[str, np.ndarray] = {}
    summary: dict[str, Any] = {}
    half = len(model_frames) // 2
    for a, b in (("C", "C"), ("C", "H")):
        pair = f"{a}{b}"
        for kind, inter in (("all", False), ("inter", True)):
            r, g_model = rdf(model_frames, a, b, r_max, args.bin_width, intermolecular=inter)
            g_ref = rdf(reference, a, b, r_max, args.bin_width, intermolecular=inter)[1]
            columns.setdefault("r_A", r)
            columns[f"g_{pair}_{kind}_model"] = g_model
            columns[f"g_{pair}_{kind}_tblite"] = g_ref
            entry: dict[str, Any] = {
                "mean_abs_difference": float(np.abs(g_model - g_ref).mean()),
                "model_peak": _peak(r, g_model, 2.0 if inter else 1.0),
                "tblite_peak": _peak(r, g_ref, 2.0 if inter else 1.0),
            }
            if half >= 2:  # the model's own noise: first half against second half
                g1 = rdf(model_frames[:half], a, b, r_max, args.bin_width, intermolecular=inter)
                g2 = rdf(model_frames[half:], a, b, r_max, args.bin_width, intermolecular=inter)
                entry["model_halves_mean_abs_difference"] = float(np.abs(g1[1] - g2[1]).mean())
            rh = len(reference) // 2
            if rh >= 2:
                g1 = rdf(reference[:rh], a, b, r_max, args.bin_width, intermolecular=inter)
                g2 = rdf(reference[rh:], a, b, r_max, args.bin_width, intermolecular=inter)
                entry["tblite_halves_mean_abs_difference"] = float(np.abs(g1[1] - g2[1]).mean())
            summary[f"{pair}_{kind}"] = entry
    result = {
        "stage": "rdf",
        **_provenance(args, "rdf", f" --ps {ps:g} --equil-ps {equil:g}"),
        "md": {
            "ensemble": "NVT Langevin, friction 0.01 1/fs, centre of mass fixed",
            "temperature_K": args.temperature,
            "timestep_fs": 0.5,
            "equilibration_ps": equil,
            "production_ps": ps,
            "frames": len(model_frames),
            "frame_every_fs": 10.0,
            "mean_temperature_K": float(production["temperature_K"][1:].mean()),
            "ms_per_step": _ms_per_step(records),
        },
        "tblite": about_reference,
        "r_max_A": r_max,
        "bin_width_A": args.bin_width,
        "pairs": summary,
    }
    args.out.mkdir(parents=True, exist_ok=True)
    _write_csv(args.out / "rdf.csv", columns)
    _write_json(args.out / "rdf.json", result)
    _plot_rdf(args.out / "rdf.png", columns, result)
    print(
        f"[rdf] {len(model_frames)} model frames ({ps:g} ps) vs {len(reference)} tblite frames "
        f"({about_reference['span_fs']:g} fs): "
        + ", ".join(f"{k} mean |Δg| {v['mean_abs_difference']:.3f}" for k, v in summary.items())
        + f" → {args.out}/rdf.png",
        flush=True,
    )


def _frame(start: Atoms, positions: np.ndarray, cell: np.ndarray) -> Atoms:
    atoms = Atoms(numbers=start.numbers, positions=positions, cell=cell, pbc=True)
    atoms.arrays["mol_id"] = start.arrays["mol_id"]
    return atoms


def _peak(r: np.ndarray, g: np.ndarray, r_min: float) -> dict[str, float]:
    """The highest bin of g at r ≥ r_min: r (Å) and g."""
    mask = r >= r_min
    k = int(np.argmax(np.where(mask, g, -np.inf)))
    return {"r_A": float(r[k]), "g": float(g[k])}


def _ms_per_step(records: dict) -> float:
    timing = records["_timing"]
    return float(1000.0 * timing["md_s"] / max(int(timing["md_steps"]), 1))


def _plot_rdf(path: Path, columns: dict[str, np.ndarray], result: dict) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    r = columns["r_A"]
    fig, axes = plt.subplots(1, 2, figsize=(10, 4), constrained_layout=True)
    for ax, pair in zip(axes, ("CC", "CH"), strict=True):
        ax.plot(r, columns[f"g_{pair}_all_model"], color="C0", label="model (all pairs)")
        ax.plot(
            r, columns[f"g_{pair}_all_tblite"], color="C1", ls="--", label="GFN1-xTB (all pairs)"
        )
        ax.plot(
            r,
            columns[f"g_{pair}_inter_model"],
            color="C0",
            lw=0.8,
            alpha=0.6,
            label="model (intermolecular)",
        )
        ax.plot(
            r,
            columns[f"g_{pair}_inter_tblite"],
            color="C1",
            ls=":",
            lw=0.8,
            label="GFN1-xTB (intermolecular)",
        )
        ax.axhline(1.0, color="0.7", lw=0.5)
        ax.set_xlabel("r (Å)")
        ax.set_ylabel(f"g$_{{{pair[0]}{pair[1]}}}$(r)")
        ax.set_title(f"{pair[0]}–{pair[1]} (intramolecular peaks cut at 8)", fontsize=9)
        ax.set_ylim(0, min(8.0, ax.get_ylim()[1]))
    axes[0].legend(fontsize=8)
    md, tb = result["md"], result["tblite"]
    fig.suptitle(
        f"Liquid benzene, 300 K, 0.87 g/cm³: model NVT {md['production_ps']:g} ps "
        f"({md['frames']} frames) vs GFN1-xTB MD {tb['span_fs']:g} fs ({tb['frames']} frames)",
        fontsize=9,
    )
    atomic_write(path, lambda tmp: fig.savefig(tmp, dpi=120, format="png"))
    plt.close(fig)


def stage_density(args: argparse.Namespace) -> None:
    """NPT MD with the model → mean density; GFN1-xTB's density from P(V) of the data."""
    ps, equil = _md_options(args, "density")
    try:
        frames = [a for path in pressure_sets(args.data) for a in read_reference(path)]
        reference = tblite_density(frames, args.temperature, args.tblite_blocks)
    except InputError as why:
        if not args.data.is_file():
            raise
        print(f"[density] no GFN1-xTB estimate: {why}", flush=True)
        reference = {"unavailable": str(why)}
    every = _steps(args.check_every_fs / 1000.0)
    phases = [
        Phase("equilibrate", "npt", _steps(equil), record_every=10),
        Phase("production", "npt", _steps(ps), record_every=10, frames_every=every),
    ]
    records, start = _md_stage(args, "density", phases)
    if records is None:
        return
    production = records["production"]
    density = production["density_g_cm3"][1:]
    mean, error = block_average(density, min(args.blocks, len(density)))
    model_hash = file_sha256(args.model)[:12]
    driver = f"ASE LangevinBAOAB NPT 1 atm, model {model_hash} (validate.py density)"
    frames = []
    for k, (x, c) in enumerate(zip(production["positions"], production["cells"], strict=True)):
        if k == 0:  # the equilibration's last geometry
            continue
        atoms = Atoms(numbers=start.numbers, positions=x, cell=c, pbc=True)
        atoms.info.update(  # provenance: the frames can join the data set (split_data.py)
            # one condition per run: split_data.py holds out each run's last frames
            subset=f"T{args.temperature:g}_NPT_1atm_{model_hash}_seed{args.seed}",
            seed=args.seed,
            md_step=k * every,
            md_time_fs=1000.0 * equil + k * args.check_every_fs,
            temperature_K=args.temperature,
            density_g_cm3=density_g_cm3(atoms),
            md_method=driver,
        )
        frames.append(atoms)
    args.out.mkdir(parents=True, exist_ok=True)
    check = pressure_check(
        args.model, args.device, frames, args.out / DENSITY_FRAMES, args.temperature, args.blocks
    )
    check["every_fs"] = args.check_every_fs
    result = {
        "stage": "density",
        **_provenance(args, "density", f" --ps {ps:g} --equil-ps {equil:g}"),
        "md": {
            "ensemble": "NPT, ASE LangevinBAOAB, isotropic; T_tau 100 fs, P_tau 500 fs",
            "temperature_K": args.temperature,
            "pressure_bar": ATM_BAR,
            "equilibration_ps": equil,
            "production_ps": ps,
            "samples": len(density),
            "mean_temperature_K": float(production["temperature_K"][1:].mean()),
            "mean_pressure_bar": float(production["pressure_bar"][1:].mean()),
            "ms_per_step": _ms_per_step(records),
        },
        "model_density_g_cm3": mean,
        "model_density_error_g_cm3": error,
        "model_density_std_g_cm3": float(density.std()),
        "n_blocks": min(args.blocks, len(density)),
        "tblite": reference,
        "pressure_check": check,
    }
    _write_json(args.out / "density.json", result)
    _write_csv(
        args.out / "density.csv",
        {k: production[k] for k in ("time_ps", "temperature_K", "density_g_cm3", "pressure_bar")},
    )
    estimate = reference.get("estimate")
    if estimate is None:
        verdict = "not available"
    elif estimate["resolved"]:
        verdict = f"{estimate['density_g_cm3']:.3f} ± {estimate['error_g_cm3']:.3f} g/cm³"
    else:
        verdict = f"cannot tell ({estimate['note']})"
    print(
        f"[density] model {mean:.4f} ± {error:.4f} g/cm³ ({ps:g} ps NPT); GFN1-xTB from "
        f"P(V): {verdict}; GFN1-xTB's pressure on {check['frames']} of the model's NPT "
        f"frames {check['tblite_pressure_bar']:.0f} ± {check['tblite_pressure_error_bar']:.0f} "
        f"bar (model {check['model_pressure_bar']:.0f}, paired difference "
        f"{check['pressure_bias_bar']:+.0f} ± {check['pressure_bias_error_bar']:.0f} bar) → "
        f"{args.out}/density.json",
        flush=True,
    )


def pressure_check(
    model: Path,
    device: str,
    frames: Sequence[Atoms],
    output: Path,
    temperature_K: float,
    n_blocks: int,
) -> dict[str, Any]:
    """GFN1-xTB's pressure at the model's NPT states: ``frames`` (geometries of the
    model's 1-atm NPT run) labelled afresh by GFN1-xTB (tblite, the data set's settings)
    into ``output`` (``label_frames``: resumable, frames already there are not redone),
    and each one's pressure (``label_pressure``: virial + ideal gas at ``temperature_K``)
    beside the model's on the same geometry. If the model's density is GFN1-xTB's, the
    GFN1-xTB pressure there is 1 atm within its error; the paired difference (model −
    GFN1-xTB: the liquid's fluctuations cancel) says how far the model's equation of state
    is off there. Pressures in bar with standard errors of ``n_blocks`` block means."""
    labeller = XTBLabeller(method="GFN1-xTB")
    label_frames(frames, labeller, output)
    by_id = {frame.info["frame_id"]: frame for frame in read_reference(output)}
    failed = sum(frame_id(frame) not in by_id for frame in frames)
    if failed:
        raise InputError(
            f"{output}: GFN1-xTB failed on {failed} of {len(frames)} frames (see "
            f"{output}.failed.jsonl); the pressure check needs them all"
        )
    calc = model_calculator(model, device)
    p_tblite, p_model = [], []
    for frame in frames:
        labelled = by_id[frame_id(frame)]
        p_tblite.append(label_pressure(labelled, temperature_K) / units.bar)
        atoms = unlabelled(labelled)  # the geometry as labelled (written to 1e-8 Å)
        atoms.calc = calc
        p_model.append(label_pressure(atoms, temperature_K) / units.bar)
    blocks = min(n_blocks, len(frames))
    tblite, tblite_error = block_average(p_tblite, blocks)
    model_p, model_error = block_average(p_model, blocks)
    bias, bias_error = block_average(np.subtract(p_model, p_tblite), blocks)
    return {
        "frames": len(frames),
        "frames_file": output.name,
        "calculator": labeller.describe(),
        "tblite_pressure_bar": tblite,
        "tblite_pressure_error_bar": tblite_error,
        "model_pressure_bar": model_p,
        "model_pressure_error_bar": model_error,
        "pressure_bias_bar": bias,
        "pressure_bias_error_bar": bias_error,
        "n_blocks": blocks,
    }


def stage_drift(args: argparse.Namespace) -> None:
    """NVE MD after NVT equilibration → total-energy drift per atom per ps."""
    ps, equil = _md_options(args, "drift")
    phases = [
        Phase("equilibrate", "nvt", _steps(equil), record_every=20),
        Phase("nve", "nve", _steps(ps), record_every=10),
    ]
    records, start = _md_stage(args, "drift", phases)
    if records is None:
        return
    nve = records["nve"]
    n_atoms = len(start)
    slope, error = linear_drift(nve["time_ps"], nve["etot_eV"] / n_atoms)
    result = {
        "stage": "drift",
        **_provenance(args, "drift", f" --ps {ps:g} --equil-ps {equil:g}"),
        "md": {
            "ensemble": "NVE velocity Verlet after NVT Langevin",
            "timestep_fs": 0.5,
            "equilibration_ps": equil,
            "nve_ps": ps,
            "samples": len(nve["time_ps"]),
            "mean_temperature_K": float(nve["temperature_K"].mean()),
            "ms_per_step": _ms_per_step(records),
        },
        "drift_meV_per_atom_per_ps": 1000.0 * slope,
        "drift_error_meV_per_atom_per_ps": 1000.0 * error,
        "etot_std_meV_per_atom": 1000.0 * float(nve["etot_eV"].std()) / n_atoms,
        "epot_std_meV_per_atom": 1000.0 * float(nve["epot_eV"].std()) / n_atoms,
    }
    args.out.mkdir(parents=True, exist_ok=True)
    _write_json(args.out / "drift.json", result)
    _write_csv(
        args.out / "drift.csv",
        {k: nve[k] for k in ("time_ps", "temperature_K", "epot_eV", "etot_eV")},
    )
    print(
        f"[drift] {1000 * slope:.4f} ± {1000 * error:.4f} meV/atom/ps over {ps:g} ps NVE "
        f"(E_tot fluctuation {result['etot_std_meV_per_atom']:.3f} meV/atom) → "
        f"{args.out}/drift.json",
        flush=True,
    )


def stage_speed(args: argparse.Namespace) -> None:
    """ms per MD step of the model (ASE; LAMMPS if the plugin is built) vs one GFN1-xTB
    energy + forces + stress call on the same cell."""
    frames = read_reference(args.data)
    calc = model_calculator(args.model, args.device)
    atoms = start_cell(frames)
    atoms.calc = calc
    thermalize_momenta(atoms, args.temperature, rng=np.random.default_rng(args.seed))
    dynamics = VelocityVerlet(atoms, 0.5 * units.fs)
    print(f"[speed] ASE: {args.warmup} warm-up steps, then {args.steps} timed", flush=True)
    dynamics.run(args.warmup)
    start = time.perf_counter()
    dynamics.run(args.steps)
    ase_ms = 1000.0 * (time.perf_counter() - start) / args.steps
    print(f"[speed] ASE: {ase_ms:.1f} ms/step", flush=True)
    try:
        lammps = lammps_speed(args.model, args.steps, args.warmup)
    except (RuntimeError, subprocess.TimeoutExpired) as why:
        print(f"[speed] LAMMPS failed, skipped: {str(why).splitlines()[0]}", flush=True)
        lammps = None
    if lammps is None:
        print("[speed] LAMMPS: plugin not built (fusionpot lammps build), skipped", flush=True)
    else:
        print(f"[speed] LAMMPS: {lammps:.1f} ms/step", flush=True)
    xtb_ms = None
    if args.xtb_calls > 0:
        xtb = XTBLabeller(method="GFN1-xTB").calculator()
        cell = start_cell(frames)
        times = []
        for k in range(args.xtb_calls):
            cell.positions += 0.001 * k  # a fresh geometry each call
            start = time.perf_counter()
            xtb.calculate(cell, ["energy", "forces", "stress"], all_changes)
            times.append(time.perf_counter() - start)
            print(f"[speed] GFN1-xTB call {k + 1}/{args.xtb_calls}: {times[-1]:.2f} s", flush=True)
        xtb_ms = 1000.0 * float(np.mean(times))
    import torch

    result = {
        "stage": "speed",
        **_provenance(args, "speed"),
        "atoms": len(atoms),
        "device": str(calc.device),  # type: ignore[attr-defined]
        "ase_ms_per_step": ase_ms,
        "lammps_ms_per_step": lammps,
        "tblite_ms_per_call": xtb_ms,
        "tblite_over_ase": xtb_ms / ase_ms if xtb_ms else None,
        "tblite_over_lammps": xtb_ms / lammps if xtb_ms and lammps else None,
        "steps": args.steps,
        "threads": torch.get_num_threads(),
        "load_average": list(_load_average()),
    }
    args.out.mkdir(parents=True, exist_ok=True)
    _write_json(args.out / "speed.json", result)
    ratio = f", tblite/ASE {result['tblite_over_ase']:.0f}×" if xtb_ms else ""
    print(f"[speed] → {args.out}/speed.json{ratio}", flush=True)


def _load_average() -> tuple[float, ...]:
    with contextlib.suppress(OSError):
        import os

        return os.getloadavg()
    return ()


def lammps_speed(model: Path, steps: int, warmup: int) -> float | None:
    """ms/step of ``pair_style fusion`` running examples/lammps/benzene/in.npt_nve (NPT)
    then NVE: ``steps`` timed after ``warmup``, one MPI rank; None without the built plugin.
    RuntimeError with LAMMPS's last output if it fails."""
    from fusionpot.lammps import (
        PLUGIN_FILE,
        default_build_dir,
        lammps_environment,
        lmp_executable,
    )

    plugin = default_build_dir() / PLUGIN_FILE
    try:
        lmp = lmp_executable()
    except FileNotFoundError:
        return None
    if not plugin.is_file():
        return None
    # one process: the warm-up steps (NPT; TorchScript optimises its first calls), then
    # the timed steps (NVE), each with its own "Loop time" line
    command = [
        str(lmp), "-in", str(LAMMPS_INPUT), "-log", "log.lammps",
        "-var", "model", str(model.resolve()), "-var", "data", str(LAMMPS_DATA),
        "-var", "npt_steps", str(max(warmup, 1)), "-var", "nve_steps", str(steps),
        "-var", "thermo_every", str(steps), "-var", "dump_every", str(10 * steps),
    ]  # fmt: skip
    with tempfile.TemporaryDirectory() as tmp:
        result = subprocess.run(
            command, cwd=tmp, env=lammps_environment(plugin.parent),
            capture_output=True, text=True, timeout=3600,
        )  # fmt: skip
    if result.returncode != 0:
        raise RuntimeError(f"LAMMPS failed: {(result.stdout + result.stderr)[-2000:]}")
    loops = re.findall(r"Loop time of ([0-9.eE+-]+) on \d+ procs for (\d+) steps", result.stdout)
    if len(loops) != 2:
        raise RuntimeError(f"expected two 'Loop time' lines from LAMMPS: {result.stdout[-2000:]}")
    seconds, n = loops[-1]
    return 1000.0 * float(seconds) / int(n)


def stage_report(args: argparse.Namespace) -> None:
    """validation.md: every number found in --out, with what it can and cannot support."""
    found = {
        stage: json.loads((args.out / f"{stage}.json").read_text())
        for stage in ("tblite_nvt", "rdf", "density", "drift", "speed")
        if (args.out / f"{stage}.json").is_file()
    }
    if not found:
        raise InputError(
            f"no stage results (tblite_nvt/rdf/density/drift/speed .json) in {args.out}"
        )
    models = {name: r["model_sha256"] for name, r in found.items() if r.get("model_sha256")}
    if len(set(models.values())) > 1:
        named = ", ".join(f"{name}.json {sha[:12]}" for name, sha in models.items())
        raise InputError(f"the results in {args.out} are of different models ({named})")
    text = render_report(found)
    atomic_write_text(args.out / "validation.md", text)
    print(f"[report] {', '.join(found)} → {args.out / 'validation.md'}", flush=True)


def render_report(found: dict[str, dict]) -> str:
    """The Markdown of ``validation.md`` from the stages' JSON results: one table of the
    numbers (with what each can and cannot support), then how each was made, then the
    commands."""
    first = next(iter(found.values()))
    lines = [
        "# Liquid benzene potential: validation",
        "",
        f"Model `{Path(first['model']).name}` (sha256 `{str(first['model_sha256'])[:16]}…`); "
        "reference GFN1-xTB (tblite 0.8.0): the data set "
        "(`campaigns/benzene_liquid/data/labelled.extxyz`) and, where present, the GFN1-xTB "
        "NVT frames of `tblite_nvt.extxyz`. "
        "Written by `campaigns/benzene_liquid/validate.py report` from the JSON files beside "
        "this one; 96 atoms (8 molecules) in every run.",
        "",
        "| quantity | model | GFN1-xTB | supports | does not support |",
        "|---|---|---|---|---|",
    ]
    how: list[str] = []
    if "tblite_nvt" in found:
        t = found["tblite_nvt"]
        md, err = t["md"], t["model_errors"]
        if err is not None:
            lines.append(
                f"| model error on {err['frames']} GFN1-xTB NVT frames it never saw: energy; "
                f"forces; stress (MAE) | {err['energy_meV_per_atom']:.2f} meV/atom (bias "
                f"{err['energy_bias_meV_per_atom']:+.2f}); {err['forces_meV_per_A']:.1f} meV/Å; "
                f"{err['stress_GPa']:.3f} GPa | – | accuracy on the liquid GFN1-xTB itself "
                "visits at 300 K and 0.87 g/cm³ | other densities and temperatures; "
                f"independence beyond {md['production_ps']:g} ps of one trajectory |"
            )
            lines.append(
                "| pressure bias on those frames, P_model − P_GFN1-xTB (same geometries) | "
                f"{err['pressure_bias_bar']:+.0f} ± {err['pressure_bias_error_bar']:.0f} bar | "
                "0 | the sign and size of the model's density error: a liquid with bulk "
                "modulus K shifts its density by about bias/K (K ~ 1 GPa = 10⁴ bar for "
                "benzene) | other densities, where the bias may differ |"
            )
        how.append(
            f"- **GFN1-xTB NVT** (`tblite_nvt.extxyz`): Langevin on tblite itself (300 K, "
            "0.5 fs, friction 0.01 fs⁻¹, centre of mass fixed: the data set's MD) from the "
            f"model-driven liquid frame `{t['start']['frame_id']}` "
            f"({t['start']['md_time_fs']:g} fs into its MD), {md['equilibration_ps']:g} ps "
            f"discarded, then {md['production_ps']:g} ps ({md['frames']} frames 10 fs apart "
            f"with their GFN1-xTB energy, forces and stress; mean T "
            f"{md['mean_temperature_K']:.0f} K; {md['ms_per_step']:.0f} ms per step at one "
            "thread)."
        )
    if "rdf" in found:
        r = found["rdf"]
        md, tb = r["md"], r["tblite"]
        for key, e in r["pairs"].items():
            pair, kind = key.split("_")
            mp, tp = e["model_peak"], e["tblite_peak"]
            where = "intermolecular, highest peak beyond 2 Å" if kind == "inter" else "all pairs"
            noise = [
                f"{name} half vs half {e[k]:.3f}"
                for name, k in (
                    ("model", "model_halves_mean_abs_difference"),
                    ("GFN1-xTB", "tblite_halves_mean_abs_difference"),
                )
                if k in e
            ]
            lines.append(
                f"| g {pair[0]}–{pair[1]} ({where}): peak; mean abs Δg (model − GFN1-xTB) "
                f"{e['mean_abs_difference']:.3f} ({', '.join(noise)}) | {mp['g']:.2f} at "
                f"{mp['r_A']:.2f} Å | {tp['g']:.2f} at {tp['r_A']:.2f} Å | the structure at "
                "0.87 g/cm³ and 300 K up to half the box, where Δg is near the half-vs-half "
                f"noise | order beyond {r['r_max_A']:g} Å; slow GFN1-xTB structure (its "
                f"frames span {tb['span_fs']:g} fs: molecular reorientation, ps, is barely "
                "sampled) |"
            )
        how.append(
            f"- **g(r)**: model NVT Langevin (300 K, 0.5 fs, friction 0.01 fs⁻¹, centre of mass "
            "fixed: the data set's MD) from the first T300_V1 frame, "
            f"{md['equilibration_ps']:g} ps discarded, then {md['production_ps']:g} ps "
            f"({md['frames']} frames 10 fs apart, mean T {md['mean_temperature_K']:.0f} K) "
            f"against {tb['frames']} frames of {tb['source']} (`{Path(tb['file']).name}`, MD "
            f"time {tb['md_time_fs'][0]:g}–{tb['md_time_fs'][1]:g} fs, one every 10 fs). Minimum "
            f"image, bins {r['bin_width_A']:g} Å up to {r['r_max_A']:g} Å, g → 1 for an ideal "
            "gas; intermolecular: pairs of different molecules (bonded components), same "
            "normalisation. Curves in `rdf.csv`, plot `rdf.png`."
        )
    if "density" in found:
        d = found["density"]
        md, est = d["md"], d["tblite"].get("estimate")
        if est is None:
            tb_value = "not available"
        elif est["resolved"]:
            tb_value = f"{est['density_g_cm3']:.3f} ± {est['error_g_cm3']:.3f} g/cm³"
        else:
            tb_value = "cannot tell (see below)"
        lines.append(
            f"| density, 300 K, 1 atm | {d['model_density_g_cm3']:.4f} ± "
            f"{d['model_density_error_g_cm3']:.4f} g/cm³ | {tb_value} | the model's "
            "equilibrium density in this cell (8 molecules); its agreement with GFN1-xTB's only "
            "within the GFN1-xTB error | experiment (0.874 g/cm³ at 298 K: the target is "
            "GFN1-xTB); larger cells (finite size) |"
        )
        model_how = (
            f"- **density**: model NPT (ASE `LangevinBAOAB`, isotropic cell, 300 K, 1 atm, "
            f"T_tau 100 fs, P_tau 500 fs) from the first T300_V1 frame, "
            f"{md['equilibration_ps']:g} ps discarded, then {md['production_ps']:g} ps "
            f"(mean T {md['mean_temperature_K']:.0f} K, mean P {md['mean_pressure_bar']:.0f} "
            f"bar); error: standard error of {d['n_blocks']} block means (std of the "
            f"instantaneous density {d['model_density_std_g_cm3']:.4f} g/cm³). "
        )
        if est is None:
            how.append(model_how + f"GFN1-xTB: not available ({d['tblite']['unavailable']}).")
        else:
            conditions = d["tblite"]["conditions"]
            conds = "; ".join(
                f"{name} ({c['density_g_cm3']:.3f} g/cm³, {c['frames']} frames, MD "
                f"{c['md_time_fs'][0]:g}–{c['md_time_fs'][1]:g} fs): "
                f"{c['pressure_bar']:.0f} ± {c['pressure_error_bar']:.0f} bar"
                for name, c in conditions.items()
            )
            verdict = (
                f"V* = {est['volume_A3']:.0f} ± {est['error_A3']:.0f} Å³"
                if est["resolved"]
                else "**the GFN1-xTB density cannot be told from these data**"
            )
            how.append(
                model_how + "GFN1-xTB: per condition at 300 K the mean pressure of the labels, "
                "P = −tr(σ)/3 + (3N − 3) k_B T/(3V) (the stress labels hold no kinetic term), "
                f"error from {d['tblite']['n_blocks']} block means: {conds}. A line P(V) "
                f"weighted by 1/error², slope {est['slope']:.3g} ± {est['slope_error']:.2g} "
                f"bar/Å³ (χ² {est['chi2']:.2f}, {len(conditions) - 2} degree(s) of freedom), "
                f"solved for P = 1 atm: {verdict}"
                + (f" ({est['note']})." if est["note"] else ".")
                + " Series in `density.csv`."
            )
        check = d.get("pressure_check")
        if check is not None:
            lines.append(
                f"| GFN1-xTB pressure at the model's NPT states | model "
                f"{check['model_pressure_bar']:.0f} ± {check['model_pressure_error_bar']:.0f} "
                f"bar | {check['tblite_pressure_bar']:.0f} ± "
                f"{check['tblite_pressure_error_bar']:.0f} bar | whether GFN1-xTB, too, is "
                "at 1 atm at the model's density: a direct test of it, no P(V) line; the "
                f"model's pressure bias there, {check['pressure_bias_bar']:+.0f} ± "
                f"{check['pressure_bias_error_bar']:.0f} bar (paired) | GFN1-xTB's own NPT "
                "(too costly here); states the model does not visit |"
            )
            how.append(
                f"- **pressure check**: {check['frames']} geometries of the model's NPT "
                f"production, one every {check['every_fs']:g} fs, labelled afresh by "
                f"{check['calculator']['method']} (tblite; `{check['frames_file']}`); P = "
                "−tr(σ)/3 + (3N − 3) k_B T/(3V) for the label and the model on the same "
                f"geometry; errors from {check['n_blocks']} block means."
            )
    if "drift" in found:
        d = found["drift"]
        md = d["md"]
        lines.append(
            f"| NVE drift of E_tot | {d['drift_meV_per_atom_per_ps']:.4f} ± "
            f"{d['drift_error_meV_per_atom_per_ps']:.4f} meV/atom/ps | – | energy "
            "conservation of 0.5 fs velocity Verlet at 300 K over the run's length | other "
            "temperatures, longer steps, far longer runs |"
        )
        how.append(
            f"- **drift**: {md['equilibration_ps']:g} ps NVT Langevin from the first T300_V1 "
            f"frame, then {md['nve_ps']:g} ps NVE (velocity Verlet, 0.5 fs, mean T "
            f"{md['mean_temperature_K']:.0f} K); least-squares slope of E_tot per atom against "
            "time, error for independent samples (an underestimate); E_tot fluctuates by "
            f"{d['etot_std_meV_per_atom']:.3f} meV/atom (E_pot by "
            f"{d['epot_std_meV_per_atom']:.3f}). Series in `drift.csv`."
        )
    if "speed" in found:
        s = found["speed"]
        model = f"{s['ase_ms_per_step']:.1f} ms/step (ASE)"
        if s["lammps_ms_per_step"]:
            model += f", {s['lammps_ms_per_step']:.1f} ms/step (LAMMPS)"
        ratio = ""
        if s["tblite_over_ase"]:
            ratio = f"; GFN1-xTB / model {s['tblite_over_ase']:.0f}× (ASE)"
            if s["tblite_over_lammps"]:
                ratio += f", {s['tblite_over_lammps']:.0f}× (LAMMPS)"
        xtb = f"{s['tblite_ms_per_call']:.0f} ms per call" if s["tblite_ms_per_call"] else "–"
        lines.append(
            f"| cost of an MD step{ratio} | {model} | {xtb} | the order of magnitude of the "
            "speed-up on such a CPU | a benchmark: a shared machine, one thread; GPUs, "
            "more threads and larger cells scale differently |"
        )
        load = ", ".join(f"{x:.1f}" for x in s["load_average"])
        how.append(
            f"- **speed**: {s['steps']} velocity-Verlet steps after a warm-up, device "
            f"{s['device']}, {s['threads']} torch thread(s); LAMMPS: `in.npt_nve` on one MPI "
            "rank (its `Loop time`); GFN1-xTB: tblite energy + forces + stress of the same "
            f"cell, the labeller's settings. Load average {load} when measured ({s['written']})."
        )
    lines += ["", "## How each number was made", "", *how, "", "## Commands", ""]
    lines += [f"    {r['command']}" for r in found.values()]
    if "model_errors_command" in found.get("tblite_nvt", {}):
        lines.append(f"    {found['tblite_nvt']['model_errors_command']}")
    lines += [
        "",
        "Run at one thread beside other jobs (`OMP_NUM_THREADS=1 nice -n 10`). The MD stages "
        "checkpoint into `campaigns/benzene_liquid/work/validation/STAGE/` every 100 fs and "
        "continue from there when run again.",
        "",
    ]
    return "\n".join(lines)


# ------------------------------------------------------------------------------- CLI


def _md_options(args: argparse.Namespace, stage: str) -> tuple[float, float]:
    ps_default, equil_default = MD_DEFAULTS[stage]
    ps = ps_default if args.ps is None else args.ps
    equil = equil_default if args.equil_ps is None else args.equil_ps
    if ps <= 0 or equil < 0:
        raise InputError(f"need --ps > 0 and --equil-ps >= 0, got {ps}, {equil}")
    return ps, equil


RUNNERS: dict[str, Callable[[argparse.Namespace], None]] = {
    "tblite-nvt": stage_tblite_nvt,
    "rdf": stage_rdf,
    "density": stage_density,
    "drift": stage_drift,
    "speed": stage_speed,
    "report": stage_report,
    "model-errors": stage_model_errors,
}


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="validate.py",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("stage", choices=[*STAGES, *EXTRA_STAGES, "all"])
    p.add_argument("--model", type=Path, default=MODEL, help="exported model (H, C)")
    p.add_argument("--data", type=Path, default=DATA, help="labelled extxyz (tblite MD)")
    p.add_argument(
        "--start", type=Path, default=START, help="tblite-nvt: liquid frames to start from"
    )
    p.add_argument("--out", type=Path, default=OUT, help="results folder")
    p.add_argument("--work", type=Path, default=WORK, help="checkpoints folder")
    p.add_argument("--device", default="auto", help="torch device of the model")
    p.add_argument(
        "--ps", type=float, help="production ps (tblite-nvt 1, rdf 20, density 20, drift 5)"
    )
    p.add_argument(
        "--equil-ps",
        type=float,
        help="equilibration ps (tblite-nvt 0.1, rdf 2, density 5, drift 2)",
    )
    p.add_argument("--temperature", type=float, default=300.0, help="K")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--bin-width", type=float, default=0.05, help="rdf bin, Å")
    p.add_argument("--blocks", type=int, default=10, help="blocks of the block averages")
    p.add_argument(
        "--tblite-blocks", type=int, default=5, help="blocks of each condition's pressures"
    )
    p.add_argument("--checkpoint-fs", type=float, default=100.0, help="checkpoint interval")
    p.add_argument(
        "--check-every-fs",
        type=float,
        default=PRESSURE_CHECK_EVERY_FS,
        help="density: fs between the NPT geometries GFN1-xTB labels for the pressure check",
    )
    p.add_argument("--stop-after", type=int, help="stop after this many MD steps")
    p.add_argument("--steps", type=int, default=50, help="speed: timed MD steps")
    p.add_argument("--warmup", type=int, default=5, help="speed: untimed steps first")
    p.add_argument("--xtb-calls", type=int, default=1, help="speed: GFN1-xTB calls (0: none)")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    if args.stop_after is not None and args.stop_after < 1:
        print(f"validate.py: --stop-after must be >= 1, got {args.stop_after}", file=sys.stderr)
        return 2
    stages = [s for s in STAGES] if args.stage == "all" else [args.stage]
    for stage in stages:
        try:
            RUNNERS[stage](args)
        except InputError as error:
            print(f"validate.py {stage}: {error}", file=sys.stderr)
            return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
