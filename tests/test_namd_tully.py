"""Tully's three models: our batched FSSH against mudslide (an independent implementation).

Both run fewest switches without decoherence, momentum rescaled along the coupling
vector, frustrated hops keep their momentum, dt = 20 a.u., start at x = −10 Bohr, stop on
leaving [−10.5, 10.5] Bohr. Outcome fractions (T0, R0, T1, R1) must agree within
3 combined standard errors (plus 0.005 absolute for fractions near 0 or 1).
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from fusionpot.namd import DynamicsOptions, StopCriteria, run_ensemble
from fusionpot.namd.tully import scattering_outcomes, tully_initial_conditions, tully_model
from fusionpot.namd.units import AU_TIME_FS, BOHR_ANG, HARTREE_EV

mudslide = pytest.importorskip("mudslide", reason="mudslide (test-only reference) not installed")
from mudslide.models import (  # noqa: E402
    TullyDualAvoidedCrossing,
    TullyExtendedCouplingReflection,
    TullySimpleAvoidedCrossing,
)
from mudslide.surface_hopping_md import SurfaceHoppingMD  # noqa: E402

REFERENCE = {
    "simple": TullySimpleAvoidedCrossing,
    "dual": TullyDualAvoidedCrossing,
    "extended": TullyExtendedCouplingReflection,
}
DT_AU = 20.0
BOUND_BOHR = 10.5


def ours(name: str, momentum: float, n_traj: int, seed: int = 3) -> dict[str, float]:
    options = DynamicsOptions(dt=DT_AU * AU_TIME_FS, n_substeps=10, decoherence=None)
    stop = StopCriteria(max_time=1e6, box=(-BOUND_BOHR * BOHR_ANG, BOUND_BOHR * BOHR_ANG))
    final = run_ensemble(
        tully_model(name), tully_initial_conditions(momentum, n_traj), options, stop, seed=seed
    )
    return scattering_outcomes(final)


def theirs(name: str, momentum: float, n_traj: int) -> dict[str, float]:
    model = REFERENCE[name]()
    counts = np.zeros((2, 2))
    for i in range(n_traj):
        trajectory = SurfaceHoppingMD(
            model,
            [-10.0],
            [momentum / 2000.0],  # mudslide takes a velocity in a.u.
            0,
            tracer="memory",
            bounds=[-BOUND_BOHR, BOUND_BOHR],
            dt=DT_AU,
            max_steps=200000,
            seed_sequence=np.random.SeedSequence([11, i]),
            hopping_method="instantaneous",
        )
        counts += trajectory.simulate().outcome()  # [state, left/right]
    fractions = counts / n_traj
    return {f"{side}{s}": fractions[s, col] for s in (0, 1) for side, col in (("R", 0), ("T", 1))}


def assert_agree(name: str, momentum: float, n_ours: int, n_theirs: int) -> None:
    a, b = ours(name, momentum, n_ours), theirs(name, momentum, n_theirs)
    for key in a:
        p = 0.5 * (a[key] + b[key])
        se = math.sqrt(p * (1 - p) * (1 / n_ours + 1 / n_theirs))
        assert abs(a[key] - b[key]) <= 3 * se + 0.005, (name, momentum, key, a, b)


def test_models_match_mudslide_surfaces() -> None:
    """Adiabatic energies, forces and coupling magnitudes agree with mudslide's models."""
    for name, reference in REFERENCE.items():
        model, provider = reference(), tully_model(name)
        for x in (-4.0, -1.0, -0.2, 0.3, 1.5, 5.0):
            electronics = model.update(np.array([x]), gradients=[0, 1], couplings=[(0, 1)])
            pos = torch.tensor([[[x * BOHR_ANG, 0.0, 0.0]]], dtype=torch.float64)
            result = provider.compute(pos, torch.ones(1, dtype=torch.long), nac=True)
            energies = result.energies[0].numpy() / HARTREE_EV
            np.testing.assert_allclose(energies, np.diag(electronics.hamiltonian), atol=1e-12)
            for s in (0, 1):
                force = result.forces[0, 0, s, 0].item() * BOHR_ANG / HARTREE_EV
                assert force == pytest.approx(float(electronics.force(s)[0]), abs=1e-10)
            nac = result.nac[0, 0, 0, 1, 0].item() * BOHR_ANG
            assert abs(nac) == pytest.approx(abs(electronics.derivative_coupling(0, 1)[0]))


@pytest.mark.parametrize(
    ("name", "momentum"), [("simple", 10.0), ("dual", 30.0), ("extended", 15.0)]
)
def test_outcomes_match_mudslide(name: str, momentum: float) -> None:
    assert_agree(name, momentum, n_ours=1000, n_theirs=200)


@pytest.mark.slow
@pytest.mark.parametrize(
    ("name", "momentum"),
    [
        ("simple", 8.0),
        ("simple", 15.0),
        ("simple", 25.0),
        ("dual", 16.0),
        ("dual", 25.0),
        ("dual", 40.0),
        ("extended", 8.0),
        ("extended", 20.0),
        ("extended", 30.0),
    ],
)
def test_outcomes_match_mudslide_many_momenta(name: str, momentum: float) -> None:
    assert_agree(name, momentum, n_ours=2000, n_theirs=600)
