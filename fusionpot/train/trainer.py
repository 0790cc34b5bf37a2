"""``Trainer``: one run's model, EMA, optimiser, schedule and bookkeeping, epoch by epoch.

Everything that changes during training is in :meth:`Trainer.state_dict`, so a run
restored from it continues exactly as if it had never stopped. Across processes
(:mod:`fusionpot.train.distributed`) every rank holds the same state: each takes its
share of every global batch, DistributedDataParallel adds the gradients, and the
validation errors are summed over ranks.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from typing import Any

import numpy as np
import torch
from torch.nn.parallel import DistributedDataParallel

from fusionpot.models import ForceOutput
from fusionpot.train.config import OptimConfig
from fusionpot.train.distributed import ALONE, Ranks
from fusionpot.train.evaluate import error_sums
from fusionpot.train.graphs import FrameGraphs
from fusionpot.train.loss import ErrorSums, batch_errors, weighted_loss
from fusionpot.train.optim import make_ema, make_optimizer, make_scheduler, scheduler_step

__all__ = ["Trainer", "epoch_order"]


def epoch_order(n: int, seed: int, epoch: int) -> np.ndarray:
    """The frame order of ``epoch``: a permutation drawn from (seed, epoch) alone."""
    generator = torch.Generator().manual_seed(seed * 1_000_003 + epoch)
    return torch.randperm(n, generator=generator).numpy()


class Trainer:
    """Trains ``model`` (a FusionMACE or MACEBaseline) on forces and energies per atom.

    ``epoch`` counts finished epochs; ``history`` holds one metrics row per epoch (row 0:
    the untrained model); ``best_loss``/``best_epoch`` track the validation loss of the
    EMA weights (the training loss when there is no validation set). ``ranks``: this
    process among those training together (default: alone).
    """

    def __init__(
        self,
        model: torch.nn.Module,
        config: OptimConfig,
        seed: int,
        device: torch.device,
        ranks: Ranks = ALONE,
    ) -> None:
        self.model = model
        self.config = config
        self.seed = seed
        self.device = device
        self.ranks = ranks
        model_config: Any = model.config
        self.model_config = model_config
        stress = config.stress_weight > 0.0
        self.force_model: torch.nn.Module = ForceOutput(model, compute_stress=stress)
        if ranks.world_size > 1:
            self.force_model = DistributedDataParallel(
                self.force_model,
                device_ids=[device] if device.type == "cuda" else None,
                broadcast_buffers=False,  # constants (E0, scale, index tables), equal everywhere
            )
        self.optimizer = make_optimizer(model, config)
        self.scheduler = make_scheduler(self.optimizer, config)
        self.ema = make_ema(model, config.ema_decay)
        w_energy, w_forces = config.weights(model_config.n_states)
        dtype = model_config.torch_dtype
        self.w_energy = torch.tensor(w_energy, dtype=dtype, device=device)
        self.w_forces = torch.tensor(w_forces, dtype=dtype, device=device)
        self.epoch = 0
        self.history: list[dict[str, Any]] = []
        self.best_loss, self.best_epoch, self.bad_epochs = math.inf, -1, 0

    @property
    def averaged(self) -> torch.nn.Module:
        """The EMA of the model: what is validated, saved and reported."""
        return self.ema.module

    @property
    def stopped(self) -> bool:
        """Early stopping: ``early_stopping_patience`` epochs without improvement."""
        patience = self.config.early_stopping_patience
        return patience is not None and self.bad_epochs >= patience

    def loss(self, errors: ErrorSums) -> torch.Tensor:
        c = self.config
        return weighted_loss(errors, self.w_energy, self.w_forces, c.gap_weight, c.stress_weight)

    def train_epoch(self, train: FrameGraphs, on_batch: Callable[[float], None]) -> float:
        """One pass over ``train`` in this epoch's seeded order; returns the epoch's loss.

        Each global batch of ``batch_size`` frames is shared between the ranks; its loss
        is that of the whole batch on every rank. ``on_batch(loss)`` is called after every
        optimiser step (progress bars).
        """
        c = self.config
        self.force_model.train()
        order = epoch_order(len(train), self.seed, self.epoch)
        total: ErrorSums | None = None
        for start in range(0, len(train), c.batch_size):
            batch = train.batch(*self.ranks.share(order[start : start + c.batch_size]))
            errors = self.ranks.global_sums(batch_errors(self.force_model(batch.graph), batch))
            loss = self.loss(errors)
            self.optimizer.zero_grad(set_to_none=True)
            # DDP averages the ranks' gradients: N times each rank's part is their sum
            (loss * self.ranks.world_size).backward()
            if c.clip_grad is not None:
                torch.nn.utils.clip_grad_norm_(self.model.parameters(), c.clip_grad)
            self.optimizer.step()
            self.ema.update_parameters(self.model)
            if total is None:
                total = errors.detached()
            else:
                total += errors
            on_batch(loss.item())
        assert total is not None
        return float(self.loss(total))

    def validation_row(
        self, module: torch.nn.Module, valid: FrameGraphs | None, train_loss: float
    ) -> dict[str, Any]:
        """A metrics row for the current epoch: lr, losses and validation MAE per state
        (energy meV/atom, forces meV/Å; NaN without a validation set), and of S0's stress
        (meV/Å³, ``valid_stress_mae_s0``) when the validation frames have stress labels."""
        row: dict[str, Any] = {"epoch": self.epoch, "lr": self.optimizer.param_groups[0]["lr"]}
        row["train_loss"], row["valid_loss"] = train_loss, math.nan
        metrics: dict[str, list[float]] = {}
        if valid is not None:
            errors = error_sums(module, valid, self.config.eval_batch_size, self.ranks)
            row["valid_loss"] = float(self.loss(errors))
            metrics = errors.metrics()
        for s in range(self.model_config.n_states):
            for name in ("energy_mae", "forces_mae"):
                row[f"valid_{name}_s{s}"] = metrics.get(name, [math.nan] * (s + 1))[s]
        if valid is not None and valid.has_stress:
            row["valid_stress_mae_s0"] = metrics["stress_mae"][0]
        row["time_s"] = 0.0
        return row

    def record_untrained(self, valid: FrameGraphs | None) -> None:
        """Row 0 of the history: the untrained model, where the learning curve starts."""
        self.history.append(self.validation_row(self.model, valid, math.nan))

    def run_epoch(
        self, train: FrameGraphs, valid: FrameGraphs | None, on_batch: Callable[[float], None]
    ) -> bool:
        """Train one epoch, validate the EMA weights, step the schedule; True when the
        validation loss improved (the caller saves :attr:`averaged` then)."""
        started = time.perf_counter()
        train_loss = self.train_epoch(train, on_batch)
        self.epoch += 1
        row = self.validation_row(self.averaged, valid, train_loss)
        loss = train_loss if valid is None else row["valid_loss"]
        scheduler_step(self.scheduler, loss)
        improved = loss < self.best_loss
        if improved:
            self.best_loss, self.best_epoch, self.bad_epochs = loss, self.epoch, 0
        else:
            self.bad_epochs += 1
        row["time_s"] = time.perf_counter() - started
        self.history.append(row)
        return improved

    def state_dict(self) -> dict[str, Any]:
        """Plain data: model, EMA, optimiser and schedule states, counters and history."""
        return {
            "epoch": self.epoch,
            "model": self.model.state_dict(),
            "ema": self.ema.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "scheduler": self.scheduler.state_dict() if self.scheduler is not None else None,
            "history": self.history,
            "best_loss": self.best_loss,
            "best_epoch": self.best_epoch,
            "bad": self.bad_epochs,
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.model.load_state_dict(state["model"])
        self.ema.load_state_dict(state["ema"])
        self.optimizer.load_state_dict(state["optimizer"])
        if self.scheduler is not None:
            self.scheduler.load_state_dict(state["scheduler"])
        self.epoch, self.history = state["epoch"], list(state["history"])
        self.best_loss, self.best_epoch = state["best_loss"], state["best_epoch"]
        self.bad_epochs = state["bad"]
