"""Initial conditions of an ensemble: geometries, velocities and initial states."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch

__all__ = ["InitialConditions"]


@dataclass
class InitialConditions:
    """positions: [n_traj, n_atoms, 3] Å; velocities: [n_traj, n_atoms, 3] Å/fs;
    active: [n_traj] initial states; traj_id: [n_traj] ensemble indices;
    masses: [n_atoms] amu; numbers: [n_atoms] atomic numbers."""

    positions: torch.Tensor
    velocities: torch.Tensor
    active: torch.Tensor
    traj_id: torch.Tensor
    masses: torch.Tensor
    numbers: torch.Tensor

    def __post_init__(self) -> None:
        n = self.positions.shape[0]
        if self.positions.ndim != 3 or self.positions.shape[2] != 3:
            raise ValueError(f"positions must be [n_traj, n_atoms, 3], got {self.positions.shape}")
        if self.velocities.shape != self.positions.shape:
            raise ValueError(
                f"velocities {tuple(self.velocities.shape)} must match positions "
                f"{tuple(self.positions.shape)}"
            )
        if self.active.shape != (n,) or self.traj_id.shape != (n,):
            raise ValueError(f"active and traj_id must be [n_traj] = [{n}]")
        n_atoms = self.positions.shape[1]
        if self.masses.shape != (n_atoms,) or self.numbers.shape != (n_atoms,):
            raise ValueError(f"masses and numbers must be [n_atoms] = [{n_atoms}]")

    def __len__(self) -> int:
        return int(self.positions.shape[0])

    def select(self, index: torch.Tensor | slice) -> InitialConditions:
        """The trajectories picked by ``index`` along ``n_traj``."""
        return InitialConditions(
            self.positions[index],
            self.velocities[index],
            self.active[index],
            self.traj_id[index],
            self.masses,
            self.numbers,
        )

    def shard(self, index: int, count: int) -> InitialConditions:
        """Shard ``index`` of ``count``: the trajectories with traj_id % count == index."""
        if count < 1 or not 0 <= index < count:
            raise ValueError(f"shard must be i/n with 0 ≤ i < n, got {index}/{count}")
        return self.select(self.traj_id % count == index)

    def to(self, device: torch.device | str, dtype: torch.dtype) -> InitialConditions:
        return InitialConditions(
            self.positions.to(device, dtype),
            self.velocities.to(device, dtype),
            self.active.to(device),
            self.traj_id.to(device),
            self.masses.to(device, dtype),
            self.numbers.to(device),
        )

    def to_dict(self) -> dict[str, Any]:
        return {k: v.detach().cpu() for k, v in vars(self).items()}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> InitialConditions:
        return cls(**data)
