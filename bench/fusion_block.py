"""Fusion block vs mace-torch's SymmetricContraction on the same input.

Setting (issue 2): 1000 nodes, 32 channels, l_max 3 (A = 0e+1o+2e+3o), nu = 3,
2 elements, outputs 0e+1o. MACE's contraction sums body orders 1..3; the fusion
blocks use ((A', A'), A') with A' = A + 1x0e (the extra scalar fixed to one), which
spans the same maps (tests/test_fusion_completeness.py).

Each (block, dtype, pass) runs in its own subprocess so that its peak memory is its
own: on CPU the growth of the peak resident set size from just after set-up (module
and inputs built) to the end of the runs, on CUDA ``torch.cuda.max_memory_allocated``
above the set-up. Times are medians over ``--repeats`` runs after two warm-ups.

    python bench/fusion_block.py [--device cpu|cuda] [--repeats 15] [--threads 2]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import time

NODES, CHANNELS, ELEMENTS = 1000, 32, 2
SH = "0e+1o+2e+3o"
CASES = ("mace", "fusion-vertex", "fusion-path")


def build(case: str, dtype, device):
    """Module and a function running it on fixed inputs."""
    import torch

    generator = torch.Generator().manual_seed(0)
    x = torch.randn(NODES, CHANNELS, 16, generator=generator, dtype=dtype).to(device)
    element = torch.arange(NODES) % ELEMENTS
    node_attrs = torch.nn.functional.one_hot(element, ELEMENTS).to(dtype=dtype, device=device)
    if case == "mace":
        from mace.modules.symmetric_contraction import SymmetricContraction

        module = SymmetricContraction(
            irreps_in=f"{CHANNELS}x0e+{CHANNELS}x1o+{CHANNELS}x2e+{CHANNELS}x3o",
            irreps_out=f"{CHANNELS}x0e+{CHANNELS}x1o",
            correlation=3,
            num_elements=ELEMENTS,
        ).to(dtype=dtype, device=device)
        return module, x, lambda inp: module(inp, node_attrs)
    from fusionpot.fusion import FusionBlock

    module = FusionBlock(
        "((A, A), A) -> 0e+1o",
        {"A": f"{SH}+0e"},
        n_channels=CHANNELS,
        weights=case.removeprefix("fusion-"),
        n_elements=ELEMENTS,
        dtype=dtype,
    ).to(device)
    ones = torch.ones(NODES, CHANNELS, 1, dtype=dtype, device=device)
    return module, x, lambda inp: module({"A": torch.cat([inp, ones], dim=-1)}, node_attrs)


PASSES = ("forward", "forward+backward")


def measure(case: str, dtype_name: str, phase: str, device: str, repeats: int) -> dict:
    import torch

    dtype = getattr(torch, dtype_name)
    module, x, run = build(case, dtype, device)
    cuda = device.startswith("cuda")

    def step() -> None:
        if phase == "forward":
            with torch.no_grad():
                run(x)
        else:
            run(x.detach().requires_grad_(True)).square().sum().backward()
        if cuda:
            torch.cuda.synchronize()

    if cuda:
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
        base = torch.cuda.memory_allocated()
    else:
        base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    for _ in range(2):
        step()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        step()
        times.append(time.perf_counter() - start)
    if cuda:
        peak = torch.cuda.max_memory_allocated() - base
    else:
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 - base
    return {
        "weights": sum(p.numel() for p in module.parameters()),
        "ms": 1e3 * statistics.median(times),
        "peak_mb": peak / 2**20,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--repeats", type=int, default=15)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--case", help=argparse.SUPPRESS)
    parser.add_argument("--dtype", help=argparse.SUPPRESS)
    parser.add_argument("--phase", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.case:  # one measurement, in a fresh process
        import torch

        torch.set_num_threads(args.threads)
        result = measure(args.case, args.dtype, args.phase, args.device, args.repeats)
        print(json.dumps(result))
        return
    env = {**os.environ, "PYTHONWARNINGS": "ignore"}
    rows = []
    for dtype in ("float32", "float64"):
        for case in CASES:
            row: dict = {"case": case, "dtype": dtype}
            for phase in PASSES:
                command = [sys.executable, __file__, "--case", case, "--dtype", dtype]
                command += ["--phase", phase, "--device", args.device]
                command += ["--repeats", str(args.repeats), "--threads", str(args.threads)]
                output = subprocess.run(
                    command, capture_output=True, text=True, env=env, check=True
                )
                row[phase] = json.loads(output.stdout.strip().splitlines()[-1])
                row["weights"] = row[phase]["weights"]
            rows.append(row)
    print(
        f"{NODES} nodes, {CHANNELS} channels, A = {SH}, nu = 3, {ELEMENTS} elements, "
        f"out 0e+1o; {args.device}, {args.threads} threads, median of {args.repeats}"
    )
    print()
    print("| block | dtype | weights | forward ms | peak MB | fwd+bwd ms | peak MB |")
    print("|---|---|---:|---:|---:|---:|---:|")
    for r in rows:
        f, fb = r["forward"], r["forward+backward"]
        print(
            f"| {r['case']} | {r['dtype']} | {r['weights']} | {f['ms']:.1f} | "
            f"{f['peak_mb']:.0f} | {fb['ms']:.1f} | {fb['peak_mb']:.0f} |"
        )


if __name__ == "__main__":
    main()
