"""LAMMPS plugin speed: MD steps/s of pair_style fusion (1 and 2 MPI ranks) against
ASE with FusionCalculator and the bare TorchScript call, on a 1000-atom periodic box.

Model: Fusion-MACE over H, C (32 channels, hidden 0e+1o, l_max 2, 2 layers, ν = 3 via
``((A, A), A)`` + constant leaf, r_max 5 Å), randomly initialised and seeded, exported
with ``export_model``; system: 1000-atom diamond, rattled. The plugin is built with
``fusionpot lammps build`` into a temporary folder (or pass ``--plugin``).

Rows:
- bare model: ``module(graph, 0)`` (energy and forces of state 0) on the periodic graph
  of the 1000 atoms (vesin neighbour list), median over calls;
- ASE: velocity Verlet with FusionCalculator, median step;
- LAMMPS: ``run`` of NVE steps after a warm-up run, from LAMMPS's loop time. The
  plugin's own timing line splits each step into the model call on the graph it sends
  (local atoms plus the ghosts within n_layers hops) and everything else; "plugin
  overhead" is everything else over the model call on that graph.

glibc malloc is tuned the same way everywhere (FusionCalculator and the plugin do it
themselves; the bare call runs in the FusionCalculator's process). Timings are wall
clock on whatever else the machine runs: repeat to judge noise.

    python bench/lammps_speed.py                      # float32, 1 thread per rank
    python bench/lammps_speed.py --dtype float64 --steps 10 --plugin build/fusionplugin.so
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from _common import answer_worker, run_worker

ELEMENTS = ("H", "C")


def export(path: Path, dtype: str) -> None:
    import torch

    from fusionpot.export import export_model
    from fusionpot.models import build_model

    from _common import speed_model_config

    torch.manual_seed(0)
    config = speed_model_config(ELEMENTS, dtype)
    export_model(build_model(config), path)


def diamond_box():
    from ase.build import bulk

    box = bulk("C", "diamond", a=3.567, cubic=True) * (5, 5, 5)
    box.rattle(0.02, seed=0)
    return box


def python_worker(spec: dict) -> dict:
    """In a fresh process: median seconds of the bare call and of an ASE MD step."""
    import torch
    from ase import units
    from ase.md.velocitydistribution import MaxwellBoltzmannDistribution
    from ase.md.verlet import VelocityVerlet

    from fusionpot import FusionCalculator
    from fusionpot.data import atoms_to_graph
    from fusionpot.export import load_exported
    from fusionpot.models.config import DTYPES

    torch.set_num_threads(spec["threads"])
    calculator = FusionCalculator(spec["model"], device="cpu")
    module, metadata = load_exported(spec["model"])
    atoms = diamond_box()
    graph = atoms_to_graph([atoms], ELEMENTS, metadata["r_max"], dtype=DTYPES[spec["dtype"]])
    bare = []
    for k in range(spec["steps"] + 2):
        start = time.perf_counter()
        module(graph, 0, True, False)
        if k >= 2:
            bare.append(time.perf_counter() - start)
    atoms.calc = calculator
    MaxwellBoltzmannDistribution(atoms, temperature_K=300, rng=np.random.default_rng(0))
    dynamics = VelocityVerlet(atoms, timestep=0.5 * units.fs)
    dynamics.run(2)
    steps = []
    last = time.perf_counter()
    for _ in dynamics.irun(spec["steps"]):
        now = time.perf_counter()
        steps.append(now - last)
        last = now
    return {
        "bare": statistics.median(bare),
        "ase": statistics.median(steps[1:]),
        "edges": int(graph["edge_index"].shape[1]),
    }


def lammps_run(plugin: Path, model: Path, workdir: Path, ranks: int, spec: dict) -> dict:
    """Seconds per step of the timed run, and the plugin's model seconds per step."""
    from ase.io import write

    from fusionpot.lammps import lammps_environment, lmp_executable, mpirun_executable

    write(workdir / "box.data", diamond_box(), format="lammps-data", specorder=list(ELEMENTS))
    steps = spec["steps"]
    (workdir / "in.lammps").write_text(
        f"""plugin load {plugin}
units metal
atom_style atomic
read_data box.data
mass 1 1.008
mass 2 12.011
newton on
pair_style fusion
pair_coeff * * {model} {" ".join(ELEMENTS)}
velocity all create 300 87287 loop geom
timestep 0.0005
fix nve all nve
thermo {steps}
run 2
run {steps}
"""
    )
    command = [str(lmp_executable()), "-in", "in.lammps", "-log", "none"]
    if ranks > 1:
        command = [str(mpirun_executable()), "-np", str(ranks), *command]
    env = {**lammps_environment(), "OMP_NUM_THREADS": str(spec["threads"])}
    result = subprocess.run(command, cwd=workdir, env=env, capture_output=True, text=True)
    if result.returncode != 0:
        sys.exit(f"LAMMPS failed:\n{result.stdout[-3000:]}{result.stderr[-2000:]}")
    loop = re.findall(r"Loop time of (\S+) on \d+ procs for (\d+) steps", result.stdout)[-1]
    timing = re.findall(
        r"pair_style fusion: (\d+) calls on rank 0: (\S+) s building graphs, (\S+) s in the "
        r"model, (\S+) nodes and (\S+) edges per call",
        result.stdout,
    )[-1]
    calls = int(timing[0])
    return {
        "step": float(loop[0]) / int(loop[1]),
        "model": float(timing[2]) / calls,
        "nodes": float(timing[3]),
        "edges": float(timing[4]),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dtype", choices=("float32", "float64"), default="float32")
    parser.add_argument("--threads", type=int, default=1, help="torch threads per process")
    parser.add_argument("--steps", type=int, default=3, help="timed steps per measurement")
    parser.add_argument("--plugin", default=None, help="an already built fusionplugin.so")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if answer_worker(args.worker, python_worker):
        return
    with tempfile.TemporaryDirectory() as directory:
        root = Path(directory)
        if args.plugin is None:
            from fusionpot.lammps import build_plugin

            plugin = build_plugin(root / "build", capture=True)
        else:
            plugin = Path(args.plugin).resolve()
        model = root / "model.pt"
        export(model, args.dtype)
        spec = {"model": str(model), "dtype": args.dtype, "threads": args.threads}
        spec["steps"] = args.steps
        env = {**os.environ, "OMP_NUM_THREADS": str(args.threads)}
        python = run_worker(__file__, spec, env)
        lammps = {}
        for ranks in (1, 2):
            workdir = root / f"ranks{ranks}"
            workdir.mkdir()
            lammps[ranks] = lammps_run(plugin, model, workdir, ranks, spec)

    print(
        f"1000-atom diamond, Fusion-MACE r_max 5 Å, 2 layers, {args.dtype}, "
        f"{args.threads} thread(s) per process, median/mean of {args.steps} steps"
    )
    header = f"{'run':34s} {'steps/s':>8s} {'s/step':>8s} {'edges (rank 0)':>15s}"
    print(header)
    print("-" * len(header))
    print(
        f"{'bare TorchScript call (periodic)':34s} {1 / python['bare']:8.3f} "
        f"{python['bare']:8.3f} {python['edges']:15d}"
    )
    print(f"{'ASE + FusionCalculator':34s} {1 / python['ase']:8.3f} {python['ase']:8.3f}")
    for ranks, run in lammps.items():
        print(
            f"{f'LAMMPS plugin, {ranks} rank(s)':34s} {1 / run['step']:8.3f} "
            f"{run['step']:8.3f} {run['edges']:15.0f}"
        )
    print()
    for ranks, run in lammps.items():
        overhead = run["step"] / run["model"] - 1
        print(
            f"{ranks} rank(s): model call on the plugin's graph {run['model']:.3f} s "
            f"({run['nodes']:.0f} nodes, {run['edges']:.0f} edges on rank 0); plugin + LAMMPS "
            f"overhead {100 * overhead:.1f} % of it; step / bare periodic call "
            f"{run['step'] / python['bare']:.2f}"
        )


if __name__ == "__main__":
    main()
