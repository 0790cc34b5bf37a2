"""Hop decisions (fewest switches or Landau–Zener) and momentum rescaling on hops."""

from __future__ import annotations

import math

import torch

from fusionpot.namd.units import HBAR_EV_FS, KE_EV

__all__ = ["FRUSTRATED_RULES", "choose_target", "landau_zener_probabilities", "rescale_on_hop"]

#: What a frustrated hop (not enough kinetic energy along the rescaling direction) does.
FRUSTRATED_RULES = ("keep", "reverse")


def choose_target(
    probabilities: torch.Tensor, zeta: torch.Tensor, active: torch.Tensor
) -> torch.Tensor:
    """Target state of each trajectory: the first k with ζ < Σ_{j≤k} g_j, else the active one.

    probabilities: g [n_traj, S] (0 for the active state); zeta: [n_traj] uniform in [0, 1);
    active: [n_traj]. Returns [n_traj] int64.
    """
    cumulative = probabilities.cumsum(dim=1)
    hit = zeta[:, None] < cumulative
    first = torch.argmax(hit.to(torch.int8), dim=1)
    return torch.where(hit.any(dim=1), first, active)


def landau_zener_probabilities(
    energies: torch.Tensor,
    history: torch.Tensor,
    n_history: torch.Tensor,
    active: torch.Tensor,
    dt: float,
) -> torch.Tensor:
    """Landau–Zener hopping probabilities (Belyaev–Lebedev form) to the neighbouring states.

    When the gap Z = |E_k − E_a| to an adjacent state k = a ± 1 has a local minimum one step
    ago (Z_{t−Δt} < Z_t and Z_{t−Δt} < Z_{t−2Δt}),

        P_a→k = exp(−π/(2ħ) √(Z³/Z̈)),  Z̈ = (Z_t − 2 Z_{t−Δt} + Z_{t−2Δt})/Δt²,

    evaluated at the minimum, else 0; the hop is applied at the current step.
    Symbols: E = ``energies`` [n_traj, S] eV (t) and ``history`` [n_traj, 3, S] eV
    (t − Δt, …), ``n_history`` [n_traj] valid rows, a = ``active``, Δt = ``dt`` fs,
    ħ in eV·fs. Returns P [n_traj, S], normalised to sum ≤ 1.

    Reference: Belyaev and Lebedev, Phys. Rev. A 84, 014701 (2011); Xie, Dral et al.,
    MLatom 3 (LZBL surface hopping).
    """
    rows = torch.arange(energies.shape[0], device=energies.device)
    e = torch.cat([energies[:, None, :], history[:, :2]], dim=1)  # [n_traj, 3, S]
    gap = (e - e[rows, :, active][:, :, None]).abs()  # [n_traj, 3, S]
    z0, z1, z2 = gap[:, 0], gap[:, 1], gap[:, 2]
    zdd = (z0 - 2.0 * z1 + z2) / dt**2
    states = torch.arange(energies.shape[1], device=energies.device)
    adjacent = (states[None, :] - active[:, None]).abs() == 1
    minimum = (z1 < z0) & (z1 < z2) & (zdd > 0) & (n_history[:, None] >= 2) & adjacent
    exponent = -math.pi / (2.0 * HBAR_EV_FS) * torch.sqrt(z1**3 / zdd.clamp_min(1e-300))
    prob = torch.where(minimum, torch.exp(exponent), torch.zeros_like(z1))
    total = prob.sum(dim=1, keepdim=True)
    return prob / total.clamp_min(1.0)


def rescale_on_hop(
    velocities: torch.Tensor,
    masses: torch.Tensor,
    direction: torch.Tensor,
    delta_e: torch.Tensor,
    attempt: torch.Tensor,
    frustrated: str = "keep",
) -> tuple[torch.Tensor, torch.Tensor]:
    """Velocities after hop attempts, conserving total energy; and which hops were accepted.

    The momentum changes along u: p' = p − γ u, with γ the smaller-|γ| root of

        a γ² − b γ + ΔE = 0,  a = ½ Σ u²/m,  b = Σ v·u   (kinetic energy in eV via KE_EV),

    so that K' = K − ΔE. A hop is accepted iff b² − 4aΔE ≥ 0. Frustrated hops: "keep"
    leaves v unchanged, "reverse" takes γ = b/a (the nonzero root of K' = K), which flips
    the momentum component along u and keeps K.

    velocities: [n_traj, n_atoms, 3] Å/fs; masses: [n_atoms] amu; direction u:
    [n_traj, n_atoms, 3] (any scale; the coupling vector d_ak or the momentum m v);
    delta_e: ΔE = E_target − E_active [n_traj] eV; attempt: [n_traj] bool.
    Reference: Hammes-Schiffer and Tully, J. Chem. Phys. 101, 4657 (1994), appendix.
    """
    if frustrated not in FRUSTRATED_RULES:
        raise ValueError(f"frustrated must be one of {FRUSTRATED_RULES}, got {frustrated!r}")
    m = masses[None, :, None]
    a = 0.5 * KE_EV * (direction**2 / m).sum(dim=(1, 2))
    b = KE_EV * (velocities * direction).sum(dim=(1, 2))
    disc = b**2 - 4.0 * a * delta_e
    safe_a = torch.where(a > 0, a, torch.ones_like(a))
    accepted = attempt & (disc >= 0) & (a > 0)
    sign_b = torch.where(b >= 0, 1.0, -1.0).to(b.dtype)
    gamma = (b - sign_b * torch.sqrt(disc.clamp_min(0.0))) / (2.0 * safe_a)
    gamma = torch.where(accepted, gamma, torch.zeros_like(gamma))
    if frustrated == "reverse":
        reverse = attempt & ~accepted & (a > 0)
        # the other root of K(γ) = K: the momentum component along u flips, K is unchanged
        gamma = torch.where(reverse, b / safe_a, gamma)
    return velocities - gamma[:, None, None] * direction / m, accepted
