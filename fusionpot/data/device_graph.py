"""Graphs built where the model runs: positions already on a device → the graph dict of
``keys``, without leaving that device.

For a batch of ``B`` structures with the same number of atoms (the trajectories of a
surface-hopping ensemble, or copies of one cell), every pair is tested: distances
``[B, block, n_atoms, n_images]`` are computed in blocks of receivers and the pairs
closer than ``r_max`` kept. The work grows as ``B · n_atoms² · n_images``: right for
molecules and small cells, where it is a few tensor operations; for large periodic
boxes use the host builder :func:`fusionpot.data.atoms_to_graph` (vesin's cell lists).

With ``fixed_edges=True`` (isolated molecules only) no pair is tested: every ordered pair
i ≠ j of each molecule is an edge, ``B · n_atoms · (n_atoms − 1)`` of them, a shape known
from B and n_atoms alone. A model whose every edge at or beyond ``r_max`` contributes
exactly zero (a cutoff envelope that is 0 with zero derivative there, nothing computed
from the number of edges: every fusionpot architecture, see
:data:`fusionpot.namd.providers.EXACT_BEYOND_CUTOFF`) gives the same energies and
forces on either graph; the fixed one costs more model work (26-atom stilbene, r_max =
5 Å: 650 edges per molecule against 434 at its cis minimum, and on one CPU thread 9 % (B
= 1) to 25 % (B = 64) more time per surface-hopping step, ``bench/namd_throughput.py``)
but needs no read-back.

Host reads: pruned graphs, one per block of receivers for the number of edges
(``nonzero``), and for periodic cells two more (the range of images, the check for a
degenerate cell); fixed-shape graphs, none. Nothing else leaves the device.

>>> positions = torch.tensor([[[0.0, 0, 0], [0.96, 0, 0], [-0.24, 0.93, 0]]])
>>> graph = batched_graph(positions, torch.tensor([1, 0, 0]), r_max=2.0)
>>> graph["edge_index"].shape, graph["ptr"].tolist()
(torch.Size([2, 6]), [0, 3])
"""

from __future__ import annotations

import torch

from fusionpot.data import keys

__all__ = ["batched_graph"]

#: distances computed at once (B × block × n_atoms × n_images), bounds the memory used
_BLOCK_PAIRS = 1 << 22


def _image_shifts(cell: torch.Tensor, r_max: float) -> torch.Tensor:
    """Integer lattice offsets [n_images, 3] that can hold a neighbour of a wrapped atom.

    Along lattice vector k an image further than ``r_max·|b_k|`` cells away (b_k the
    reciprocal vector, ``inverse(cell)[:, k]``) lies beyond ``r_max`` of every point of
    the cell; the range is shared by the batch (one host read).
    """
    reciprocal = torch.linalg.inv(cell).norm(dim=1)  # [B, 3] |b_k| in 1/Å
    reach = torch.ceil(r_max * reciprocal).amax(dim=0).to(torch.long).tolist()
    ranges = [torch.arange(-n, n + 1, device=cell.device) for n in reach]
    return torch.cartesian_prod(*ranges).reshape(-1, 3)


def batched_graph(
    positions: torch.Tensor,
    species: torch.Tensor,
    r_max: float,
    cell: torch.Tensor | None = None,
    dtype: torch.dtype | None = None,
    fixed_edges: bool = False,
) -> dict[str, torch.Tensor]:
    """The graph dict (``keys``) of ``B`` structures of ``n_atoms`` atoms each, built on
    ``positions.device``.

    positions: [B, n_atoms, 3] Å (may require grad: the graph's positions are these,
    reshaped, so gradients flow back to them); species: [n_atoms] or [B, n_atoms] indices
    into the model's element list; r_max: cutoff Å (pairs strictly closer are edges);
    cell: [B, 3, 3] Å lattice vectors as rows, periodic along all three (atoms see their
    own images, positions need not be wrapped), or None for isolated molecules;
    dtype: of positions and cell in the graph (default: that of ``positions``; edges are
    found in the dtype of ``positions``); fixed_edges: every ordered pair i ≠ j of each
    molecule is an edge, whatever its length (no cell; see the module docstring).

    Returns positions [B·n_atoms, 3], species, edge_index [2, n_edges] (sender j,
    receiver i), edge_cell_shift [n_edges, 3], cell [B, 3, 3] (zeros for molecules),
    pbc [B, 3], batch [B·n_atoms] and ptr [B + 1], on the device of ``positions``.
    Edges come ordered by (block of receivers, structure, receiver, sender, image); with
    ``fixed_edges``, by (structure, receiver, sender).
    """
    if positions.dim() != 3 or positions.shape[-1] != 3:
        raise ValueError(f"positions must be [B, n_atoms, 3], got {tuple(positions.shape)}")
    if not r_max > 0:
        raise ValueError(f"r_max must be a positive distance in Å, got {r_max}")
    n_graphs, n_atoms, _ = positions.shape
    if species.shape not in ((n_atoms,), (n_graphs, n_atoms)):
        raise ValueError(
            f"species must be [n_atoms] or [B, n_atoms] = [{n_graphs}, {n_atoms}], "
            f"got {tuple(species.shape)}"
        )
    if cell is not None and cell.shape != (n_graphs, 3, 3):
        raise ValueError(f"cell must be [B, 3, 3] = [{n_graphs}, 3, 3], got {tuple(cell.shape)}")
    if fixed_edges and cell is not None:
        raise ValueError("fixed_edges=True is for isolated molecules: cell must be None")
    device = positions.device
    dtype = positions.dtype if dtype is None else dtype
    if fixed_edges:
        edge_index = _all_pairs(n_graphs, n_atoms, device)
        edge_cell_shift = torch.zeros(edge_index.shape[1], 3, dtype=torch.long, device=device)
    else:
        edge_index, edge_cell_shift = _pruned_edges(positions, cell, r_max)
    species = species.to(device=device, dtype=torch.long).expand(n_graphs, n_atoms)
    periodic = cell is not None
    structure = torch.arange(n_graphs, device=device)
    return {
        keys.POSITIONS: positions.reshape(-1, 3).to(dtype),
        keys.SPECIES: species.reshape(-1),
        keys.EDGE_INDEX: edge_index,
        keys.EDGE_CELL_SHIFT: edge_cell_shift,
        keys.CELL: (cell if cell is not None else positions.new_zeros(n_graphs, 3, 3)).to(
            device, dtype
        ),
        keys.PBC: torch.full((n_graphs, 3), periodic, dtype=torch.bool, device=device),
        keys.BATCH: structure[:, None].expand(n_graphs, n_atoms).reshape(-1),
        keys.PTR: torch.arange(n_graphs + 1, device=device) * n_atoms,
    }


def _all_pairs(n_graphs: int, n_atoms: int, device: torch.device) -> torch.Tensor:
    """edge_index [2, B·n·(n−1)] of every ordered pair i ≠ j in each of ``n_graphs``
    molecules of ``n_atoms`` atoms, ordered by (structure, receiver i, sender j); built
    from aranges only (no data-dependent shape, so no host read)."""
    others = max(n_atoms - 1, 1)
    k = torch.arange(n_atoms * (n_atoms - 1), device=device)
    i = torch.div(k, others, rounding_mode="floor")
    r = k - i * others
    j = r + (r >= i).to(r.dtype)  # skip j = i
    offsets = torch.arange(n_graphs, device=device)[:, None] * n_atoms  # [B, 1]
    return torch.stack([(offsets + j).reshape(-1), (offsets + i).reshape(-1)])


def _pruned_edges(
    positions: torch.Tensor, cell: torch.Tensor | None, r_max: float
) -> tuple[torch.Tensor, torch.Tensor]:
    """edge_index [2, n_edges] and edge_cell_shift [n_edges, 3] of the pairs closer than
    ``r_max`` Å (see :func:`batched_graph`); host reads: one per block (``nonzero``),
    and for a cell the image range and the degenerate-cell check."""
    n_graphs, n_atoms, _ = positions.shape
    device = positions.device
    with torch.no_grad():
        points = positions.detach()
        if cell is None:
            shifts = torch.zeros(1, 3, dtype=torch.long, device=device)
            whole = torch.zeros(n_graphs, n_atoms, 3, dtype=torch.long, device=device)
            lattice = points.new_zeros(n_graphs, 3, 3)
        else:
            lattice = cell.detach().to(device, points.dtype)
            if bool((torch.linalg.det(lattice).abs() < 1e-12).any()):
                raise ValueError("a periodic cell has linearly dependent (or zero) vectors")
            # wrap into the cell: x = frac @ cell, whole = floor(frac)
            frac = torch.linalg.solve(lattice.transpose(1, 2), points.transpose(1, 2))
            whole = torch.floor(frac.transpose(1, 2)).to(torch.long)
            points = points - torch.bmm(whole.to(points.dtype), lattice)
            shifts = _image_shifts(lattice, r_max)
        offsets = torch.einsum("sk,bkx->bsx", shifts.to(points.dtype), lattice)  # [B, S, 3]
        zero_shift = (shifts == 0).all(dim=1)  # [S]
        images = points[:, None, :, None, :] + offsets[:, None, None, :, :]  # [B, 1, n, S, 3]
        block = max(1, _BLOCK_PAIRS // max(1, n_graphs * n_atoms * shifts.shape[0]))
        found = []
        for start in range(0, n_atoms, block):
            receivers = points[:, start : start + block]  # [B, b, 3]
            vectors = images - receivers[:, :, None, None, :]  # [B, b, n, S, 3]
            close = (vectors**2).sum(dim=-1) < r_max**2
            i = torch.arange(start, start + receivers.shape[1], device=device)
            itself = i[:, None] == torch.arange(n_atoms, device=device)[None, :]  # [b, n]
            close &= ~(itself[:, :, None] & zero_shift[None, None, :])[None]
            b, ib, j, s = torch.nonzero(close, as_tuple=True)
            found.append((b, ib + start, j, s))
        b, i, j, s = (torch.cat(parts) for parts in zip(*found, strict=True))
        edge_index = torch.stack([b * n_atoms + j, b * n_atoms + i])
        edge_cell_shift = shifts[s] - whole[b, j] + whole[b, i]
    return edge_index, edge_cell_shift
