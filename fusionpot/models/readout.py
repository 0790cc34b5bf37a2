"""Readouts: per-atom energies of ``n_states`` states from shared node features."""

from __future__ import annotations

import torch

from fusionpot.models._mace import compile_mode, o3

__all__ = ["LinearStateReadout", "MLPStateReadout"]


@compile_mode("script")
class LinearStateReadout(torch.nn.Module):
    """One linear map of the node's scalars per state: [n_atoms, irreps_in] -> [n_atoms, S]."""

    def __init__(self, irreps_in: o3.Irreps, n_states: int) -> None:
        super().__init__()
        self.linear = o3.Linear(irreps_in, o3.Irreps(f"{n_states}x0e"))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.linear(x)


@compile_mode("script")
class MLPStateReadout(torch.nn.Module):
    """One small MLP per state: ``E_s = w_s · silu(W_s x)``, [n_atoms, irreps_in] -> [n_atoms, S].

    The states share no hidden units: ``W`` maps to ``S × hidden`` scalars and each
    state reads only its own block.
    """

    def __init__(self, irreps_in: o3.Irreps, n_states: int, hidden: int) -> None:
        super().__init__()
        self.n_states = n_states
        self.hidden = hidden
        self.linear = o3.Linear(irreps_in, o3.Irreps(f"{n_states * hidden}x0e"))
        self.weight = torch.nn.Parameter(torch.randn(n_states, hidden))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        hidden = torch.nn.functional.silu(self.linear(x)).reshape(-1, self.n_states, self.hidden)
        return torch.einsum("nsk,sk->ns", hidden, self.weight) / self.hidden**0.5
