"""The product basis as a fusion block: B_i = FusionBlock(A_i [+1], h_i), then a linear
(or not: with ``replaces_linear`` the block's root vertex is the last map)."""

from __future__ import annotations

import torch

from fusionpot.fusion import FusionBlock
from fusionpot.fusion.diagram import FusionDiagram, format_irreps_list, parse_irreps_list
from fusionpot.models._mace import compile_mode, o3

__all__ = ["FusionProduct", "channel_irreps", "from_channels", "to_channels"]


def channel_irreps(per_channel: str, channels: int) -> o3.Irreps:
    """``channels`` copies of each irrep of one channel, e.g. ``("0e+1o", 8) -> 8x0e+8x1o``."""
    return o3.Irreps([(channels, ir) for ir in parse_irreps_list(per_channel, "irreps")])


def to_channels(x: torch.Tensor, dims: list[int], channels: int) -> torch.Tensor:
    """e3nn layout ``[n, c×d1 | c×d2 | …]`` -> per-channel ``[n, c, d1 + d2 + …]``."""
    blocks = torch.split(x, [channels * d for d in dims], dim=-1)
    return torch.cat(
        [blocks[k].reshape(x.shape[0], channels, d) for k, d in enumerate(dims)], dim=-1
    )


def from_channels(x: torch.Tensor, dims: list[int]) -> torch.Tensor:
    """Per-channel ``[n, c, d1 + d2 + …]`` -> e3nn layout ``[n, c×d1 | c×d2 | …]``."""
    blocks = torch.split(x, dims, dim=-1)
    return torch.cat([b.reshape(x.shape[0], -1) for b in blocks], dim=-1)


@compile_mode("script")
class FusionProduct(torch.nn.Module):
    """Fuse the one-particle basis (and the node's own features) along a fusion tree.

    tree: diagram without outputs over leaves ``A`` and optionally ``h``;
    irreps_a / irreps_h / irreps_out: irreps of *one channel* (strings);
    constant_leaf: A gets a constant ``1x0e`` appended (all lower body orders).
    replaces_linear: no channel-mixing linear after the block; its root vertex, with a
    weight per element, coupling and channel, is the product's last map (one contraction
    instead of two, ``channels² × n_irreps_out`` fewer weights); channels then mix in the
    next layer's interaction linears and in the readout.
    Input: a [n_atoms, channels, dim(irreps_a)], h [n_atoms, channels × irreps_h]
    (e3nn layout), node_attrs [n_atoms, n_elements] one-hot.
    Output: [n_atoms, channels × irreps_out] (e3nn layout).
    """

    def __init__(
        self,
        tree: str,
        irreps_a: str,
        irreps_h: str,
        irreps_out: str,
        channels: int,
        weights: str,
        n_elements: int,
        lmax: int | None,
        constant_leaf: bool,
        dtype: torch.dtype,
        replaces_linear: bool = False,
    ) -> None:
        super().__init__()
        diagram = FusionDiagram.parse(f"{tree} -> {irreps_out}")
        leaf_irreps = {"A": f"{irreps_a}+0e" if constant_leaf else irreps_a, "h": irreps_h}
        self.block = FusionBlock(
            diagram,
            {name: leaf_irreps[name] for name in diagram.unique_leaf_names},
            n_channels=channels,
            weights=weights,
            n_elements=n_elements,
            lmax=lmax,
            dtype=dtype,
        )
        self.channels = channels
        self.constant_leaf = constant_leaf
        self.uses_h = "h" in diagram.leaf_names
        self.h_dims = [ir.dim for ir in parse_irreps_list(irreps_h, "irreps_h")]
        self.out_dims = [ir.dim for ir in diagram.irreps_out]
        self.irreps_out = channel_irreps(format_irreps_list(diagram.irreps_out), channels)
        self.linear: torch.nn.Module = (
            torch.nn.Identity() if replaces_linear else o3.Linear(self.irreps_out, self.irreps_out)
        )

    def forward(self, a: torch.Tensor, h: torch.Tensor, node_attrs: torch.Tensor) -> torch.Tensor:
        if self.constant_leaf:
            a = torch.cat([a, a.new_ones(a.shape[0], a.shape[1], 1)], dim=-1)
        leaves = {"A": a}
        if self.uses_h:
            leaves["h"] = to_channels(h, self.h_dims, self.channels)
        fused = self.block(leaves, node_attrs)
        return self.linear(from_channels(fused, self.out_dims))
