"""Edge geometry and embeddings: what the first layer sees of atoms and bonds."""

from __future__ import annotations

import torch

from fusionpot.data import keys
from fusionpot.models._mace import RadialEmbeddingBlock, compile_mode, o3

__all__ = ["EdgeEmbedding", "edge_vectors", "graph_edge_vectors"]


def edge_vectors(
    positions: torch.Tensor,
    cell: torch.Tensor,
    edge_index: torch.Tensor,
    edge_cell_shift: torch.Tensor,
    batch: torch.Tensor,
) -> torch.Tensor:
    """Vectors from each edge's centre (receiver i) to its neighbour's image (sender j).

    positions: [n_atoms, 3] Å; cell: [n_graphs, 3, 3] Å (rows are lattice vectors);
    edge_index: [2, n_edges]; edge_cell_shift: [n_edges, 3] integers; batch: [n_atoms].
    Returns ``r_ij = positions[j] + shift @ cell - positions[i]``: [n_edges, 3] Å.
    """
    sender, receiver = edge_index[0], edge_index[1]
    lattice = cell.index_select(0, batch.index_select(0, receiver))
    shift = torch.einsum("ek,ekx->ex", edge_cell_shift.to(positions.dtype), lattice)
    return positions.index_select(0, sender) + shift - positions.index_select(0, receiver)


def graph_edge_vectors(data: dict[str, torch.Tensor]) -> torch.Tensor:
    """The edge vectors of a graph dict: ``data["edge_vectors"]`` when given (ForceOutput
    passes them to differentiate with respect to each edge), else :func:`edge_vectors` of
    its positions and cell. Returns [n_edges, 3] Å."""
    if keys.EDGE_VECTORS in data:
        return data[keys.EDGE_VECTORS]
    return edge_vectors(
        data[keys.POSITIONS],
        data[keys.CELL],
        data[keys.EDGE_INDEX],
        data[keys.EDGE_CELL_SHIFT],
        data[keys.BATCH],
    )


@compile_mode("script")
class EdgeEmbedding(torch.nn.Module):
    """Edge vectors -> radial features (Bessel × polynomial cutoff) and spherical harmonics.

    vectors: [n_edges, 3] Å -> (radial [n_edges, n_radial], harmonics [n_edges, (l_max+1)²]),
    the harmonics in e3nn's component normalisation, ``0e+1o+2e+…``.
    """

    def __init__(self, r_max: float, n_radial: int, cutoff_p: int, l_max: int) -> None:
        super().__init__()
        self.irreps_sh = o3.Irreps.spherical_harmonics(l_max)
        self.radial = RadialEmbeddingBlock(
            r_max=r_max, num_bessel=n_radial, num_polynomial_cutoff=cutoff_p
        )
        self.harmonics = o3.SphericalHarmonics(
            self.irreps_sh, normalize=True, normalization="component"
        )

    def forward(self, vectors: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        lengths = torch.linalg.norm(vectors, dim=-1, keepdim=True)
        # the node attributes and indices are only read by MACE's distance transforms
        empty = vectors.new_zeros(0)
        radial, _ = self.radial(lengths, empty, empty.long(), empty.long())
        return radial, self.harmonics(vectors)
