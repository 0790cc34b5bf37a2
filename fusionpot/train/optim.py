"""Optimiser (AdamW), learning-rate schedule and EMA of the weights, from the config."""

from __future__ import annotations

import torch
from torch.optim.lr_scheduler import CosineAnnealingLR, LRScheduler, ReduceLROnPlateau
from torch.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn

from fusionpot.train.config import OptimConfig

__all__ = ["make_ema", "make_optimizer", "make_scheduler", "scheduler_step"]

Scheduler = LRScheduler | ReduceLROnPlateau


def make_optimizer(model: torch.nn.Module, config: OptimConfig) -> torch.optim.AdamW:
    """AdamW over every trainable parameter (decoupled weight decay ``config.weight_decay``)."""
    params = [p for p in model.parameters() if p.requires_grad]
    return torch.optim.AdamW(params, lr=config.lr, weight_decay=config.weight_decay)


def make_scheduler(optimizer: torch.optim.Optimizer, config: OptimConfig) -> Scheduler | None:
    """ReduceLROnPlateau on the validation loss, cosine annealing over ``epochs``, or None."""
    if config.scheduler == "plateau":
        return ReduceLROnPlateau(
            optimizer,
            factor=config.scheduler_factor,
            patience=config.scheduler_patience,
            min_lr=config.min_lr,
        )
    if config.scheduler == "cosine":
        return CosineAnnealingLR(optimizer, T_max=config.epochs, eta_min=config.min_lr)
    return None


def scheduler_step(scheduler: Scheduler | None, valid_loss: float) -> None:
    """Advance the schedule once per epoch."""
    if isinstance(scheduler, ReduceLROnPlateau):
        scheduler.step(valid_loss)
    elif scheduler is not None:
        scheduler.step()


def make_ema(model: torch.nn.Module, decay: float) -> AveragedModel:
    """An exponential moving average of the weights, ``θ̄ ← d θ̄ + (1 - d) θ`` after each
    step (``decay = 0``: the average is the model itself).

    Buffers are copied once, never averaged: ours are constants (E0, scale, shift, index
    tables), and torch's EMA of an integer buffer truncates ``d·i + (1 - d)·i`` (4.999…
    -> 4), corrupting index tables. Set the energy normalisation before calling this.
    """
    return AveragedModel(model, multi_avg_fn=get_ema_multi_avg_fn(decay), use_buffers=False)
