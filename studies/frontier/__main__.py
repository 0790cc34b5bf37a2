"""``python -m studies.frontier run|report|time``: train the frontier (resumable), write
its report, or time every model variant; see README.md."""

from __future__ import annotations

import argparse
import sys
import warnings
from pathlib import Path

from studies.frontier.grid import MODELS, REPO, RESULTS, SETS, Recipe, plan


def parser() -> argparse.ArgumentParser:
    top = argparse.ArgumentParser(prog="python -m studies.frontier", description=__doc__)
    plan_args = argparse.ArgumentParser(add_help=False)
    plan_args.add_argument("--set", action="append", choices=SETS, dest="sets")
    plan_args.add_argument("--models", nargs="+", choices=list(MODELS), default=list(MODELS))
    plan_args.add_argument("--sizes", type=int, nargs="+", default=[8, 16, 32])
    plan_args.add_argument("--seeds", type=int, nargs="+", default=[0, 1])
    plan_args.add_argument("--seed-size", type=int, default=16, help="size with all seeds")
    plan_args.add_argument("--epochs", type=int, default=Recipe.epochs)
    plan_args.add_argument("--n-train", type=int, default=Recipe.n_train)
    plan_args.add_argument("--n-valid", type=int, default=Recipe.n_valid)
    plan_args.add_argument("--n-test", type=int, default=Recipe.n_test)
    plan_args.add_argument("--device", default=Recipe.device, help="cpu, cuda, ...")
    plan_args.add_argument("--work-dir", type=Path, default=REPO / "runs" / "frontier")
    plan_args.add_argument("--out", type=Path, default=RESULTS, help="report folder")
    commands = top.add_subparsers(dest="command", required=True)
    run = commands.add_parser("run", parents=[plan_args], help="train unfinished runs")
    run.add_argument("--progress", action="store_true", help="a progress bar per run")
    run.add_argument(
        "--jobs", type=int, default=1, help="runs trained at once, one process and thread each"
    )
    commands.add_parser("report", parents=[plan_args], help="frontier.md + .png")
    timing = commands.add_parser("time", help="ms/call of every model variant, one size")
    timing.add_argument("--channels", type=int, default=16)
    timing.add_argument("--set", default="ethanol", choices=SETS)
    return top


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    warnings.filterwarnings("ignore", message="The TorchScript type system")
    if args.command == "time":
        from studies.frontier.timing import time_models

        time_models(args.set, args.channels)
        return 0
    from studies.frontier.job import run_all
    from studies.frontier.report import write_report

    sets = args.sets or ["ethanol", "malonaldehyde"]
    recipe = Recipe(args.epochs, args.n_train, args.n_valid, args.n_test, device=args.device)
    runs = plan(sets, args.models, args.sizes, args.seeds, args.seed_size)
    if args.command == "run":
        run_all(runs, args.work_dir, recipe, args.progress, args.jobs)
    print(f"wrote {write_report(runs, sets, args.work_dir, recipe, args.out)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
