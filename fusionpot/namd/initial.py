"""Initial conditions of an ensemble: the :class:`InitialConditions` batch (geometries,
velocities, initial states) and how to make one: Wigner sampling from the normal modes of
a provider, excitation, or reading a file."""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

import ase.io
import numpy as np
import torch
from ase import units

from fusionpot.namd.providers import Provider
from fusionpot.namd.units import ACCEL_ANG_FS2, HBAR_EV_FS
from fusionpot.sampling.modes import harmonic_modes
from fusionpot.sampling.wigner import wigner_widths

__all__ = [
    "InitialConditions",
    "excite",
    "harmonic_analysis",
    "normal_modes",
    "read_initial_conditions",
    "wigner_sample",
]


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


def harmonic_analysis(
    provider: Provider,
    positions: torch.Tensor,
    numbers: torch.Tensor,
    masses: torch.Tensor,
    state: int = 0,
) -> tuple[torch.Tensor, torch.Tensor]:
    """ω² and mass-weighted modes of ``state`` at ``positions``, stationary or not.

    The Hessian K_ij = ∂²E/∂x_i∂x_j (eV/Å²) comes from autograd of the provider's
    energies; :func:`fusionpot.sampling.modes.harmonic_modes` projects out translations
    and rotations and diagonalises K_ij/√(m_i m_j), giving ω_k² (converted to 1/fs²) and
    the orthonormal mass-weighted modes L_k in ascending ω² (negative: imaginary).

    positions: [n_atoms, 3] Å; masses: [n_atoms] amu. Returns ω² [n_modes] 1/fs² and
    L [n_modes, n_atoms, 3] (dimensionless, orthonormal over all 3·n_atoms components),
    with the dtype and device of ``positions``.
    """
    n_atoms = positions.shape[0]
    flat = positions.detach().reshape(-1)

    def energy(x: torch.Tensor) -> torch.Tensor:
        return provider.energies(x.view(1, n_atoms, 3), numbers)[0, state]

    hessian = torch.autograd.functional.hessian(energy, flat)
    omega2, modes = harmonic_modes(
        hessian.detach().cpu().numpy(),
        positions.detach().cpu().numpy(),
        masses.detach().cpu().numpy(),
    )
    dtype, device = positions.dtype, positions.device
    return (
        torch.as_tensor(omega2 * ACCEL_ANG_FS2, dtype=dtype, device=device),
        torch.as_tensor(modes, dtype=dtype, device=device),
    )


def normal_modes(
    provider: Provider,
    positions: torch.Tensor,
    numbers: torch.Tensor,
    masses: torch.Tensor,
    state: int = 0,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Harmonic frequencies ω [n_modes] rad/fs and mass-weighted modes L [n_modes,
    n_atoms, 3] of ``state`` at a minimum (see :func:`harmonic_analysis`).

    Raises ValueError if a kept mode is imaginary (not a minimum).
    """
    omega2, modes = harmonic_analysis(provider, positions, numbers, masses, state)
    if bool((omega2 < 0).any()):
        worst = float(omega2.min())
        raise ValueError(f"geometry is not a minimum of state {state}: ω² = {worst:.3g} fs⁻²")
    return torch.sqrt(omega2), modes


def wigner_sample(
    provider: Provider,
    positions: torch.Tensor,
    numbers: torch.Tensor,
    masses: torch.Tensor,
    n_traj: int,
    seed: int,
    temperature: float = 0.0,
) -> InitialConditions:
    """Wigner distribution of the harmonic ground state (or thermal state) of S0.

    Per mode k (ω_k rad/fs, mass-weighted coordinate Q_k in Å·√amu), independent normals
    with the widths of :func:`fusionpot.sampling.wigner.wigner_widths` (σ_k for Q_k,
    ω_k σ_k for Q̇_k); R = R_0 + Σ_k Q_k L_k/√m, v = Σ_k Q̇_k L_k/√m.

    positions: [n_atoms, 3] Å (a minimum); masses: [n_atoms] amu; temperature K.
    Trajectory i draws from numpy's generator seeded by (seed, i), so any subset
    (a shard) is reproduced exactly. All trajectories start in state 0 (see :func:`excite`).
    Reference: E. Wigner, Phys. Rev. 40, 749 (1932); SHARC's wigner.py.
    """
    if n_traj < 1:
        raise ValueError(f"n_traj must be ≥ 1, got {n_traj}")
    if temperature < 0:
        raise ValueError(f"temperature must be ≥ 0 K, got {temperature}")
    omega, modes = normal_modes(provider, positions, numbers, masses)
    omega_np, modes_np = omega.detach().cpu().numpy(), modes.detach().cpu().numpy()
    sigma_q = wigner_widths(HBAR_EV_FS * omega_np, temperature)
    sigma_p = omega_np * sigma_q
    inv_sqrt_m = (masses.detach().cpu().numpy() ** -0.5)[:, None]
    pos = np.empty((n_traj, *positions.shape))
    vel = np.empty((n_traj, *positions.shape))
    for i in range(n_traj):
        rng = np.random.default_rng([seed, i])
        q = rng.normal(size=omega_np.shape) * sigma_q
        qdot = rng.normal(size=omega_np.shape) * sigma_p
        pos[i] = positions.detach().cpu().numpy() + np.einsum("k,kax->ax", q, modes_np) * inv_sqrt_m
        vel[i] = np.einsum("k,kax->ax", qdot, modes_np) * inv_sqrt_m
    like = positions
    return InitialConditions(
        positions=torch.as_tensor(pos, dtype=like.dtype, device=like.device),
        velocities=torch.as_tensor(vel, dtype=like.dtype, device=like.device),
        active=torch.zeros(n_traj, dtype=torch.long, device=like.device),
        traj_id=torch.arange(n_traj, device=like.device),
        masses=masses,
        numbers=numbers,
    )


def excite(
    initial: InitialConditions,
    provider: Provider,
    state: int | None = None,
    energy_window: tuple[float, float] | None = None,
) -> InitialConditions:
    """Start every trajectory in ``state``, or in the lowest state k ≥ 1 whose vertical
    excitation E_k − E_0 (eV) lies in ``energy_window``; trajectories with no such state
    are dropped (their traj_id is not reused); a window that selects no trajectory is a
    ``ValueError`` naming the range of excitations. Exactly one of the two must be given."""
    if (state is None) == (energy_window is None):
        raise ValueError("give exactly one of state= or energy_window=")
    if state is not None:
        if not 0 <= state < provider.n_states:
            raise ValueError(f"state must lie in 0..{provider.n_states - 1}, got {state}")
        active = torch.full_like(initial.active, state)
        return InitialConditions(
            initial.positions,
            initial.velocities,
            active,
            initial.traj_id,
            initial.masses,
            initial.numbers,
        )
    assert energy_window is not None
    lo, hi = energy_window
    if not lo < hi:
        raise ValueError(f"energy_window must be (lo, hi) eV with lo < hi, got {energy_window}")
    with torch.no_grad():
        energies = provider.energies(initial.positions, initial.numbers)
    gap = energies[:, 1:] - energies[:, :1]
    inside = (gap >= lo) & (gap <= hi)
    keep = inside.any(dim=1)
    if not bool(keep.any()):
        span = (
            f"span {float(gap.min()):.3f} to {float(gap.max()):.3f} eV"
            if gap.numel()
            else "do not exist (one state)"
        )
        raise ValueError(
            f"energy window [{lo:g}, {hi:g}] eV selects no state: the vertical excitations "
            f"E_k - E_0 of the {len(gap)} geometries {span}"
        )
    first = torch.argmax(inside.to(torch.int8), dim=1) + 1
    chosen = initial.select(keep)
    chosen.active = first[keep]
    return chosen


def read_initial_conditions(
    path: str | os.PathLike[str], state: int = 0, device: torch.device | str = "cpu"
) -> InitialConditions:
    """Geometries and velocities from an extended-XYZ (or any ASE-readable) file.

    Each frame is one trajectory; velocities from the frame (ASE units, converted to
    Å/fs; zero if absent), initial state from ``atoms.info["state"]`` or ``state``.
    """
    frames = ase.io.read(os.fspath(path), index=":")
    if not isinstance(frames, list) or not frames:
        raise ValueError(f"no structures in {path}")
    numbers = frames[0].get_atomic_numbers()
    for k, atoms in enumerate(frames):
        if not np.array_equal(atoms.get_atomic_numbers(), numbers):
            raise ValueError(f"frame {k} of {path} is a different molecule than frame 0")
    pos = np.stack([a.get_positions() for a in frames])
    vel = np.stack([a.get_velocities() for a in frames]) * units.fs
    active = [int(a.info.get("state", state)) for a in frames]
    return InitialConditions(
        positions=torch.tensor(pos, dtype=torch.float64, device=device),
        velocities=torch.tensor(vel, dtype=torch.float64, device=device),
        active=torch.tensor(active, device=device),
        traj_id=torch.arange(len(frames), device=device),
        masses=torch.tensor(frames[0].get_masses(), dtype=torch.float64, device=device),
        numbers=torch.tensor(numbers, device=device),
    )
