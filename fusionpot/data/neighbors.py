"""Neighbour lists (vesin) and batched graphs built from ``ase.Atoms``.

>>> import ase
>>> water = ase.Atoms("OH2", positions=[[0, 0, 0], [0.96, 0, 0], [-0.24, 0.93, 0]])
>>> graph = atoms_to_graph([water, water], elements=["H", "O"], r_max=2.0)
>>> graph["species"].tolist(), graph["ptr"].tolist(), graph["edge_index"].shape
([1, 0, 0, 1, 0, 0], [0, 3, 6], torch.Size([2, 12]))
"""

from __future__ import annotations

from collections.abc import Sequence

import ase
import numpy as np
import torch
import vesin
from ase.data import atomic_numbers as _atomic_number_of
from ase.data import chemical_symbols

from fusionpot.data import keys

__all__ = ["atoms_to_graph", "neighbor_list", "species_index"]


def species_index(numbers: Sequence[int] | np.ndarray, elements: Sequence[str]) -> np.ndarray:
    """Index of each atomic number in ``elements`` (symbols, e.g. ``["H", "C", "O"]``).

    Raises ``ValueError`` naming the first element not in ``elements``.
    """
    lookup = {_element_number(symbol): k for k, symbol in enumerate(elements)}
    numbers = np.asarray(numbers, dtype=np.int64)
    for z in np.unique(numbers):
        if int(z) not in lookup:
            symbol = chemical_symbols[z] if 0 <= z < len(chemical_symbols) else f"Z={z}"
            raise ValueError(
                f"element {symbol} is not supported by this model; supported: {list(elements)}"
            )
    return np.array([lookup[int(z)] for z in numbers], dtype=np.int64)


def _element_number(symbol: str) -> int:
    if symbol not in _atomic_number_of or symbol == "X":
        raise ValueError(f"unknown chemical symbol {symbol!r} in the element list")
    return _atomic_number_of[symbol]


def neighbor_list(atoms: ase.Atoms, r_max: float) -> tuple[np.ndarray, np.ndarray]:
    """All directed pairs closer than ``r_max`` Å, periodic images included.

    Returns ``edge_index: [2, n_edges]`` (sender j, receiver i) and
    ``edge_cell_shift: [n_edges, 3]`` integer lattice offsets such that
    ``positions[j] + edge_cell_shift @ cell - positions[i]`` is the edge vector. An atom
    sees its own periodic images (never itself), so small cells are handled.
    """
    if not r_max > 0:
        raise ValueError(f"r_max must be a positive distance in Å, got {r_max}")
    positions = atoms.get_positions()
    if not np.isfinite(positions).all():
        bad = np.flatnonzero(~np.isfinite(positions).all(axis=1))
        raise ValueError(f"positions of atoms {bad.tolist()} are not finite (NaN or inf)")
    pbc = np.asarray(atoms.pbc, dtype=bool)
    cell = np.asarray(atoms.cell.array, dtype=np.float64)
    if np.linalg.matrix_rank(cell[pbc]) < pbc.sum():
        raise ValueError(f"the periodic cell vectors are linearly dependent: {cell[pbc].tolist()}")
    calculator = vesin.NeighborList(cutoff=float(r_max), full_list=True)
    i, j, shift = calculator.compute(positions, cell, pbc.tolist(), quantities="ijS")
    edge_index = np.stack([j, i]).astype(np.int64)
    return edge_index, shift.astype(np.int64)


def atoms_to_graph(
    structures: Sequence[ase.Atoms],
    elements: Sequence[str],
    r_max: float,
    dtype: torch.dtype | None = None,
    device: torch.device | str | None = None,
) -> dict[str, torch.Tensor]:
    """Batch structures of any sizes, periodic or not, into one graph dict (see ``keys``).

    ``elements``: the model's element symbols (fixes ``species``); ``r_max``: cutoff in Å;
    ``dtype``: of positions and cell (default: torch's default dtype).
    """
    if isinstance(structures, ase.Atoms):
        raise TypeError("pass a list of ase.Atoms, e.g. [atoms], not a single Atoms")
    if len(structures) == 0:
        raise ValueError("cannot build a graph from an empty list of structures")
    dtype = torch.get_default_dtype() if dtype is None else dtype
    stored = [keys.POSITIONS, keys.ATOMIC_NUMBERS, keys.SPECIES, keys.EDGE_INDEX]
    stored += [keys.EDGE_CELL_SHIFT, keys.CELL, keys.PBC, keys.BATCH]
    parts: dict[str, list[np.ndarray]] = {k: [] for k in stored}
    offset = 0
    for g, atoms in enumerate(structures):
        if not isinstance(atoms, ase.Atoms):
            raise TypeError(f"structure {g} is a {type(atoms).__name__}, not ase.Atoms")
        edge_index, shift = neighbor_list(atoms, r_max)
        numbers = atoms.get_atomic_numbers()
        parts[keys.POSITIONS].append(atoms.get_positions())
        parts[keys.ATOMIC_NUMBERS].append(numbers)
        parts[keys.SPECIES].append(species_index(numbers, elements))
        parts[keys.EDGE_INDEX].append(edge_index + offset)
        parts[keys.EDGE_CELL_SHIFT].append(shift)
        parts[keys.CELL].append(np.asarray(atoms.cell.array)[None])
        parts[keys.PBC].append(np.asarray(atoms.pbc, dtype=bool)[None])
        parts[keys.BATCH].append(np.full(len(atoms), g, dtype=np.int64))
        offset += len(atoms)
    sizes = [len(atoms) for atoms in structures]
    concatenated = {
        k: np.concatenate(v, axis=1 if k == keys.EDGE_INDEX else 0) for k, v in parts.items()
    }
    concatenated[keys.PTR] = np.concatenate([[0], np.cumsum(sizes)]).astype(np.int64)
    graph = {}
    for key, value in concatenated.items():
        tensor = torch.from_numpy(np.ascontiguousarray(value))
        if keys.FIELDS[key].dtype == "float":
            tensor = tensor.to(dtype)
        elif keys.FIELDS[key].dtype == "int64":
            tensor = tensor.to(torch.int64)
        graph[key] = tensor.to(device)
    return graph
