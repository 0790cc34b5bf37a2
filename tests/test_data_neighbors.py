"""Neighbour lists against ase.neighborlist, batching, and bad input."""

from __future__ import annotations

import ase
import numpy as np
import pytest
import torch
from ase.build import bulk, molecule
from ase.neighborlist import primitive_neighbor_list

from fusionpot.data import atoms_to_graph, keys, neighbor_list, species_index


def pair_set(edge_index: np.ndarray, shift: np.ndarray) -> set[tuple[int, ...]]:
    """Edges as ``(receiver, sender, *shift)`` tuples."""
    return {(int(i), int(j), *map(int, s)) for j, i, s in zip(*edge_index, shift, strict=True)}


def ase_pairs(atoms: ase.Atoms, r_max: float) -> set[tuple[int, ...]]:
    i, j, shift = primitive_neighbor_list(
        "ijS", atoms.pbc, atoms.cell.array, atoms.positions, r_max, self_interaction=False
    )
    return {(int(a), int(b), *map(int, s)) for a, b, s in zip(i, j, shift, strict=True)}


def rattled(atoms: ase.Atoms, seed: int) -> ase.Atoms:
    atoms = atoms.copy()
    atoms.rattle(0.1, seed=seed)
    return atoms


STRUCTURES = {
    "molecule": rattled(molecule("CH3CH2OH"), 0),
    "bulk": rattled(bulk("Si", "diamond", a=5.43, cubic=True), 1),
    # one atom in a cell much smaller than the cutoff: it sees dozens of its own images
    "small_cell": bulk("Cu", "fcc", a=3.6),
    "triclinic": rattled(bulk("NaCl", "rocksalt", a=5.6) * (1, 1, 1), 2),
    "slab": rattled(
        ase.Atoms(
            "H2", positions=[[0, 0, 0], [0.7, 0.3, 0]], cell=[2.1, 2.5, 0], pbc=[True, True, False]
        ),
        3,
    ),
}


@pytest.mark.parametrize("name", sorted(STRUCTURES))
def test_neighbor_list_equals_ase(name):
    atoms = STRUCTURES[name]
    r_max = 4.5
    edge_index, shift = neighbor_list(atoms, r_max)
    ours = pair_set(edge_index, shift)
    assert len(ours) == edge_index.shape[1]  # no duplicates
    assert ours == ase_pairs(atoms, r_max)
    vectors = atoms.positions[edge_index[0]] + shift @ atoms.cell.array
    lengths = np.linalg.norm(vectors - atoms.positions[edge_index[1]], axis=1)
    assert lengths.max() < r_max and lengths.min() > 0


def test_small_cell_sees_its_own_images():
    edge_index, shift = neighbor_list(STRUCTURES["small_cell"], 4.5)
    assert (edge_index == 0).all() and edge_index.shape[1] > 12
    assert not (shift == 0).all(axis=1).any()


def test_batch_of_different_sizes():
    structures = [STRUCTURES["molecule"], STRUCTURES["bulk"], STRUCTURES["small_cell"]]
    elements = ["H", "C", "O", "Si", "Cu"]
    graph = atoms_to_graph(structures, elements, r_max=3.0, dtype=torch.float64)
    sizes = [len(a) for a in structures]
    assert graph[keys.PTR].tolist() == [0, 9, 17, 18]
    assert graph[keys.BATCH].tolist() == [g for g, n in enumerate(sizes) for _ in range(n)]
    assert graph[keys.POSITIONS].dtype == torch.float64
    assert graph[keys.CELL].shape == (3, 3, 3) and graph[keys.PBC].tolist()[0] == [False] * 3
    # every edge joins atoms of one graph, and the pieces equal the separate graphs
    edge_index = graph[keys.EDGE_INDEX]
    batch = graph[keys.BATCH]
    assert torch.equal(batch[edge_index[0]], batch[edge_index[1]])
    for g, atoms in enumerate(structures):
        single = atoms_to_graph([atoms], elements, r_max=3.0)
        mask = batch[edge_index[1]] == g
        assert torch.equal(edge_index[:, mask] - graph[keys.PTR][g], single[keys.EDGE_INDEX])
        assert torch.equal(graph[keys.EDGE_CELL_SHIFT][mask], single[keys.EDGE_CELL_SHIFT])
    for key, value in graph.items():
        field = keys.FIELDS[key]
        leading = {"atom": 18, "graph": 3, "edge": edge_index.shape[1]}[field.scope]
        leading += key == keys.PTR
        assert value.shape[1 if key == keys.EDGE_INDEX else 0] == leading, key
    species = graph[keys.SPECIES].tolist()
    assert species[:9] == species_index(structures[0].numbers, elements).tolist()
    assert species[-1] == 4


def test_unknown_element_is_named():
    with pytest.raises(ValueError, match=r"element N is not supported.*\['H', 'C', 'O'\]"):
        atoms_to_graph([molecule("CH3CN")], ["H", "C", "O"], r_max=3.0)
    with pytest.raises(ValueError, match="unknown chemical symbol 'Xx'"):
        species_index([1], ["H", "Xx"])


def test_bad_structures():
    atoms = molecule("H2O")
    atoms.positions[1, 2] = np.nan
    with pytest.raises(ValueError, match=r"atoms \[1\] are not finite"):
        atoms_to_graph([atoms], ["H", "O"], r_max=3.0)
    with pytest.raises(TypeError, match=r"list of ase\.Atoms"):
        atoms_to_graph(molecule("H2O"), ["H", "O"], r_max=3.0)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="empty list"):
        atoms_to_graph([], ["H", "O"], r_max=3.0)
    with pytest.raises(ValueError, match="r_max must be"):
        neighbor_list(molecule("H2O"), 0.0)
    flat = ase.Atoms("H", cell=[1.0, 1.0, 0.0], pbc=True)
    with pytest.raises(ValueError, match="linearly dependent"):
        neighbor_list(flat, 2.0)


def test_keys_registry_is_consistent():
    for key, field in keys.FIELDS.items():
        assert field.key == key and field.scope in keys.SCOPES
        assert field.shape.startswith(
            "[2, n_edges"
            if key == keys.EDGE_INDEX
            else {"atom": "[n_atoms", "edge": "[n_edges", "graph": "[n_graphs"}[field.scope]
        )
        assert ("n_states" in field.shape) == field.per_state
        # the state axis is always second
        if field.per_state:
            assert (
                field.shape.split(", ")[1] == "n_states]"
                or field.shape.split(", ")[1] == "n_states"
            )
    with pytest.raises(ValueError, match="scope must be one of"):
        keys.fields_of_scope("node")
