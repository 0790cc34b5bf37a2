"""Surface-hopping throughput on the users' path: ``ExportedModelProvider`` on an exported
potential, B trajectories in one model call per step.

The shipped demo potential (``potentials/stilbene/stilbene_s012_demo.pt``, S0/S1/S2,
26-atom stilbene) by default, started from random displacements of its cis minimum on
S1. For each B (default 1, 16, 64, 256) the table gives the mean over ``--steps``
consecutive steps (after one warm-up), recorded and copied to the host as the driver
does between two of its looks: ms per step, ms per step per trajectory, the share of
the step spent outside the model call (graph building, velocity Verlet, κTDC,
electronic substeps, hopping, decoherence, recording; target ≤ 10 % at B = 64 and
256), and the speed-up in trajectory-steps/s over the first B and over one trajectory
at a time through ``FusionCalculator`` (the ASE route a user would otherwise take).
These columns are for the provider's default graph (``fixed_edges`` None: pruned on
CPU, fixed-shape on CUDA); the last two give ms per step with the pruned graph (pairs
closer than r_max, one ``nonzero`` read-back per step) and with fixed-shape edges (every
pair, no read-back), both timed on every row.

Times are this process's CPU time on CPU (the machine is shared: wall time would count
other jobs; run with one thread) and wall time on CUDA, where the script waits for the
device around each timing and also counts device synchronisations inside one step,
for either graph (torch's sync debug mode: every synchronising call warns).

``--json PATH`` also writes the figures as JSON (``bench/gpu_check.sh`` reads it).

Run on CPU with glibc's allocator tuned (DESIGN.md §5), e.g.::

    MALLOC_MMAP_THRESHOLD_=4294967296 MALLOC_TRIM_THRESHOLD_=8589934592 \\
    MALLOC_TOP_PAD_=1073741824 OMP_NUM_THREADS=1 python bench/namd_throughput.py
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
import warnings
from pathlib import Path
from typing import Any

import ase.io
import torch

from fusionpot.calculators import FusionCalculator
from fusionpot.data import keys
from fusionpot.data.device_graph import batched_graph
from fusionpot.namd import DynamicsOptions, ExportedModelProvider, ProviderResult, init, step
from fusionpot.namd.io import SegmentWriter

from _common import CIS_GEOMETRY, DEMO_MODEL, wait


def clock(device: torch.device) -> float:
    """Seconds: CPU time of this process on CPU, wall time on an accelerator."""
    return time.process_time() if device.type == "cpu" else time.perf_counter()


class TimedModel:
    """Wraps the provider's model and adds up the wall time of its calls, seconds."""

    def __init__(self, model: Any, device: torch.device):
        self.model, self.device, self.seconds = model, device, 0.0

    def __call__(self, *args: Any) -> Any:
        wait(self.device)
        start = clock(self.device)
        out = self.model(*args)
        wait(self.device)
        self.seconds += clock(self.device) - start
        return out


class CalculatorProvider:
    """One trajectory at a time through ``FusionCalculator`` (the baseline)."""

    has_nac = smooth_nac = False

    def __init__(self, calculator: FusionCalculator, atoms: ase.Atoms, n_states: int):
        self.atoms, self.n_states = atoms.copy(), n_states
        self.atoms.calc = calculator

    def compute(self, positions: torch.Tensor, numbers: torch.Tensor, *, nac: bool = False):
        """ASE's ``state_forces`` are [n_states, n_atoms, 3]; a provider's [n_atoms,
        n_states, 3] (``fusionpot.data.keys.TRAJ_FIELDS``)."""
        energies, forces = [], []
        for pos in positions:
            self.atoms.set_positions(pos.detach().cpu().numpy())
            energies.append(
                torch.tensor(self.atoms.calc.get_property("state_energies", self.atoms))
            )
            state_forces = self.atoms.calc.get_property("state_forces", self.atoms)
            forces.append(torch.tensor(state_forces).transpose(0, 1))
        like = {"dtype": positions.dtype, "device": positions.device}
        return ProviderResult(torch.stack(energies).to(**like), torch.stack(forces).to(**like))


def initial(atoms: ase.Atoms, n_traj: int, device: torch.device) -> list[torch.Tensor]:
    """positions, velocities, masses, numbers, active of ``n_traj`` trajectories (float64)."""
    gen = torch.Generator().manual_seed(0)
    pos = torch.tensor(atoms.get_positions(), dtype=torch.float64)
    positions = pos + 0.02 * torch.randn(n_traj, *pos.shape, generator=gen, dtype=torch.float64)
    velocities = 0.005 * torch.randn(n_traj, *pos.shape, generator=gen, dtype=torch.float64)
    masses = torch.tensor(atoms.get_masses(), dtype=torch.float64)
    numbers = torch.tensor(atoms.get_atomic_numbers())
    active = torch.ones(n_traj, dtype=torch.long)
    return [t.to(device) for t in (positions, velocities, masses, numbers, active)]


def time_steps(
    provider: Any,
    atoms: ase.Atoms,
    n_traj: int,
    n_steps: int,
    options: DynamicsOptions,
    device: torch.device,
    timed: TimedModel | None,
) -> tuple[float, float]:
    """Mean time of ``n_steps`` consecutive steps (s), each recorded as the driver does
    (``SegmentWriter.record``/``record_hops``, one ``gather`` to the host at the end, as
    at one of the driver's looks), and the share of it outside the model call (NaN
    without ``timed``). One warm-up step first."""
    state = init(provider, *initial(atoms, n_traj, device), options)
    state, _ = step(state, provider, options)
    with tempfile.TemporaryDirectory() as folder:
        writer = SegmentWriter(folder)
        if timed is not None:
            timed.seconds = 0.0
        wait(device)
        start = clock(device)
        for _ in range(n_steps):
            state, events = step(state, provider, options)
            writer.record(state)
            writer.record_hops(state, events)
        writer.gather()
        wait(device)
        total = clock(device) - start
    outside = float("nan") if timed is None else 1.0 - timed.seconds / total
    return total / n_steps, outside


def count_syncs(
    provider: ExportedModelProvider, atoms: ase.Atoms, n_traj: int, options: DynamicsOptions
) -> int:
    """Synchronising calls inside one CUDA step (after a warm-up step)."""
    device = provider.device
    state = init(provider, *initial(atoms, n_traj, device), options)
    state, _ = step(state, provider, options)
    torch.cuda.set_sync_debug_mode("warn")
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            step(state, provider, options)
    finally:
        torch.cuda.set_sync_debug_mode("default")
    return len(caught)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", type=Path, default=DEMO_MODEL, help="exported potential")
    parser.add_argument("--geometry", type=Path, default=CIS_GEOMETRY, help="start geometry")
    parser.add_argument("--batch-sizes", type=int, nargs="+", default=[1, 16, 64, 256])
    parser.add_argument("--steps", type=int, default=10, help="timed steps per row")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--json", type=Path, default=None, help="also write the figures here")
    args = parser.parse_args()
    device = torch.device(args.device)
    atoms = ase.io.read(args.geometry)
    provider = ExportedModelProvider(args.model, device)
    other = ExportedModelProvider(args.model, device, fixed_edges=not provider.fixed_edges)
    by_mode = {p.fixed_edges: p for p in (provider, other)}  # fixed_edges -> provider
    timers = {}
    for fixed, p in by_mode.items():
        timers[fixed] = TimedModel(p.model, device)
        p.model = timers[fixed]  # type: ignore[assignment]
    options = DynamicsOptions(dt=0.5, coupling="ktdc", n_substeps=20)
    calculator = FusionCalculator(args.model, device=args.device)
    baseline = CalculatorProvider(calculator, atoms, provider.n_states)
    one_at_a_time, _ = time_steps(baseline, atoms, 1, args.steps, options, device, None)
    print(
        f"{args.model.name}, {len(atoms)} atoms, {provider.n_states} states, device "
        f"{args.device}, model dtype {provider.dtype}, {torch.get_num_threads()} threads, "
        f"mean of {args.steps} steps per row (after 1 warm-up), "
        f"{'CPU' if device.type == 'cpu' else 'wall'} time, "
        f"{'fixed-shape' if provider.fixed_edges else 'pruned'} graph unless said"
    )
    print(f"one trajectory at a time through FusionCalculator: {1e3 * one_at_a_time:.1f} ms/step")
    start = torch.tensor(atoms.get_positions(), device=device)[None]
    species = provider._species(torch.tensor(atoms.get_atomic_numbers()))
    within = int(batched_graph(start, species, provider.r_max)[keys.EDGE_INDEX].shape[1])
    every = len(atoms) * (len(atoms) - 1)
    print(
        f"edges per molecule at the start geometry: {within} within r_max = "
        f"{provider.r_max} Å, {every} fixed-shape ({every / within:.2f}x)"
    )
    first = f"vs B={args.batch_sizes[0]}"
    header = ("B", "ms/step", "ms/step/traj", "outside model", first, "vs calculator")
    header += ("pruned ms", "fixed ms")
    print("{:>5} {:>9} {:>13} {:>14} {:>8} {:>14} {:>10} {:>9}".format(*header))
    per_traj_first = None
    figures: dict[str, Any] = {
        "model": args.model.name,
        "device": str(device),
        "one_at_a_time_ms_per_step": 1e3 * one_at_a_time,
        "edges_per_molecule": {"pruned": within, "fixed": every},
        "rows": [],
    }
    for n_traj in args.batch_sizes:
        times = {
            fixed: time_steps(p, atoms, n_traj, args.steps, options, device, timers[fixed])
            for fixed, p in by_mode.items()
        }
        seconds, outside = times[provider.fixed_edges]
        per_traj = seconds / n_traj
        per_traj_first = per_traj if per_traj_first is None else per_traj_first
        pruned_ms, fixed_ms = 1e3 * times[False][0], 1e3 * times[True][0]
        print(
            f"{n_traj:5d} {1e3 * seconds:9.1f} {1e3 * per_traj:13.2f} {100 * outside:13.1f}% "
            f"{per_traj_first / per_traj:7.1f}x {one_at_a_time / per_traj:13.1f}x "
            f"{pruned_ms:10.1f} {fixed_ms:9.1f}"
        )
        figures["rows"].append(
            {
                "B": n_traj,
                "ms_per_step": 1e3 * seconds,
                "ms_per_traj_step": 1e3 * per_traj,
                "outside_model": outside,
                "vs_calculator": one_at_a_time / per_traj,
                "ms_per_step_pruned": pruned_ms,
                "ms_per_step_fixed": fixed_ms,
            }
        )
    figures["fixed_edges"] = provider.fixed_edges
    if device.type == "cuda":
        for fixed, p in by_mode.items():
            p.model = timers[fixed].model
        n_syncs = {
            fixed: count_syncs(p, atoms, max(args.batch_sizes), options)
            for fixed, p in by_mode.items()
        }
        print(
            f"device synchronisations in one step at B={max(args.batch_sizes)}: "
            f"{n_syncs[provider.fixed_edges]} ({n_syncs[True]} with fixed-shape edges, "
            f"{n_syncs[False]} with the pruned graph)"
        )
        figures["syncs_per_step"] = n_syncs[provider.fixed_edges]
        figures["syncs_per_step_pruned"] = n_syncs[False]
    if args.json is not None:
        args.json.write_text(json.dumps(figures, indent=1) + "\n")


if __name__ == "__main__":
    main()
