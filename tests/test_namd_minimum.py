"""find_minimum: a relaxation that ends on a saddle is pushed along its imaginary mode
until every normal mode is real (a symmetric start, e.g. planar trans-stilbene, can relax
to a saddle of its own symmetry)."""

from __future__ import annotations

from functools import partial

import ase
import numpy as np
import pytest
import torch
from ase.optimize import BFGS

from fusionpot.namd import ModuleProvider, ProviderCalculator, find_minimum, normal_modes


def bent_triatomic(
    positions: torch.Tensor, numbers: torch.Tensor, bend: float = 1.0
) -> torch.Tensor:
    """Bonds 0-1 and 0-2 (5 eV/Å² about 1 Å) and a bend A (cos θ + 1/2)² with A = ``bend``
    eV: minimum at θ = 120°, the linear geometry a saddle (d²E/dθ² = −A). [B, 1] eV."""
    r1 = positions[:, 1] - positions[:, 0]
    r2 = positions[:, 2] - positions[:, 0]
    d1, d2 = r1.norm(dim=-1), r2.norm(dim=-1)
    cos = (r1 * r2).sum(-1) / (d1 * d2)
    return (5.0 * ((d1 - 1) ** 2 + (d2 - 1) ** 2) + bend * (cos + 0.5) ** 2)[:, None]


def test_a_linear_start_relaxes_past_its_saddle_to_the_bent_minimum():
    provider = ModuleProvider(bent_triatomic, n_states=1)
    linear = ase.Atoms("OHH", positions=[[0, 0, 0], [1.1, 0, 0], [-0.9, 0, 0]])
    numbers = torch.tensor(linear.numbers)
    masses = torch.tensor(linear.get_masses(), dtype=torch.float64)
    with pytest.raises(ValueError, match="not a minimum"):  # BFGS alone stays on the line
        stuck = linear.copy()
        stuck.calc = ProviderCalculator(provider)
        BFGS(stuck, logfile=None).run(fmax=1e-4)
        normal_modes(provider, torch.tensor(stuck.positions), numbers, masses)
    minimum = find_minimum(provider, linear, fmax=1e-5)
    omega, _ = normal_modes(provider, torch.tensor(minimum.positions), numbers, masses)
    assert len(omega) == 3 and bool((omega > 0).all())
    assert minimum.get_angle(1, 0, 2) == pytest.approx(120.0, abs=0.01)
    np.testing.assert_allclose(minimum.get_all_distances()[0, 1:], 1.0, atol=1e-4)
    with pytest.raises(ValueError, match="restarts"):
        find_minimum(provider, linear, max_restarts=0)


def test_a_shallow_saddle_is_left_by_growing_pushes():
    """A bend of 1 meV: the first pushes along the imaginary mode leave every force below
    the default fmax, so the relaxation stops where it started (planar trans-stilbene's
    phenyl torsions on a fitted model are like this); the doubling pushes get out."""
    provider = ModuleProvider(partial(bent_triatomic, bend=1e-3), n_states=1)
    linear = ase.Atoms("OHH", positions=[[0, 0, 0], [1.1, 0, 0], [-0.9, 0, 0]])
    minimum = find_minimum(provider, linear)
    numbers = torch.tensor(minimum.numbers)
    masses = torch.tensor(minimum.get_masses(), dtype=torch.float64)
    omega, _ = normal_modes(provider, torch.tensor(minimum.positions), numbers, masses)
    assert bool((omega > 0).all())
    assert minimum.get_angle(1, 0, 2) == pytest.approx(
        120.0, abs=10.0
    )  # a flat bend: fmax stops early
