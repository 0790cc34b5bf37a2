"""Fusion block vs mace-torch's SymmetricContraction on the same input.

Setting (issue 2): 1000 nodes, 32 channels, l_max 3 (A = 0e+1o+2e+3o), nu = 3,
2 elements, outputs 0e+1o. MACE's contraction sums body orders 1..3; the fusion
blocks use ((A', A'), A') with A' = A + 1x0e (the extra scalar fixed to one), which
spans the same maps (tests/test_fusion_completeness.py).

Each case runs in its own subprocess so that its peak memory is its own: on CPU the
growth of the peak resident set size over the set-up, on CUDA
``torch.cuda.max_memory_allocated``. Times are medians over ``--repeats`` runs.

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


def measure(case: str, dtype_name: str, device: str, repeats: int) -> dict:
    import torch

    dtype = getattr(torch, dtype_name)
    module, x, run = build(case, dtype, device)
    n_weights = sum(p.numel() for p in module.parameters())

    def synchronize() -> None:
        if device.startswith("cuda"):
            torch.cuda.synchronize()

    def forward() -> None:
        with torch.no_grad():
            run(x)

    def forward_backward() -> None:
        inp = x.detach().requires_grad_(True)
        out = run(inp)
        out.square().sum().backward()

    result: dict = {"case": case, "dtype": dtype_name, "weights": n_weights}
    for label, step in (("forward", forward), ("forward+backward", forward_backward)):
        for _ in range(2):
            step()
        synchronize()
        if device.startswith("cuda"):
            torch.cuda.reset_peak_memory_stats()
            base = torch.cuda.memory_allocated()
        else:
            base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
        times = []
        for _ in range(repeats):
            start = time.perf_counter()
            step()
            synchronize()
            times.append(time.perf_counter() - start)
        if device.startswith("cuda"):
            peak = torch.cuda.max_memory_allocated() - base
        else:
            peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 - base
        result[label] = {"ms": 1e3 * statistics.median(times), "peak_mb": peak / 2**20}
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--repeats", type=int, default=15)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--case", help=argparse.SUPPRESS)
    parser.add_argument("--dtype", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.case:  # one measurement, in a fresh process
        import torch

        torch.set_num_threads(args.threads)
        print(json.dumps(measure(args.case, args.dtype, args.device, args.repeats)))
        return
    rows = []
    for dtype in ("float32", "float64"):
        for case in CASES:
            command = [sys.executable, __file__, "--case", case, "--dtype", dtype]
            command += ["--device", args.device, "--repeats", str(args.repeats)]
            command += ["--threads", str(args.threads)]
            env = {**os.environ, "PYTHONWARNINGS": "ignore"}
            output = subprocess.run(command, capture_output=True, text=True, env=env, check=True)
            rows.append(json.loads(output.stdout.strip().splitlines()[-1]))
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
