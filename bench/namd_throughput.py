"""Surface-hopping throughput: trajectory-steps per second vs batch size B.

A 26-atom molecule (stilbene, first frame of ../shared/data/stilbene_mrsf_seed, read in
place) with an S-state model, stepped by ``fusionpot.namd`` with B = 1, 16, 64, 256
trajectories in one provider call per step, against the same trajectories run one at a
time through an ASE-calculator-shaped wrapper of the same model. Also reports the share
of the batched step's time spent outside the provider call (target ≤ 10 %).

Models (``--model``): "fusion-mace" (default) or "mace" (stock mace-torch MACE through
``fusionpot.models.MACEBaseline``), randomly initialised, S = 3 (see
:func:`build_energy_model`), wrapped by :class:`GraphEnergies` and
:class:`fusionpot.namd.providers.ModuleProvider`; to benchmark a trained model, wrap it in
:class:`GraphEnergies` (or use ``fusionpot.namd.ExportedModelProvider``).

Run on CPU with glibc's allocator tuned (DESIGN.md §5), e.g.::

    MALLOC_MMAP_THRESHOLD_=4294967296 MALLOC_TRIM_THRESHOLD_=8589934592 \\
    MALLOC_TOP_PAD_=1073741824 python bench/namd_throughput.py --steps 3
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path
from typing import ClassVar

import ase.data
import ase.io
import torch
from ase.calculators.calculator import Calculator, all_changes

from fusionpot.namd import DynamicsOptions, ModuleProvider, ProviderResult, init, step

DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "stilbene_mrsf_seed"
N_STATES = 3


def build_energy_model(arch: str, elements: tuple[str, ...], dtype: str) -> torch.nn.Module:
    """A randomly initialised fusionpot model of S = 3 states, 0, 3 and 4 eV apart.

    "fusion-mace": 16 channels, hidden 0e+1o, l_max 2, 2 layers; "mace": stock mace-torch
    MACE (``fusionpot.models.MACEBaseline``), 32×0e+32×1o, l_max 3, correlation 3, 2 layers.
    """
    from fusionpot.models import FusionMACEConfig, MACEConfig, build_model

    common = {"elements": elements, "n_states": N_STATES, "avg_num_neighbors": 12.0}
    if arch == "fusion-mace":
        config = FusionMACEConfig(channels=16, l_max=2, n_layers=2, dtype=dtype, **common)
    else:
        config = MACEConfig(channels=32, l_max=3, correlation=3, dtype=dtype, **common)
    model = build_model(config)
    offsets = torch.tensor([0.0, 3.0, 4.0])[:N_STATES]
    model.set_energy_normalisation(model.reference_energies, model.scale, offsets)
    return model


class GraphEnergies(torch.nn.Module):
    """A fusionpot energy model as positions [B, n, 3] Å, numbers [n] → energies [B, S] eV:
    the graph dict of ``fusionpot.data.keys`` for B copies of one molecule, every pair
    closer than r_max within a molecule, built on the model's device."""

    def __init__(self, model: torch.nn.Module):
        super().__init__()
        from fusionpot.data import keys

        self.keys, self.r_max, self.model = keys, model.r_max, model
        self.numbers = [ase.data.atomic_numbers[e] for e in model.config.elements]

    def forward(self, positions: torch.Tensor, numbers: torch.Tensor) -> torch.Tensor:
        k, (n_traj, n_atoms, _) = self.keys, positions.shape
        table = torch.tensor(self.numbers, device=numbers.device)
        species = torch.argmax((numbers[:, None] == table[None, :]).int(), dim=1)
        edge_index = _pairs_within(positions, self.r_max)
        n_edges, device = edge_index.shape[1], positions.device
        data = {
            k.POSITIONS: positions.reshape(-1, 3),
            k.SPECIES: species.repeat(n_traj),
            k.EDGE_INDEX: edge_index,
            k.EDGE_CELL_SHIFT: torch.zeros(n_edges, 3, dtype=torch.long, device=device),
            k.CELL: positions.new_zeros(n_traj, 3, 3),
            k.BATCH: torch.arange(n_traj, device=device).repeat_interleave(n_atoms),
            k.PTR: torch.arange(n_traj + 1, device=device) * n_atoms,
        }
        return self.model(data)[k.ENERGY]


def _pairs_within(positions: torch.Tensor, r_max: float) -> torch.Tensor:
    """edge_index [2, n_edges] (sender, receiver) of flattened atoms closer than r_max."""
    n_atoms = positions.shape[1]
    with torch.no_grad():
        close = torch.cdist(positions, positions) < r_max
        close &= ~torch.eye(n_atoms, dtype=torch.bool, device=positions.device)
        b, i, j = torch.nonzero(close, as_tuple=True)
    return torch.stack([b * n_atoms + j, b * n_atoms + i])


class MultiStateCalculator(Calculator):
    """ASE calculator of one structure: ``energy``/``forces`` of ``state`` plus all
    states' ``state_energies`` [S] eV and ``state_forces`` [S, n, 3] eV/Å."""

    implemented_properties: ClassVar[list[str]] = [
        "energy",
        "forces",
        "state_energies",
        "state_forces",
    ]

    def __init__(self, provider: ModuleProvider, state: int = 0, **kwargs):
        super().__init__(**kwargs)
        self.provider = provider
        self.state = state

    def calculate(self, atoms=None, properties=("energy",), system_changes=all_changes):
        super().calculate(atoms, properties, system_changes)
        dtype = next(iter(self.provider.model.parameters())).dtype
        positions = torch.tensor(self.atoms.get_positions(), dtype=dtype)[None]
        numbers = torch.tensor(self.atoms.get_atomic_numbers())
        result = self.provider.compute(positions, numbers)
        self.results["state_energies"] = result.energies[0].double().numpy()
        self.results["state_forces"] = result.forces[0].double().numpy()
        self.results["energy"] = float(self.results["state_energies"][self.state])
        self.results["forces"] = self.results["state_forces"][self.state]


class CalculatorProvider:
    """Runs a batch one structure at a time through an ASE calculator (the baseline)."""

    def __init__(self, calculator: MultiStateCalculator, atoms: ase.Atoms, n_states: int):
        self.calculator, self.atoms, self.n_states = calculator, atoms.copy(), n_states
        self.has_nac, self.smooth_nac = False, False
        self.atoms.calc = calculator

    def compute(self, positions, numbers, *, nac=False) -> ProviderResult:
        energies, forces = [], []
        for pos in positions:
            self.atoms.set_positions(pos.detach().cpu().numpy())
            energies.append(
                torch.tensor(self.atoms.calc.get_property("state_energies", self.atoms))
            )
            forces.append(torch.tensor(self.atoms.calc.get_property("state_forces", self.atoms)))
        return ProviderResult(
            torch.stack(energies).to(positions.dtype), torch.stack(forces).to(positions.dtype)
        )

    def energies(self, positions, numbers):
        return self.compute(positions, numbers).energies


class Timed:
    """Wraps a provider and accumulates the wall time spent in ``compute``."""

    def __init__(self, provider):
        self.provider, self.seconds = provider, 0.0
        self.n_states, self.has_nac, self.smooth_nac = provider.n_states, False, False

    def compute(self, positions, numbers, *, nac=False):
        start = time.perf_counter()
        result = self.provider.compute(positions, numbers, nac=nac)
        self.seconds += time.perf_counter() - start
        return result

    def energies(self, positions, numbers):
        return self.provider.energies(positions, numbers)


def initial(atoms: ase.Atoms, n_traj: int, dtype: torch.dtype, device: str):
    gen = torch.Generator().manual_seed(0)
    pos = torch.tensor(atoms.get_positions(), dtype=dtype)
    positions = pos + 0.02 * torch.randn(n_traj, *pos.shape, generator=gen, dtype=dtype)
    velocities = 0.005 * torch.randn(n_traj, *pos.shape, generator=gen, dtype=dtype)
    masses = torch.tensor(atoms.get_masses(), dtype=dtype)
    numbers = torch.tensor(atoms.get_atomic_numbers())
    active = torch.ones(n_traj, dtype=torch.long)
    return [t.to(device) for t in (positions, velocities, masses, numbers, active)]


def run_batched(provider, atoms, n_traj, n_steps, options, dtype, device):
    """Fastest of ``n_steps`` timed steps (after one warm-up step), in seconds, and the
    share of that step spent outside the provider call. The minimum is reported because
    this machine is shared: slower repeats measure other people's jobs, not ours."""
    timed = Timed(provider)
    state = init(timed, *initial(atoms, n_traj, dtype, device), options)
    state, _ = step(state, timed, options)
    best, outside = float("inf"), 0.0
    for _ in range(n_steps):
        timed.seconds = 0.0
        start = time.perf_counter()
        state, _ = step(state, timed, options)
        total = time.perf_counter() - start
        if total < best:
            best, outside = total, 1.0 - timed.seconds / total
    return best, outside


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--batch-sizes", type=int, nargs="+", default=[1, 16, 64, 256])
    parser.add_argument("--steps", type=int, default=3, help="timed steps per row (best kept)")
    parser.add_argument("--baseline-trajectories", type=int, default=4)
    parser.add_argument("--model", choices=["fusion-mace", "mace"], default="fusion-mace")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--dtype", choices=["float32", "float64"], default="float64")
    args = parser.parse_args()
    path = DATA / "stilbene_mrsf_seed.extxyz"
    if not path.exists():
        raise SystemExit(f"benchmark needs {path} (../shared/data); not found")
    atoms = ase.io.read(path, index=0)
    dtype = getattr(torch, args.dtype)
    torch.manual_seed(0)
    elements = tuple(sorted(set(atoms.get_chemical_symbols())))
    model = GraphEnergies(build_energy_model(args.model, elements, args.dtype)).to(args.device)
    provider = ModuleProvider(model, N_STATES)
    options = DynamicsOptions(dt=0.5, coupling="ktdc", n_substeps=20)
    # baseline: the same kind of trajectories, one at a time, through an ASE calculator
    calc_provider = CalculatorProvider(MultiStateCalculator(provider), atoms, N_STATES)
    per_traj_step, _ = run_batched(calc_provider, atoms, 1, args.steps, options, dtype, "cpu")
    baseline_rate = 1.0 / per_traj_step  # B = 1: one trajectory-step per step
    print(
        f"model {args.model}, device {args.device}, dtype {args.dtype}, "
        f"{torch.get_num_threads()} threads, "
        f"fastest of {args.steps} timed steps per row (after 1 warm-up)"
    )
    print(f"one at a time via ASE calculator: {baseline_rate:8.2f} trajectory-steps/s")
    print(f"{'B':>5} {'s/step':>9} {'traj-steps/s':>13} {'speed-up':>9} {'outside model':>14}")
    for n_traj in args.batch_sizes:
        seconds, outside = run_batched(
            provider, atoms, n_traj, args.steps, options, dtype, args.device
        )
        rate = n_traj / seconds
        print(
            f"{n_traj:5d} {seconds:9.3f} {rate:13.2f} {rate / baseline_rate:8.1f}x "
            f"{100 * outside:13.1f}%"
        )


if __name__ == "__main__":
    main()
