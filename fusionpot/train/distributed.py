"""Training across processes (``torchrun``): ranks, shares of a batch, sums over ranks.

``torchrun --nproc_per_node N fusionpot train cfg.yaml`` starts N processes; each joins
the process group (:func:`process_group`: NCCL for CUDA devices, one GPU per local rank;
gloo on CPU), takes its share of every global batch (:meth:`Ranks.share`) and wraps the
model in ``DistributedDataParallel``. The loss of a global batch is a function of
error *sums* over its frames, so each rank's loss is made of sums over every rank whose
gradient flows through its own share only (:meth:`Ranks.global_sums`): the gradients
averaged by DDP, times N, are those of the one-process loss — the same run, up to the
order of floating-point additions.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, TypeVar

import numpy as np
import torch
import torch.distributed as dist

__all__ = ["ALONE", "Ranks", "local_device", "process_group"]

Sums = TypeVar("Sums")


@dataclass(frozen=True)
class Ranks:
    """This process's ``rank`` among ``world_size`` (one process: 0 of 1)."""

    rank: int = 0
    world_size: int = 1

    @property
    def is_main(self) -> bool:
        """Rank 0: the one process that writes files and prints."""
        return self.rank == 0

    def share(self, frames: np.ndarray) -> tuple[np.ndarray, bool]:
        """This rank's contiguous part of ``frames`` (a global batch, or a whole set to
        evaluate), and whether it is labelled: a rank left without frames gets the first
        one, to be used unlabelled, so that every rank takes part in every step."""
        own = np.array_split(frames, self.world_size)[self.rank]
        return (own, True) if len(own) else (frames[:1], False)

    def sum(self, sums: Sums) -> Sums:
        """A dataclass of tensors (e.g. ``ErrorSums``) summed over every rank."""
        if self.world_size == 1:
            return sums
        fields = [getattr(sums, f.name) for f in dataclasses.fields(sums)]  # type: ignore[arg-type]
        flat = torch.cat([t.detach().double().reshape(-1) for t in fields])
        dist.all_reduce(flat)
        parts = flat.split([t.numel() for t in fields])
        return type(sums)(
            *(p.reshape(t.shape).to(t.dtype) for p, t in zip(parts, fields, strict=True))
        )

    def global_sums(self, sums: Sums) -> Sums:
        """``sums`` over every rank's share as values, with gradients of this rank's own
        (``own + (total - own).detach()``): a loss computed from them has the one-process
        value and, summed over ranks, the one-process gradient."""
        if self.world_size == 1:
            return sums
        total = self.sum(sums)
        return type(sums)(
            **{
                f.name: getattr(sums, f.name)
                + (getattr(total, f.name) - getattr(sums, f.name).detach())
                for f in dataclasses.fields(sums)  # type: ignore[arg-type]
            }
        )

    def barrier(self) -> None:
        """Wait until every rank is here (rank 0 has written what the others read)."""
        if self.world_size > 1:
            dist.barrier()


#: one process training alone
ALONE = Ranks()


def _current() -> Ranks:
    if not dist.is_initialized():
        return ALONE
    return Ranks(dist.get_rank(), dist.get_world_size())


def local_device(device: torch.device) -> torch.device:
    """Under torchrun, a CUDA device without an index becomes this process's GPU
    (``cuda:LOCAL_RANK``); any other device is returned as it is."""
    if device.type == "cuda" and device.index is None and "LOCAL_RANK" in os.environ:
        return torch.device("cuda", int(os.environ["LOCAL_RANK"]))
    return device


@contextmanager
def process_group(device: torch.device) -> Iterator[Ranks]:
    """The ranks of this process for the duration of the block.

    Started by torchrun (``WORLD_SIZE`` > 1 in the environment), join the process group —
    NCCL when ``device`` is CUDA, else gloo — and leave it at the end; inside a group
    already joined (a committee's runs, or the caller's own), use it as it is; otherwise
    one process, rank 0 of 1.
    """
    if dist.is_initialized() or int(os.environ.get("WORLD_SIZE", "1")) == 1:
        yield _current()
        return
    options: dict[str, Any] = {}
    if device.type == "cuda":
        torch.cuda.set_device(device)
        options["device_id"] = device
    dist.init_process_group("nccl" if device.type == "cuda" else "gloo", **options)
    try:
        yield _current()
    finally:
        dist.destroy_process_group()
