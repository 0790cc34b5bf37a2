"""Cormorant (Anderson, Hy, Kondor 2019) and Fusion-Cormorant, S states.

Cormorant's layer t (a "CG level") updates atom activations F_i (channels × irreps)
and scalar edge features g_ij (one per channel and spherical-harmonic degree l):

* edge network: ``g_ij^t = R_t(r_ij) + u(r_ij) W_t [g_ij^(t-1) ⊕ ⟨F_i, F_j⟩]``, where
  R_t are learnable radial functions of the Bessel basis (zero at r_max), u the
  polynomial cutoff and ⟨F_i, F_j⟩ the dot product of every channel and irrep;
* atom update: ``F_i ← Mix_t[F_i ⊕ F_i ⊗ F_i ⊕ (1/N) Σ_j (g_ij Y(r̂_ij)) ⊗ F_j]``, where
  ⊗ is the Clebsch–Gordan product of every channel with every channel (the CG square
  is Cormorant's only nonlinearity) and Mix a learnable linear map per irrep;
* readout: every layer's invariants (its scalars and the squared norm of every
  channel and irrep) give S energies per atom, summed over layers.

Ours differs from the reference implementation (github.com/risilab/cormorant) in form,
not structure: real O(3) irreps with parity (e3nn) instead of complex SO(3) ones, the
Bessel basis with a polynomial cutoff (smooth forces) instead of trigonometric radial
functions with a soft mask, and a last layer that keeps only scalars, as our MACEs do.

Fusion-Cormorant replaces the atom update with one fusion block per edge over the
leaves ``Y`` = g_ij Y(r̂_ij), ``c`` = F_i and ``n`` = F_j
(:class:`~fusionpot.models.cg_layers.FusionCGUpdate`); the edge network and readout are
Cormorant's. The layers live in :mod:`fusionpot.models.cg_layers`.

>>> import torch
>>> from ase.build import molecule
>>> from fusionpot.data import atoms_to_graph
>>> config = CormorantConfig(elements=("H", "O"), channels=4, l_max=1, n_states=2)
>>> out = Cormorant(config)(atoms_to_graph([molecule("H2O")], config.elements,
...                                        config.r_max, dtype=torch.float64))
>>> out["energy"].shape, out["atomic_energy"].shape
(torch.Size([1, 2]), torch.Size([3, 2]))
"""

import torch

from fusionpot.data import keys
from fusionpot.fusion.diagram import format_irreps_list
from fusionpot.models._mace import compile_mode, o3
from fusionpot.models.base import EnergyModel
from fusionpot.models.cg_layers import CGLayer, CGUpdate, EdgeNetwork, FusionCGUpdate
from fusionpot.models.config import (
    ConfigDict,
    CormorantConfig,
    FusionCormorantConfig,
    default_dtype,
)
from fusionpot.models.embedding import EdgeEmbedding, graph_edge_vectors
from fusionpot.models.product import channel_irreps

__all__ = ["Cormorant", "FusionCormorant"]


@compile_mode("script")
class Cormorant(EnergyModel):
    """Cormorant: per-atom and total energies of ``n_states`` electronic states.

    ``E_i,s = E0[Z_i, s] + scale_s · Σ_t readout_t(F_i^t)_s + shift_s`` (see the module
    docstring for the layers). ``forward(data)``: the graph dict of
    :mod:`fusionpot.data.keys` -> the same dict plus ``atomic_energy`` [n_atoms, n_states]
    eV and ``energy`` [n_graphs, n_states] eV. Forces and stress: wrap in
    :class:`~fusionpot.models.ForceOutput`.
    """

    def __init__(self, config: CormorantConfig) -> None:
        expected = self._config_type()
        if not isinstance(config, expected):
            raise TypeError(f"config must be a {expected.__name__}, got {type(config).__name__}")
        super().__init__(config)
        c = config.channels
        with default_dtype(config.torch_dtype):
            self.node_embedding = o3.Linear(
                o3.Irreps(f"{self.n_elements}x0e"), channel_irreps("0e", c)
            )
            self.edge_embedding = EdgeEmbedding(
                config.r_max, config.n_radial, config.cutoff_p, config.l_max
            )
            self.layers = torch.nn.ModuleList()
            h_per_channel, width = "0e", 0
            for layer in range(config.n_layers):
                last = layer == config.n_layers - 1
                out_per_channel = "0e" if last else config.hidden_irreps
                irreps_h = channel_irreps(h_per_channel, c)
                edges = EdgeNetwork(
                    irreps_h, config.n_radial, list(config.radial_mlp), c, config.l_max, width
                )
                update = self._atom_update(h_per_channel, out_per_channel)
                irreps_out = channel_irreps(out_per_channel, c)
                readout_mlp = config.readout_mlp if last else None
                self.layers.append(CGLayer(edges, update, irreps_out, self.n_states, readout_mlp))
                h_per_channel, width = out_per_channel, edges.width
        self.to(config.torch_dtype)

    @staticmethod
    def _config_type() -> type[ConfigDict]:
        return CormorantConfig

    def _atom_update(self, h_per_channel: str, out_per_channel: str) -> torch.nn.Module:
        """The atom update of one layer, from the irreps of one channel in and out."""
        config = self.config
        return CGUpdate(
            channel_irreps(h_per_channel, config.channels),
            self.edge_embedding.irreps_sh,
            config.channels,
            channel_irreps(out_per_channel, config.channels),
            config.avg_num_neighbors,
        )

    def forward(self, data: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        self.check_inputs(data)
        positions = data[keys.POSITIONS]
        edge_index = data[keys.EDGE_INDEX]
        node_attrs = self.node_attributes(data)
        vectors = graph_edge_vectors(data)
        radial, harmonics = self.edge_embedding(vectors)
        cutoff = self.edge_embedding.radial.cutoff_fn(
            torch.linalg.norm(vectors, dim=-1, keepdim=True)
        )
        h = self.node_embedding(node_attrs)
        g = positions.new_zeros(edge_index.shape[1], 0)
        readout_sum = positions.new_zeros(positions.shape[0], self.n_states)
        for layer in self.layers:
            h, g, layer_energy = layer(node_attrs, h, g, radial, cutoff, harmonics, edge_index)
            readout_sum = readout_sum + layer_energy
        return self.energies(data, readout_sum)


@compile_mode("script")
class FusionCormorant(Cormorant):
    """Cormorant whose atom update is one fusion block per edge
    (:class:`~fusionpot.models.cg_layers.FusionCGUpdate`),
    over the config's ``diagram``; everything else, inputs and outputs are
    :class:`Cormorant`'s."""

    def __init__(self, config: FusionCormorantConfig) -> None:
        super().__init__(config)  # type: ignore[arg-type]

    @staticmethod
    def _config_type() -> type[ConfigDict]:
        return FusionCormorantConfig

    def _atom_update(self, h_per_channel: str, out_per_channel: str) -> torch.nn.Module:
        config = self.config
        sh = format_irreps_list(tuple(ir for _, ir in self.edge_embedding.irreps_sh))
        return FusionCGUpdate(
            config.diagram,
            h_per_channel,
            sh,
            out_per_channel,
            config.channels,
            config.weights,
            self.n_elements,
            config.fusion_lmax,
            config.constant_leaf,
            config.avg_num_neighbors,
            config.torch_dtype,
        )
