"""First calls of an exported model on a CPU: TorchScript's default executor against
``SteadyScript`` (what ``load_potential`` and so ``FusionCalculator`` use on a CPU).

The profiling executor re-optimises a scripted graph during its first calls; this prints
the time of each of the first calls and the median of the later ones, for a 26-atom
molecule and a 1000-atom periodic box, each mode in a fresh process (the executor keeps
what it learnt per process). Model: the speed benchmarks' Fusion-MACE (bench/_common.py),
random weights, float32, energy + forces of every state.

    python bench/first_calls.py                 # 1 thread, 5 + 10 calls
    python bench/first_calls.py --calls 8 --steady 20 --threads 2
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from pathlib import Path

from _common import answer_worker, run_worker, speed_model_config, speed_systems

MODES = {"default": "torch's default executor", "steady": "SteadyScript (fusionpot, CPU)"}


def worker(spec: dict) -> dict:
    """In a fresh process: seconds of each call, first ``calls`` then ``steady`` more."""
    import torch

    from fusionpot.data import atoms_to_graph
    from fusionpot.export import load_exported, load_potential

    torch.set_num_threads(spec["threads"])
    path = spec["model"]
    module = load_potential(path)[0] if spec["mode"] == "steady" else load_exported(path)[0]
    times = {}
    for name, atoms in speed_systems().items():
        graph = atoms_to_graph([atoms], ["H", "C"], 5.0, torch.float32)
        times[name] = []
        for _ in range(spec["calls"] + spec["steady"]):
            start = time.perf_counter()
            module(graph, -1, True, False)
            times[name].append(time.perf_counter() - start)
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=5, help="first calls shown one by one")
    parser.add_argument("--steady", type=int, default=10, help="later calls, median shown")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if answer_worker(args.worker, worker):
        return
    import torch

    from fusionpot.export import export_model
    from fusionpot.models import build_model

    with tempfile.TemporaryDirectory() as directory:
        model = Path(directory) / "fusion.pt"
        torch.manual_seed(0)
        export_model(build_model(speed_model_config(("H", "C"), "float32")), model)
        env = {**os.environ, "OMP_NUM_THREADS": str(args.threads)}
        spec = {"model": str(model), "calls": args.calls, "steady": args.steady}
        results = {
            mode: run_worker(__file__, {**spec, "mode": mode, "threads": args.threads}, env)
            for mode in MODES
        }
    header = [f"call {k + 1} ms" for k in range(args.calls)] + ["later median ms"]
    print(f"\nfirst calls, {args.threads} thread(s), torch {torch.__version__}\n")
    print("| system | executor | " + " | ".join(header) + " |")
    print("|---|---|" + "---|" * len(header))
    for name in next(iter(results.values())):
        for mode, label in MODES.items():
            times = [1000 * t for t in results[mode][name]]
            cells = [f"{t:.0f}" for t in times[: args.calls]]
            cells.append(f"{statistics.median(times[args.calls :]):.1f}")
            print(f"| {name} | {label} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
