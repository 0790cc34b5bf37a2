"""The batched surface-hopping state: one dataclass whose fields are registered, with
their shapes and scopes, in :data:`fusionpot.data.keys.TRAJ_FIELDS`.

Every tensor field is checked against its registered shape when an instance is made.
Shrinking the batch (trajectories that stopped) and sharding select along ``n_traj``
for every field of scope ``"traj"``; the molecule's ``masses`` and ``numbers`` (scope
``"atom"``) and the ensemble ``seed`` (a plain int) are shared by the whole batch.
"""

from __future__ import annotations

import dataclasses
import functools
from dataclasses import dataclass
from typing import Any

import torch

from fusionpot.data.keys import TRAJ_FIELDS

__all__ = ["SurfaceHoppingState", "check_traj_fields", "concat_states", "per_traj"]


@functools.lru_cache(maxsize=64)
def _shapes(n_traj: int, n_atoms: int, n_states: int) -> dict[str, tuple[int, ...]]:
    """The shape of every field of :data:`~fusionpot.data.keys.TRAJ_FIELDS` for these sizes."""
    sizes = {"n_traj": n_traj, "n_atoms": n_atoms, "n_states": n_states}
    return {
        name: tuple(sizes[d] if isinstance(d, str) else d for d in field.dims)
        for name, field in TRAJ_FIELDS.items()
    }


def check_traj_fields(owner: str, values: dict[str, torch.Tensor | None]) -> None:
    """Raise ValueError unless every tensor of ``values`` (``None`` skipped) has the shape
    :data:`~fusionpot.data.keys.TRAJ_FIELDS` gives its name, with ``n_traj``, ``n_atoms``
    and ``n_states`` read from ``positions`` (or ``forces``) and ``energies``. Shapes only:
    no device synchronisation."""
    shaped = values.get("positions")
    shaped = values.get("forces") if shaped is None else shaped
    energies = values["energies"]
    assert shaped is not None and energies is not None
    shapes = _shapes(shaped.shape[0], shaped.shape[1], energies.shape[1])
    for name, value in values.items():
        if value is not None and value.shape != shapes[name]:
            raise ValueError(
                f"{owner}.{name} has shape {tuple(value.shape)}, expected "
                f"{TRAJ_FIELDS[name].shape} = {list(shapes[name])}"
            )


@dataclass
class SurfaceHoppingState:
    """State of ``n_traj`` surface-hopping trajectories of one molecule.

    Fields (shapes and units, as registered in :data:`fusionpot.data.keys.TRAJ_FIELDS`):

    * ``positions: [n_traj, n_atoms, 3] Å``, ``velocities: [n_traj, n_atoms, 3] Å/fs``
    * ``masses: [n_atoms] amu``, ``numbers: [n_atoms]`` atomic numbers
    * ``energies: [n_traj, n_states] eV`` adiabatic energies at ``positions``
    * ``forces: [n_traj, n_atoms, n_states, 3] eV/Å`` forces of every state
    * ``nac: [n_traj, n_atoms, n_states, n_states, 3] 1/Å`` coupling vectors, or ``None``
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

    positions: torch.Tensor
    velocities: torch.Tensor
    masses: torch.Tensor
    numbers: torch.Tensor
    energies: torch.Tensor
    forces: torch.Tensor
    nac: torch.Tensor | None
    tdc: torch.Tensor
    energy_history: torch.Tensor
    n_history: torch.Tensor
    amplitudes: torch.Tensor
    active: torch.Tensor
    time: torch.Tensor
    step: torch.Tensor
    traj_id: torch.Tensor
    total_energy0: torch.Tensor
    max_drift: torch.Tensor
    n_hops: torch.Tensor
    ground_time: torch.Tensor
    seed: int = 0
    spread: torch.Tensor | None = None

    def __post_init__(self) -> None:
        check_traj_fields("SurfaceHoppingState", self.tensors())

    def tensors(self) -> dict[str, torch.Tensor | None]:
        """Every field but ``seed``, by name."""
        return {f.name: getattr(self, f.name) for f in dataclasses.fields(self) if f.name != "seed"}

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
            values[f.name] = value[index] if per_traj(f.name) and value is not None else value
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


def per_traj(name: str) -> bool:
    """Whether the state field ``name`` runs over trajectories (scope ``"traj"``)."""
    return name != "seed" and TRAJ_FIELDS[name].scope == "traj"


def concat_states(states: list[SurfaceHoppingState]) -> SurfaceHoppingState:
    """Join batches of the same molecule along ``n_traj`` (atom and global fields of the first)."""
    if not states:
        raise ValueError("concat_states needs at least one state")
    first = states[0]
    values: dict[str, Any] = {}
    for f in dataclasses.fields(first):
        parts = [getattr(s, f.name) for s in states]
        if per_traj(f.name) and parts[0] is not None:
            values[f.name] = torch.cat(parts, dim=0)
        else:
            values[f.name] = parts[0]
    return SurfaceHoppingState(**values)
