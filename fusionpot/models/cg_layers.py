"""Cormorant's layers: the edge network, the atom updates (CG products or one fusion block)
and a layer's invariant readout; :mod:`fusionpot.models.cormorant` assembles them.

Shapes: F (activations) [n_atoms, irreps] in e3nn's layout; g (edge scalars) [n_edges,
channels × (l_max+1)]; edge representations [n_edges, channels, (l_max+1)²] per channel;
edge_index [2, n_edges] (sender j, receiver i).
"""

import torch
from e3nn import nn  # o3 is already imported safely: fusionpot.models imports config first

from fusionpot.fusion import FusionBlock
from fusionpot.fusion.diagram import FusionDiagram, format_irreps_list, parse_irreps_list
from fusionpot.models._mace import compile_mode, o3
from fusionpot.models.product import channel_irreps, from_channels, to_channels
from fusionpot.models.readout import LinearStateReadout, MLPStateReadout

__all__ = ["CGLayer", "CGUpdate", "EdgeNetwork", "FusionCGUpdate"]


def _dims(irreps: o3.Irreps) -> list[int]:
    """Dimension of each irrep of one channel's irreps ``irreps``."""
    return [ir.dim for _, ir in irreps]


@compile_mode("script")
class EdgeNetwork(torch.nn.Module):
    """Cormorant's scalar edge features of one layer, and the edge representations.

    ``g_ij = R(r_ij) + u(r_ij) W [g_ij^prev ⊕ ⟨F_i, F_j⟩]``: [n_edges, channels × (l_max+1)],
    one scalar per channel and degree l; the edge representation multiplies channel k's
    ``Y_l(r̂_ij)`` by ``g_ij[k, l]``: [n_edges, channels, (l_max+1)²] (per channel).

    irreps_h: the activations F (e3nn layout); width_prev: the previous layer's g width
    (0 in the first layer); radial_mlp: hidden sizes of R (``[]``: linear in the basis).
    """

    degree: torch.Tensor

    def __init__(
        self,
        irreps_h: o3.Irreps,
        n_radial: int,
        radial_mlp: list[int],
        channels: int,
        l_max: int,
        width_prev: int,
    ) -> None:
        super().__init__()
        self.channels = channels
        self.width = channels * (l_max + 1)
        self.dot = o3.ElementwiseTensorProduct(irreps_h, irreps_h, ["0e"])
        n_in = self.dot.irreps_out.dim + width_prev
        self.radial = nn.FullyConnectedNet(
            [n_radial, *radial_mlp, self.width], torch.nn.functional.silu
        )
        self.mix = o3.Linear(o3.Irreps(f"{n_in}x0e"), o3.Irreps(f"{self.width}x0e"))
        degrees = torch.arange(l_max + 1)
        self.register_buffer("degree", degrees.repeat_interleave(2 * degrees + 1))

    def forward(
        self,
        radial: torch.Tensor,
        cutoff: torch.Tensor,
        harmonics: torch.Tensor,
        h: torch.Tensor,
        g_prev: torch.Tensor,
        edge_index: torch.Tensor,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """radial [n_edges, n_radial] (Bessel × cutoff), cutoff [n_edges, 1], harmonics
        [n_edges, (l_max+1)²], h [n_atoms, irreps_h], g_prev [n_edges, width_prev],
        edge_index [2, n_edges] -> (g [n_edges, width], edge [n_edges, channels, (l_max+1)²])."""
        sender, receiver = edge_index[0], edge_index[1]
        dots = self.dot(h.index_select(0, receiver), h.index_select(0, sender))
        g = self.radial(radial) + cutoff * self.mix(torch.cat([g_prev, dots], dim=-1))
        per_degree = g.reshape(g.shape[0], self.channels, -1).index_select(-1, self.degree)
        return g, per_degree * harmonics.unsqueeze(1)


@compile_mode("script")
class CGUpdate(torch.nn.Module):
    """Cormorant's atom update: ``Mix[F_i ⊕ F_i ⊗ F_i ⊕ (1/N) Σ_j edge_ij ⊗ F_j]``.

    Both CG products couple every channel with every channel (e3nn's
    ``FullTensorProduct``, outputs restricted to the irreps of ``irreps_out``); Mix is a
    learnable linear map per irrep (Cormorant's ``CatMixReps``).
    Inputs: node_attrs [n_atoms, n_elements] (unused: Cormorant's update does not depend
    on the species), h [n_atoms, irreps_h], edge [n_edges, channels, dim(sh)] (per
    channel), edge_index [2, n_edges]. Output: [n_atoms, irreps_out].
    """

    def __init__(
        self,
        irreps_h: o3.Irreps,
        irreps_sh: o3.Irreps,
        channels: int,
        irreps_out: o3.Irreps,
        avg_num_neighbors: float,
    ) -> None:
        super().__init__()
        targets = [ir for _, ir in irreps_out]
        self.sh_dims = _dims(irreps_sh)
        self.avg_num_neighbors = avg_num_neighbors
        self.square = o3.FullTensorProduct(irreps_h, irreps_h, filter_ir_out=targets)
        irreps_edge = o3.Irreps([(channels, ir) for _, ir in irreps_sh])
        self.aggregate = o3.FullTensorProduct(irreps_edge, irreps_h, filter_ir_out=targets)
        self.mix = o3.Linear(
            irreps_h + self.square.irreps_out + self.aggregate.irreps_out, irreps_out
        )

    def forward(
        self,
        node_attrs: torch.Tensor,
        h: torch.Tensor,
        edge: torch.Tensor,
        edge_index: torch.Tensor,
    ) -> torch.Tensor:
        sender, receiver = edge_index[0], edge_index[1]
        messages = self.aggregate(from_channels(edge, self.sh_dims), h.index_select(0, sender))
        aggregated = messages.new_zeros(h.shape[0], messages.shape[1])
        aggregated = aggregated.index_add(0, receiver, messages) / self.avg_num_neighbors
        return self.mix(torch.cat([h, self.square(h, h), aggregated], dim=-1))


@compile_mode("script")
class FusionCGUpdate(torch.nn.Module):
    """Fusion-Cormorant's atom update: one fusion block per edge, summed over neighbours.

    ``F_i ← Linear[(1/N) Σ_j block(Y = edge_ij, c = F_i [+1], n = F_j [+1])] + Linear[F_i]``.
    The block is channel-wise with per-element weights (the centre's species); its tree
    (``tree``, leaves Y, c, n) is the config's ``diagram``. ``"((c, c), (n, Y))"`` holds
    Cormorant's two CG products in one tree: with the constant leaf, the aggregate
    ``Y ⊗ F_j`` (c = 1), the CG square ``F_i ⊗ F_i`` (weighted by the radial sum over j,
    n = 1), and their product. ``"((c, n), Y)"`` is one trilinear coupling of centre,
    neighbour and edge, which contains the aggregate, ``F_i ⊗ Y`` and the radial density.
    irreps_h / irreps_sh / irreps_out: irreps of one channel (strings). Inputs and output
    as :class:`CGUpdate`'s.
    """

    def __init__(
        self,
        tree: str,
        irreps_h: str,
        irreps_sh: str,
        irreps_out: str,
        channels: int,
        weights: str,
        n_elements: int,
        lmax: int | None,
        constant_leaf: bool,
        avg_num_neighbors: float,
        dtype: torch.dtype,
    ) -> None:
        super().__init__()
        diagram = FusionDiagram.parse(f"{tree} -> {irreps_out}")
        features = f"{irreps_h}+0e" if constant_leaf else irreps_h
        leaf_irreps = {"Y": irreps_sh, "c": features, "n": features}
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
        self.uses_c = "c" in diagram.leaf_names
        self.uses_n = "n" in diagram.leaf_names
        self.avg_num_neighbors = avg_num_neighbors
        self.h_dims = [ir.dim for ir in parse_irreps_list(irreps_h, "irreps_h")]
        self.out_dims = [ir.dim for ir in diagram.irreps_out]
        out = channel_irreps(format_irreps_list(diagram.irreps_out), channels)
        self.linear = o3.Linear(out, out)
        self.skip = o3.Linear(channel_irreps(irreps_h, channels), out)

    def forward(
        self,
        node_attrs: torch.Tensor,
        h: torch.Tensor,
        edge: torch.Tensor,
        edge_index: torch.Tensor,
    ) -> torch.Tensor:
        sender, receiver = edge_index[0], edge_index[1]
        features = to_channels(h, self.h_dims, self.channels)
        if self.constant_leaf:
            ones = features.new_ones(features.shape[0], features.shape[1], 1)
            features = torch.cat([features, ones], dim=-1)
        leaves = {"Y": edge}
        if self.uses_c:
            leaves["c"] = features.index_select(0, receiver)
        if self.uses_n:
            leaves["n"] = features.index_select(0, sender)
        fused = self.block(leaves, node_attrs.index_select(0, receiver))
        summed = fused.new_zeros(h.shape[0], fused.shape[1], fused.shape[2])
        summed = summed.index_add(0, receiver, fused) / self.avg_num_neighbors
        return self.linear(from_channels(summed, self.out_dims)) + self.skip(h)


@compile_mode("script")
class CGLayer(torch.nn.Module):
    """One level: edge network -> atom update -> readout of the new activations'
    invariants (scalars and squared norms, Cormorant's ``GetScalarsAtom``).

    Returns (F [n_atoms, irreps_out], g [n_edges, width], energies [n_atoms, n_states]).
    """

    def __init__(
        self,
        edges: EdgeNetwork,
        update: torch.nn.Module,
        irreps_out: o3.Irreps,
        n_states: int,
        readout_mlp: int | None,
    ) -> None:
        super().__init__()
        self.edges = edges
        self.update = update
        self.norms = o3.ElementwiseTensorProduct(irreps_out, irreps_out, ["0e"])
        invariants = irreps_out + self.norms.irreps_out
        self.readout = (
            LinearStateReadout(invariants, n_states)
            if readout_mlp is None
            else MLPStateReadout(invariants, n_states, readout_mlp)
        )

    def forward(
        self,
        node_attrs: torch.Tensor,
        h: torch.Tensor,
        g: torch.Tensor,
        radial: torch.Tensor,
        cutoff: torch.Tensor,
        harmonics: torch.Tensor,
        edge_index: torch.Tensor,
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        g, edge = self.edges(radial, cutoff, harmonics, h, g, edge_index)
        h = self.update(node_attrs, h, edge, edge_index)
        return h, g, self.readout(torch.cat([h, self.norms(h, h)], dim=-1))
