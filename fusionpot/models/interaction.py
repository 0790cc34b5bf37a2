"""The one-particle basis A_i = Σ_j R(r_ij) Y(r̂_ij) ⊗ W h_j (mace-torch's residual block)."""

from __future__ import annotations

import torch

from fusionpot.models._mace import RealAgnosticResidualInteractionBlock, compile_mode, o3

__all__ = ["Interaction"]


@compile_mode("script")
class Interaction(torch.nn.Module):
    """One message-passing step up to the one-particle basis, plus the self-connection.

    Wraps mace-torch's ``RealAgnosticResidualInteractionBlock`` with a signature free of
    engine flags. Inputs: node_attrs [n_atoms, n_elements] one-hot; h [n_atoms,
    irreps_h]; radial [n_edges, n_radial]; harmonics [n_edges, irreps_sh];
    edge_index [2, n_edges] (sender, receiver).
    Outputs: A [n_atoms, channels, dim(irreps_sh)] (per channel, e3nn order) and the
    self-connection [n_atoms, irreps_skip] (a species-dependent linear map of h).
    """

    def __init__(
        self,
        n_elements: int,
        irreps_h: o3.Irreps,
        irreps_sh: o3.Irreps,
        n_radial: int,
        channels: int,
        irreps_skip: o3.Irreps,
        avg_num_neighbors: float,
        radial_mlp: list[int],
    ) -> None:
        super().__init__()
        self.irreps_a = (irreps_sh * channels).sort().irreps.simplify()
        self.block = RealAgnosticResidualInteractionBlock(
            node_attrs_irreps=o3.Irreps(f"{n_elements}x0e"),
            node_feats_irreps=irreps_h,
            edge_attrs_irreps=irreps_sh,
            edge_feats_irreps=o3.Irreps(f"{n_radial}x0e"),
            target_irreps=self.irreps_a,
            hidden_irreps=irreps_skip,
            avg_num_neighbors=avg_num_neighbors,
            radial_MLP=radial_mlp,
        )

    def forward(
        self,
        node_attrs: torch.Tensor,
        h: torch.Tensor,
        radial: torch.Tensor,
        harmonics: torch.Tensor,
        edge_index: torch.Tensor,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        a, skip = self.block(node_attrs, h, harmonics, radial, edge_index)
        return a, skip
