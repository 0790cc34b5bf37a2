"""Choose frames to label: the ones a committee disagrees on most, mutually distant.

Candidates come from any file ``ase.io.read`` reads or from a ``run.h5`` of ``fusionpot
namd`` (its recorded geometries). Every member predicts every candidate; the score of a
frame is the largest spread over the states of one :data:`SCORES` column; frames are taken
in order of decreasing score, skipping any within ``min_rmsd`` Å (after optimal
superposition) of a frame already taken or of an excluded one (e.g. the training set).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from itertools import pairwise
from pathlib import Path

import ase
import ase.io
import h5py
import numpy as np
import torch
from tqdm import tqdm

from fusionpot.active.spread import SPREAD_COLUMNS, committee_spread
from fusionpot.data import atoms_to_graph, keys
from fusionpot.export import load_potential
from fusionpot.labels.runner import unlabelled
from fusionpot.models.config import DTYPES

__all__ = [
    "SCORES",
    "committee_predictions",
    "model_predictions",
    "pick_distant",
    "read_candidates",
    "rmsd",
    "select_frames",
]

#: what a score measures: the largest, over states, of this spread column
SCORES = SPREAD_COLUMNS


def read_candidates(path: str | os.PathLike[str], stride: int = 1) -> list[ase.Atoms]:
    """Frames of an extxyz (anything ``ase.io.read`` reads) or of a ``run.h5`` (every
    ``stride``-th recorded geometry of every trajectory, tagged ``traj_id``, ``time_fs``).
    Every frame gets ``info["source_file"]``; labels the file may hold are dropped."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no candidate file {os.fspath(path)!r}")
    frames: list[ase.Atoms] = []
    if h5py.is_hdf5(path):
        with h5py.File(path, "r") as f:
            if "positions" not in f or "numbers" not in f:
                raise ValueError(
                    f"{os.fspath(path)!r} has no recorded geometries or atomic numbers (a "
                    "run.h5 of fusionpot namd written since 2026-12-03 has both)"
                )
            positions = f["positions"][()]  # [n_traj, n_geom, n_atoms, 3], NaN padded
            steps = f["geometry_step"][()]
            traj_ids = f["traj_id"][()]
            numbers = f["numbers"][()]
            dt = float(f.attrs["dt"])
        for t, traj in enumerate(positions):
            for g in range(0, len(steps), stride):
                if np.isfinite(traj[g]).all():
                    atoms = ase.Atoms(numbers=numbers, positions=traj[g])
                    atoms.info.update(traj_id=int(traj_ids[t]), time_fs=float(steps[g] * dt))
                    frames.append(atoms)
    else:
        read = ase.io.read(path, index=f"::{stride}")
        frames = [unlabelled(a) for a in (read if isinstance(read, list) else [read])]
    for atoms in frames:
        atoms.info["source_file"] = os.fspath(path)
    return frames


def model_predictions(
    model: str | os.PathLike[str] | torch.nn.Module,
    frames: Sequence[ase.Atoms],
    device: torch.device | str = "cpu",
    batch_size: int = 32,
) -> tuple[np.ndarray, list[np.ndarray]]:
    """One model's energies and forces of every state, ``batch_size`` frames per call.

    Returns (energies [n_frames, S] eV, forces: per frame [n_atoms, S, 3] eV/Å).
    """
    module, meta = load_potential(model, device)
    energies: list[np.ndarray] = []
    forces: list[np.ndarray] = []
    for start in range(0, len(frames), batch_size):
        chunk = list(frames[start : start + batch_size])
        graph = atoms_to_graph(chunk, meta["elements"], meta["r_max"], DTYPES[meta["dtype"]])
        out = module({k: v.to(device) for k, v in graph.items()}, -1, True, False)
        energies.append(out[keys.ENERGY].detach().cpu().double().numpy())
        per_atom = out[keys.FORCES].detach().cpu().double().numpy()  # [N, S, 3]
        ptr = graph[keys.PTR].numpy()
        forces.extend(per_atom[a:b] for a, b in pairwise(ptr))
    return np.concatenate(energies), forces


def committee_predictions(
    models: Sequence[str | os.PathLike[str] | torch.nn.Module],
    frames: Sequence[ase.Atoms],
    device: torch.device | str = "cpu",
    batch_size: int = 32,
    progress: bool = True,
) -> tuple[np.ndarray, list[np.ndarray]]:
    """Every member's :func:`model_predictions`: (energies [K, n_frames, S] eV, forces:
    per frame [K, n_atoms, S, 3] eV/Å)."""
    if len(models) < 2:
        raise ValueError(f"a committee needs at least 2 models, got {len(models)}")
    predictions = [
        model_predictions(model, frames, device, batch_size)
        for model in tqdm(models, desc="committee", disable=not progress)
    ]
    energies = np.stack([e for e, _ in predictions])
    forces = [np.stack([f[i] for _, f in predictions]) for i in range(len(frames))]
    return energies, forces


def rmsd(a: np.ndarray, b: np.ndarray) -> float:
    """Root mean square deviation (Å) of positions [n_atoms, 3] after the optimal rotation
    and translation (Kabsch; reflections excluded)."""
    a = a - a.mean(axis=0)
    b = b - b.mean(axis=0)
    u, s, vt = np.linalg.svd(a.T @ b)
    s[-1] *= np.sign(np.linalg.det(u @ vt))
    squared = (a**2).sum() + (b**2).sum() - 2.0 * s.sum()
    return float(np.sqrt(max(squared, 0.0) / len(a)))


def _near(atoms: ase.Atoms, others: Sequence[ase.Atoms], cutoff: float) -> bool:
    numbers = atoms.get_atomic_numbers()
    return any(
        len(o) == len(atoms)
        and np.array_equal(o.get_atomic_numbers(), numbers)
        and rmsd(o.positions, atoms.positions) < cutoff
        for o in others
    )


def pick_distant(
    frames: Sequence[ase.Atoms],
    scores: np.ndarray,
    n: int,
    min_rmsd: float,
    exclude: Sequence[ase.Atoms] = (),
) -> list[int]:
    """Indices of up to ``n`` frames by decreasing score, each at least ``min_rmsd`` Å from
    the frames already picked and from ``exclude`` (frames of another composition count
    as distant)."""
    picked: list[int] = []
    for index in np.argsort(-np.asarray(scores), kind="stable"):
        if len(picked) == n:
            break
        atoms = frames[int(index)]
        if _near(atoms, [frames[i] for i in picked], min_rmsd) or _near(atoms, exclude, min_rmsd):
            continue
        picked.append(int(index))
    return picked


def select_frames(
    models: Sequence[str | os.PathLike[str] | torch.nn.Module],
    frames: Sequence[ase.Atoms],
    n: int,
    score: str = "forces",
    min_rmsd: float = 0.1,
    exclude: Sequence[ase.Atoms] = (),
    device: torch.device | str = "cpu",
    progress: bool = True,
) -> list[ase.Atoms]:
    """The ``n`` frames the committee disagrees on most (``score``: one of :data:`SCORES`),
    mutually ``min_rmsd`` Å apart and from ``exclude``, each recording its spread:
    ``committee_score`` and ``committee_{energy,gap,forces}_std_s{k}`` (eV, eV/Å)."""
    if score not in SCORES:
        raise ValueError(f"score must be one of {list(SCORES)}, got {score!r}")
    if n < 1:
        raise ValueError(f"n must be ≥ 1, got {n}")
    energies, forces = committee_predictions(models, frames, device, progress=progress)
    spreads = np.stack(
        [
            committee_spread(
                torch.from_numpy(energies[:, i : i + 1]), torch.from_numpy(forces[i][:, None])
            )[0].numpy()
            for i in range(len(frames))
        ]
    )  # [n_frames, S, 3]
    column = SCORES.index(score)
    scores = spreads[:, :, column].max(axis=1)
    picks = []
    for index in pick_distant(frames, scores, n, min_rmsd, exclude):
        atoms = frames[index].copy()
        atoms.info["committee_score"] = float(scores[index])
        atoms.info["committee_score_kind"] = score
        for k, name in enumerate(SPREAD_COLUMNS):
            for state in range(spreads.shape[1]):
                atoms.info[f"committee_{name}_std_s{state}"] = float(spreads[index, state, k])
        picks.append(atoms)
    return picks
