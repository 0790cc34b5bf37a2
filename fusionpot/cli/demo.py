"""``fusionpot demo``: the end-to-end demonstration on the shipped stilbene potential
(``fusionpot.demo``), or ``fusionpot demo block``: build a fusion block from a diagram and
show what it is."""

from __future__ import annotations

import argparse

from fusionpot.errors import UserError

NAME = "demo"
HELP = (
    "end-to-end demo on the shipped stilbene S0/S1/S2 potential (model, ASE calculator on "
    "held-out frames, batched surface hopping); 'demo block' shows one fusion block"
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from fusionpot.demo import SHIPPED

    parser.description = (
        "Without a sub-mode: (1) print the shipped potential's fusion diagrams and parameter "
        "count, (2) evaluate it with FusionCalculator on held-out MRSF-TDDFT frames, "
        "(3) run a short batched surface-hopping ensemble on it, analyse it and plot its "
        "populations. 'fusionpot demo block "
        "--help': build one fusion block from a diagram instead."
    )
    parser.add_argument(
        "--potential-dir",
        default=str(SHIPPED),
        help="folder of the shipped potential, its split and minimum (default: %(default)s)",
    )
    parser.add_argument(
        "--n-traj", type=int, default=32, help="surface-hopping trajectories (default: %(default)s)"
    )
    parser.add_argument(
        "--time", type=float, default=50.0, help="simulated time, fs (default: %(default)s)"
    )
    parser.add_argument(
        "--output", default="demo_output", help="output folder (default: %(default)s)"
    )
    parser.add_argument("--device", default="cpu", help="cpu, cuda, cuda:1, ... (default: cpu)")
    parser.add_argument("--seed", type=int, default=0, help="Wigner and hopping seed")
    parser.add_argument(
        "--threads",
        type=int,
        default=1,
        help="torch CPU threads (default: %(default)s; the model is tiny, and on a busy "
        "machine two threads made the demo ten times slower)",
    )
    sub = parser.add_subparsers(dest="mode", metavar="{block}")
    block = sub.add_parser("block", help="build a fusion block from a diagram and check it")
    add_block_arguments(block)


def add_block_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of ``fusionpot demo block``."""
    parser.add_argument(
        "--diagram",
        default="((A, A), (A, h)) -> 0e + 1o + 2e",
        help="fusion diagram (default: %(default)s)",
    )
    parser.add_argument(
        "--leaf",
        action="append",
        metavar="NAME=IRREPS",
        help="irreps of a leaf, per channel; repeat for each leaf (default: A=0e+1o+2e+3o h=0e+1o)",
    )
    parser.add_argument("--channels", type=int, default=8, help="channels (default: %(default)s)")
    parser.add_argument(
        "--weights", choices=("vertex", "path"), default="vertex", help="weight mode"
    )
    parser.add_argument("--elements", type=int, default=2, help="elements with own weights")
    parser.add_argument("--lmax", type=int, default=None, help="largest l on internal edges")
    parser.add_argument(
        "--show", type=int, default=12, help="independent paths to list (default: %(default)s)"
    )


def parse_leaves(specs: list[str] | None) -> dict[str, str]:
    """``["A=0e+1o", "h=0e"]`` -> ``{"A": "0e+1o", "h": "0e"}``."""
    if not specs:
        return {"A": "0e+1o+2e+3o", "h": "0e+1o"}
    leaves = {}
    for spec in specs:
        name, sep, irreps = spec.partition("=")
        if not sep or not name.strip() or not irreps.strip():
            raise UserError(f"--leaf expects NAME=IRREPS, got {spec!r}")
        leaves[name.strip()] = irreps.strip()
    return leaves


def run(args: argparse.Namespace) -> int:
    if args.mode == "block":
        return run_block(args)
    import functools
    import time

    import torch

    from fusionpot.demo import run_demo

    if args.n_traj < 1 or not args.time > 0 or args.threads < 1:
        raise UserError("--n-traj and --threads must be >= 1, --time > 0 fs")
    torch.set_num_threads(args.threads)
    start = time.perf_counter()
    echo = functools.partial(print, flush=True)  # progress shows through pipes too
    result = run_demo(
        args.potential_dir,
        args.n_traj,
        args.time,
        args.output,
        args.device,
        args.seed,
        echo=echo,
    )
    print(
        f"\ndemo finished in {time.perf_counter() - start:.1f} s; outputs in {args.output}/, "
        f"population plot {result.plot}"
    )
    return 0


def run_block(args: argparse.Namespace) -> int:
    """Build the block of ``args.diagram``; print its paths, weights and equivariance."""
    import torch

    from fusionpot.fusion import FusionBlock
    from fusionpot.testing import equivariance_errors

    block = FusionBlock(
        args.diagram,
        parse_leaves(args.leaf),
        n_channels=args.channels,
        weights=args.weights,
        n_elements=args.elements,
        lmax=args.lmax,
        dtype=torch.float64,
    )
    selection = block.selection
    print(f"diagram   {block.diagram}")
    for name, irreps in block.leaf_irreps.items():
        print(f"leaf {name:<4} {'+'.join(str(ir) for ir in irreps)}")
    print(
        f"paths     {len(selection.kept)} independent, {len(selection.vanishing)} vanishing "
        f"and {len(selection.redundant)} repeated dropped"
    )
    print(
        f"weights   {block.n_weights} ({args.weights} mode, {args.channels} channels, "
        f"{args.elements or 1} element weight set(s))"
    )
    print("independent paths:")
    for path in selection.kept[: args.show]:
        print(f"  {path.describe(block.diagram, block.leaf_irreps)}")
    if len(selection.kept) > args.show:
        print(f"  ... and {len(selection.kept) - args.show} more (--show N lists more)")
    print("equivariance (float64, relative error of the output):")
    errors = equivariance_errors(block)
    for label, value in errors.items():
        print(f"  {label:<14} {value:.1e}  {'ok' if value < 1e-10 else 'FAILED'}")
    return 0 if max(errors.values()) < 1e-10 else 1
