"""ExportedModelProvider: an exported fusionpot model as a surface-hopping provider."""

from __future__ import annotations

from pathlib import Path

import ase
import pytest
import torch
from ase.build import molecule

from fusionpot.calculators import FusionCalculator
from fusionpot.data import atoms_to_graph, keys
from fusionpot.namd import (
    DynamicsOptions,
    ExportedModelProvider,
    Provider,
    ProviderResult,
    init,
    normal_modes,
    step,
)
from fusionpot.namd.providers import ModuleProvider

TINY = Path(__file__).parent / "data" / "tiny_model.pt"  # H/C/O, 2 states, float64
ETHANOL = molecule("CH3CH2OH")
NUMBERS = torch.tensor(ETHANOL.numbers)


@pytest.fixture(scope="module")
def provider() -> ExportedModelProvider:
    return ExportedModelProvider(TINY, device="cpu")


def geometries(n: int, seed: int = 0) -> torch.Tensor:
    """n distorted ethanols [n, 9, 3] Å."""
    generator = torch.Generator().manual_seed(seed)
    base = torch.tensor(ETHANOL.positions, dtype=torch.float64)
    return base + 0.08 * torch.randn(n, *base.shape, generator=generator, dtype=torch.float64)


def test_is_a_provider_with_the_models_states(provider: ExportedModelProvider) -> None:
    assert isinstance(provider, Provider)
    assert provider.n_states == 2 and not provider.has_nac


def test_forces_are_minus_the_gradient_by_finite_differences(
    provider: ExportedModelProvider,
) -> None:
    positions = geometries(1)
    forces = provider.compute(positions, NUMBERS).forces[0]  # [n_atoms, S, 3]
    h = 1e-4
    for atom, axis in [(0, 0), (2, 1), (8, 2)]:
        shift = torch.zeros_like(positions)
        shift[0, atom, axis] = h
        plus = provider.energies(positions + shift, NUMBERS)[0]
        minus = provider.energies(positions - shift, NUMBERS)[0]
        fd = -(plus - minus) / (2 * h)
        torch.testing.assert_close(forces[atom, :, axis], fd, atol=1e-6, rtol=1e-5)


def test_batch_equals_one_by_one_and_the_ase_calculator(device: str) -> None:
    """On each device: one call for 4 geometries = 4 calls, = FusionCalculator on that
    device; tensors stay where the caller put them."""
    provider = ExportedModelProvider(TINY, device=device)
    positions = geometries(4, seed=1).to(device)
    numbers = NUMBERS.to(device)
    batch = provider.compute(positions, numbers)
    assert batch.energies.shape == (4, 2) and batch.forces.shape == (4, 9, 2, 3)
    assert batch.forces.device == positions.device
    batch = ProviderResult(batch.energies.cpu(), batch.forces.cpu())
    calc = FusionCalculator(TINY, device=device)
    positions = positions.cpu()
    for i in range(4):
        single = provider.compute(positions[i : i + 1], NUMBERS)
        torch.testing.assert_close(single.energies[0], batch.energies[i], atol=1e-10, rtol=0)
        torch.testing.assert_close(single.forces[0], batch.forces[i], atol=1e-10, rtol=0)
        atoms = ETHANOL.copy()
        atoms.positions = positions[i].numpy()
        result = calc.calculate_batch([atoms], ["state_energies", "state_forces"])[0]
        torch.testing.assert_close(batch.energies[i], torch.tensor(result["state_energies"]))
        # the calculator's user-facing state_forces are [n_states, n_atoms, 3] (ASE's
        # per-state result); the provider's are [n_atoms, n_states, 3] (keys.py)
        state_forces = torch.tensor(result["state_forces"])
        torch.testing.assert_close(batch.forces[i], state_forces.transpose(0, 1))


def test_autograd_path_and_hessian_agree(provider: ExportedModelProvider) -> None:
    """The model's own forces equal the generic autograd forces of ``energies``, and the
    energies are twice differentiable (Wigner sampling needs the Hessian)."""
    positions = geometries(2, seed=2)
    generic = ModuleProvider(provider.energies, provider.n_states).compute(positions, NUMBERS)
    torch.testing.assert_close(provider.compute(positions, NUMBERS).forces, generic.forces)
    masses = torch.tensor(ETHANOL.get_masses(), dtype=torch.float64)
    with pytest.raises(ValueError, match="not a minimum"):  # a distorted geometry
        normal_modes(provider, positions[0], NUMBERS, masses)


def test_bad_input_is_named(provider: ExportedModelProvider) -> None:
    with pytest.raises(ValueError, match=r"\[n_traj, n_atoms, 3\]"):
        provider.compute(geometries(1)[0], NUMBERS)
    with pytest.raises(ValueError, match="element N"):
        provider.compute(geometries(1), torch.tensor([7] * 9))
    with pytest.raises(ValueError, match="coupling"):
        provider.compute(geometries(1), NUMBERS, nac=True)


class HostGraphProvider(ExportedModelProvider):
    """The provider as it was before graphs were built on the device: B ``ase.Atoms``
    and vesin on the host (``atoms_to_graph``)."""

    def _graph(self, positions: torch.Tensor, numbers: torch.Tensor) -> dict[str, torch.Tensor]:
        z = numbers.cpu().numpy()
        frames = [ase.Atoms(numbers=z, positions=p) for p in positions.detach().cpu().numpy()]
        graph = atoms_to_graph(frames, self.elements, self.r_max, self.dtype, self.device)
        graph[keys.POSITIONS] = positions.reshape(-1, 3).to(self.device, self.dtype)
        return graph


def test_device_graph_and_host_graph_give_the_same_dynamics() -> None:
    """A surface-hopping run through the device-built graph equals the run through the
    host-built one (same seeds): energies and forces agree to rounding at every step."""
    options = DynamicsOptions(dt=0.5, n_substeps=10, coupling="ktdc")
    new, old = ExportedModelProvider(TINY), HostGraphProvider(TINY)
    positions = geometries(6, seed=3)
    velocities = 0.01 * torch.randn(positions.shape, generator=torch.Generator().manual_seed(4))
    masses = torch.tensor(ETHANOL.get_masses(), dtype=torch.float64)
    active = torch.tensor([1, 1, 1, 0, 0, 1])
    states = [
        init(p, positions, velocities.double(), masses, NUMBERS, active, options, seed=7)
        for p in (new, old)
    ]
    for _ in range(8):
        states = [step(s, p, options)[0] for s, p in zip(states, (new, old), strict=True)]
        a, b = states
        torch.testing.assert_close(a.energies, b.energies, atol=1e-10, rtol=0)
        torch.testing.assert_close(a.forces, b.forces, atol=1e-9, rtol=0)
        torch.testing.assert_close(a.amplitudes, b.amplitudes, atol=1e-9, rtol=0)
        assert torch.equal(a.active, b.active)


def test_numbers_must_match_the_positions(provider: ExportedModelProvider) -> None:
    with pytest.raises(ValueError, match=r"numbers must be \[n_atoms\] = \[9\]"):
        provider.compute(geometries(1), NUMBERS[:5])


def test_non_finite_geometries_give_nan_not_free_atoms(provider: ExportedModelProvider) -> None:
    positions = geometries(3, seed=5)
    positions[1, 4, 0] = float("nan")
    positions[2, 0, 2] = float("inf")
    result = provider.compute(positions, NUMBERS)
    assert result.energies[1:].isnan().all() and result.forces[1:].isnan().all()
    clean = provider.compute(positions[:1], NUMBERS)
    torch.testing.assert_close(result.energies[0], clean.energies[0], atol=1e-10, rtol=0)
    assert result.forces[0].isfinite().all()
