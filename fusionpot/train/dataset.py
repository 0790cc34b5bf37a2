"""Labelled frames: read (extxyz or anything ASE reads) and check them.

Labels per state s: an energy (eV, ``atoms.info`` or ASE's calculator results) and forces
(eV/Å, ``atoms.arrays`` or the calculator's); for the ground state S0 of a periodic frame,
also ASE's ``stress`` (eV/Å³, ASE's sign, Voigt 6 or 3×3, ``atoms.info`` or the
calculator's: what ``fusionpot label --method xtb`` writes). A label missing from one
frame is masked out; a label that is there must be finite and of the right shape, or the
error names the file and frame.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import ase
import ase.io
import numpy as np
import torch
from ase.data import atomic_numbers, chemical_symbols
from ase.stress import voigt_6_to_full_3x3_stress

from fusionpot.data.read import read_atoms
from fusionpot.errors import DataError

__all__ = [
    "STRESS_KEY",
    "Batch",
    "LabelledFrames",
    "detect_keys",
    "labelled_frames",
    "read_files",
]

#: the stress label (of S0): ASE's name, in ``atoms.info`` or the calculator's results
STRESS_KEY = "stress"


@dataclass
class Batch:
    """A graph dict (``fusionpot.data.keys``) and its labels
    (:meth:`fusionpot.train.graphs.FrameGraphs.batch`).

    energy [n_graphs, S] eV (float64: absolute energies), energy_mask [n_graphs, S];
    forces [n_atoms, S, 3] eV/Å, forces_mask [n_atoms, S]; stress of S0 [n_graphs, 3, 3]
    eV/Å³, stress_mask [n_graphs]; n_atoms [n_graphs].
    """

    graph: dict[str, torch.Tensor]
    energy: torch.Tensor
    energy_mask: torch.Tensor
    forces: torch.Tensor
    forces_mask: torch.Tensor
    stress: torch.Tensor
    stress_mask: torch.Tensor
    n_atoms: torch.Tensor


@dataclass
class LabelledFrames:
    """Frames with per-state labels; a label absent from a frame is masked.

    frames: structures; energy [n_frames, S] eV (0 where absent), energy_mask
    [n_frames, S]; forces: one [n_atoms, S, 3] eV/Å per frame (0 where absent),
    forces_mask [n_frames, S]; stress of S0 [n_frames, 3, 3] eV/Å³ (ASE's sign, 0 where
    absent), stress_mask [n_frames]; names: "file:frame" of each frame, for error messages.
    """

    frames: list[ase.Atoms]
    energy: np.ndarray
    energy_mask: np.ndarray
    forces: list[np.ndarray]
    forces_mask: np.ndarray
    stress: np.ndarray
    stress_mask: np.ndarray
    names: list[str]

    def __len__(self) -> int:
        return len(self.frames)

    @property
    def n_states(self) -> int:
        return int(self.energy.shape[1])

    def subset(self, indices: Sequence[int] | np.ndarray) -> LabelledFrames:
        idx = [int(i) for i in indices]
        return LabelledFrames(
            [self.frames[i] for i in idx],
            self.energy[idx],
            self.energy_mask[idx],
            [self.forces[i] for i in idx],
            self.forces_mask[idx],
            self.stress[idx],
            self.stress_mask[idx],
            [self.names[i] for i in idx],
        )

    @staticmethod
    def concatenate(parts: Sequence[LabelledFrames]) -> LabelledFrames:
        return LabelledFrames(
            [f for p in parts for f in p.frames],
            np.concatenate([p.energy for p in parts]),
            np.concatenate([p.energy_mask for p in parts]),
            [f for p in parts for f in p.forces],
            np.concatenate([p.forces_mask for p in parts]),
            np.concatenate([p.stress for p in parts]),
            np.concatenate([p.stress_mask for p in parts]),
            [n for p in parts for n in p.names],
        )

    def elements(self) -> tuple[str, ...]:
        """Every element present, ordered by atomic number."""
        numbers = np.unique(np.concatenate([a.numbers for a in self.frames]))
        return tuple(chemical_symbols[z] for z in numbers)

    def check_elements(self, elements: Sequence[str]) -> None:
        """Raise ``ValueError`` naming the first frame with an element not in ``elements``."""
        known = {atomic_numbers[e] for e in elements}
        for atoms, name in zip(self.frames, self.names, strict=True):
            unknown = sorted(set(atoms.numbers.tolist()) - known)
            if unknown:
                raise ValueError(
                    f"{name}: element {chemical_symbols[unknown[0]]} is not among the model's "
                    f"elements {list(elements)}"
                )


_STATE_KEY = re.compile(r"^energy_s(\d+)$")


def detect_keys(frames: Sequence[ase.Atoms]) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """Label keys per state: ``energy_s{k}``/``forces_s{k}`` for k = 0..S-1 when any frame
    has ``energy_s0`` or ``forces_s0``, else ASE's ``energy``/``forces`` (one state)."""
    states: set[int] = set()
    for atoms in frames:
        states |= {int(m.group(1)) for k in atoms.info if (m := _STATE_KEY.match(k))}
        states |= {int(k[8:]) for k in atoms.arrays if re.fullmatch(r"forces_s\d+", k)}
    if not states:
        return ("energy",), ("forces",)
    n_states = max(states) + 1
    return (
        tuple(f"energy_s{k}" for k in range(n_states)),
        tuple(f"forces_s{k}" for k in range(n_states)),
    )


def _label(atoms: ase.Atoms, key: str, per_atom: bool) -> np.ndarray | None:
    """The label ``key`` from the calculator's results, ``info`` or ``arrays``; None if absent."""
    results = atoms.calc.results if atoms.calc is not None else {}
    if key in results:
        return np.asarray(results[key], dtype=np.float64)
    store = atoms.arrays if per_atom else atoms.info
    return np.asarray(store[key], dtype=np.float64) if key in store else None


def read_files(
    paths: Sequence[str | Path],
    energy_keys: Sequence[str] | None = None,
    forces_keys: Sequence[str] | None = None,
) -> tuple[LabelledFrames, tuple[str, ...], tuple[str, ...]]:
    """Frames of several files in order, and the label keys used (detected over all
    frames with :func:`detect_keys` when not given).

    A key that names no label in any frame of the files (a misspelt ``energy_S2``), and a
    state with no label at all, raise :class:`~fusionpot.errors.DataError` naming the
    key and the files: a state is never trained or evaluated on nothing."""
    if not paths:
        raise ValueError("no data files given")
    per_file = [read_atoms(path) for path in paths]
    if energy_keys is None or forces_keys is None:
        energy_keys, forces_keys = detect_keys([a for frames in per_file for a in frames])
    parts = [
        labelled_frames(frames, energy_keys, forces_keys, name=str(path))
        for path, frames in zip(paths, per_file, strict=True)
    ]
    data = LabelledFrames.concatenate(parts)
    _check_every_key_labels(data, energy_keys, forces_keys, [str(p) for p in paths], per_file)
    return data, tuple(energy_keys), tuple(forces_keys)


def _check_every_key_labels(
    data: LabelledFrames,
    energy_keys: Sequence[str],
    forces_keys: Sequence[str],
    paths: list[str],
    per_file: list[list[ase.Atoms]],
) -> None:
    """DataError for a state with no label, or a key found in no frame of ``paths``."""
    files = ", ".join(paths)
    missing = [
        key
        for s, (e_key, f_key) in enumerate(zip(energy_keys, forces_keys, strict=True))
        for key, mask in ((e_key, data.energy_mask), (f_key, data.forces_mask))
        if not mask[:, s].any()
    ]
    for s, (e_key, f_key) in enumerate(zip(energy_keys, forces_keys, strict=True)):
        if e_key in missing and f_key in missing:
            raise DataError(
                f"state {s} has no labels: no frame of {files} has {e_key} or {f_key} "
                f"(labels found: {_found_keys(per_file)})"
            )
    if missing:
        raise DataError(
            f"label key {', '.join(missing)} names no label in any frame of {files} "
            f"(labels found: {_found_keys(per_file)})"
        )


def _found_keys(per_file: list[list[ase.Atoms]]) -> str:
    """The energy-like and forces-like keys of the frames, for error messages."""
    keys: set[str] = set()
    for frames in per_file:
        for atoms in frames:
            keys |= {k for k, v in atoms.info.items() if isinstance(v, float | np.floating)}
            keys |= set(atoms.arrays) - {"numbers", "positions"}
            if atoms.calc is not None:
                keys |= set(atoms.calc.results)
    return ", ".join(sorted(keys)) or "none"


def labelled_frames(
    source: str | Path | Sequence[ase.Atoms],
    energy_keys: Sequence[str] | None = None,
    forces_keys: Sequence[str] | None = None,
    name: str | None = None,
) -> LabelledFrames:
    """Frames of a file (every frame ase.io.read finds) or a list of Atoms, with their
    labels as training arrays.

    energy_keys / forces_keys: one key per state (None: :func:`detect_keys`); the stress
    (:data:`STRESS_KEY`) is read for S0 of every frame that has it. Raises ``ValueError``
    naming the file and frame for non-finite positions or labels, forces or stress of the
    wrong shape, a stress on a frame that is not periodic, or frames without any label.
    """
    if isinstance(source, str | Path):
        name = name or str(source)
        frames = read_atoms(source)
    else:
        frames = list(source)
        name = name or "<frames>"
    if not frames:
        raise ValueError(f"{name}: contains no frames")
    if energy_keys is None or forces_keys is None:
        energy_keys, forces_keys = detect_keys(frames)
    if len(energy_keys) != len(forces_keys):
        raise ValueError(f"{len(energy_keys)} energy keys but {len(forces_keys)} forces keys")
    n_states = len(energy_keys)
    energy = np.zeros((len(frames), n_states))
    energy_mask = np.zeros((len(frames), n_states), dtype=bool)
    forces_mask = np.zeros((len(frames), n_states), dtype=bool)
    forces: list[np.ndarray] = []
    stress = np.zeros((len(frames), 3, 3))
    stress_mask = np.zeros(len(frames), dtype=bool)
    names = [f"{name}: frame {i}" for i in range(len(frames))]
    for i, atoms in enumerate(frames):
        where = names[i]
        if not isinstance(atoms, ase.Atoms):
            raise TypeError(f"{where} is a {type(atoms).__name__}, not ase.Atoms")
        if not np.isfinite(atoms.positions).all():
            raise ValueError(f"{where}: positions are not finite (NaN or inf)")
        frame_forces = np.zeros((len(atoms), n_states, 3))
        for s, (e_key, f_key) in enumerate(zip(energy_keys, forces_keys, strict=True)):
            e = _label(atoms, e_key, per_atom=False)
            if e is not None:
                if e.shape != () or not np.isfinite(e):
                    raise ValueError(f"{where}: {e_key} = {e.tolist()} is not one finite number")
                energy[i, s], energy_mask[i, s] = float(e), True
            f = _label(atoms, f_key, per_atom=True)
            if f is not None:
                if f.shape != (len(atoms), 3):
                    raise ValueError(
                        f"{where}: {f_key} has shape {list(f.shape)}, expected "
                        f"[{len(atoms)}, 3] for its {len(atoms)} atoms"
                    )
                if not np.isfinite(f).all():
                    raise ValueError(f"{where}: {f_key} is not finite (NaN or inf)")
                frame_forces[:, s], forces_mask[i, s] = f, True
        sigma = _stress_label(atoms, where)
        if sigma is not None:
            stress[i], stress_mask[i] = sigma, True
        if not (energy_mask[i].any() or forces_mask[i].any()):
            raise ValueError(
                f"{where}: has none of the labels {list(energy_keys) + list(forces_keys)}"
            )
        forces.append(frame_forces)
    return LabelledFrames(
        frames, energy, energy_mask, forces, forces_mask, stress, stress_mask, names
    )


def _stress_label(atoms: ase.Atoms, where: str) -> np.ndarray | None:
    """The frame's stress [3, 3] eV/Å³ (from Voigt 6 or 3×3), None if it has none;
    ``ValueError`` naming ``where`` for a wrong shape, NaN/inf or a frame not periodic."""
    sigma = _label(atoms, STRESS_KEY, per_atom=False)
    if sigma is None:
        return None
    if sigma.shape == (6,):
        sigma = voigt_6_to_full_3x3_stress(sigma)
    elif sigma.shape != (3, 3):
        raise ValueError(
            f"{where}: {STRESS_KEY} has shape {list(sigma.shape)}, expected Voigt [6] or [3, 3]"
        )
    if not np.isfinite(sigma).all():
        raise ValueError(f"{where}: {STRESS_KEY} is not finite (NaN or inf)")
    if not (atoms.pbc.all() and atoms.cell.volume > 0):
        raise ValueError(
            f"{where}: has a {STRESS_KEY} label but is not periodic in 3 directions "
            f"(pbc = {atoms.pbc.tolist()}): a stress needs a cell with a volume"
        )
    return sigma
