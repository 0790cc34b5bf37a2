"""Pure ``init``/``step`` functions of batched surface hopping.

One step (Δt) for every trajectory of the batch, with a single provider call:

1. nuclei, velocity Verlet on the active state a:
   v(t+½Δt) = v(t) + ½Δt F_a(t)/m,  R(t+Δt) = R(t) + Δt v(t+½Δt),
   v(t+Δt) = v(t+½Δt) + ½Δt F_a(t+Δt)/m;
2. electrons: amplitudes from t to t+Δt with substeps (``electronic.py``), couplings from
   coupling vectors or from energies (``couplings.py``);
3. hop: fewest switches or Landau–Zener (``hopping.py``), one uniform number per
   trajectory and step from its own stream (``rng.py``); momentum rescaled on success;
4. decoherence correction (``decoherence.py``).

After a hop the next step's forces are those of the new state at the current geometry:
the provider already returned every state's forces.

Symbols: R = ``positions`` Å, v = ``velocities`` Å/fs, m = ``masses`` amu, F_s =
``forces[:, :, s]`` eV/Å, E_s = ``energies[:, s]`` eV, Δt = ``options.dt`` fs, a = ``active``.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from fusionpot.namd.couplings import align_nac_signs, curvature_tdc, nac_tdc, push_history
from fusionpot.namd.decoherence import DAMPING_FORMS, energy_based_decoherence
from fusionpot.namd.electronic import propagate_amplitudes
from fusionpot.namd.hopping import (
    FRUSTRATED_RULES,
    choose_target,
    landau_zener_probabilities,
    rescale_on_hop,
)
from fusionpot.namd.providers import Provider
from fusionpot.namd.rng import uniform
from fusionpot.namd.state import SurfaceHoppingState
from fusionpot.namd.units import ACCEL_ANG_FS2, KE_EV

__all__ = ["DynamicsOptions", "StepEvents", "init", "kinetic_energy", "step", "total_energy"]

_COUPLINGS = ("auto", "nac", "ktdc")
_HOPPING = ("fssh", "lz")
_RESCALE = ("auto", "nac", "velocity")


@dataclass(frozen=True)
class DynamicsOptions:
    """Options of the surface-hopping step.

    dt: nuclear time step, fs. n_substeps: electronic substeps per nuclear step.
    coupling: "nac" (coupling vectors, the provider must have them), "ktdc"
    (curvature-driven, energies only) or "auto" (nac when the provider has them).
    hopping: "fssh" (fewest switches) or "lz" (Landau–Zener, Belyaev–Lebedev).
    decoherence: EDC constant C in Hartree, or None for no correction.
    decoherence_damping: "amplitude" (default, e^{−Δt/τ}) or "population" (e^{−Δt/2τ}).
    rescale: momentum adjusted along "nac" (d_ak), "velocity", or "auto" (nac when the
    couplings are coupling vectors, else velocity).
    frustrated: "keep" (default) or "reverse" the momentum along the rescaling direction.
    """

    dt: float = 0.5
    n_substeps: int = 20
    coupling: str = "auto"
    hopping: str = "fssh"
    decoherence: float | None = 0.1
    decoherence_damping: str = "amplitude"
    rescale: str = "auto"
    frustrated: str = "keep"

    def __post_init__(self) -> None:
        choices = {
            "coupling": _COUPLINGS,
            "hopping": _HOPPING,
            "decoherence_damping": DAMPING_FORMS,
            "rescale": _RESCALE,
            "frustrated": FRUSTRATED_RULES,
        }
        for name, allowed in choices.items():
            if getattr(self, name) not in allowed:
                raise ValueError(f"{name} must be one of {allowed}, got {getattr(self, name)!r}")
        if not self.dt > 0:
            raise ValueError(f"dt must be positive (fs), got {self.dt}")
        if self.n_substeps < 1:
            raise ValueError(f"n_substeps must be ≥ 1, got {self.n_substeps}")
        if self.decoherence is not None and self.decoherence < 0:
            raise ValueError(f"decoherence must be ≥ 0 Hartree or None, got {self.decoherence}")

    def uses_nac(self, provider: Provider) -> bool:
        """Whether couplings come from coupling vectors for this provider."""
        if self.coupling == "nac" and not provider.has_nac:
            raise ValueError("coupling='nac' but the provider has no coupling vectors")
        needs = self.coupling == "nac" or (self.coupling == "auto" and provider.has_nac)
        if self.rescale == "nac" and not provider.has_nac:
            raise ValueError("rescale='nac' but the provider has no coupling vectors")
        return needs or self.rescale == "nac"


@dataclass(frozen=True)
class StepEvents:
    """Hop attempts of one step, all [n_traj]: source and target states, whether accepted."""

    attempted: torch.Tensor
    accepted: torch.Tensor
    source: torch.Tensor
    target: torch.Tensor


def kinetic_energy(velocities: torch.Tensor, masses: torch.Tensor) -> torch.Tensor:
    """K = ½ Σ m v², [n_traj] eV, from velocities [n_traj, n_atoms, 3] Å/fs, masses amu."""
    return 0.5 * KE_EV * (masses[None, :, None] * velocities**2).sum(dim=(1, 2))


def total_energy(state: SurfaceHoppingState) -> torch.Tensor:
    """E_a + K, [n_traj] eV."""
    rows = torch.arange(state.n_traj, device=state.device)
    return state.energies[rows, state.active] + kinetic_energy(state.velocities, state.masses)


def init(
    provider: Provider,
    positions: torch.Tensor,
    velocities: torch.Tensor,
    masses: torch.Tensor,
    numbers: torch.Tensor,
    active: torch.Tensor,
    options: DynamicsOptions,
    seed: int = 0,
    traj_id: torch.Tensor | None = None,
) -> SurfaceHoppingState:
    """State at t = 0 with all population on ``active``.

    positions: [n_traj, n_atoms, 3] Å; velocities: [n_traj, n_atoms, 3] Å/fs (same dtype
    and device); masses: [n_atoms] amu; numbers: [n_atoms]; active: [n_traj] initial
    states; traj_id: [n_traj] ensemble indices (default 0..n_traj−1).
    """
    if positions.shape != velocities.shape or positions.ndim != 3 or positions.shape[2] != 3:
        raise ValueError(
            f"positions {tuple(positions.shape)} and velocities {tuple(velocities.shape)} "
            "must both be [n_traj, n_atoms, 3]"
        )
    device, dtype = positions.device, positions.dtype
    n_traj = positions.shape[0]
    active = active.to(device=device, dtype=torch.long)
    if int(active.min()) < 0 or int(active.max()) >= provider.n_states:
        raise ValueError(f"active states must lie in 0..{provider.n_states - 1}")
    ids = torch.arange(n_traj, device=device) if traj_id is None else traj_id.to(device)
    result = provider.compute(positions, numbers, nac=options.uses_nac(provider))
    nac = None if result.nac is None else result.nac.to(dtype)
    complex_dtype = torch.complex128 if dtype == torch.float64 else torch.complex64
    amplitudes = torch.nn.functional.one_hot(active, provider.n_states).to(complex_dtype)
    masses = masses.to(device=device, dtype=dtype)
    tdc = (
        nac_tdc(velocities, nac)
        if nac is not None and options.coupling != "ktdc"
        else positions.new_zeros(n_traj, provider.n_states, provider.n_states)
    )
    zeros = positions.new_zeros(n_traj)
    state = SurfaceHoppingState(
        positions=positions,
        velocities=velocities,
        masses=masses,
        numbers=numbers.to(device),
        energies=result.energies.to(dtype),
        forces=result.forces.to(dtype),
        nac=nac,
        tdc=tdc,
        energy_history=positions.new_zeros(n_traj, 3, provider.n_states),
        n_history=torch.zeros(n_traj, dtype=torch.long, device=device),
        amplitudes=amplitudes,
        active=active,
        time=zeros.clone(),
        step=torch.zeros(n_traj, dtype=torch.long, device=device),
        traj_id=ids.to(torch.long),
        total_energy0=zeros.clone(),
        max_drift=zeros.clone(),
        n_hops=torch.zeros(n_traj, dtype=torch.long, device=device),
        ground_time=zeros.clone(),
        seed=int(seed),
        spread=result.spread,
    )
    state.total_energy0 = total_energy(state)
    return state


def step(
    state: SurfaceHoppingState, provider: Provider, options: DynamicsOptions
) -> tuple[SurfaceHoppingState, StepEvents]:
    """Advance every trajectory by one step Δt; returns the new state and its hop events."""
    dt = options.dt
    rows = torch.arange(state.n_traj, device=state.device)
    inv_m = ACCEL_ANG_FS2 / state.masses[None, :, None]
    active = state.active
    # 1. velocity Verlet on the active state
    v_half = state.velocities + 0.5 * dt * state.forces[rows, :, active] * inv_m
    positions = state.positions + dt * v_half
    use_nac = options.uses_nac(provider)
    result = provider.compute(positions, state.numbers, nac=use_nac)
    energies = result.energies.to(state.positions.dtype)
    forces = result.forces.to(state.positions.dtype)
    velocities = v_half + 0.5 * dt * forces[rows, :, active] * inv_m
    # 2. couplings and electrons
    history, n_history = push_history(state.energy_history, state.n_history, state.energies)
    nac = None
    if use_nac:
        assert result.nac is not None  # the provider was asked for coupling vectors
        nac = result.nac.to(positions.dtype)
        if not provider.smooth_nac:
            nac = align_nac_signs(nac, state.nac)
    if nac is not None and options.coupling != "ktdc":
        tdc = nac_tdc(velocities, nac)
    else:
        tdc = curvature_tdc(energies, history, n_history, dt)
    amplitudes, probabilities = propagate_amplitudes(
        state.amplitudes, state.energies, energies, state.tdc, tdc, active, dt, options.n_substeps
    )
    # 3. hop
    if options.hopping == "lz":
        probabilities = landau_zener_probabilities(energies, history, n_history, active, dt)
    zeta = uniform(state.seed, state.traj_id, state.step + 1)
    target = choose_target(probabilities.to(zeta.dtype), zeta, active)
    attempted = target != active
    if nac is not None and options.rescale != "velocity":
        direction = nac[rows, :, active, target]
    else:
        direction = state.masses[None, :, None] * velocities
    delta_e = energies[rows, target] - energies[rows, active]
    velocities, accepted = rescale_on_hop(
        velocities, state.masses, direction, delta_e, attempted, options.frustrated
    )
    new_active = torch.where(accepted, target, active)
    kinetic = kinetic_energy(velocities, state.masses)
    # 4. decoherence
    if options.decoherence is not None:
        amplitudes = energy_based_decoherence(
            amplitudes,
            energies,
            new_active,
            kinetic,
            dt,
            options.decoherence,
            options.decoherence_damping,
        )
    total = energies[rows, new_active] + kinetic
    new = SurfaceHoppingState(
        positions=positions,
        velocities=velocities,
        masses=state.masses,
        numbers=state.numbers,
        energies=energies,
        forces=forces,
        nac=nac,
        tdc=tdc,
        energy_history=history,
        n_history=n_history,
        amplitudes=amplitudes,
        active=new_active,
        time=state.time + dt,
        step=state.step + 1,
        traj_id=state.traj_id,
        total_energy0=state.total_energy0,
        max_drift=torch.maximum(state.max_drift, (total - state.total_energy0).abs()),
        n_hops=state.n_hops + accepted.long(),
        ground_time=torch.where(new_active == 0, state.ground_time + dt, 0.0),
        seed=state.seed,
        spread=result.spread,
    )
    return new, StepEvents(attempted, accepted, active, target)
