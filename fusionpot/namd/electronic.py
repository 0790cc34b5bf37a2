"""Electronic amplitudes over one nuclear step, with substeps and linear interpolation.

Time-dependent Schrödinger equation in the adiabatic basis (atomic units, ħ = 1):

    dc_k/dt = −i E_k c_k − Σ_j σ_kj c_j

Each of the ``n_sub`` substeps of length τ = Δt/n_sub uses E and σ interpolated
linearly to the substep midpoint and the propagator
c ← exp(−i diag(E) τ − σ τ) c, unitary because σ is real antisymmetric. The
exponential is applied to c by its Taylor series, after splitting τ so that the
generator's norm is ≤ ½, with as many terms as make the truncation < 1e-17 per
application; this keeps the norm to rounding and, unlike a batched eigendecomposition,
costs only a few small batched products.

Fewest-switches hopping probability out of the active state a, accumulated over the
substeps (Tully, J. Chem. Phys. 93, 1061 (1990), eq. 19 with Hermitian H diagonal):

    g_a→k = Σ_substeps 2 σ_ak Re(c_a* c_k) τ / |c_a|²,   clipped at 0 at the end.

Symbols: c = ``amplitudes`` [n_traj, S] complex, E = energies [n_traj, S] (eV at the
interface, Hartree inside), σ = ``tdc`` [n_traj, S, S] (1/fs at the interface, 1/a.u.
inside), Δt = ``dt`` fs, a = ``active`` [n_traj].
"""

from __future__ import annotations

import math

import torch

from fusionpot.namd.units import AU_TIME_FS, HARTREE_EV

__all__ = ["apply_unitary_exp", "propagate_amplitudes"]

_TRUNCATION = 1e-17


def apply_unitary_exp(generator: torch.Tensor, vector: torch.Tensor) -> torch.Tensor:
    """exp(A) c for anti-Hermitian A [n_traj, S, S] and c [n_traj, S] (complex).

    Scaling: A is split into 2^s equal parts with ‖A‖₁/2^s ≤ ½ (s shared by the batch);
    each part is applied by its Taylor series up to the first order K with
    ‖A/2^s‖^(K+1)/(K+1)! < 1e-17.
    """
    norm = float(generator.abs().sum(dim=1).max()) if generator.numel() else 0.0
    splits = 1 if norm <= 0.5 else 2 ** math.ceil(math.log2(norm / 0.5))
    part = norm / splits
    n_terms, bound = 1, part
    while bound > _TRUNCATION:
        n_terms += 1
        bound *= part / n_terms
    a = generator / splits
    c = vector
    for _ in range(splits):
        term, total = c, c
        for n in range(1, n_terms + 1):
            term = (a @ term[..., None])[..., 0] / n
            total = total + term
        c = total
    return c


def propagate_amplitudes(
    amplitudes: torch.Tensor,
    energies_start: torch.Tensor,
    energies_end: torch.Tensor,
    tdc_start: torch.Tensor,
    tdc_end: torch.Tensor,
    active: torch.Tensor,
    dt: float,
    n_sub: int,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Advance amplitudes from t to t + Δt; return (amplitudes, g [n_traj, S]).

    energies_*: [n_traj, S] eV at t and t + Δt; tdc_*: [n_traj, S, S] 1/fs;
    dt: fs; n_sub: number of substeps (≥ 1).
    """
    if n_sub < 1:
        raise ValueError(f"n_sub must be at least 1, got {n_sub}")
    tau = dt / AU_TIME_FS / n_sub  # a.u. of time
    e0, e1 = energies_start / HARTREE_EV, energies_end / HARTREE_EV  # Hartree
    s0, s1 = tdc_start * AU_TIME_FS, tdc_end * AU_TIME_FS  # 1/a.u.
    # reference energy removed per trajectory: only phases change, propagation is exact
    shift = 0.5 * (e0 + e1).mean(dim=1, keepdim=True)
    e0, e1 = e0 - shift, e1 - shift
    c = amplitudes
    rows = torch.arange(c.shape[0], device=c.device)
    g = torch.zeros_like(e0)
    for m in range(n_sub):
        f = (m + 0.5) / n_sub
        energy = e0 + f * (e1 - e0)
        sigma = s0 + f * (s1 - s0)
        generator = -1j * torch.diag_embed(energy).to(c.dtype) - sigma.to(c.dtype)
        c = apply_unitary_exp(generator * tau, c)
        c_a = c[rows, active]
        flux = 2.0 * sigma[rows, active] * (c_a.conj()[:, None] * c).real
        g = g + flux * tau / (c_a.abs() ** 2).clamp_min(1e-300)[:, None]
    g[rows, active] = 0.0
    return c, g.clamp_min(0.0)
