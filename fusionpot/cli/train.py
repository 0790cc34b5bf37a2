"""``fusionpot train config.yaml``: train a Fusion-MACE (or stock MACE) potential.

``torchrun --nproc_per_node N fusionpot train config.yaml`` trains one model in N
processes (``fusionpot.train.distributed``); rank 0 writes the run and prints.
"""

from __future__ import annotations

import argparse
import warnings

NAME = "train"
HELP = "train a potential from a YAML configuration (see fusionpot.train.config)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("config", help="YAML configuration (keys: fusionpot.train.config)")
    parser.add_argument("--run-dir", default=None, help="output folder (overrides run_dir)")
    parser.add_argument("--resume", action="store_true", help="continue from RUN_DIR/checkpoint.pt")
    parser.add_argument("--epochs", type=int, default=None, help="overrides training.epochs")
    parser.add_argument("--device", default=None, help="auto, cpu, cuda, cuda:1, ...")
    parser.add_argument("--seed", type=int, default=None, help="overrides seed")
    parser.add_argument(
        "--arch",
        choices=["fusion-mace", "mace", "cormorant", "fusion-cormorant"],
        default=None,
        help="overrides model.arch",
    )
    parser.add_argument(
        "--dtype", choices=["float32", "float64"], default=None, help="overrides model.dtype"
    )
    parser.add_argument(
        "--committee",
        type=int,
        default=None,
        metavar="K",
        help="train K members (seeds seed..seed+K-1) in RUN_DIR/member_<k>; a killed "
        "committee resumes where it stopped (for fusionpot select and committee dynamics)",
    )
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")


def run(args: argparse.Namespace) -> int:
    # e3nn 0.4.4's o3.Linear annotates instance attributes; TorchScript warns while building
    warnings.filterwarnings("ignore", message="The TorchScript type system")
    from fusionpot.train import load_config, process_group, resolve_device, run_training

    config = load_config(args.config)
    changes: dict = {}
    if args.epochs is not None:
        changes["training"] = {"epochs": args.epochs}
    if args.device is not None:
        changes["device"] = args.device
    if args.seed is not None:
        changes["seed"] = args.seed
    model = {k: v for k, v in (("arch", args.arch), ("dtype", args.dtype)) if v is not None}
    if model:
        changes["model"] = model
    config = config.replace(**changes)
    with process_group(resolve_device(config.device)) as ranks:
        progress = not args.no_progress and ranks.is_main
        if args.committee is None:
            result = run_training(
                config, run_dir=args.run_dir, resume=args.resume, progress=progress
            )
        else:
            from fusionpot.train.committee import train_committee

            run_dir = args.run_dir or config.run_dir or "run"
            members = train_committee(config, args.committee, run_dir, progress=progress)
    if not ranks.is_main:
        return 0
    if args.committee is not None:
        for k, member in enumerate(members):
            print(
                f"member {k}: {member.model_path} ({member.n_parameters} parameters, best "
                f"epoch {member.best_epoch} of {member.epochs_run}, {member.wall_time_s:.0f} s)"
            )
        return 0
    print(result.report)
    print(
        f"model: {result.model_path} ({result.n_parameters} parameters, best epoch "
        f"{result.best_epoch} of {result.epochs_run}, {result.wall_time_s:.0f} s)"
    )
    return 0
