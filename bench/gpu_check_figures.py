"""The ASE MD and training figures of ``bench/gpu_check.sh``, and its summary table.

    python bench/gpu_check_figures.py ase-md --device cuda --json md.json
    python bench/gpu_check_figures.py train --device cuda --json train.json
    python bench/gpu_check_figures.py study --device cuda --json study.json
    python bench/gpu_check_figures.py table tests.json namd.json md.json train.json

``ase-md``: velocity Verlet (0.5 fs, 300 K start) with ``FusionCalculator`` on the device:
the shipped stilbene demo potential (26 atoms, S0) and the speed model of
``bench/_common.py`` (random weights, exported) on a rattled periodic diamond box (1000
atoms; 64 with ``--quick``); ms per step after warm-up steps, wall time.

``train``: ``fusionpot.train.run_training`` of that speed model on stilbene frames
(rattled cis minimum, labelled S0..S2 by the demo potential on the device through
``ExportedModelProvider``); seconds per epoch and frames per second, wall time (the
epochs after the first, which includes start-up).

``study``: ``examples/stilbene/run_study.py`` on the device with the sizes of the committed
CPU study ``examples/stilbene/results_s012_round2_1ps/`` (200 cis × 1 ps, 50 trans ×
250 fs on the shipped potential; ``--quick``: its quick preset), wall time per part, the
cis lifetime and yields beside the CPU study's (the hops are random, so the two agree
within their intervals, not digit for digit).

``table``: one table of every figure, headed by the card name
(``torch.cuda.get_device_name``) or the CPU.
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import ase
import ase.io
import numpy as np
import torch
from ase import units
from ase.build import bulk
from ase.md.velocitydistribution import MaxwellBoltzmannDistribution
from ase.md.verlet import VelocityVerlet

from _common import CIS_GEOMETRY, DEMO_MODEL, speed_model_config, wait


def card(device: torch.device) -> str:
    """The accelerator's name, or the CPU's."""
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    return f"CPU {platform.processor() or platform.machine()} ({torch.get_num_threads()} threads)"


def md_ms_per_step(model: Path, atoms: ase.Atoms, device: torch.device, steps: int) -> float:
    """Wall ms per velocity Verlet step of ``atoms`` with ``FusionCalculator`` (3 warm-up)."""
    from fusionpot.calculators import FusionCalculator

    atoms = atoms.copy()
    atoms.calc = FusionCalculator(model, device=str(device))
    MaxwellBoltzmannDistribution(atoms, temperature_K=300, rng=np.random.default_rng(0))
    dynamics = VelocityVerlet(atoms, timestep=0.5 * units.fs)
    dynamics.run(3)
    wait(device)
    start = time.perf_counter()
    dynamics.run(steps)
    wait(device)
    return 1e3 * (time.perf_counter() - start) / steps


def ase_md(device: torch.device, quick: bool) -> dict[str, Any]:
    from fusionpot.export import export_model
    from fusionpot.models import build_model

    steps = 5 if quick else 50
    box = bulk("C", "diamond", a=3.567, cubic=True) * ((2, 2, 1) if quick else (5, 5, 5))
    box.rattle(0.02, seed=0)
    with tempfile.TemporaryDirectory() as folder:
        torch.manual_seed(0)
        speed = Path(folder) / "speed.pt"
        export_model(build_model(speed_model_config(("H", "C"), "float32")), speed)
        rows = {
            "ASE MD, stilbene 26 atoms, demo potential": md_ms_per_step(
                DEMO_MODEL, ase.io.read(CIS_GEOMETRY), device, steps
            ),
            f"ASE MD, diamond {len(box)} atoms, speed model float32": md_ms_per_step(
                speed, box, device, steps
            ),
        }
    return {name: f"{ms:.2f} ms/step" for name, ms in rows.items()}


def stilbene_frames(n_frames: int, device: torch.device) -> list[ase.Atoms]:
    """Rattled cis-stilbene geometries labelled S0..S2 by the demo potential."""
    from fusionpot.data.labelled import labelled_atoms
    from fusionpot.namd import ExportedModelProvider

    start = ase.io.read(CIS_GEOMETRY)
    rng = np.random.default_rng(0)
    positions = start.positions + 0.05 * rng.normal(size=(n_frames, len(start), 3))
    provider = ExportedModelProvider(DEMO_MODEL, device)
    result = provider.compute(
        torch.tensor(positions, device=device), torch.tensor(start.numbers, device=device)
    )
    energies, forces = result.energies.cpu().numpy(), result.forces.cpu().numpy()
    return [
        labelled_atoms(ase.Atoms(start.numbers, positions[i]), energies[i], forces[i])
        for i in range(n_frames)
    ]


def train(device: torch.device, quick: bool) -> dict[str, Any]:
    from fusionpot.train import run_training

    n_frames, epochs = (16, 2) if quick else (256, 4)
    config = speed_model_config(("H", "C"), "float32")
    model = {
        "r_max": config.r_max,
        "channels": 8 if quick else config.channels,
        "l_max": config.l_max,
        "n_layers": config.n_layers,
        "dtype": "float32",
    }
    with tempfile.TemporaryDirectory() as folder:
        data = Path(folder) / "stilbene.extxyz"
        ase.io.write(data, stilbene_frames(n_frames, device))
        settings = {
            "data": {"train": str(data), "valid_fraction": 0.125, "test_fraction": 0.0},
            "model": model,
            "training": {"epochs": 1, "batch_size": 16},
            "device": str(device),
        }
        run_training(settings, Path(folder) / "warm-up", progress=False)  # start-up, compiles
        settings["training"]["epochs"] = epochs
        wait(device)
        start = time.perf_counter()
        run_training(settings, Path(folder) / "run", progress=False)
        wait(device)
        seconds = (time.perf_counter() - start) / epochs
    name = f"training, {n_frames} stilbene frames, {model['channels']} channels float32"
    return {name: f"{seconds:.2f} s/epoch, {n_frames * 0.875 / seconds:.0f} frames/s"}


#: the committed CPU study that ``study`` repeats on the device
CPU_STUDY = Path(__file__).resolve().parents[1] / "examples/stilbene/results_s012_round2_1ps"


def _study_summary(folder: Path) -> str:
    """Lifetime and cis/trans yields of a run_study.py output ``folder`` in one line."""
    result = json.loads((folder / "cis" / "analysis.json").read_text())
    life, yields = result["lifetime_fs"], result["quantum_yields"]
    tau = (
        f"τ {life['tau']:.0f} fs (CI {life['ci'][0]:.0f}–{life['ci'][1]:.0f})"
        if life.get("reached")
        else "τ not reached"
    )
    parts = [f"{k} {yields[k]['yield']:.2f}" for k in ("cis", "trans", "DHP", "undetermined")]
    return f"{tau}, {life['n_decayed']}/{life['n_traj']} reached S0, " + ", ".join(parts)


def study(device: torch.device, quick: bool) -> dict[str, Any]:
    """The stilbene study of ``examples/stilbene/run_study.py`` on ``device``."""
    import subprocess

    cpu_study = json.loads((CPU_STUDY / "study.json").read_text())
    settings = cpu_study["settings"]
    sizes = (
        ["--quick"]
        if quick
        else [
            *("--n-cis", str(settings["n_cis"]), "--time", str(settings["time"])),
            *("--n-trans", str(settings["n_trans"]), "--trans-time", str(settings["trans_time"])),
            *("--seed", str(settings["seed"])),
        ]
    )
    with tempfile.TemporaryDirectory() as folder:
        command = [sys.executable, str(CPU_STUDY.parent / "run_study.py"), *sizes]
        command += ["--device", str(device), "--out", folder]
        subprocess.run(command, check=True)
        wall = json.loads((Path(folder) / "study.json").read_text())["wall_s"]
        summary = _study_summary(Path(folder))
    name = "stilbene study" + (
        " (quick preset)"
        if quick
        else f", {settings['n_cis']} cis × "
        f"{settings['time']:.0f} fs + {settings['n_trans']} trans × "
        f"{settings['trans_time']:.0f} fs"
    )
    figures = {
        f"{name}: wall": ", ".join(f"{k} {v:.0f} s" for k, v in wall.items() if v is not None),
        f"{name}: result": summary,
    }
    if not quick:
        cpu_wall = cpu_study["wall_s"]
        figures[f"{name}: CPU study (1 thread)"] = (
            ", ".join(f"{k} {v:.0f} s" for k, v in cpu_wall.items() if v is not None)
            + "; "
            + _study_summary(CPU_STUDY)
        )
    return figures


def table(paths: list[Path]) -> str:
    """The figures of ``paths`` (JSON written by the steps of gpu_check.sh) as one table."""
    parts = [json.loads(p.read_text()) for p in paths if p.is_file()]
    head = next((p["card"] for p in parts if "card" in p), "?")
    rows: list[tuple[str, str]] = []
    for part in parts:
        if "rows" in part:  # bench/namd_throughput.py
            one = part["one_at_a_time_ms_per_step"]
            rows.append(("NAMD, FusionCalculator one trajectory at a time", f"{one:.1f} ms/step"))
            for row in part["rows"]:
                rows.append(
                    (
                        f"NAMD, B = {row['B']} trajectories, one model call per step",
                        f"{row['ms_per_traj_step']:.3f} ms/traj-step, "
                        f"{100 * row['outside_model']:.0f} % outside model, "
                        f"{row['vs_calculator']:.1f}x the calculator",
                    )
                )
            if "syncs_per_step" in part:
                rows.append(("NAMD, device synchronisations per step", str(part["syncs_per_step"])))
        rows.extend((k, str(v)) for k, v in part.get("figures", {}).items())
    width = max(len(name) for name, _ in rows) if rows else 10
    lines = [f"fusionpot GPU check: {head}, torch {torch.__version__}", ""]
    lines += [f"{name:<{width}}  {value}" for name, value in rows]
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("step", choices=("ase-md", "train", "study", "table"))
    parser.add_argument("paths", nargs="*", type=Path, help="table: the JSON files")
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--quick", action="store_true", help="small sizes (a check of the script)")
    parser.add_argument("--json", type=Path, help="where to write the figures")
    args = parser.parse_args()
    if args.step == "table":
        print(table(args.paths))
        return 0
    device = torch.device(args.device)
    figures = {"ase-md": ase_md, "train": train, "study": study}[args.step](device, args.quick)
    out = {"card": card(device), "figures": figures}
    if args.json is not None:
        args.json.write_text(json.dumps(out, indent=1) + "\n")
    print(json.dumps(out, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
