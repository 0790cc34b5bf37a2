"""A committee: K models trained on the same data with different seeds (``--committee K``).

Member k is the run of the same config with ``seed + k``: its own initial weights, data
order and — where the config draws the validation set from the training files — its
own validation split. A test set given as a file is shared by every member, so their
test errors and disagreement are measured on the same frames. Members live in
``run_dir/member_<k>``; a member with a checkpoint is resumed, so a killed committee
continues where it stopped and finished members are not trained again.
"""

from __future__ import annotations

import os
from pathlib import Path

from fusionpot.train.config import TrainConfig
from fusionpot.train.loop import CHECKPOINT, TrainResult, run_training

__all__ = ["member_dir", "train_committee"]


def member_dir(run_dir: str | os.PathLike[str], member: int) -> Path:
    """The run folder of committee member ``member``."""
    return Path(run_dir) / f"member_{member}"


def train_committee(
    config: TrainConfig, n_members: int, run_dir: str | os.PathLike[str], progress: bool = True
) -> list[TrainResult]:
    """Train (or resume) ``n_members`` members of ``config`` in ``run_dir/member_<k>``,
    member k with seed ``config.seed + k``; returns their results in member order."""
    if n_members < 2:
        raise ValueError(f"a committee needs at least 2 members, got {n_members}")
    results = []
    for member in range(n_members):
        folder = member_dir(run_dir, member)
        if progress:
            print(
                f"committee member {member + 1}/{n_members}: seed {config.seed + member}, {folder}"
            )
        results.append(
            run_training(
                config.replace(seed=config.seed + member),
                run_dir=folder,
                resume=(folder / CHECKPOINT).exists(),
                progress=progress,
            )
        )
    return results
