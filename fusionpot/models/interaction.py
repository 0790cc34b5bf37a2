"""The one-particle basis A_i = Σ_j R(r_ij) Y(r̂_ij) ⊗ W h_j (mace-torch's residual block)."""

from math import prod

import torch
from e3nn import nn  # o3 is already imported safely: fusionpot.models imports config first

from fusionpot.models._mace import RealAgnosticResidualInteractionBlock, compile_mode, o3

__all__ = ["ChannelSharedRadial", "Interaction"]


@compile_mode("script")
class ChannelSharedRadial(torch.nn.Module):
    """Radial weights R(r_ij) with one value per tensor-product path, shared by all channels.

    mace-torch's radial MLP ends in ``channels × n_paths`` outputs (one radial function per
    path and channel); this one ends in ``n_paths`` and copies each to the path's channels,
    so its last layer is ``channels`` times smaller. The weights are scalars of r_ij only,
    so the block stays exactly O(3)-equivariant.

    radial: [n_edges, n_radial] -> [n_edges, weight_numel] in ``conv_tp``'s weight order
    (instruction-major, the instruction's ``path_shape`` flattened within).
    """

    path_of_weight: torch.Tensor

    def __init__(self, n_radial: int, hidden: list[int], tensor_product: o3.TensorProduct) -> None:
        super().__init__()
        weighted = [ins for ins in tensor_product.instructions if ins.has_weight]
        self.net = nn.FullyConnectedNet(
            [n_radial, *hidden, len(weighted)], torch.nn.functional.silu
        )
        index = [p for p, ins in enumerate(weighted) for _ in range(prod(ins.path_shape))]
        assert len(index) == tensor_product.weight_numel, "every weight belongs to one path"
        self.register_buffer("path_of_weight", torch.tensor(index, dtype=torch.long))

    def forward(self, radial: torch.Tensor) -> torch.Tensor:
        return self.net(radial).index_select(-1, self.path_of_weight)


@compile_mode("script")
class Interaction(torch.nn.Module):
    """One message-passing step up to the one-particle basis, plus the self-connection.

    Wraps mace-torch's ``RealAgnosticResidualInteractionBlock`` with a signature free of
    engine flags. Inputs: node_attrs [n_atoms, n_elements] one-hot; h [n_atoms,
    irreps_h]; radial [n_edges, n_radial]; harmonics [n_edges, irreps_sh];
    edge_index [2, n_edges] (sender, receiver).
    Outputs: A [n_atoms, channels, dim(irreps_sh)] (per channel, e3nn order) and the
    self-connection [n_atoms, irreps_skip] (a species-dependent linear map of h).
    share_radial_channels: one radial function per path for all channels
    (:class:`ChannelSharedRadial`) instead of mace-torch's one per path and channel.
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
        share_radial_channels: bool = False,
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
        if share_radial_channels:
            self.block.conv_tp_weights = ChannelSharedRadial(
                n_radial, radial_mlp, self.block.conv_tp
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
