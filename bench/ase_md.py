"""ASE MD throughput: FusionCalculator against mace-torch's MACECalculator, with and
without fusionpot's glibc malloc tuning, in one run.

Systems: a 26-atom molecule (stilbene, first frame of ../shared/data/stilbene_mrsf_seed,
read in place; skipped with a message when absent) and a 1000-atom periodic diamond
box. Models, randomly initialised and seeded, of comparable size: Fusion-MACE (32
channels, hidden 0e+1o, l_max 2, 2 layers, ν = 3 via ``((A, A), A)`` + constant leaf,
r_max 5 Å), exported and loaded from the file; stock mace-torch MACE (32x0e+32x1o,
max_ell 2, correlation 3, 2 interactions, r_max 5 Å) saved with ``torch.save`` and
loaded by ``MACECalculator``. Parameter counts are printed.

Velocity Verlet (0.5 fs, 300 K start). Each malloc setting runs in its own processes
(the tuning is process-wide): ``FUSIONPOT_MALLOC_TUNING=0`` (glibc defaults) and the
default (tuned when FusionCalculator is created; it then applies to MACE in that process
as well), alternating, ``--passes`` processes each. Within a process the two
calculators alternate, ``--rounds`` times, and the table gives the median time per step
over all of a setting's steps. MACECalculator always computes the stress too
(its behaviour); FusionCalculator computes only energy and forces for MD.

    python bench/ase_md.py                       # float32, 1 thread
    python bench/ase_md.py --dtype float64 --threads 2 --rounds 5
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np

from _common import answer_worker, run_worker, speed_systems

ELEMENTS = ("H", "C")
CALCULATORS = ("fusion", "mace")


def build_models(directory: Path, dtype: str) -> dict[str, int]:
    """Write fusion.pt (exported) and mace.model (pickled mace-torch MACE); parameter counts."""
    import torch

    from fusionpot.export import export_model
    from fusionpot.models import build_model

    from _common import speed_model_config

    torch.manual_seed(0)
    config = speed_model_config(ELEMENTS, dtype)
    fusion = build_model(config)
    export_model(fusion, directory / "fusion.pt")

    # importing mace sets TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD for this process (benchmark only)
    from mace.modules import MACE, RealAgnosticResidualInteractionBlock

    from fusionpot._e3nn import o3

    previous = torch.get_default_dtype()
    torch.set_default_dtype(getattr(torch, dtype))
    try:
        mace = MACE(
            r_max=5.0,
            num_bessel=8,
            num_polynomial_cutoff=5,
            max_ell=2,
            interaction_cls=RealAgnosticResidualInteractionBlock,
            interaction_cls_first=RealAgnosticResidualInteractionBlock,
            num_interactions=2,
            num_elements=len(ELEMENTS),
            hidden_irreps=o3.Irreps("32x0e + 32x1o"),
            MLP_irreps=o3.Irreps("16x0e"),
            atomic_energies=np.zeros(len(ELEMENTS)),
            avg_num_neighbors=20.0,
            atomic_numbers=[1, 6],
            correlation=3,
            gate=torch.nn.functional.silu,
        )
    finally:
        torch.set_default_dtype(previous)
    torch.save(mace, directory / "mace.model")
    return {
        "fusion": sum(p.numel() for p in fusion.parameters()),
        "mace": sum(p.numel() for p in mace.parameters()),
    }


def worker(spec: dict) -> dict:
    """In a fresh process: median seconds per MD step of each calculator on each system."""
    import torch
    from ase import units
    from ase.md.velocitydistribution import MaxwellBoltzmannDistribution
    from ase.md.verlet import VelocityVerlet

    torch.set_num_threads(spec["threads"])
    from fusionpot import FusionCalculator  # tunes malloc unless FUSIONPOT_MALLOC_TUNING=0

    directory = Path(spec["directory"])
    calculators = {"fusion": FusionCalculator(directory / "fusion.pt", device="cpu")}
    from mace.calculators import MACECalculator

    calculators["mace"] = MACECalculator(
        model_paths=str(directory / "mace.model"), device="cpu", default_dtype=spec["dtype"]
    )
    times: dict[str, dict[str, list[float]]] = {}
    for name, atoms in speed_systems().items():
        steps = spec["steps_small"] if len(atoms) < 100 else spec["steps_large"]
        times[name] = {c: [] for c in CALCULATORS}
        for _ in range(spec["rounds"]):
            for label in CALCULATORS:
                moving = atoms.copy()
                moving.calc = calculators[label]
                MaxwellBoltzmannDistribution(
                    moving, temperature_K=300, rng=np.random.default_rng(0)
                )
                dynamics = VelocityVerlet(moving, timestep=0.5 * units.fs)
                dynamics.run(2)  # warm-up
                last = time.perf_counter()
                for k, _ in enumerate(dynamics.irun(steps)):
                    now = time.perf_counter()
                    if k > 0:
                        times[name][label].append(now - last)
                    last = now
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dtype", choices=("float32", "float64"), default="float32")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--rounds", type=int, default=3, help="alternations per process")
    parser.add_argument("--steps-small", type=int, default=40, help="steps per round, molecule")
    parser.add_argument("--steps-large", type=int, default=5, help="steps per round, box")
    parser.add_argument(
        "--passes", type=int, default=2, help="processes per malloc setting, alternating"
    )
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if answer_worker(args.worker, worker):
        return
    with tempfile.TemporaryDirectory() as directory:
        parameters = build_models(Path(directory), args.dtype)
        spec = {**vars(args), "directory": directory}
        del spec["worker"]
        results: dict[bool, dict[str, dict[str, list[float]]]] = {False: {}, True: {}}
        for tuned in [False, True] * args.passes:
            environment = {**os.environ, "OMP_NUM_THREADS": str(args.threads)}
            environment["FUSIONPOT_MALLOC_TUNING"] = "1" if tuned else "0"
            for variable in ("MALLOC_MMAP_THRESHOLD_", "MALLOC_TRIM_THRESHOLD_", "MALLOC_TOP_PAD_"):
                environment.pop(variable, None)
            for name, times in run_worker(__file__, spec, environment).items():
                for label, steps in times.items():
                    results[tuned].setdefault(name, {}).setdefault(label, []).extend(steps)
    print(
        f"ASE MD steps/s (median over steps), {args.dtype}, {args.threads} threads, "
        f"{args.passes} processes x {args.rounds} alternating rounds per malloc setting; "
        f"parameters: Fusion-MACE {parameters['fusion']}, "
        f"MACE {parameters['mace']}"
    )
    header = f"{'system':32s} {'malloc':8s} {'fusion':>9s} {'mace':>9s} {'fusion/mace':>12s}"
    print(header)
    print("-" * len(header))
    for name in results[False]:
        for tuned in (False, True):
            rate = {c: 1.0 / statistics.median(results[tuned][name][c]) for c in CALCULATORS}
            label = "tuned" if tuned else "default"
            print(
                f"{name:32s} {label:8s} {rate['fusion']:9.2f} {rate['mace']:9.2f} "
                f"{rate['fusion'] / rate['mace']:11.2f}x"
            )
    print("malloc tuning speed-up (tuned / default):")
    for name in results[False]:
        gains = []
        for c in CALCULATORS:
            default = statistics.median(results[False][name][c])
            tuned_time = statistics.median(results[True][name][c])
            gains.append(f"{c} {default / tuned_time:.2f}x")
        print(f"  {name:32s} " + ", ".join(gains))


if __name__ == "__main__":
    main()
