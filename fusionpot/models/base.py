"""``EnergyModel``: what every fusionpot architecture shares around its message passing.

An architecture subclasses it, builds its layers, and in ``forward`` calls
:meth:`EnergyModel.check_inputs` first and :meth:`EnergyModel.energies` last with its
per-atom readout sum. The base owns the config and metadata (``n_elements``,
``n_states``, ``r_max``), the E0 / scale / shift buffers and the sum per graph, so the
trainer, export, calculator and LAMMPS treat every architecture alike.
"""

from typing import Any, ClassVar

import torch

from fusionpot.data import keys
from fusionpot.models.reference import copy_energy_normalisation, scaled_energies

__all__ = ["REQUIRED_KEYS", "EnergyModel"]

#: keys every model reads
REQUIRED_KEYS = (
    keys.POSITIONS,
    keys.SPECIES,
    keys.EDGE_INDEX,
    keys.EDGE_CELL_SHIFT,
    keys.CELL,
    keys.BATCH,
    keys.PTR,
)


class EnergyModel(torch.nn.Module):
    """Base of the energy models: ``E_i,s = E0[Z_i, s] + scale_s · readout_i,s + shift_s``.

    config: the architecture's config (elements, r_max, n_states, dtype, ...); the buffers
    reference_energies [n_elements, n_states] (float64 in every model dtype), scale
    [n_states] and shift [n_states] (eV) start at 0, 1, 0 and are set from training data
    by :meth:`set_energy_normalisation`. ``atomic_energy`` and ``energy`` are float64 (see
    :func:`~fusionpot.models.reference.scaled_energies`); forces keep the model's dtype.
    """

    __jit_ignored_attributes__: ClassVar[list[str]] = ["config"]
    reference_energies: torch.Tensor
    scale: torch.Tensor
    shift: torch.Tensor

    def __init__(self, config: Any) -> None:
        super().__init__()
        self.config = config
        self.required_keys = list(REQUIRED_KEYS)  # an attribute, so TorchScript can loop over it
        self.n_elements = len(config.elements)
        self.n_states = config.n_states
        self.r_max = config.r_max
        dtype = config.torch_dtype
        shape = (self.n_elements, config.n_states)
        # float64 in every model dtype (see scaled_energies); _apply keeps it so
        self.register_buffer("reference_energies", torch.zeros(shape, dtype=torch.float64))
        self.register_buffer("scale", torch.ones(config.n_states, dtype=dtype))
        self.register_buffer("shift", torch.zeros(config.n_states, dtype=dtype))

    def _apply(self, fn: Any, recurse: bool = True) -> "EnergyModel":
        """``Module._apply`` (behind ``.to``, ``.float()``, ``.cuda()``, ...), except that
        ``reference_energies`` only moves device and stays float64."""
        reference = self.reference_energies
        super()._apply(fn, recurse)
        moved = self._buffers["reference_energies"]
        assert moved is not None
        self._buffers["reference_energies"] = reference.to(moved.device)
        return self

    def check_inputs(self, data: dict[str, torch.Tensor]) -> None:
        """Every required key present, positions in the model's dtype."""
        for key in self.required_keys:
            if key not in data:
                raise ValueError(f"the graph dict has no '{key}' (see fusionpot.data.keys)")
        if data[keys.POSITIONS].dtype != self.scale.dtype:
            raise TypeError(
                "positions are not in the model's dtype: build the graph with "
                "dtype=model.config.torch_dtype"
            )

    def node_attributes(self, data: dict[str, torch.Tensor]) -> torch.Tensor:
        """One-hot species [n_atoms, n_elements] in the positions' dtype."""
        species = data[keys.SPECIES]
        return torch.nn.functional.one_hot(species, self.n_elements).to(data[keys.POSITIONS].dtype)

    def energies(
        self, data: dict[str, torch.Tensor], readout_sum: torch.Tensor
    ) -> dict[str, torch.Tensor]:
        """``data`` plus atomic_energy [n_atoms, n_states] and energy [n_graphs, n_states] eV
        from the readout sum [n_atoms, n_states] of all layers."""
        atomic_energy, energy = scaled_energies(
            readout_sum,
            data[keys.SPECIES],
            data[keys.BATCH],
            data[keys.PTR].shape[0] - 1,
            self.reference_energies,
            self.scale,
            self.shift,
        )
        out = data.copy()
        out[keys.ATOMIC_ENERGY] = atomic_energy
        out[keys.ENERGY] = energy
        return out

    @torch.jit.unused
    def set_energy_normalisation(
        self, reference_energies: torch.Tensor, scale: torch.Tensor, shift: torch.Tensor
    ) -> None:
        """Set E0 [n_elements, n_states] eV, scale [n_states] eV and shift [n_states] eV."""
        copy_energy_normalisation(self, reference_energies, scale, shift)

    def extra_repr(self) -> str:
        return f"{self.config}"
