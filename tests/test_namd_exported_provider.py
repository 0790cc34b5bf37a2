"""ExportedModelProvider: an exported fusionpot model as a surface-hopping provider."""

from __future__ import annotations

import textwrap
from pathlib import Path

import ase
import ase.io
import pytest
import torch
from ase.build import molecule

from fusionpot.calculators import FusionCalculator
from fusionpot.cli import main
from fusionpot.data import atoms_to_graph, keys
from fusionpot.data.device_graph import batched_graph
from fusionpot.export import load_potential
from fusionpot.models import (
    CormorantConfig,
    FusionCormorantConfig,
    FusionMACEConfig,
    MACEConfig,
    build_model,
)
from fusionpot.namd import (
    CommitteeProvider,
    DynamicsOptions,
    ExportedModelProvider,
    Provider,
    ProviderResult,
    init,
    normal_modes,
    step,
)
from fusionpot.namd.providers import EXACT_BEYOND_CUTOFF, ModuleProvider

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


DEMO = Path(__file__).parents[1] / "potentials" / "stilbene" / "stilbene_s012_demo.pt"
DEMO_MINIMUM = DEMO.with_name("stilbene_s012_cis_minimum.xyz")
SMALL = {"elements": ("H", "C", "O"), "r_max": 3.0, "channels": 4, "l_max": 2, "n_layers": 2}
#: one small float64 model of every architecture of EXACT_BEYOND_CUTOFF
ARCH_CONFIGS = {
    "fusion-mace": FusionMACEConfig(**SMALL, n_states=2, radial_mlp=(8,), dtype="float64"),
    "mace": MACEConfig(**SMALL, n_states=2, radial_mlp=(8,), dtype="float64"),
    "cormorant": CormorantConfig(**SMALL, n_states=2, radial_mlp=(8,), dtype="float64"),
    "fusion-cormorant": FusionCormorantConfig(
        **SMALL, n_states=2, radial_mlp=(8,), dtype="float64"
    ),
}


def stretched(n: int, seed: int) -> torch.Tensor:
    """n ethanols [n, 9, 3] Å stretched 1.6× about their centre and distorted, the last
    one's hydroxyl H pulled 6 Å away: many pairs beyond r_max = 3 Å, one atom alone."""
    positions = geometries(n, seed)
    positions = 1.6 * (positions - positions.mean(dim=1, keepdim=True))
    positions[-1, 8] += torch.tensor([6.0, 0.0, 0.0], dtype=torch.float64)
    return positions


def both_ways(model, positions: torch.Tensor, numbers: torch.Tensor, device: str = "cpu"):
    """(pruned, fixed-edge) results of one model on [n_traj, n_atoms, 3] Å, checking that
    the fixed graph does hold edges beyond r_max."""
    pruned = ExportedModelProvider(model, device, fixed_edges=False)
    fixed = ExportedModelProvider(model, device, fixed_edges=True)
    species = pruned._species(numbers)
    n_pruned = batched_graph(positions, species, pruned.r_max)[keys.EDGE_INDEX].shape[1]
    n_traj, n_atoms = positions.shape[:2]
    assert n_pruned < n_traj * n_atoms * (n_atoms - 1) * 0.8, "few pairs beyond r_max"
    return pruned.compute(positions, numbers), fixed.compute(positions, numbers)


def assert_same(a: ProviderResult, b: ProviderResult, rtol: float) -> None:
    """Energies and forces equal to ``rtol`` relative (forces to rtol × their largest)."""
    torch.testing.assert_close(a.energies, b.energies, rtol=rtol, atol=0)
    scale = float(a.forces.abs().max())
    assert scale > 0
    torch.testing.assert_close(a.forces, b.forces, rtol=0, atol=rtol * scale)


def test_fixed_edges_equal_the_pruned_graph_on_the_tiny_model(device: str) -> None:
    positions = stretched(4, seed=6).to(device)
    pruned, fixed = both_ways(TINY, positions, NUMBERS.to(device), device)
    assert_same(pruned, fixed, rtol=1e-12)
    assert fixed.forces.isfinite().all()


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_fixed_edges_equal_the_pruned_graph_on_the_demo_potential(dtype: str, device: str) -> None:
    """The shipped float32 stilbene potential, rebuilt in float64 (1e-12) and as shipped
    (float32 rounding): its cis minimum spans ~10 Å, r_max is 5 Å."""
    atoms = ase.io.read(DEMO_MINIMUM)
    generator = torch.Generator().manual_seed(8)
    base = torch.tensor(atoms.positions, dtype=torch.float64)
    positions = base + 0.05 * torch.randn(3, *base.shape, generator=generator, dtype=torch.float64)
    model: Path | torch.nn.Module = DEMO
    if dtype == "float64":  # rebuilt from its config: ExportedPotential(ForceOutput(model))
        model = load_potential(DEMO, device, dtype)[0].potential.model
    numbers = torch.tensor(atoms.numbers, device=device)
    pruned, fixed = both_ways(model, positions.to(device), numbers, device)
    assert_same(pruned, fixed, rtol=1e-12 if dtype == "float64" else 1e-5)


@pytest.mark.parametrize("arch", sorted(ARCH_CONFIGS))
def test_every_exact_architecture_ignores_edges_beyond_r_max(arch: str) -> None:
    assert arch in EXACT_BEYOND_CUTOFF
    torch.manual_seed(0)
    model = build_model(ARCH_CONFIGS[arch])
    pruned, fixed = both_ways(model, stretched(3, seed=9), NUMBERS)
    assert_same(pruned, fixed, rtol=1e-12)


def test_fixed_edges_give_the_same_surface_hopping_run() -> None:
    """Same seeds, both graphs: the same hop attempts, hops, active states and amplitudes
    at every step of 8 stilbenes started on S2 (the demo potential in float64; the run
    hops, so the check is not empty)."""
    atoms = ase.io.read(DEMO_MINIMUM)
    model = load_potential(DEMO, "cpu", "float64")[0].potential.model
    providers = [ExportedModelProvider(model, fixed_edges=fixed) for fixed in (False, True)]
    generator = torch.Generator().manual_seed(3)
    base = torch.tensor(atoms.positions, dtype=torch.float64)
    positions = base + 0.05 * torch.randn(8, *base.shape, generator=generator, dtype=torch.float64)
    velocities = 0.01 * torch.randn(positions.shape, generator=generator, dtype=torch.float64)
    masses = torch.tensor(atoms.get_masses(), dtype=torch.float64)
    numbers = torch.tensor(atoms.numbers)
    active = torch.full((8,), 2)
    options = DynamicsOptions(dt=0.5, n_substeps=10, coupling="ktdc")
    states = [
        init(p, positions, velocities, masses, numbers, active, options, seed=7) for p in providers
    ]
    n_hops = 0
    for _ in range(20):
        (a, hops_a), (b, hops_b) = (
            step(s, p, options) for s, p in zip(states, providers, strict=True)
        )
        states = [a, b]
        assert torch.equal(a.active, b.active)
        for field in ("attempted", "accepted", "source", "target"):
            assert torch.equal(getattr(hops_a, field), getattr(hops_b, field)), field
        n_hops += int(hops_a.accepted.sum())
        torch.testing.assert_close(a.energies, b.energies, atol=1e-10, rtol=0)
        torch.testing.assert_close(a.forces, b.forces, atol=1e-9, rtol=0)
        torch.testing.assert_close(a.amplitudes, b.amplitudes, atol=1e-9, rtol=0)
    assert n_hops > 0


def test_committee_with_fixed_edges_equals_the_pruned_committee() -> None:
    models = [TINY, TINY]
    positions = stretched(3, seed=10)
    pruned = CommitteeProvider(models, fixed_edges=False).compute(positions, NUMBERS)
    committee = CommitteeProvider(models, fixed_edges=True)
    assert all(member.fixed_edges for member in committee.members)
    fixed = committee.compute(positions, NUMBERS)
    assert_same(pruned, fixed, rtol=1e-12)
    assert pruned.spread is not None and fixed.spread is not None
    torch.testing.assert_close(pruned.spread, fixed.spread, rtol=0, atol=1e-12)


def test_fixed_edges_default_follows_the_device_and_bad_values_are_named(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    assert not ExportedModelProvider(TINY).fixed_edges  # CPU: the pruned graph is faster
    with pytest.raises(ValueError, match="fixed_edges must be true, false or null, got 'yes'"):
        ExportedModelProvider(TINY, fixed_edges="yes")  # type: ignore[arg-type]
    # an architecture not known to ignore far edges is refused the fixed-shape graph
    monkeypatch.setattr("fusionpot.namd.providers.EXACT_BEYOND_CUTOFF", frozenset({"mace"}))
    with pytest.raises(ValueError, match=r"far edges contribute exactly zero.*arch 'fusion-mace'"):
        ExportedModelProvider(TINY, fixed_edges=True)


def test_fixed_edges_through_the_namd_yaml(tmp_path: Path, capsys) -> None:
    """``provider.kwargs.fixed_edges`` reaches the provider: a run with it set, and a bad
    value in one line (exit 2)."""
    atoms = ETHANOL.copy()
    atoms.info["state"] = 1
    ase.io.write(tmp_path / "initial.extxyz", [atoms, atoms])
    for value, code in (("true", 0), ("auto", 2)):
        config = tmp_path / f"namd_{value}.yaml"
        config.write_text(
            textwrap.dedent(
                f"""
                provider:
                  factory: fusionpot.namd:ExportedModelProvider
                  kwargs: {{model: {TINY}, fixed_edges: {value}}}
                initial: {{file: {{path: initial.extxyz}}}}
                dynamics: {{dt: 0.5, n_substeps: 10, coupling: ktdc}}
                stop: {{max_time: 1.0}}
                run: {{seed: 1, output: out_{value}}}
                """
            )
        )
        assert main(["namd", str(config), "--no-progress"]) == code
    err = capsys.readouterr().err.strip().splitlines()
    assert err == ["fusionpot namd: error: fixed_edges must be true, false or null, got 'auto'"]
    assert (tmp_path / "out_true" / "run.h5").is_file()
