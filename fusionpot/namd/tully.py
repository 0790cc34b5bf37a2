"""Tully's three one-dimensional two-state models as batched providers.

Reference: J. C. Tully, J. Chem. Phys. 93, 1061 (1990). The models are defined in
atomic units (energies Hartree, x Bohr, mass 2000 m_e); these providers convert at
their boundary and speak the package's units: one "atom" of mass 2000 m_e (in amu)
whose x coordinate (Å) is the model coordinate; y and z feel no force.

Adiabatic states from the diabatic 2×2 matrix [[V11, V12], [V12, V22]]:
E_± = (V11 + V22)/2 ± √(Δ² + V12²), Δ = (V11 − V22)/2, mixing angle θ = ½ atan2(V12, Δ);
lower state φ_0 = (−sin θ, cos θ), upper φ_1 = (cos θ, sin θ), so the coupling
d_01 = <φ_0|∂_x φ_1> = ∂θ/∂x and d_10 = −d_01.
"""

from __future__ import annotations

import torch

from fusionpot.namd.initial import InitialConditions
from fusionpot.namd.providers import AutogradProvider
from fusionpot.namd.state import SurfaceHoppingState
from fusionpot.namd.units import AU_TIME_FS, BOHR_ANG, HARTREE_EV, ME_AMU

__all__ = [
    "TULLY_MASS_AMU",
    "TullyDualAvoidedCrossing",
    "TullyExtendedCoupling",
    "TullyModel",
    "TullySimpleAvoidedCrossing",
    "momentum_to_velocity",
    "scattering_outcomes",
    "tully_initial_conditions",
    "tully_model",
]

#: Tully's particle mass, 2000 electron masses, in amu.
TULLY_MASS_AMU: float = 2000.0 * ME_AMU


def momentum_to_velocity(momentum_au: float) -> float:
    """Velocity in Å/fs of Tully's particle (2000 m_e) with momentum ``momentum_au`` (a.u.)."""
    return momentum_au / 2000.0 * BOHR_ANG / AU_TIME_FS


class TullyModel(AutogradProvider):
    """Base of the three models: subclasses give the diabatic matrix in Hartree."""

    n_states = 2
    has_nac = True
    smooth_nac = True  # θ(x) is continuous: 2θ stays in (0, π) because V12 > 0

    def diabatic(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """V11, V22, V12 in Hartree at x [n_traj] Bohr."""
        raise NotImplementedError

    def _adiabatic(self, positions: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        x = positions[:, 0, 0] / BOHR_ANG
        v11, v22, v12 = self.diabatic(x)
        mean, delta = 0.5 * (v11 + v22), 0.5 * (v11 - v22)
        radius = torch.sqrt(delta**2 + v12**2)
        energies = torch.stack([mean - radius, mean + radius], dim=1) * HARTREE_EV
        theta = 0.5 * torch.atan2(v12, delta)
        return energies, theta

    def energies(self, positions: torch.Tensor, numbers: torch.Tensor) -> torch.Tensor:
        """Adiabatic energies [n_traj, 2] eV at positions [n_traj, 1, 3] Å."""
        if positions.shape[1:] != (1, 3):
            raise ValueError(
                f"Tully models take positions [n_traj, 1, 3], got {tuple(positions.shape)}"
            )
        return self._adiabatic(positions)[0]

    def couplings(self, positions: torch.Tensor, numbers: torch.Tensor) -> torch.Tensor:
        """d_ij [n_traj, 1, 2, 2, 3] 1/Å: only the x component, d_01 = ∂θ/∂x = −d_10."""
        with torch.enable_grad():
            pos = positions.detach().requires_grad_(True)
            theta = self._adiabatic(pos)[1]
            dtheta = torch.autograd.grad(theta.sum(), pos)[0]  # [n_traj, 1, 3] 1/Å
        nac = positions.new_zeros(positions.shape[0], 1, 2, 2, 3)
        nac[:, :, 0, 1] = dtheta
        nac[:, :, 1, 0] = -dtheta
        return nac


class TullySimpleAvoidedCrossing(TullyModel):
    """Model 1: V11 = sgn(x)·A(1 − e^{−B|x|}), V22 = −V11, V12 = C e^{−D x²}."""

    def __init__(self, a: float = 0.01, b: float = 1.6, c: float = 0.005, d: float = 1.0):
        self.a, self.b, self.c, self.d = a, b, c, d

    def diabatic(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        v11 = torch.sign(x) * self.a * (1.0 - torch.exp(-self.b * x.abs()))
        return v11, -v11, self.c * torch.exp(-self.d * x**2)


class TullyDualAvoidedCrossing(TullyModel):
    """Model 2: V11 = 0, V22 = −A e^{−B x²} + E0, V12 = C e^{−D x²}."""

    def __init__(
        self, a: float = 0.1, b: float = 0.28, c: float = 0.015, d: float = 0.06, e0: float = 0.05
    ):
        self.a, self.b, self.c, self.d, self.e0 = a, b, c, d, e0

    def diabatic(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        v22 = -self.a * torch.exp(-self.b * x**2) + self.e0
        return torch.zeros_like(x), v22, self.c * torch.exp(-self.d * x**2)


class TullyExtendedCoupling(TullyModel):
    """Model 3: V11 = A, V22 = −A, V12 = B e^{Cx} (x < 0), B(2 − e^{−Cx}) (x ≥ 0)."""

    def __init__(self, a: float = 6e-4, b: float = 0.1, c: float = 0.9):
        self.a, self.b, self.c = a, b, c

    def diabatic(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        decay = torch.exp(-self.c * x.abs())
        v12 = torch.where(x < 0, self.b * decay, self.b * (2.0 - decay))
        const = torch.full_like(x, self.a)
        return const, -const, v12


_MODELS: dict[str, type[TullyModel]] = {
    "simple": TullySimpleAvoidedCrossing,
    "dual": TullyDualAvoidedCrossing,
    "extended": TullyExtendedCoupling,
}


def tully_model(name: str) -> TullyModel:
    """The model called ``name``: "simple", "dual" or "extended" (Tully's defaults)."""
    if name not in _MODELS:
        raise ValueError(f"unknown Tully model {name!r}; choose one of {sorted(_MODELS)}")
    return _MODELS[name]()


def tully_initial_conditions(
    momentum_au: float,
    n_traj: int,
    x0_bohr: float = -10.0,
    dtype: torch.dtype = torch.float64,
    device: torch.device | str = "cpu",
) -> InitialConditions:
    """``n_traj`` copies of Tully's start: x = ``x0_bohr``, momentum ``momentum_au``, state 0."""
    positions = torch.zeros(n_traj, 1, 3, dtype=dtype, device=device)
    positions[:, 0, 0] = x0_bohr * BOHR_ANG
    velocities = torch.zeros_like(positions)
    velocities[:, 0, 0] = momentum_to_velocity(momentum_au)
    return InitialConditions(
        positions=positions,
        velocities=velocities,
        active=torch.zeros(n_traj, dtype=torch.long, device=device),
        traj_id=torch.arange(n_traj, device=device),
        masses=torch.tensor([TULLY_MASS_AMU], dtype=dtype, device=device),
        numbers=torch.ones(1, dtype=torch.long, device=device),
    )


def scattering_outcomes(final: SurfaceHoppingState) -> dict[str, float]:
    """Fractions of trajectories transmitted (x > 0) or reflected, on each state:
    keys "T0", "R0", "T1", "R1"."""
    x = final.positions[:, 0, 0]
    out = {}
    for s in range(final.n_states):
        on = final.active == s
        out[f"T{s}"] = float((on & (x > 0)).double().mean())
        out[f"R{s}"] = float((on & (x <= 0)).double().mean())
    return out
