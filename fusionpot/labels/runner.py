"""The resumable labelling job: label every pending frame of a pool, one at a time.

A frame is identified by ``frame_id``, a hash of its atomic numbers and positions
(rounded to 1e-6 Å), so a pool may be reordered or extended between runs. Finished
frames are appended to the output extxyz; failures go to a JSON-lines side file and
are not retried unless asked. On request, orbitals of finished frames are kept in a
cache folder so the next frame's SCF can start from those of the nearest finished
geometry. Measured with OpenQP 1.2.1 on stilbene (ROHF BHHLYP/6-31G, geometries 0.07 Å
apart): 21 SCF iterations from the reused orbitals, 21 from Hückel, same energies; the
reloaded orbitals are not re-orthonormalised in the new overlap metric (first DIIS error
2.05 vs 0.34 from Hückel), so the reuse is off by default.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from ase import Atoms
from tqdm import tqdm

from fusionpot.labels.base import Label, LabelError, Labeller, check_atoms
from fusionpot.labels.store import append_frame, append_jsonl, read_frames, read_jsonl, repair_tail

__all__ = ["RunSummary", "frame_id", "label_frames", "labelled_atoms", "nearest_frame"]


def frame_id(atoms: Atoms) -> str:
    """A 16-hex-digit identity of a geometry: numbers and positions rounded to 1e-6 Å."""
    digest = hashlib.sha1()
    digest.update(atoms.get_atomic_numbers().astype(np.int64).tobytes())
    digest.update(np.round(atoms.get_positions(), 6).astype(np.float64).tobytes())
    if atoms.pbc.any():
        digest.update(np.round(atoms.cell.array, 6).astype(np.float64).tobytes())
    return digest.hexdigest()[:16]


def nearest_frame(
    atoms: Atoms, candidates: dict[str, Atoms], max_rmsd: float = np.inf
) -> str | None:
    """The id of the candidate with the same atoms nearest to ``atoms`` (RMSD in Å, no
    alignment: orbitals are stored in the frame's own orientation) if that RMSD is below
    ``max_rmsd`` Å, else None."""
    best, best_rmsd = None, max_rmsd
    numbers = atoms.get_atomic_numbers()
    for key, other in candidates.items():
        if len(other) != len(atoms) or not np.array_equal(other.get_atomic_numbers(), numbers):
            continue
        rmsd = float(np.sqrt(np.mean(np.sum((other.positions - atoms.positions) ** 2, axis=1))))
        if rmsd < best_rmsd:
            best, best_rmsd = key, rmsd
    return best


def labelled_atoms(atoms: Atoms, label: Label, key: str) -> Atoms:
    """A copy of ``atoms`` carrying ``label`` as ``energy_s{k}`` (eV) / ``forces_s{k}`` (eV/Å)."""
    out = Atoms(
        numbers=atoms.get_atomic_numbers(),
        positions=atoms.get_positions(),
        cell=atoms.cell,
        pbc=atoms.pbc,
    )
    out.info.update({k: v for k, v in atoms.info.items() if isinstance(v, str | int | float)})
    out.info["frame_id"] = key
    for k, energy in enumerate(label.energies):
        out.info[f"energy_s{k}"] = float(energy)
    if label.forces is not None:
        for k in range(label.n_states):
            out.arrays[f"forces_s{k}"] = np.asarray(label.forces[k], dtype=float)
    if label.stress is not None:
        out.info["stress"] = np.asarray(label.stress, dtype=float)
    if label.couplings is not None:
        for p, coupling in enumerate(label.couplings):
            out.arrays[f"coupling_{p}"] = np.asarray(coupling, dtype=float)
    out.info.update(label.provenance)
    return out


@dataclass(frozen=True)
class RunSummary:
    """What one call of :func:`label_frames` did (counts of frames)."""

    total: int
    already_done: int
    labelled: int
    failed: int
    skipped_failed: int


def label_frames(
    frames: Sequence[Atoms],
    labeller: Labeller,
    output: Path,
    *,
    failures: Path | None = None,
    forces: bool = True,
    reuse_orbitals: bool = False,
    max_guess_rmsd: float = 0.3,
    retry_failed: bool = False,
    max_frames: int | None = None,
    progress: bool = True,
) -> RunSummary:
    """Label the frames of ``frames`` not yet in ``output``; resumable.

    frames: geometries (positions [n_atoms, 3] Å); a frame with ``info["label_forces"]``
        False is labelled energies-only even when ``forces`` is True.
    output: extxyz receiving finished frames (appended, fsynced, one frame at a time).
    failures: JSON-lines side file of failed frames (default ``<output>.failed.jsonl``).
    reuse_orbitals: start each SCF from the orbitals of the nearest finished frame
        (kept in ``<output>.orbitals/``) when the backend supports it and that frame
        is within ``max_guess_rmsd`` Å RMSD.
    max_frames: stop after this many new labels (None: all).
    """
    for i, atoms in enumerate(frames):
        check_atoms(atoms, max_atomic_number=labeller.max_atomic_number, name=f"frame {i}")
    output = Path(output)
    if failures is None:
        failures = output.with_name(output.name + ".failed.jsonl")
    repair_tail(output)
    done = {str(a.info.get("frame_id")): a for a in read_frames(output)}
    failed_ids = {str(r.get("frame_id")) for r in read_jsonl(failures)}
    keys = [frame_id(a) for a in frames]
    pending = [
        (i, a, key)
        for i, (a, key) in enumerate(zip(frames, keys, strict=True))
        if key not in done and (retry_failed or key not in failed_ids)
    ]
    pending = list({key: (i, a, key) for i, a, key in pending}.values())
    already = sum(key in done for key in set(keys))
    skipped = 0 if retry_failed else sum(k in failed_ids and k not in done for k in set(keys))
    if max_frames is not None:
        pending = pending[:max_frames]
    cache = output.with_name(output.name + ".orbitals")
    use_guess = reuse_orbitals and labeller.supports_guess
    if use_guess:
        cache.mkdir(parents=True, exist_ok=True)
    with_orbitals = {k: a for k, a in done.items() if (cache / f"{k}.json").exists()}
    labelled = failed = 0
    bar = tqdm(pending, desc=f"labelling {output.name}", unit="frame", disable=not progress)
    for index, atoms, key in bar:
        guess_key = nearest_frame(atoms, with_orbitals, max_guess_rmsd) if use_guess else None
        start = time.time()
        try:
            label = labeller.label(
                atoms,
                forces=forces and bool(atoms.info.get("label_forces", True)),
                guess=cache / f"{guess_key}.json" if guess_key else None,
                save_orbitals=cache / f"{key}.json" if use_guess else None,
            )
        except LabelError as error:
            failed += 1
            append_jsonl(
                failures,
                {
                    "frame_id": key,
                    "index": index,
                    "subset": str(atoms.info.get("subset", "")),
                    "error": str(error),
                    "wall_s": round(time.time() - start, 1),
                },
            )
            continue
        result = labelled_atoms(atoms, label, key)
        append_frame(output, result)
        labelled += 1
        if use_guess and (cache / f"{key}.json").exists():
            with_orbitals[key] = result
        bar.set_postfix(failed=failed, last_s=label.provenance.get("wall_s", ""))
    return RunSummary(len(set(keys)), already, labelled, failed, skipped)
