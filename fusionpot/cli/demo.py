"""``fusionpot demo``: build a fusion block from a diagram and show what it is."""

from __future__ import annotations

import argparse

import torch

NAME = "demo"
HELP = "Build a fusion block from a diagram; print its paths, weights and equivariance check."


def add_arguments(parser: argparse.ArgumentParser) -> None:
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
            raise SystemExit(f"fusionpot demo: --leaf expects NAME=IRREPS, got {spec!r}")
        leaves[name.strip()] = irreps.strip()
    return leaves


def run(args: argparse.Namespace) -> int:
    from fusionpot.fusion import FusionBlock
    from fusionpot.testing import equivariance_errors

    try:
        block = FusionBlock(
            args.diagram,
            parse_leaves(args.leaf),
            n_channels=args.channels,
            weights=args.weights,
            n_elements=args.elements,
            lmax=args.lmax,
            dtype=torch.float64,
        )
    except ValueError as error:
        raise SystemExit(f"fusionpot demo: {error}") from None
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
