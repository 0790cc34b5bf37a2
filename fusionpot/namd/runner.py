"""Run a configuration end to end: one shard or the whole ensemble, then merge."""

from __future__ import annotations

import os
import re
from pathlib import Path

from fusionpot.namd.config import SurfaceHoppingConfig
from fusionpot.namd.driver import run_ensemble
from fusionpot.namd.io import merge

__all__ = ["RESULT_NAME", "merge_shards", "parse_shard", "run_config"]

RESULT_NAME = "run.h5"


def parse_shard(text: str) -> tuple[int, int]:
    """ "i/n" → (i, n); "auto" reads RANK/WORLD_SIZE (torchrun) or SLURM_ARRAY_TASK_ID/
    SLURM_ARRAY_TASK_COUNT (job arrays)."""
    if text == "auto":
        for index, count in (
            ("RANK", "WORLD_SIZE"),
            ("SLURM_ARRAY_TASK_ID", "SLURM_ARRAY_TASK_COUNT"),
        ):
            if index in os.environ and count in os.environ:
                return int(os.environ[index]), int(os.environ[count])
        raise ValueError("--shard auto needs RANK/WORLD_SIZE or SLURM_ARRAY_TASK_ID/COUNT")
    match = re.fullmatch(r"(\d+)/(\d+)", text)
    if match is None:
        raise ValueError(f"shard must look like i/n (e.g. 0/4) or 'auto', got {text!r}")
    shard = int(match[1]), int(match[2])
    if not 0 <= shard[0] < shard[1]:
        raise ValueError(f"shard index must satisfy 0 ≤ i < n, got {text!r}")
    return shard


def run_config(
    config: SurfaceHoppingConfig, shard: tuple[int, int] | None = None, progress: bool = True
) -> Path:
    """Run ``config`` (or one shard of it); return the merged file, or the shard folder.

    A run folder that already holds a checkpoint continues from it.
    """
    provider = config.make_provider()
    initial = config.make_initial(provider)
    output = config.base_dir / config.run.output
    directory = output
    if shard is not None:
        initial = initial.shard(*shard)
        directory = output / f"shard_{shard[0]:04d}_of_{shard[1]:04d}"
    run_ensemble(
        provider,
        initial,
        config.dynamics,
        config.stop,
        seed=config.run.seed,
        batch_size=config.run.batch_size,
        directory=directory,
        geometry_stride=config.run.geometry_stride,
        checkpoint_every=config.run.checkpoint_every,
        sync_every=config.run.sync_every,
        progress=progress,
        attrs={"config": config.text, "units": "eV, Angstrom, fs, amu"},
    )
    if shard is not None:
        return directory
    return merge([directory], output / RESULT_NAME)


def merge_shards(output: str | os.PathLike[str]) -> Path:
    """Join every ``shard_*`` folder under ``output`` into ``output/run.h5``."""
    shards = sorted(Path(output).glob("shard_*_of_*"))
    if not shards:
        raise ValueError(f"no shard folders under {output}")
    counts = {p.name.rsplit("_of_", 1)[1] for p in shards}
    if len(counts) != 1 or len(shards) != int(counts.pop()):
        raise ValueError(
            f"incomplete or mixed shard set under {output}: {[p.name for p in shards]}"
        )
    return merge(shards, Path(output) / RESULT_NAME)
