"""``fusionpot namd-analyze run.h5``: populations, lifetime, hops, products and quantum yields."""

from __future__ import annotations

import argparse
from pathlib import Path

NAME = "namd-analyze"
HELP = "analyse a surface-hopping run: population plot, lifetime, hops, products, yields"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("run", help="merged run file (run.h5 from 'fusionpot namd')")
    parser.add_argument(
        "--products",
        default=None,
        help="YAML with 'collective_variables' and ordered 'products' rules (see docs)",
    )
    parser.add_argument("--out", default=None, help="output folder (default: next to run.h5)")
    parser.add_argument("--bootstrap", type=int, default=1000, help="bootstrap resamples")
    parser.add_argument("--seed", type=int, default=0, help="bootstrap seed")
    parser.add_argument(
        "--min-decayed",
        type=int,
        default=5,
        help="fit a lifetime only if at least this many trajectories reached S0 "
        "(default: %(default)s)",
    )
    parser.add_argument(
        "--min-fraction",
        type=float,
        default=0.1,
        help="... and at least this fraction of them (default: %(default)s); otherwise "
        "report 'not reached'",
    )


def run(args: argparse.Namespace) -> int:
    from fusionpot.namd.report import analyse_run

    for path, what in ((args.run, "run file"), (args.products, "products file")):
        if path is not None and not Path(path).is_file():
            raise FileNotFoundError(f"{path}: no such {what}")
    summary = analyse_run(
        args.run,
        args.products,
        args.out,
        args.bootstrap,
        args.seed,
        min_decayed=args.min_decayed,
        min_fraction=args.min_fraction,
    )
    print(summary)
    return 0
