"""``fusionpot namd config.yaml``: batched surface hopping from a YAML configuration."""

from __future__ import annotations

import argparse

NAME = "namd"
HELP = "run batched trajectory surface hopping from a YAML configuration"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("config", help="YAML configuration (see fusionpot.namd.config)")
    parser.add_argument(
        "--shard",
        default=None,
        help="run only shard i/n of the ensemble (e.g. 0/4), or 'auto' from torchrun/SLURM",
    )
    parser.add_argument(
        "--merge", action="store_true", help="join the finished shards into run.h5 and exit"
    )
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")


def run(args: argparse.Namespace) -> int:
    from fusionpot.namd.config import load_config
    from fusionpot.namd.runner import merge_shards, parse_shard, run_config

    config = load_config(args.config)
    if args.merge:
        path = merge_shards(config.base_dir / config.run.output)
    else:
        shard = None if args.shard is None else parse_shard(args.shard)
        path = run_config(config, shard, progress=not args.no_progress)
    print(path)
    return 0
