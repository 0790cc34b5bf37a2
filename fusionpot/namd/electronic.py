"""Electronic amplitudes over one nuclear step, with substeps and linear interpolation.

Time-dependent Schrödinger equation in the adiabatic basis (atomic units, ħ = 1):

    dc_k/dt = −i E_k c_k − Σ_j σ_kj c_j

Each of the ``n_sub`` substeps of length τ = Δt/n_sub uses E and σ interpolated
linearly to the substep midpoint and the propagator
U_m = exp(−i diag(E) τ − σ τ), unitary because σ is real antisymmetric; c ← U_m c.
The generators do not depend on c, so all ``n_sub`` propagators of all trajectories
are made at once by scaling and squaring: each generator A is divided by 2^s with
‖A‖₁/2^s ≤ ½ (s per trajectory and substep, at most ``MAX_SQUARINGS``), exponentiated
by its Taylor series to order ``TAYLOR_ORDER`` (truncation ½¹⁶/16! < 1e-18), and
squared s times. Every operation has a fixed shape: nothing is read back from the
device, and a trajectory's result does not depend on the others in the batch.

Fewest-switches hopping probability out of the active state a, accumulated over the
substeps (Tully, J. Chem. Phys. 93, 1061 (1990), eq. 19 with Hermitian H diagonal):

    g_a→k = Σ_substeps 2 σ_ak Re(c_a* c_k) τ / |c_a|²,   clipped at 0 at the end.

Symbols: c = ``amplitudes`` [n_traj, S] complex, E = energies [n_traj, S] (eV at the
interface, Hartree inside), σ = ``tdc`` [n_traj, S, S] (1/fs at the interface, 1/a.u.
inside), Δt = ``dt`` fs, a = ``active`` [n_traj].
"""

from __future__ import annotations

import torch

from fusionpot.namd.units import AU_TIME_FS, HARTREE_EV

__all__ = ["MAX_SQUARINGS", "TAYLOR_ORDER", "propagate_amplitudes", "unitary_exp"]

#: Taylor terms of exp(A/2^s); with ‖A/2^s‖₁ ≤ ½ the remainder is below ½¹⁶/16! ≈ 7e-19
TAYLOR_ORDER = 15
#: at most this many squarings: generators up to ‖A‖₁ = 2^15 per substep are exact to
#: rounding (κTDC of 10⁴/fs at Δt/n_sub = 0.025 fs is ‖A‖₁ ≈ 250)
MAX_SQUARINGS = 16


def unitary_exp(generator: torch.Tensor) -> torch.Tensor:
    """exp(A) for anti-Hermitian A [..., S, S] (complex), by scaling and squaring.

    s = ⌈log₂(2‖A‖₁)⌉ clipped to [0, ``MAX_SQUARINGS``] for each matrix;
    exp(A) = (Σ_{n≤K} (A/2^s)ⁿ/n!)^(2^s), K = ``TAYLOR_ORDER``. Fixed shapes: the
    squarings a matrix does not need leave it unchanged.
    """
    norm = generator.abs().sum(dim=-2).amax(dim=-1)  # ‖A‖₁, [...]
    squarings = torch.ceil(torch.log2(2.0 * norm.clamp_min(1e-300))).clamp(0, MAX_SQUARINGS)
    scaled = generator / torch.exp2(squarings)[..., None, None].to(generator.dtype)
    identity = torch.eye(generator.shape[-1], dtype=generator.dtype, device=generator.device)
    term = identity.expand_as(generator)
    total = term
    for n in range(1, TAYLOR_ORDER + 1):
        term = scaled @ term / n
        total = total + term
    for k in range(MAX_SQUARINGS):
        total = torch.where((squarings > k)[..., None, None], total @ total, total)
    return total


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
    f = (torch.arange(n_sub, device=c.device, dtype=e0.dtype) + 0.5) / n_sub  # midpoints
    energy = e0 + f[:, None, None] * (e1 - e0)  # [n_sub, n_traj, S]
    sigma = s0 + f[:, None, None, None] * (s1 - s0)  # [n_sub, n_traj, S, S]
    generator = -1j * torch.diag_embed(energy).to(c.dtype) - sigma.to(c.dtype)
    propagators = unitary_exp(generator * tau)  # [n_sub, n_traj, S, S]
    rows = torch.arange(c.shape[0], device=c.device)
    sigma_a = sigma[:, rows, active]  # [n_sub, n_traj, S]
    g = torch.zeros_like(e0)
    for m in range(n_sub):
        c = (propagators[m] @ c[..., None])[..., 0]
        c_a = c[rows, active]
        flux = 2.0 * sigma_a[m] * (c_a.conj()[:, None] * c).real
        g = g + flux * tau / (c_a.abs() ** 2).clamp_min(1e-300)[:, None]
    # a scatter, not ``g[rows, active] = 0.0``: that copies the Python 0.0 from the host,
    # which synchronises a GPU (torch.cuda.set_sync_debug_mode("error") raised there)
    g = g.scatter(1, active[:, None], 0.0)
    return c, g.clamp_min(0.0)
