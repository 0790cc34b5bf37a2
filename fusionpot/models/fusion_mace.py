"""``FusionMACE``: MACE's message passing with a fusion-diagram product basis, S states."""

import torch

from fusionpot.data import keys
from fusionpot.fusion.diagram import format_irreps_list
from fusionpot.models._mace import compile_mode, o3
from fusionpot.models.base import EnergyModel
from fusionpot.models.config import FusionMACEConfig, default_dtype
from fusionpot.models.embedding import EdgeEmbedding, graph_edge_vectors
from fusionpot.models.interaction import Interaction
from fusionpot.models.product import FusionProduct, channel_irreps
from fusionpot.models.readout import LinearStateReadout, MLPStateReadout

__all__ = ["FusionMACE"]


@compile_mode("script")
class Layer(torch.nn.Module):
    """One message-passing layer: interaction -> fusion product (+ skip) -> readout.

    Returns the updated features h [n_atoms, irreps_out] and this layer's energy
    contributions [n_atoms, n_states].
    """

    def __init__(
        self, interaction: Interaction, product: FusionProduct, readout: torch.nn.Module
    ) -> None:
        super().__init__()
        self.interaction = interaction
        self.product = product
        self.readout = readout

    def forward(
        self,
        node_attrs: torch.Tensor,
        h: torch.Tensor,
        radial: torch.Tensor,
        harmonics: torch.Tensor,
        edge_index: torch.Tensor,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        a, skip = self.interaction(node_attrs, h, radial, harmonics, edge_index)
        h = self.product(a, h, node_attrs) + skip
        return h, self.readout(h)


@compile_mode("script")
class FusionMACE(EnergyModel):
    """Per-atom and total energies of ``n_states`` electronic states.

    Per layer t: ``A = Σ_j R(r_ij) Y(r̂_ij) ⊗ W h_j`` (interaction), ``B = fusion(A [+1], h)``
    (product), ``h ← linear(B) + skip(h)`` (``h ← B + skip(h)`` with the config's
    ``fusion_replaces_linear``), and a readout adds ``n_states`` energies per atom.
    ``E_i,s = E0[Z_i, s] + scale_s · Σ_t readout_t(h_i)_s + shift_s``.

    ``forward(data)``: the graph dict of :mod:`fusionpot.data.keys` (positions [n_atoms, 3] Å,
    species, edge_index, edge_cell_shift, cell [n_graphs, 3, 3] Å, batch, ptr) -> the same
    dict plus ``atomic_energy`` [n_atoms, n_states] eV and ``energy`` [n_graphs, n_states] eV.
    Forces and stress: wrap in :class:`~fusionpot.models.ForceOutput`.
    """

    def __init__(self, config: FusionMACEConfig) -> None:
        if not isinstance(config, FusionMACEConfig):
            raise TypeError(f"config must be a FusionMACEConfig, got {type(config).__name__}")
        super().__init__(config)
        dtype = config.torch_dtype
        c = config.channels
        with default_dtype(dtype):
            self.node_embedding = o3.Linear(
                o3.Irreps(f"{self.n_elements}x0e"), channel_irreps("0e", c)
            )
            self.edge_embedding = EdgeEmbedding(
                config.r_max, config.n_radial, config.cutoff_p, config.l_max
            )
            irreps_sh = self.edge_embedding.irreps_sh
            sh_per_channel = format_irreps_list(tuple(ir for _, ir in irreps_sh))
            self.layers = torch.nn.ModuleList()
            h_per_channel = "0e"
            for layer in range(config.n_layers):
                last = layer == config.n_layers - 1
                out_per_channel = "0e" if last else config.hidden_irreps
                irreps_out = channel_irreps(out_per_channel, c)
                interaction = Interaction(
                    self.n_elements,
                    channel_irreps(h_per_channel, c),
                    irreps_sh,
                    config.n_radial,
                    c,
                    irreps_out,
                    config.avg_num_neighbors,
                    list(config.radial_mlp),
                    config.share_radial_channels,
                )
                product = FusionProduct(
                    config.diagram,
                    sh_per_channel,
                    h_per_channel,
                    out_per_channel,
                    c,
                    config.weights,
                    self.n_elements,
                    config.fusion_lmax,
                    config.constant_leaf,
                    dtype,
                    config.fusion_replaces_linear,
                )
                readout = (
                    MLPStateReadout(irreps_out, config.n_states, config.readout_mlp)
                    if last
                    else LinearStateReadout(irreps_out, config.n_states)
                )
                self.layers.append(Layer(interaction, product, readout))
                h_per_channel = out_per_channel
        self.to(dtype)

    def forward(self, data: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        self.check_inputs(data)
        positions = data[keys.POSITIONS]
        edge_index = data[keys.EDGE_INDEX]
        node_attrs = self.node_attributes(data)
        vectors = graph_edge_vectors(data)
        radial, harmonics = self.edge_embedding(vectors)
        h = self.node_embedding(node_attrs)
        readout_sum = positions.new_zeros(positions.shape[0], self.n_states)
        for layer in self.layers:
            h, layer_energy = layer(node_attrs, h, radial, harmonics, edge_index)
            readout_sum = readout_sum + layer_energy
        return self.energies(data, readout_sum)
