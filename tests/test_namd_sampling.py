"""Wigner sampling, excitation, and the analysis of a run."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from fusionpot.namd import ModuleProvider, excite, normal_modes, wigner_sample
from fusionpot.namd.analysis import (
    CollectiveVariable,
    ProductRule,
    classify,
    fit_lifetime,
    quantum_yields,
    state_fractions,
)
from fusionpot.namd.integrator import kinetic_energy
from fusionpot.namd.units import HBAR_EV_FS

# a bent triatomic held by three springs: translation and rotation invariant
GEOMETRY = torch.tensor(
    [[0.0, 0.0, 0.0], [0.96, 0.0, 0.0], [-0.24, 0.93, 0.0]], dtype=torch.float64
)
MASSES = torch.tensor([16.0, 1.0, 1.0], dtype=torch.float64)
NUMBERS = torch.tensor([8, 1, 1])


def springs(positions: torch.Tensor, numbers: torch.Tensor) -> torch.Tensor:
    """E0 = Σ ½ k (r − r0)² (eV), E1 = E0 + 3 eV + 2 eV/Å · (r01 − r0_01)."""
    pairs, k = [(0, 1), (0, 2), (1, 2)], [40.0, 40.0, 8.0]
    ref = [torch.linalg.norm(GEOMETRY[i] - GEOMETRY[j]) for i, j in pairs]
    r = [torch.linalg.norm(positions[:, i] - positions[:, j], dim=-1) for i, j in pairs]
    e0 = sum(0.5 * kk * (rr - r0) ** 2 for kk, rr, r0 in zip(k, r, ref, strict=True))
    return torch.stack([e0, e0 + 3.0 + 2.0 * (r[0] - ref[0])], dim=1)


PROVIDER = ModuleProvider(springs, 2)


def test_normal_modes_are_vibrations() -> None:
    omega, modes = normal_modes(PROVIDER, GEOMETRY, NUMBERS, MASSES)
    assert omega.shape == (3,) and bool((omega > 0.05).all())  # rad/fs, three vibrations
    flat = modes.reshape(3, -1)
    torch.testing.assert_close(flat @ flat.T, torch.eye(3, dtype=torch.float64))
    with pytest.raises(ValueError, match="not a minimum"):
        stretched = GEOMETRY.clone()
        stretched[1, 0] += 0.3
        normal_modes(ModuleProvider(lambda p, n: -springs(p, n), 2), stretched, NUMBERS, MASSES)


def test_autograd_and_finite_difference_hessians_give_the_same_modes() -> None:
    """The two Hessian sources (autograd of a provider, ASE finite differences of a
    calculator) share one mode analysis: same ħω (eV) and the same modes up to sign."""
    from ase import Atoms

    from fusionpot.namd import ProviderCalculator
    from fusionpot.sampling.wigner import normal_modes as calculator_modes

    omega, modes = normal_modes(PROVIDER, GEOMETRY, NUMBERS, MASSES)
    atoms = Atoms(numbers=NUMBERS.numpy(), positions=GEOMETRY.numpy(), masses=MASSES.numpy())
    energies, fd_modes = calculator_modes(atoms, ProviderCalculator(PROVIDER), delta=1e-3)
    np.testing.assert_allclose(energies, HBAR_EV_FS * omega.numpy(), rtol=1e-5)
    overlap = np.abs(np.einsum("kai,kai->k", fd_modes, modes.numpy()))
    np.testing.assert_allclose(overlap, 1.0, atol=1e-6)


def test_wigner_ground_state_energies() -> None:
    """Harmonic ground state: ⟨T⟩ = ⟨V⟩ = Σ ħω/4."""
    omega, _ = normal_modes(PROVIDER, GEOMETRY, NUMBERS, MASSES)
    ic = wigner_sample(PROVIDER, GEOMETRY, NUMBERS, MASSES, n_traj=4000, seed=1)
    expected = float(HBAR_EV_FS * omega.sum() / 4)
    mean_t = kinetic_energy(ic.velocities, MASSES).mean().item()
    mean_v = springs(ic.positions, NUMBERS)[:, 0].mean().item()
    assert mean_t == pytest.approx(expected, rel=0.04)
    assert mean_v == pytest.approx(expected, rel=0.06)  # springs are slightly anharmonic
    # per-trajectory streams: the first trajectories do not depend on the ensemble size
    small = wigner_sample(PROVIDER, GEOMETRY, NUMBERS, MASSES, n_traj=5, seed=1)
    torch.testing.assert_close(small.positions, ic.positions[:5], rtol=0, atol=0)


def test_excite_by_state_and_energy_window() -> None:
    ic = wigner_sample(PROVIDER, GEOMETRY, NUMBERS, MASSES, n_traj=300, seed=2)
    assert bool((excite(ic, PROVIDER, state=1).active == 1).all())
    chosen = excite(ic, PROVIDER, energy_window=(3.0, 3.1))
    gap = springs(chosen.positions, NUMBERS).diff(dim=1)[:, 0]
    assert 0 < len(chosen) < 300 and bool(((gap >= 3.0) & (gap <= 3.1)).all())
    assert bool((chosen.active == 1).all())
    with pytest.raises(ValueError, match="exactly one"):
        excite(ic, PROVIDER)


def test_lifetime_fit_recovers_decay() -> None:
    rng = np.random.default_rng(0)
    time = np.arange(0, 600.0, 2.0)
    hop = 30.0 + rng.exponential(120.0, size=400)  # delay 30 fs, τ 120 fs
    active = np.where(time[None, :] < hop[:, None], 1, 0)
    stopped = time[None, :] > hop[:, None] + 40.0  # stopped after 40 fs in S0 ...
    stopped[50:] = False  # ... for the first 50 trajectories
    active[stopped] = -1
    assert np.allclose(state_fractions(active, 2).sum(axis=1), 1.0)
    fit = fit_lifetime(time, active, n_boot=100)
    sample_tau = float((hop - 30.0).mean())  # the maximum-likelihood τ of this sample
    assert fit.tau_low < sample_tau < fit.tau_high and fit.tau_high - fit.tau_low < 40.0
    assert abs(fit.tau - 120.0) < 4 * 120.0 / np.sqrt(400)
    assert fit.t0 == pytest.approx(30.0, abs=8.0)


def test_products_and_yields() -> None:
    def butene(dihedral_deg: float, close: float) -> np.ndarray:
        phi = np.radians(dihedral_deg)
        return np.array(
            [
                [1.0, 0.0, 0.0],
                [0.0, 0.0, 0.0],
                [0.0, 0.0, 1.3],
                [np.cos(phi), np.sin(phi), 1.3 + close],
            ]
        )

    geometries = np.stack(
        [butene(10, 0.5)] * 30 + [butene(170, 0.5)] * 60 + [butene(-5, -1.3)] * 10
    )
    cv = {
        "torsion": CollectiveVariable("dihedral", (0, 1, 2, 3)),
        "end": CollectiveVariable("distance", (0, 3)),
    }
    assert cv["torsion"](geometries[:1])[0] == pytest.approx(10.0)
    rules = [
        ProductRule("closed", {"end": (0.0, 1.0)}),
        ProductRule("trans", {"torsion": (90, 180)}),
        ProductRule("cis", {"torsion": (0, 90)}),
    ]
    labels = classify(geometries, cv, rules)
    assert list(labels[[0, 40, 95]]) == ["cis", "trans", "closed"]
    yields = quantum_yields(labels, ["cis", "trans", "closed", "other"], n_boot=500)
    assert yields["trans"][0] == pytest.approx(0.6) and yields["other"][0] == 0.0
    low, high = yields["cis"][1:]
    assert low < 0.3 < high and high - low < 0.25
