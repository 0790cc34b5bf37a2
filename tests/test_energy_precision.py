"""Energies precise enough for couplings: a float32 model sums its absolute energies in
float64, so energy and gap differences match its forces (issue 17).

The shipped stilbene potential is float32; its energies are near -14 700 eV, where float32
resolves 2^-10 eV ~ 1 meV, larger than the change -F.dx of a 1e-3 Å step.
"""

from __future__ import annotations

from pathlib import Path

import ase
import ase.io
import numpy as np
import pytest
import torch

from fusionpot import FusionCalculator
from fusionpot.cli import main as cli_main
from fusionpot.export import convert_dtype, load_eager
from fusionpot.namd import (
    DynamicsOptions,
    ExportedModelProvider,
    StopCriteria,
    excite,
    run_ensemble,
    wigner_sample,
)

STILBENE = Path(__file__).resolve().parents[1] / "potentials" / "stilbene"
SHIPPED = STILBENE / "stilbene_s012_demo.pt"
MINIMUM = STILBENE / "stilbene_s012_demo_trans_minimum.xyz"
STEP = 1e-3  # Å, norm of the whole displacement


def rattled_stilbene() -> ase.Atoms:
    atoms = ase.io.read(MINIMUM, index=0)
    assert isinstance(atoms, ase.Atoms)
    atoms.rattle(0.05, seed=3)
    return atoms


@pytest.fixture(scope="module")
def shipped64(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The shipped float32 file re-exported in float64 through the CLI (same weights)."""
    path = tmp_path_factory.mktemp("precision") / "demo64.pt"
    assert cli_main(["export", str(SHIPPED), "-o", str(path), "--dtype", "float64"]) == 0
    return path


def state_energies(calc: FusionCalculator, atoms: ase.Atoms) -> tuple[np.ndarray, np.ndarray]:
    """(energies [S] eV, forces [S, n, 3] eV/Å) of every state."""
    atoms = atoms.copy()
    atoms.calc = calc
    energies = calc.get_property("state_energies", atoms).copy()
    return energies, calc.get_property("state_forces", atoms)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_energy_and_gap_differences_match_forces_at_1e_3_angstrom(dtype, shipped64):
    calc = FusionCalculator(SHIPPED if dtype == "float32" else shipped64, device="cpu")
    atoms = rattled_stilbene()
    forces = state_energies(calc, atoms)[1]
    # each quantity as weights over the states: S0, S1, S2, S1 - S0, S2 - S1
    quantities = {
        "S0": [1, 0, 0],
        "S1": [0, 1, 0],
        "S2": [0, 0, 1],
        "S1-S0": [-1, 1, 0],
        "S2-S1": [0, -1, 1],
    }
    for name, weights in quantities.items():
        w = np.asarray(weights, dtype=float)
        force = np.einsum("s,sij->ij", w, forces)
        step = STEP * force / np.linalg.norm(force)  # along the quantity's own force
        plus, minus = atoms.copy(), atoms.copy()
        plus.positions += step
        minus.positions -= step
        difference = w @ (state_energies(calc, plus)[0] - state_energies(calc, minus)[0])
        predicted = -2.0 * float(np.sum(force * step))
        assert abs(difference - predicted) <= 0.05 * abs(predicted), (name, difference, predicted)


def test_float32_energies_are_not_quantised_and_agree_with_float64(shipped64):
    atoms = rattled_stilbene()
    e32 = state_energies(FusionCalculator(SHIPPED, device="cpu"), atoms)[0]
    e64 = state_energies(FusionCalculator(shipped64, device="cpu"), atoms)[0]
    assert np.all(np.abs(e32) > 14_000)
    spacing = 2.0**-10  # float32 spacing near -14 700 eV
    assert not np.allclose(e32 / spacing, np.round(e32 / spacing), rtol=0, atol=1e-3)
    np.testing.assert_allclose(e32, e64, rtol=0, atol=1e-4)


def test_gap_curvature_along_a_path_is_the_same_in_float32_and_float64():
    """κTDC uses second differences of gaps over 0.5 fs: compare them along one straight
    path of 0.5 fs steps at ~0.01 Å/fs per coordinate, model in float32 vs float64."""
    eager32 = load_eager(SHIPPED)
    atoms = rattled_stilbene()
    velocity = np.random.default_rng(0).normal(scale=0.01, size=atoms.positions.shape)
    path = np.stack([atoms.positions + velocity * 0.5 * k for k in range(7)])
    numbers = torch.tensor(atoms.numbers)
    curvatures = []
    for dtype in ("float32", "float64"):
        provider = ExportedModelProvider(convert_dtype(eager32, dtype))
        energies = provider.compute(torch.tensor(path), numbers).energies.numpy()
        gaps = energies[:, 1:] - energies[:, :1]  # S1-S0, S2-S0 [7, 2]
        curvatures.append((gaps[2:] - 2 * gaps[1:-1] + gaps[:-2]) / 0.5**2)  # eV/fs²
    c32, c64 = curvatures
    assert np.abs(c64).max() > 1e-3  # the path has curvature worth resolving
    np.testing.assert_allclose(c32, c64, rtol=0, atol=0.02 * np.abs(c64).max())


def test_surface_hopping_statistics_agree_between_float32_and_float64(shipped64):
    """The same Wigner ensemble on S1 (32 trajectories, 30 fs, κTDC) with the exported
    model in float32 and in float64: hop counts and final populations within statistical
    error."""
    atoms = ase.io.read(MINIMUM, index=0)
    assert isinstance(atoms, ase.Atoms)
    positions = torch.tensor(atoms.positions, dtype=torch.float64)
    numbers = torch.tensor(atoms.numbers)
    masses = torch.tensor(atoms.get_masses(), dtype=torch.float64)
    options = DynamicsOptions(dt=0.5, n_substeps=20, coupling="ktdc", rescale="velocity")
    results = {}
    for dtype, path in (("float32", SHIPPED), ("float64", shipped64)):
        provider = ExportedModelProvider(path)
        initial = excite(wigner_sample(provider, positions, numbers, masses, 32, 0), provider, 1)
        final = run_ensemble(provider, initial, options, StopCriteria(max_time=30.0), seed=0)
        results[dtype] = (final.n_hops.numpy(), final.active.numpy())
    (hops32, active32), (hops64, active64) = results["float32"], results["float64"]
    n32, n64 = int(hops32.sum()), int(hops64.sum())
    print(f"hops float32 {n32}, float64 {n64}")
    assert abs(n32 - n64) <= 3 * np.sqrt(max(n32 + n64, 1)), (n32, n64)
    for state in range(3):
        p32, p64 = np.mean(active32 == state), np.mean(active64 == state)
        sigma = np.sqrt(max(p32 * (1 - p32) + p64 * (1 - p64), 1 / 32) / 32)
        assert abs(p32 - p64) <= 3 * sigma, (state, p32, p64)
