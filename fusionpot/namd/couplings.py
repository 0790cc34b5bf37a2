"""Time-derivative couplings σ_ij = <φ_i|∂φ_j/∂t> from coupling vectors or from energies."""

from __future__ import annotations

import torch

__all__ = ["align_nac_signs", "curvature_tdc", "nac_tdc", "push_history"]


def nac_tdc(velocities: torch.Tensor, nac: torch.Tensor) -> torch.Tensor:
    """σ_ij = Σ_A v_A · d_ij,A.

    velocities: [n_traj, n_atoms, 3] Å/fs; nac: [n_traj, n_atoms, S, S, 3] 1/Å.
    Returns σ: [n_traj, S, S] 1/fs (antisymmetric when d is).
    """
    return torch.einsum("bax,baijx->bij", velocities, nac)


def align_nac_signs(nac: torch.Tensor, previous: torch.Tensor | None) -> torch.Tensor:
    """Flip d_ij where it points against the previous step's d_ij (arbitrary phases of φ).

    nac, previous: [n_traj, n_atoms, S, S, 3] 1/Å. Returns the aligned nac.
    """
    if previous is None:
        return nac
    overlap = (nac * previous).sum(dim=(1, 4))  # [n_traj, S, S]
    sign = torch.where(overlap < 0, -1.0, 1.0).to(nac.dtype)
    return nac * sign[:, None, :, :, None]


def push_history(
    history: torch.Tensor, n_history: torch.Tensor, energies: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """Shift ``energies`` [n_traj, S] eV into ``history`` [n_traj, 3, S] (row 0 = newest)."""
    new = torch.cat([energies[:, None, :], history[:, :-1]], dim=1)
    return new, torch.clamp(n_history + 1, max=history.shape[1])


def curvature_tdc(
    energies: torch.Tensor, history: torch.Tensor, n_history: torch.Tensor, dt: float
) -> torch.Tensor:
    """Curvature-driven time-derivative couplings (κTDC) from energies alone.

    σ_ij = ½ √(Z̈/Z) where Z̈/Z > 0, else 0, with Z = E_i − E_j and
    Z̈ = (Z_t − 2 Z_{t−1} + Z_{t−2})/Δt²                       (second step),
    Z̈ = (2 Z_t − 5 Z_{t−1} + 4 Z_{t−2} − Z_{t−3})/Δt²         (afterwards),
    Z̈ = 0 before (fewer than two earlier energies). Upper triangle +σ, lower −σ.

    Symbols: E_i(t) = ``energies[:, i]`` eV, E_i(t − kΔt) = ``history[:, k-1, i]`` eV,
    number of valid earlier rows = ``n_history`` [n_traj], Δt = ``dt`` fs.
    Returns σ [n_traj, S, S] 1/fs.

    Reference: Baeck and An, J. Chem. Phys. 146, 064107 (2017); Shu, Zhang, Mai,
    Sun, Truhlar, Zhu, J. Phys. Chem. Lett. 13, 3257 (2022) (the stencils).
    """
    e = torch.cat([energies[:, None, :], history], dim=1)  # [n_traj, 4, S], row k = t − kΔt
    z = e[:, :, :, None] - e[:, :, None, :]  # [n_traj, 4, S, S]
    three = (z[:, 0] - 2.0 * z[:, 1] + z[:, 2]) / dt**2
    four = (2.0 * z[:, 0] - 5.0 * z[:, 1] + 4.0 * z[:, 2] - z[:, 3]) / dt**2
    n = n_history[:, None, None]
    zdd = torch.where(n >= 3, four, torch.where(n == 2, three, torch.zeros_like(three)))
    ratio = zdd / torch.where(z[:, 0] == 0, torch.ones_like(z[:, 0]), z[:, 0])
    sigma = 0.5 * torch.sqrt(torch.clamp(ratio, min=0.0))
    upper = torch.triu(torch.ones_like(sigma[0]), diagonal=1)
    return sigma * (upper - upper.T)
