"""The batched surface-hopping state: one dataclass whose fields declare their scope.

Scopes (``field(metadata={"scope": ...})``), checked when an instance is made:

* ``"atom"``: shared by every trajectory, leading dimension ``n_atoms``;
* ``"traj"``: leading dimension ``n_traj``;
* ``"traj_atom"``: ``[n_traj, n_atoms, ...]``;
* ``"traj_state"``: ``[n_traj, n_states, ...]``;
* ``"global"``: plain Python values shared by the whole batch.

Shrinking the batch (trajectories that stopped) and sharding select along ``n_traj``
for every field whose scope starts with ``traj``.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

import torch

__all__ = ["SCOPES", "SurfaceHoppingState", "concat_states"]

SCOPES = ("atom", "traj", "traj_atom", "traj_state", "global")


@dataclass
class SurfaceHoppingState:
    """State of ``n_traj`` surface-hopping trajectories of one molecule.

    Fields (shapes and units):

    * ``positions: [n_traj, n_atoms, 3] Å``, ``velocities: [n_traj, n_atoms, 3] Å/fs``
    * ``masses: [n_atoms] amu``, ``numbers: [n_atoms]`` atomic numbers
    * ``energies: [n_traj, n_states] eV`` adiabatic energies at ``positions``
    * ``forces: [n_traj, n_states, n_atoms, 3] eV/Å`` forces of every state
    * ``nac: [n_traj, n_states, n_states, n_atoms, 3] 1/Å`` coupling vectors, or ``None``
    * ``tdc: [n_traj, n_states, n_states] 1/fs`` time-derivative couplings σ_ij
    * ``energy_history: [n_traj, 3, n_states] eV`` energies one, two, three steps ago
    * ``n_history: [n_traj]`` how many rows of ``energy_history`` are valid (0..3)
    * ``amplitudes: [n_traj, n_states]`` complex electronic amplitudes c_k
    * ``active: [n_traj]`` active state a; ``time: [n_traj] fs``; ``step: [n_traj]``
    * ``traj_id: [n_traj]`` index of each trajectory in its ensemble (stable across
      batch shrinking, sharding and restarts; also the key of its random stream)
    * ``total_energy0: [n_traj] eV`` total energy at t = 0; ``max_drift: [n_traj] eV``
    * ``n_hops: [n_traj]`` accepted hops; ``ground_time: [n_traj] fs`` time spent
      continuously in the lowest state
    * ``seed``: ensemble seed of the counter-based random generator (see ``rng.py``)
    * ``spread: [n_traj, n_states, 3]`` a committee provider's disagreement at
      ``positions`` (energy, gap-to-S0 and force std; ``fusionpot.active.spread``), or
      ``None`` for a single model
    """

    positions: torch.Tensor = field(metadata={"scope": "traj_atom"})
    velocities: torch.Tensor = field(metadata={"scope": "traj_atom"})
    masses: torch.Tensor = field(metadata={"scope": "atom"})
    numbers: torch.Tensor = field(metadata={"scope": "atom"})
    energies: torch.Tensor = field(metadata={"scope": "traj_state"})
    forces: torch.Tensor = field(metadata={"scope": "traj_state"})
    nac: torch.Tensor | None = field(metadata={"scope": "traj_state"})
    tdc: torch.Tensor = field(metadata={"scope": "traj_state"})
    energy_history: torch.Tensor = field(metadata={"scope": "traj"})
    n_history: torch.Tensor = field(metadata={"scope": "traj"})
    amplitudes: torch.Tensor = field(metadata={"scope": "traj_state"})
    active: torch.Tensor = field(metadata={"scope": "traj"})
    time: torch.Tensor = field(metadata={"scope": "traj"})
    step: torch.Tensor = field(metadata={"scope": "traj"})
    traj_id: torch.Tensor = field(metadata={"scope": "traj"})
    total_energy0: torch.Tensor = field(metadata={"scope": "traj"})
    max_drift: torch.Tensor = field(metadata={"scope": "traj"})
    n_hops: torch.Tensor = field(metadata={"scope": "traj"})
    ground_time: torch.Tensor = field(metadata={"scope": "traj"})
    seed: int = field(default=0, metadata={"scope": "global"})
    spread: torch.Tensor | None = field(default=None, metadata={"scope": "traj_state"})

    def __post_init__(self) -> None:
        n_traj, n_atoms = self.positions.shape[0], self.positions.shape[1]
        n_states = self.energies.shape[1]
        lead = {
            "atom": (n_atoms,),
            "traj": (n_traj,),
            "traj_atom": (n_traj, n_atoms),
            "traj_state": (n_traj, n_states),
        }
        for f in dataclasses.fields(self):
            scope = f.metadata.get("scope")
            if scope not in SCOPES:
                raise TypeError(f"field {f.name!r} declares no valid scope: {scope!r}")
            value = getattr(self, f.name)
            if scope == "global" or value is None:
                continue
            want = lead[scope]
            if tuple(value.shape[: len(want)]) != want:
                raise ValueError(
                    f"field {f.name!r} has shape {tuple(value.shape)}, "
                    f"expected leading dimensions {want} (scope {scope!r})"
                )

    @property
    def n_traj(self) -> int:
        return int(self.positions.shape[0])

    @property
    def n_atoms(self) -> int:
        return int(self.positions.shape[1])

    @property
    def n_states(self) -> int:
        return int(self.energies.shape[1])

    @property
    def device(self) -> torch.device:
        return self.positions.device

    def select(self, index: torch.Tensor) -> SurfaceHoppingState:
        """The trajectories picked by ``index`` (a bool mask or indices over ``n_traj``)."""
        values: dict[str, Any] = {}
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            scoped_by_traj = f.metadata["scope"].startswith("traj")
            values[f.name] = value[index] if scoped_by_traj and value is not None else value
        return SurfaceHoppingState(**values)

    def to_dict(self) -> dict[str, Any]:
        """Plain dict of the fields (tensors moved to CPU), for checkpoints."""
        out: dict[str, Any] = {}
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            out[f.name] = value.detach().cpu() if isinstance(value, torch.Tensor) else value
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any], device: torch.device | str) -> SurfaceHoppingState:
        """Inverse of :meth:`to_dict`, placing tensors on ``device``."""
        names = {f.name for f in dataclasses.fields(cls)}
        optional = {f.name for f in dataclasses.fields(cls) if f.default is None}
        missing = names - optional - set(data)
        if missing:
            raise ValueError(f"checkpoint state lacks fields {sorted(missing)}")
        values: dict[str, Any] = {
            k: (v.to(device) if isinstance(v, torch.Tensor) else v)
            for k, v in data.items()
            if k in names
        }
        return cls(**values)


def concat_states(states: list[SurfaceHoppingState]) -> SurfaceHoppingState:
    """Join batches of the same molecule along ``n_traj`` (atom and global fields of the first)."""
    if not states:
        raise ValueError("concat_states needs at least one state")
    first = states[0]
    values: dict[str, Any] = {}
    for f in dataclasses.fields(first):
        parts = [getattr(s, f.name) for s in states]
        if f.metadata["scope"].startswith("traj") and parts[0] is not None:
            values[f.name] = torch.cat(parts, dim=0)
        else:
            values[f.name] = parts[0]
    return SurfaceHoppingState(**values)
