"""Energy-based decoherence correction (EDC) of the electronic amplitudes."""

from __future__ import annotations

import torch

from fusionpot.namd.units import HARTREE_EV, HBAR_EV_FS

__all__ = ["DAMPING_FORMS", "energy_based_decoherence"]

#: "amplitude": c_k ← c_k e^{−Δt/τ_k} (Granucci–Persico 2007; MLatom, JADE, PyRAI2MD);
#: "population": c_k ← c_k e^{−Δt/(2τ_k)}, so |c_k|² decays as e^{−Δt/τ_k} (SHARC 4).
DAMPING_FORMS = ("amplitude", "population")


def energy_based_decoherence(
    amplitudes: torch.Tensor,
    energies: torch.Tensor,
    active: torch.Tensor,
    kinetic: torch.Tensor,
    dt: float,
    c_hartree: float = 0.1,
    damping: str = "amplitude",
) -> torch.Tensor:
    """Damp inactive amplitudes and renormalise the active one.

    τ_k = ħ/|E_k − E_a| · (1 + C/E_kin),  c_k ← c_k e^{−Δt/(w τ_k)} (k ≠ a),
    c_a ← c_a √((1 − Σ_{k≠a} |c_k|²)/|c_a|²),  w = 1 ("amplitude") or 2 ("population").

    Symbols: c = ``amplitudes`` [n_traj, S] complex, E = ``energies`` [n_traj, S] eV,
    a = ``active`` [n_traj], E_kin = ``kinetic`` [n_traj] eV, Δt = ``dt`` fs,
    C = ``c_hartree`` Hartree, ħ in eV·fs.
    Reference: Granucci and Persico, J. Chem. Phys. 126, 134114 (2007); Granucci,
    Persico, Zoccante, J. Chem. Phys. 133, 134111 (2010); SHARC 4 manual.
    """
    if damping not in DAMPING_FORMS:
        raise ValueError(f"damping must be one of {DAMPING_FORMS}, got {damping!r}")
    if c_hartree < 0:
        raise ValueError(f"decoherence constant must be ≥ 0 Hartree, got {c_hartree}")
    width = 1.0 if damping == "amplitude" else 2.0
    rows = torch.arange(amplitudes.shape[0], device=amplitudes.device)
    gap = (energies - energies[rows, active][:, None]).abs()
    factor = 1.0 + c_hartree * HARTREE_EV / kinetic.clamp_min(1e-12)[:, None]
    rate = gap / (HBAR_EV_FS * factor)  # 1/τ_k in 1/fs
    damped = amplitudes * torch.exp(-dt * rate / width).to(amplitudes.dtype)
    inactive = (damped.abs() ** 2).sum(dim=1) - damped[rows, active].abs() ** 2
    c_a = amplitudes[rows, active]
    scale = torch.sqrt((1.0 - inactive).clamp_min(0.0)) / c_a.abs().clamp_min(1e-300)
    # an active amplitude that vanished (possible after a Landau–Zener hop) restarts real
    restart = torch.sqrt((1.0 - inactive).clamp_min(0.0)).to(c_a.dtype)
    new_active = torch.where(c_a.abs() > 0, c_a * scale, restart)
    # a scatter, like electronic.py's, rather than an indexed write
    return damped.scatter(1, active[:, None], new_active[:, None])
