"""A committee's disagreement: the spread of energies, gaps and forces over its members.

>>> import torch
>>> energies = torch.tensor([[[0.0, 1.0]], [[0.2, 1.0]]])   # 2 members, 1 frame, 2 states
>>> forces = torch.zeros(2, 1, 3, 2, 3)                     # 3 atoms
>>> committee_spread(energies, forces)[0].round(decimals=3).tolist()  # [S, (E, gap, F)]
[[0.141, 0.0, 0.0], [0.0, 0.141, 0.0]]
"""

from __future__ import annotations

import torch

__all__ = ["SPREAD_COLUMNS", "committee_spread"]

#: the last axis of a spread: energy std (eV), std of the gap to S0 (eV), force std (eV/Å)
SPREAD_COLUMNS = ("energy", "gap", "forces")


def committee_spread(energies: torch.Tensor, forces: torch.Tensor) -> torch.Tensor:
    """Per frame and state: the members' standard deviation (``ddof = 1``) of the energy,
    of the gap to S0 (``E_s − E_0``; 0 for S0), and of the forces (root mean square over
    atoms and components of each component's std).

    energies: [K, n_frames, n_states] eV; forces: [K, n_frames, n_atoms, n_states, 3] eV/Å.
    Returns [n_frames, n_states, 3] (columns :data:`SPREAD_COLUMNS`), float64.
    """
    if energies.shape[0] < 2 or forces.shape[0] != energies.shape[0]:
        raise ValueError(
            f"need ≥ 2 members and as many forces as energies, got {energies.shape[0]} "
            f"and {forces.shape[0]}"
        )
    energies = energies.double()
    gaps = energies - energies[..., :1]
    force_std = forces.double().var(dim=0).mean(dim=(1, 3)).sqrt()
    return torch.stack([energies.std(dim=0), gaps.std(dim=0), force_std], dim=-1)
