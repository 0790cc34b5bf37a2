"""The end-to-end demonstration on the shipped stilbene S0/S1/S2 potential (``fusionpot demo``).

Three sections, each printed as it finishes:

1. the model: the fusion diagram of its product basis and its parameter count;
2. the ASE calculator on the shipped MRSF-TDDFT frames held out from training: energies of
   S0/S1/S2 and the S1-S0 gap, model vs label, and the force MAE;
3. batched surface hopping: Wigner samples of the model's S0 minimum started on S1,
   κTDC couplings, one model call per step for the whole ensemble, with a progress line
   every tenth of the run; populations over time, trajectory-steps per second, and the
   analysis of ``fusionpot namd-analyze`` (lifetime or "not reached", hops up and down,
   yields of ``examples/namd/stilbene_products.yaml``), its population plot beside the run.

Everything it reads ships inside the package, in :data:`SHIPPED`
(``fusionpot/shipped/stilbene``, package data of the wheel; in a checkout, links to
``potentials/stilbene`` and ``examples/namd``), so an installed fusionpot runs it too;
outputs go to ``output`` (default ``./demo_output``: ``namd_run.h5``,
``populations.png``, ``analysis.json``; its ``namd`` folder is replaced on every run).
"""

from __future__ import annotations

import json
import os
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import ase.io
import numpy as np
import yaml

if TYPE_CHECKING:  # torch is imported where it runs: the CLI starts without it
    import torch

__all__ = ["SHIPPED", "DemoResult", "run_demo"]

#: the shipped potential's folder, package data (pyproject.toml: tool.setuptools.package-data)
SHIPPED = Path(__file__).resolve().parent / "shipped" / "stilbene"
POTENTIAL = "stilbene_s012.pt"
SPLIT = "stilbene_s012_split.json"
MINIMUM = "stilbene_s012_trans_minimum.xyz"
CONFIG = "stilbene_s012_train.yaml"
LABELS = "data/labels_mrsf.extxyz"
#: the stilbene product regions (cis, trans, DHP), shipped beside the potential
PRODUCTS = SHIPPED / "stilbene_products.yaml"
#: the files the demo reads from its folder
FILES = (POTENTIAL, SPLIT, MINIMUM, CONFIG, LABELS)


@dataclass(frozen=True)
class DemoResult:
    """What the demo measured.

    table: per held-out frame, (name, subset, model [S] eV, label [S] eV, force MAE meV/Å);
    time: [n_frames] fs; populations: [n_frames, n_states] fraction of trajectories;
    steps_per_second: trajectory-steps per second of the surface-hopping run;
    plot: the population plot (PNG) beside the run; analysis: its printed summary.
    """

    n_parameters: int
    table: list[tuple[str, str, np.ndarray, np.ndarray, float]]
    time: np.ndarray
    populations: np.ndarray
    steps_per_second: float
    plot: Path
    analysis: str


def _require(path: Path) -> Path:
    if not path.exists():
        raise FileNotFoundError(
            f"{path} is missing: the demo needs the stilbene potential shipped in "
            f"{SHIPPED} (or pass another folder with the same files)"
        )
    return path


def describe_model(folder: Path, echo: Callable[[str], None]) -> int:
    """Print the fusion diagram of each layer's product basis; return the parameter count
    of the exported model (checked against the model rebuilt from its training config)."""
    from fusionpot._e3nn import quiet_fx_scripting
    from fusionpot.export import load_exported
    from fusionpot.models import build_model
    from fusionpot.models.product import FusionProduct

    module, metadata = load_exported(_require(folder / POTENTIAL))
    n_parameters = sum(p.numel() for p in module.parameters())
    raw = yaml.safe_load(_require(folder / CONFIG).read_text())["model"]
    fields = {**raw, "elements": tuple(metadata["elements"]), "n_states": metadata["n_states"]}
    with quiet_fx_scripting():
        eager = build_model(fields)
    if sum(p.numel() for p in eager.parameters()) != n_parameters:
        raise ValueError(f"{folder / POTENTIAL} does not match its config {folder / CONFIG}")
    echo(
        f"{metadata['arch']}: {n_parameters} parameters, {metadata['n_layers']} layers, "
        f"r_max {metadata['r_max']} Å, {metadata['dtype']}, elements "
        f"{'/'.join(metadata['elements'])}, states S0..S{metadata['n_states'] - 1}"
    )
    products = [m for m in eager.modules() if isinstance(m, FusionProduct)]
    for k, product in enumerate(products):
        block = product.block
        leaves = ", ".join(
            f"{name}={'+'.join(str(ir) for ir in irreps)}"
            for name, irreps in block.leaf_irreps.items()
        )
        echo(
            f"layer {k} product basis: {block.diagram}  [{leaves}; "
            f"{len(block.selection.kept)} independent paths, {block.n_weights} weights]"
        )
    return n_parameters


def held_out_frames(folder: Path) -> list[ase.Atoms]:
    """The shipped campaign frames that were in the test split (by ``frame_id``)."""
    split = json.loads(_require(folder / SPLIT).read_text())
    wanted = set(split["campaign"]["test"])
    frames = ase.io.read(_require(folder / LABELS), index=":")
    assert isinstance(frames, list)
    chosen = [a for a in frames if a.info.get("frame_id") in wanted]
    if not chosen:
        raise ValueError(f"no test frame of {folder / SPLIT} is in {folder / LABELS}")
    return chosen


def evaluate_frames(
    folder: Path, device: str, echo: Callable[[str], None]
) -> list[tuple[str, str, np.ndarray, np.ndarray, float]]:
    """FusionCalculator on the held-out frames; print and return the table."""
    from fusionpot.calculators import FusionCalculator

    calc = FusionCalculator(folder / POTENTIAL, device=device)
    frames = held_out_frames(folder)
    results = calc.calculate_batch(frames, ["state_energies", "state_forces"])
    n_states = calc.n_states
    states = range(n_states)
    echo(f"{len(frames)} MRSF-TDDFT frames of {LABELS} held out from training (test split)")
    echo("energies in eV relative to the label's S0 of each frame; gap = E(S1) - E(S0)")
    header = "frame             subset                " + "".join(
        f"  S{s} model  S{s} label" for s in states
    )
    echo(header + "  gap model  gap label  |F| MAE meV/Å")
    table = []
    for atoms, result in zip(frames, results, strict=True):
        label = np.array([atoms.info[f"energy_s{s}"] for s in states])
        forces = np.stack([atoms.arrays[f"forces_s{s}"] for s in states])
        mae = 1000.0 * float(np.abs(result["state_forces"] - forces).mean())
        name, subset = str(atoms.info["frame_id"]), str(atoms.info.get("subset", "-"))
        table.append((name, subset, result["state_energies"], label, mae))
        ref = label[0]
        cells = "".join(
            f"  {result['state_energies'][s] - ref:8.3f}  {label[s] - ref:9.3f}" for s in states
        )
        gaps = (result["state_energies"][1] - result["state_energies"][0], label[1] - label[0])
        echo(f"{name:<17} {subset:<21} {cells}  {gaps[0]:9.3f}  {gaps[1]:9.3f}  {mae:13.0f}")
    gap_errors = [(m[1] - m[0]) - (lab[1] - lab[0]) for _, _, m, lab, _ in table]
    echo(
        f"mean |gap error| {np.abs(gap_errors).mean():.3f} eV, "
        f"force MAE {np.mean([row[4] for row in table]):.0f} meV/Å over {len(table)} frames"
    )
    return table


class _StepReporter:
    """A provider that passes every call to ``provider`` and, since the driver makes one
    ``compute`` call per step for the whole batch (after one at the start), prints the
    simulated time, the wall time and trajectory-steps per second every ``every`` steps.
    It adds no device synchronisation: it only counts calls and reads the clock."""

    def __init__(
        self,
        provider: Any,
        n_traj: int,
        n_steps: int,
        dt: float,
        echo: Callable[[str], None],
    ) -> None:
        self.provider = provider
        self.n_states: int = provider.n_states
        self.has_nac: bool = provider.has_nac
        self.smooth_nac: bool = provider.smooth_nac
        self.n_traj, self.n_steps, self.dt, self.echo = n_traj, n_steps, dt, echo
        self.every = max(1, n_steps // 10)
        self.calls = 0
        self.start = time.perf_counter()

    def energies(self, positions: torch.Tensor, numbers: torch.Tensor) -> torch.Tensor:
        return self.provider.energies(positions, numbers)

    def compute(self, positions: torch.Tensor, numbers: torch.Tensor, *, nac: bool = False):
        result = self.provider.compute(positions, numbers, nac=nac)
        step = self.calls  # call 0 prepares the batch
        self.calls += 1
        if step and (step % self.every == 0 or step == self.n_steps):
            wall = time.perf_counter() - self.start
            self.echo(
                f"  step {step:>4}/{self.n_steps}  t = {step * self.dt:6.1f} fs  "
                f"{wall:6.1f} s  {self.n_traj * step / wall:6.0f} trajectory-steps/s"
            )
        return result


def surface_hopping(
    folder: Path,
    n_traj: int,
    max_time: float,
    output: Path,
    device: str,
    seed: int,
    echo: Callable[[str], None],
) -> tuple[np.ndarray, np.ndarray, float, Path, str]:
    """Wigner ensemble at the model's trans S0 minimum, started on S1; returns (time fs,
    populations [n_frames, S], trajectory-steps per second, population plot, analysis)."""
    import torch

    from fusionpot.namd import (
        DynamicsOptions,
        ExportedModelProvider,
        StopCriteria,
        excite,
        merge,
        run_ensemble,
        wigner_sample,
    )
    from fusionpot.namd.analysis import load_run, state_fractions
    from fusionpot.namd.report import analyse_run

    provider = ExportedModelProvider(folder / POTENTIAL, device=device)
    atoms = ase.io.read(_require(folder / MINIMUM), index=0)
    assert isinstance(atoms, ase.Atoms)
    positions = torch.tensor(atoms.positions, dtype=torch.float64, device=device)
    numbers = torch.tensor(atoms.numbers, device=device)
    masses = torch.tensor(atoms.get_masses(), dtype=torch.float64, device=device)
    start = time.perf_counter()
    initial = excite(wigner_sample(provider, positions, numbers, masses, n_traj, seed), provider, 1)
    echo(
        f"{n_traj} Wigner samples (T = 0 K) of the model's trans S0 minimum ({MINIMUM}), "
        f"all on S1; normal modes + sampling {time.perf_counter() - start:.1f} s"
    )
    options = DynamicsOptions(dt=0.5, n_substeps=20, coupling="ktdc", rescale="velocity")
    stop = StopCriteria(max_time=max_time)
    n_steps = round(max_time / options.dt)
    echo(f"FSSH, κTDC couplings, EDC 0.1 Ha, dt {options.dt} fs, {n_steps} steps, one batch")
    directory = output / "namd"
    shutil.rmtree(directory, ignore_errors=True)  # a fresh run, not a restart of the last one
    reporter = _StepReporter(provider, n_traj, n_steps, options.dt, echo)
    start = time.perf_counter()
    run_ensemble(
        reporter,
        initial,
        options,
        stop,
        seed=seed,
        directory=directory,
        checkpoint_every=10 * n_steps,
        progress=False,
    )
    wall = time.perf_counter() - start
    run_file = merge([directory], output / "namd_run.h5")
    data = load_run(run_file)
    populations = state_fractions(data["active"], provider.n_states)
    rate = n_traj * n_steps / wall
    echo("time/fs  " + "".join(f"  S{s}  " for s in range(provider.n_states)))
    n_frames = len(data["time"])
    for i in sorted({*range(0, n_frames, max(1, n_frames // 10)), n_frames - 1}):
        echo(f"{data['time'][i]:7.1f}  " + "".join(f" {p:5.2f} " for p in populations[i]))
    echo(
        f"{n_traj} trajectories x {n_steps} steps in {wall:.1f} s: {rate:.0f} "
        f"trajectory-steps/s; max energy drift {float(np.max(data['final']['max_drift'])):.3f} eV"
    )
    products = PRODUCTS if PRODUCTS.is_file() else None
    echo(f"\nfusionpot namd-analyze {run_file}" + (f" --products {products}" if products else ""))
    summary = analyse_run(run_file, products, output, n_boot=200, seed=seed)
    echo(summary)
    return data["time"], populations, rate, output / "populations.png", summary


def run_demo(
    folder: str | os.PathLike[str] = SHIPPED,
    n_traj: int = 32,
    max_time: float = 50.0,
    output: str | os.PathLike[str] = "demo_output",
    device: str = "cpu",
    seed: int = 0,
    echo: Callable[[str], None] = print,
) -> DemoResult:
    """Run the three sections on the potential in ``folder``; see the module docstring."""
    folder, output = Path(folder), Path(output)
    for name in FILES:  # all of them before minutes of work
        _require(folder / name)
    output.mkdir(parents=True, exist_ok=True)
    echo("== 1. The shipped potential ==")
    n_parameters = describe_model(folder, echo)
    echo("\n== 2. FusionCalculator (ASE) on held-out MRSF-TDDFT frames ==")
    table = evaluate_frames(folder, device, echo)
    echo("\n== 3. Batched surface hopping (fusionpot.namd) ==")
    times, populations, rate, plot, summary = surface_hopping(
        folder, n_traj, max_time, output, device, seed, echo
    )
    split = json.loads((folder / SPLIT).read_text())
    n_frames = sum(len(s["train"]) + len(s["test"]) for s in split.values() if isinstance(s, dict))
    echo(
        f"\nThe active-learning potential from {n_frames} labelled frames (see "
        f"{folder / 'MODEL.md'}): not yet fit for production photodynamics."
    )
    return DemoResult(n_parameters, table, times, populations, rate, plot, summary)
