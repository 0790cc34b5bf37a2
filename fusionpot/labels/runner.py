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

import copy
import hashlib
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from ase import Atoms
from ase.calculators.calculator import all_properties
from tqdm import tqdm

from fusionpot.data.labelled import labelled_atoms
from fusionpot.labels.base import Label, LabelError, Labeller, check_atoms
from fusionpot.labels.store import (
    append_frame,
    append_jsonl,
    read_complete_frames,
    read_jsonl,
    repair_tail,
)

__all__ = [
    "LABEL_METADATA_KEYS",
    "RunSummary",
    "frame_id",
    "is_label_key",
    "known_frame_ids",
    "label_frames",
    "labelled_frame",
    "nearest_frame",
    "unlabelled",
]

#: info keys that describe how one geometry's label was made (``Labeller.describe`` and
#: ``Label.provenance`` of the backends, the seed set's ``suspect`` note) and ``frame_id``,
#: the hash of that exact geometry: facts about the labelled geometry, like the label itself.
LABEL_METADATA_KEYS = frozenset(
    {
        "frame_id",
        "program",
        "method",
        "functional",
        "basis",
        "reference",
        "states",
        "scf_conv",
        "td_conv",
        "accuracy",
        "electronic_temperature_K",
        "wall_s",
        "threads",
        "guess",
        "scf_iterations",
        "suspect",
    }
)
_LABEL_PREFIXES = ("energy", "energies", "free_energy", "forces", "stress", "coupling")


def frame_id(atoms: Atoms) -> str:
    """A 16-hex-digit identity of a geometry: numbers and positions rounded to 1e-6 Å."""
    digest = hashlib.sha1()
    digest.update(atoms.get_atomic_numbers().astype(np.int64).tobytes())
    digest.update(np.round(atoms.get_positions(), 6).astype(np.float64).tobytes())
    if atoms.pbc.any():
        digest.update(np.round(atoms.cell.array, 6).astype(np.float64).tobytes())
    return digest.hexdigest()[:16]


def is_label_key(name: str) -> bool:
    """Whether an ``info`` or ``arrays`` key of a frame holds a label or its making.

    Labels: ``energy*``, ``forces*``, ``stress*``, ``free_energy``, ``coupling_*`` and every
    ASE calculator property (``dipole``, ``charges``, ``magmoms``...); their making:
    :data:`LABEL_METADATA_KEYS`.

    >>> [is_label_key(k) for k in ("energy_s1", "forces_s0", "program", "subset", "seed_index")]
    [True, True, True, False, False]
    """
    return name in LABEL_METADATA_KEYS or name in all_properties or name.startswith(_LABEL_PREFIXES)


def unlabelled(atoms: Atoms) -> Atoms:
    """A new frame with the geometry and provenance of ``atoms`` and none of its labels.

    Keeps numbers, positions [n_atoms, 3] Å, cell, pbc and the ``info`` / ``arrays`` entries
    for which :func:`is_label_key` is false (``subset``, ``seed_index``, ``parent_id``,
    sampling parameters, masses...); drops labels, their metadata, ``frame_id``, the
    calculator and constraints. A label is a fact about one exact geometry: a frame that is
    moved, or made from another, must not carry it.
    """
    out = Atoms(
        numbers=atoms.get_atomic_numbers(),
        positions=atoms.get_positions(),
        cell=atoms.cell,
        pbc=atoms.pbc,
    )
    out.info.update({k: copy.deepcopy(v) for k, v in atoms.info.items() if not is_label_key(k)})
    for name, values in atoms.arrays.items():
        if name not in out.arrays and not is_label_key(name):
            out.arrays[name] = np.array(values, copy=True)
    return out


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


def labelled_frame(atoms: Atoms, label: Label, key: str) -> Atoms:
    """A copy of ``atoms`` carrying ``label`` as ``energy_s{k}`` (eV) / ``forces_s{k}`` (eV/Å)
    (:func:`fusionpot.data.labelled.labelled_atoms`), ``frame_id`` ``key``, the stress and
    the couplings (``coupling_{p}``) where the label has them, and its provenance.

    Of ``atoms.info`` only scalar provenance carries over; labels it carried already
    (:func:`is_label_key`) never do, so no stale value survives next to the new label.
    """
    out = Atoms(
        numbers=atoms.get_atomic_numbers(),
        positions=atoms.get_positions(),
        cell=atoms.cell,
        pbc=atoms.pbc,
    )
    out.info.update(
        {
            k: v
            for k, v in atoms.info.items()
            if isinstance(v, str | int | float | np.integer) and not is_label_key(k)
        }
    )
    out.info["frame_id"] = key
    couplings = label.couplings
    vectors = (
        {}
        if couplings is None
        else {f"coupling_{p}": couplings[:, p] for p in range(couplings.shape[1])}
    )
    return labelled_atoms(
        out,
        label.energies,
        label.forces,
        stress=label.stress,
        vectors=vectors,
        info=label.provenance,
        where=f"frame {key}",
    )


@dataclass(frozen=True)
class RunSummary:
    """What one call of :func:`label_frames` did (counts of frames)."""

    total: int
    already_done: int
    labelled: int
    failed: int
    skipped_failed: int
    known_elsewhere: int = 0


def known_frame_ids(paths: Sequence[Path]) -> set[str]:
    """The ids of the frames labelled in other extxyz files: each frame's ``frame_id``
    and the :func:`frame_id` of its geometry (the same for files made by this runner).

    Raises ValueError for a path that does not exist.
    """
    missing = [str(path) for path in paths if not Path(path).exists()]
    if missing:
        raise ValueError(f"no such file(s) of known labels: {missing}")
    ids: set[str] = set()
    for path in paths:
        for atoms in read_complete_frames(Path(path)):
            ids.add(frame_id(atoms))
            if "frame_id" in atoms.info:
                ids.add(str(atoms.info["frame_id"]))
    return ids


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
    known: Sequence[Path] = (),
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
    known: extxyz files labelled elsewhere (read in place, not copied); frames whose id is
        in them (:func:`known_frame_ids`) are skipped and counted as ``known_elsewhere``.
    """
    for i, atoms in enumerate(frames):
        check_atoms(atoms, max_atomic_number=labeller.max_atomic_number, name=f"frame {i}")
    output = Path(output)
    if failures is None:
        failures = output.with_name(output.name + ".failed.jsonl")
    repair_tail(output)
    done = {str(a.info.get("frame_id")): a for a in read_complete_frames(output)}
    elsewhere = known_frame_ids(known) - done.keys()
    failed_ids = {str(r.get("frame_id")) for r in read_jsonl(failures)}
    keys = [frame_id(a) for a in frames]
    pending = [
        (i, a, key)
        for i, (a, key) in enumerate(zip(frames, keys, strict=True))
        if key not in done and key not in elsewhere and (retry_failed or key not in failed_ids)
    ]
    pending = list({key: (i, a, key) for i, a, key in pending}.values())
    unique = set(keys)
    already = len(unique & done.keys())
    n_elsewhere = len(unique & elsewhere)
    skipped = 0 if retry_failed else len((unique & failed_ids) - done.keys() - elsewhere)
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
        result = labelled_frame(atoms, label, key)
        append_frame(output, result)
        labelled += 1
        if use_guess and (cache / f"{key}.json").exists():
            with_orbitals[key] = result
        bar.set_postfix(failed=failed, last_s=label.provenance.get("wall_s", ""))
    return RunSummary(len(unique), already, labelled, failed, skipped, n_elsewhere)
