"""``MACEBaseline``: stock mace-torch MACE behind fusionpot's calling convention, S states.

The blocks are mace-torch's own, built by ``mace.modules.MACE``'s constructor and used
unchanged: radial embedding, spherical harmonics, residual interaction blocks,
``SymmetricContraction`` product basis, and its multi-head readouts with one head per
electronic state. Only the ``forward`` is ours (mace-torch's carries engine flags and
force code), so both architectures train, save, export and run through one pipeline.

>>> import torch
>>> from ase.build import molecule
>>> from fusionpot.data import atoms_to_graph
>>> config = MACEConfig(elements=("H", "O"), channels=4, l_max=1, n_states=2)
>>> out = MACEBaseline(config)(atoms_to_graph([molecule("H2O")], config.elements,
...                                             config.r_max, dtype=torch.float64))
>>> out["energy"].shape, out["atomic_energy"].shape
(torch.Size([1, 2]), torch.Size([3, 2]))
"""

from dataclasses import dataclass
from typing import ClassVar

import numpy as np
import torch
from ase.data import atomic_numbers

from fusionpot._e3nn import quiet_fx_scripting
from fusionpot.data import keys
from fusionpot.models._mace import MACE, RealAgnosticResidualInteractionBlock, compile_mode, o3
from fusionpot.models.base import EnergyModel
from fusionpot.models.config import ConfigDict, default_dtype
from fusionpot.models.embedding import graph_edge_vectors
from fusionpot.models.product import channel_irreps

__all__ = ["MACEBaseline", "MACEConfig"]


@dataclass(frozen=True)
class MACEConfig(ConfigDict):
    """Hyperparameters of :class:`MACEBaseline` (mace-torch's names in brackets).

    The fields are :class:`~fusionpot.models.config.ConfigDict`'s, with mace-torch's names:
    n_radial [num_bessel], cutoff_p [num_polynomial_cutoff], channels [num_channels],
    l_max [max_ell], hidden_irreps per channel [hidden_irreps = channels × these],
    n_layers [num_interactions], n_states [one head per state], radial_mlp [radial_MLP],
    readout_mlp [MLP_irreps]; and correlation: body order − 1 of the product basis.
    """

    correlation: int = 3
    arch: ClassVar[str] = "mace"

    def _validate(self) -> None:
        super()._validate()
        if not self.correlation >= 1:
            raise ValueError(f"correlation must be >= 1, got {self.correlation!r}")


@compile_mode("script")
class MACEBaseline(EnergyModel):
    """Stock MACE: per-atom and total energies of ``n_states`` states.

    ``E_i,s = E0[Z_i, s] + scale_s · Σ_t readout_t(h_i)_s + shift_s``, where readout_t
    is mace-torch's readout of layer t with state s as its head.

    ``forward(data)``: the graph dict of :mod:`fusionpot.data.keys` -> the same dict
    plus ``atomic_energy`` [n_atoms, n_states] eV and ``energy`` [n_graphs, n_states] eV.
    Forces and stress: wrap in :class:`~fusionpot.models.ForceOutput`.
    """

    def __init__(self, config: MACEConfig) -> None:
        if not isinstance(config, MACEConfig):
            raise TypeError(f"config must be a MACEConfig, got {type(config).__name__}")
        super().__init__(config)
        dtype = config.torch_dtype
        hidden = channel_irreps(config.hidden_irreps, config.channels)
        numbers = [atomic_numbers[e] for e in config.elements]
        with default_dtype(dtype), quiet_fx_scripting():
            mace = MACE(
                r_max=config.r_max,
                num_bessel=config.n_radial,
                num_polynomial_cutoff=config.cutoff_p,
                max_ell=config.l_max,
                interaction_cls=RealAgnosticResidualInteractionBlock,
                interaction_cls_first=RealAgnosticResidualInteractionBlock,
                num_interactions=config.n_layers,
                num_elements=self.n_elements,
                hidden_irreps=hidden,
                MLP_irreps=o3.Irreps(f"{config.readout_mlp}x0e"),
                atomic_energies=np.zeros((config.n_states, self.n_elements)),
                avg_num_neighbors=config.avg_num_neighbors,
                atomic_numbers=numbers,
                correlation=config.correlation,
                gate=torch.nn.functional.silu,
                radial_MLP=list(config.radial_mlp),
                heads=[f"S{s}" for s in range(config.n_states)],
            )
        # mace-torch's blocks, unchanged; its E0 block and forward are not used
        self.node_embedding = mace.node_embedding
        self.radial_embedding = mace.radial_embedding
        self.spherical_harmonics = mace.spherical_harmonics
        self.interactions = mace.interactions
        self.products = mace.products
        self.readouts = mace.readouts
        self.register_buffer("atomic_numbers", torch.tensor(numbers, dtype=torch.int64))
        self.to(dtype)

    def forward(self, data: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        self.check_inputs(data)
        positions = data[keys.POSITIONS]
        species = data[keys.SPECIES]
        edge_index = data[keys.EDGE_INDEX]
        node_attrs = self.node_attributes(data)
        vectors = graph_edge_vectors(data)
        lengths = torch.linalg.norm(vectors, dim=-1, keepdim=True)
        edge_attrs = self.spherical_harmonics(vectors)
        edge_feats, cutoff = self.radial_embedding(
            lengths, node_attrs, edge_index, self.atomic_numbers
        )
        h = self.node_embedding(node_attrs)
        readout_sum = positions.new_zeros(positions.shape[0], self.n_states)
        for t, (interaction, product, readout) in enumerate(
            zip(self.interactions, self.products, self.readouts)  # noqa: B905 (TorchScript)
        ):
            h, sc = interaction(
                node_attrs=node_attrs,
                node_feats=h,
                edge_attrs=edge_attrs,
                edge_feats=edge_feats,
                edge_index=edge_index,
                cutoff=cutoff,
                first_layer=t == 0,
            )
            h = product(node_feats=h, sc=sc, node_attrs=node_attrs)
            per_state: list[torch.Tensor] = []
            for s in range(self.n_states):  # mace-torch's heads: state s reads its own units
                heads = torch.full_like(species, s)
                per_state.append(readout(h, heads)[:, s])
            readout_sum = readout_sum + torch.stack(per_state, dim=1)
        return self.energies(data, readout_sum)
