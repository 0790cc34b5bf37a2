"""Graphs built on the device (``batched_graph``) equal the host builder (vesin); the
fixed-shape mode holds every pair, and edges beyond r_max carry nothing."""

from __future__ import annotations

import ase
import numpy as np
import pytest
import torch
from ase.build import bulk, molecule

from fusionpot.data import atoms_to_graph, keys, neighbor_list
from fusionpot.data.device_graph import batched_graph
from fusionpot.models.embedding import EdgeEmbedding, edge_vectors

R_MAX = 4.5


def rattled(atoms: ase.Atoms, seed: int, unwrap: bool = False) -> ase.Atoms:
    """A rattled copy; with ``unwrap``, atoms also moved by whole lattice vectors (and
    beyond the cell), which the device builder must undo in its shifts."""
    atoms = atoms.copy()
    atoms.rattle(0.1, seed=seed)
    if unwrap:
        jumps = np.random.default_rng(seed).integers(-2, 3, size=(len(atoms), 3))
        atoms.positions += jumps @ atoms.cell.array
    return atoms


SKEWED = ase.Atoms(
    "NaCl",
    scaled_positions=[[0.1, 0.2, 0.3], [0.6, 0.5, 0.7]],
    cell=[[3.1, 0.0, 0.0], [2.6, 2.9, 0.0], [-1.2, 1.4, 3.3]],
    pbc=True,
)
STRUCTURES = {
    "molecule": molecule("CH3CH2OH"),
    "bulk": bulk("Si", "diamond", a=5.43, cubic=True),
    # one atom in a cell much smaller than the cutoff: it sees dozens of its own images
    "small_cell": bulk("Cu", "fcc", a=3.6),
    "triclinic": bulk("NaCl", "rocksalt", a=5.6),
    "skewed_triclinic": SKEWED,
}


def edge_set(edge_index: torch.Tensor, shift: torch.Tensor) -> set[tuple[int, ...]]:
    """Edges as ``(sender, receiver, *shift)`` tuples."""
    rows = torch.cat([edge_index.T, shift], dim=1).tolist()
    return {tuple(row) for row in rows}


CASES = [(name, unwrap) for name in sorted(STRUCTURES) for unwrap in (False, True)]


@pytest.mark.parametrize(("name", "unwrap"), [c for c in CASES if c != ("molecule", True)])
def test_device_graph_equals_host_graph(name: str, unwrap: bool, device: str) -> None:
    frames = [rattled(STRUCTURES[name], seed, unwrap) for seed in range(3)]
    periodic = frames[0].pbc.all()
    positions = torch.tensor(np.stack([a.positions for a in frames]), device=device)
    cell = (
        torch.tensor(np.stack([a.cell.array for a in frames]), device=device) if periodic else None
    )
    species = torch.zeros(len(frames[0]), dtype=torch.long, device=device)
    built = batched_graph(positions, species, R_MAX, cell)
    assert all(value.device.type == device for value in built.values())
    graph = {key: value.cpu() for key, value in built.items()}
    n_atoms = len(frames[0])
    batch, edge_index = graph[keys.BATCH], graph[keys.EDGE_INDEX]
    assert graph[keys.PTR].tolist() == [0, n_atoms, 2 * n_atoms, 3 * n_atoms]
    assert torch.equal(batch[edge_index[0]], batch[edge_index[1]])
    for g, atoms in enumerate(frames):
        mask = batch[edge_index[1]] == g
        ours = edge_set(edge_index[:, mask] - g * n_atoms, graph[keys.EDGE_CELL_SHIFT][mask])
        host_index, host_shift = neighbor_list(atoms, R_MAX)
        host = edge_set(torch.from_numpy(host_index), torch.from_numpy(host_shift))
        assert len(ours) == int(mask.sum())  # no duplicates
        assert ours == host and len(host) > 0
    # every edge vector, from the unwrapped positions and the shifts, is shorter than r_max
    pos, cells = graph[keys.POSITIONS], graph[keys.CELL]
    vectors = (
        pos[edge_index[0]]
        + torch.einsum(
            "ek,ekx->ex", graph[keys.EDGE_CELL_SHIFT].double(), cells[batch[edge_index[1]]]
        )
        - pos[edge_index[1]]
    )
    lengths = vectors.norm(dim=1)
    assert lengths.max() < R_MAX and lengths.min() > 0


def test_graph_fields_match_the_host_builder_and_gradients_flow(device: str) -> None:
    frames = [rattled(molecule("H2O"), seed) for seed in range(4)]
    stacked = np.stack([a.positions for a in frames])
    positions = torch.tensor(stacked, device=device, requires_grad=True)
    species = torch.tensor([1, 0, 0], device=device)  # O, H, H with elements ["H", "O"]
    graph = batched_graph(positions, species, 3.0, dtype=torch.float32)
    host = atoms_to_graph(frames, ["H", "O"], 3.0, dtype=torch.float32, device=device)
    for key in (keys.SPECIES, keys.CELL, keys.PBC, keys.BATCH, keys.PTR, keys.POSITIONS):
        assert graph[key].dtype == host[key].dtype, key
        assert graph[key].device == host[key].device == positions.device, key
        torch.testing.assert_close(graph[key], host[key], msg=key)
    assert edge_set(graph[keys.EDGE_INDEX], graph[keys.EDGE_CELL_SHIFT]) == edge_set(
        host[keys.EDGE_INDEX], host[keys.EDGE_CELL_SHIFT]
    )
    (graph[keys.POSITIONS] ** 2).sum().backward()
    torch.testing.assert_close(positions.grad, 2 * positions.detach())


def test_blocks_of_receivers_give_the_same_edges(monkeypatch: pytest.MonkeyPatch) -> None:
    frames = [rattled(STRUCTURES["bulk"], seed, unwrap=True) for seed in range(2)]
    positions = torch.tensor(np.stack([a.positions for a in frames]))
    cell = torch.tensor(np.stack([a.cell.array for a in frames]))
    species = torch.zeros(len(frames[0]), dtype=torch.long)
    whole = batched_graph(positions, species, R_MAX, cell)
    monkeypatch.setattr("fusionpot.data.device_graph._BLOCK_PAIRS", 100)  # one receiver a block
    blocked = batched_graph(positions, species, R_MAX, cell)
    assert edge_set(whole[keys.EDGE_INDEX], whole[keys.EDGE_CELL_SHIFT]) == edge_set(
        blocked[keys.EDGE_INDEX], blocked[keys.EDGE_CELL_SHIFT]
    )


def test_bad_input_is_named() -> None:
    positions = torch.zeros(2, 3, 3)
    species = torch.zeros(3, dtype=torch.long)
    with pytest.raises(ValueError, match=r"positions must be \[B, n_atoms, 3\]"):
        batched_graph(positions[0], species, 3.0)
    with pytest.raises(ValueError, match="r_max must be"):
        batched_graph(positions, species, 0.0)
    with pytest.raises(ValueError, match=r"species must be \[n_atoms\]"):
        batched_graph(positions, species[:2], 3.0)
    with pytest.raises(ValueError, match=r"cell must be \[B, 3, 3\]"):
        batched_graph(positions, species, 3.0, torch.eye(3))
    flat = torch.diag(torch.tensor([1.0, 1.0, 0.0])).expand(2, 3, 3)
    with pytest.raises(ValueError, match="linearly dependent"):
        batched_graph(positions, species, 3.0, flat)


def test_fixed_edges_are_every_ordered_pair_without_nonzero(
    device: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``fixed_edges``: B·n·(n−1) edges, every ordered pair i ≠ j of each molecule in
    (structure, receiver, sender) order, built without ``nonzero``; the pruned graph's
    edges are among them, in the same relative order."""
    frames = [rattled(STRUCTURES["molecule"], seed) for seed in range(3)]
    positions = torch.tensor(np.stack([a.positions for a in frames]), device=device)
    species = torch.zeros(9, dtype=torch.long, device=device)
    pruned = batched_graph(positions, species, 2.0)
    monkeypatch.setattr(torch, "nonzero", None)  # any call would fail
    fixed = batched_graph(positions, species, 2.0, fixed_edges=True)
    edge_index = fixed[keys.EDGE_INDEX].cpu()
    assert edge_index.shape == (2, 3 * 9 * 8)
    expected = [
        (g * 9 + j, g * 9 + i) for g in range(3) for i in range(9) for j in range(9) if i != j
    ]
    assert [tuple(edge) for edge in edge_index.T.tolist()] == expected
    assert not fixed[keys.EDGE_CELL_SHIFT].any()
    kept = [tuple(edge) for edge in pruned[keys.EDGE_INDEX].cpu().T.tolist()]
    assert 0 < len(kept) < len(expected)
    assert [edge for edge in expected if edge in set(kept)] == kept
    for key in (keys.POSITIONS, keys.SPECIES, keys.CELL, keys.PBC, keys.BATCH, keys.PTR):
        assert torch.equal(fixed[key], pruned[key]), key


def test_edges_beyond_r_max_give_zero_radial_features_and_finite_zero_gradients() -> None:
    """The models' edge embedding (Bessel × polynomial envelope) on a fixed-shape graph:
    exactly 0, with exactly zero (finite) gradients, for every edge at or beyond r_max."""
    torch.manual_seed(0)
    embedding = EdgeEmbedding(r_max=3.0, n_radial=8, cutoff_p=5, l_max=2).double()
    frames = [rattled(STRUCTURES["molecule"], seed) for seed in range(2)]
    positions = 1.5 * torch.tensor(np.stack([a.positions for a in frames]))
    positions[0, 3] = positions[0, 2] + torch.tensor([3.0, 0.0, 0.0], dtype=torch.float64)
    positions.requires_grad_(True)
    graph = batched_graph(positions, torch.zeros(9, dtype=torch.long), 3.0, fixed_edges=True)
    vectors = edge_vectors(
        graph[keys.POSITIONS],
        graph[keys.CELL],
        graph[keys.EDGE_INDEX],
        graph[keys.EDGE_CELL_SHIFT],
        graph[keys.BATCH],
    )
    radial, _ = embedding(vectors)
    far = vectors.detach().norm(dim=1) >= 3.0
    assert far.sum() > 10 and (~far).sum() > 10
    assert (vectors.detach().norm(dim=1)[far] == 3.0).any()  # one pair exactly at r_max
    assert torch.equal(radial[far], torch.zeros_like(radial[far]))
    (gradient,) = torch.autograd.grad(radial[far].sum(), vectors)
    assert gradient.isfinite().all() and not gradient.any()


def test_fixed_edges_refuse_a_cell() -> None:
    positions = torch.zeros(1, 2, 3)
    species = torch.zeros(2, dtype=torch.long)
    with pytest.raises(ValueError, match="fixed_edges=True is for isolated molecules"):
        batched_graph(positions, species, 3.0, torch.eye(3)[None] * 5, fixed_edges=True)
