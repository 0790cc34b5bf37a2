"""``run_training``: data -> statistics -> model -> epochs -> checkpoints -> test report.

Run directory layout: ``config.yaml`` (the resolved config), ``checkpoint.pt`` (after
every epoch, atomic), ``model.pth`` (best validation loss, EMA weights,
:func:`fusionpot.models.save_model` format), ``metrics.csv`` (one row per epoch),
``report.md``, ``learning_curves.png``, ``parity.png``.

A run continued with ``resume=True`` after a kill ends with the same weights as an
uninterrupted one: the data order of epoch e is drawn from ``seed`` and e alone, and the
checkpoint restores model, EMA, optimiser, schedule, early-stopping counter and RNGs.
"""

from __future__ import annotations

import dataclasses
import math
import os
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import yaml
from tqdm import tqdm

from fusionpot.labels.store import atomic_write_text
from fusionpot.models import ARCHITECTURES, ForceOutput, build_model, load_model, save_model
from fusionpot.train.checkpoint import (
    get_rng_state,
    load_checkpoint,
    save_checkpoint,
    set_rng_state,
)
from fusionpot.train.config import TrainConfig
from fusionpot.train.dataset import LabelledFrames, read_files
from fusionpot.train.evaluate import Predictions, evaluate
from fusionpot.train.loss import ErrorSums, batch_errors, weighted_loss
from fusionpot.train.optim import make_ema, make_optimizer, make_scheduler, scheduler_step
from fusionpot.train.report import (
    metrics_table,
    plot_learning_curves,
    plot_parity,
    write_metrics_csv,
)
from fusionpot.train.split import split_indices
from fusionpot.train.statistics import average_num_neighbors, energy_statistics

__all__ = ["Splits", "TrainResult", "load_splits", "resolve_device", "run_training"]

CHECKPOINT = "checkpoint.pt"
MODEL = "model.pth"


@dataclass
class Splits:
    """Training, validation and test frames (validation or test may be empty)."""

    train: LabelledFrames
    valid: LabelledFrames | None
    test: LabelledFrames | None


@dataclass
class TrainResult:
    """What a run produced. metrics: ``{"test": {...}, "valid": {...}}`` with per-state
    ``energy_mae``/``energy_rmse`` (meV/atom) and ``forces_mae``/``forces_rmse`` (meV/Å)."""

    run_dir: Path
    model_path: Path
    metrics: dict[str, dict[str, list[float]]]
    n_parameters: int
    wall_time_s: float
    epochs_run: int
    best_epoch: int
    best_valid_loss: float
    report: str


def resolve_device(device: str) -> torch.device:
    """``"auto"``: CUDA when available, else CPU; anything else as torch reads it."""
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(device)


def load_splits(config: TrainConfig) -> Splits:
    """Read the data files and split them (seeded) where validation/test files are absent."""
    d = config.data
    train, e_keys, f_keys = read_files(d.train, d.energy_keys, d.forces_keys)
    valid = read_files(d.valid, e_keys, f_keys)[0] if d.valid else None
    test = read_files(d.test, e_keys, f_keys)[0] if d.test else None
    valid_fraction = 0.0 if d.valid else d.valid_fraction
    test_fraction = 0.0 if d.test else d.test_fraction
    if valid_fraction or test_fraction:
        idx_train, idx_valid, idx_test = split_indices(
            len(train), valid_fraction, test_fraction, config.seed
        )
        valid = train.subset(idx_valid) if valid is None else valid
        test = train.subset(idx_test) if test is None else test
        train = train.subset(idx_train)
    return Splits(train, valid or None, test or None)


def _model_config(config: TrainConfig, train: LabelledFrames) -> Any:
    """The architecture's config: elements, states and neighbours from the training set
    unless the YAML gives them."""
    fields = dict(config.model)
    arch = fields.pop("arch", "fusion-mace")
    if arch not in ARCHITECTURES:
        raise ValueError(f"unknown model arch {arch!r}; known: {sorted(ARCHITECTURES)}")
    if fields.get("elements") is None:
        fields["elements"] = train.elements()
    if fields.get("n_states") is None:
        fields["n_states"] = train.n_states
    if fields["n_states"] != train.n_states:
        raise ValueError(
            f"model.n_states = {fields['n_states']} but the data has {train.n_states} states"
        )
    neighbours = fields.pop("avg_num_neighbors", None)
    model_config = ARCHITECTURES[arch][0].from_dict(fields)
    if neighbours is None:
        neighbours = average_num_neighbors(train, model_config.r_max)  # type: ignore[attr-defined]
    return dataclasses.replace(model_config, avg_num_neighbors=float(neighbours))  # type: ignore[type-var]


def _save_model_atomic(model: torch.nn.Module, path: Path) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    try:
        save_model(model, tmp)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def _epoch_order(n: int, seed: int, epoch: int) -> np.ndarray:
    """The frame order of ``epoch``: a permutation drawn from (seed, epoch) alone."""
    generator = torch.Generator().manual_seed(seed * 1_000_003 + epoch)
    return torch.randperm(n, generator=generator).numpy()


def run_training(
    config: TrainConfig | dict[str, Any],
    run_dir: str | os.PathLike[str] | None = None,
    resume: bool = False,
    progress: bool = True,
) -> TrainResult:
    """Train a model as ``config`` says and write the run directory (module docstring).

    ``config``: a :class:`TrainConfig` or its YAML-shaped dict (paths relative to the
    working directory); ``run_dir`` overrides ``config.run_dir``; ``resume`` continues
    from ``run_dir/checkpoint.pt`` (the config's ``training.epochs`` may be raised).
    """
    started = time.perf_counter()
    if isinstance(config, dict):
        config = TrainConfig.from_dict(config)
    out_dir = Path(run_dir if run_dir is not None else config.run_dir or "run")
    checkpoint_path = out_dir / CHECKPOINT
    if resume and not checkpoint_path.exists():
        raise FileNotFoundError(f"nothing to resume: {checkpoint_path} does not exist")
    if not resume and checkpoint_path.exists():
        raise FileExistsError(
            f"{out_dir} already holds a run; resume it or choose another run directory"
        )
    out_dir.mkdir(parents=True, exist_ok=True)
    device = resolve_device(config.device)
    splits = load_splits(config)
    state = load_checkpoint(checkpoint_path) if resume else None

    if state is None:
        model_config = _model_config(config, splits.train)
        torch.manual_seed(config.seed)
        model = build_model(model_config, device)
        stats = energy_statistics(splits.train, model_config.elements)
        dtype = model_config.torch_dtype
        model.set_energy_normalisation(
            torch.as_tensor(stats.reference_energies, dtype=dtype),
            torch.as_tensor(stats.scale, dtype=dtype),
            torch.as_tensor(stats.shift, dtype=dtype),
        )
    else:
        model = build_model({**state["model_config"], "arch": state["arch"]}, device)
        model_config = model.config
    for part in (splits.train, splits.valid, splits.test):
        if part is not None:
            part.check_elements(model_config.elements)
    resolved = {**config.to_dict(), "model": {"arch": model_config.arch, **model_config.to_dict()}}
    atomic_write_text(out_dir / "config.yaml", yaml.safe_dump(resolved, sort_keys=False))

    opt = config.training
    w_energy, w_forces = (
        torch.tensor(w, dtype=model_config.torch_dtype, device=device)
        for w in opt.weights(model_config.n_states)
    )
    force_model = ForceOutput(model, compute_stress=False)
    optimizer = make_optimizer(model, opt)
    scheduler = make_scheduler(optimizer, opt)
    ema = make_ema(model, opt.ema_decay)
    history: list[dict[str, Any]] = []
    start_epoch, best_loss, best_epoch, bad_epochs = 0, math.inf, -1, 0
    if state is not None:
        model.load_state_dict(state["model"])
        ema.load_state_dict(state["ema"])
        optimizer.load_state_dict(state["optimizer"])
        if scheduler is not None:
            scheduler.load_state_dict(state["scheduler"])
        set_rng_state(state["rng"])
        start_epoch, history = state["epoch"], list(state["history"])
        best_loss, best_epoch, bad_epochs = state["best_loss"], state["best_epoch"], state["bad"]

    def validation_row(
        module: torch.nn.Module,
        valid: LabelledFrames | None,
        epoch: int,
        optimizer: torch.optim.Optimizer,
        train_loss: float,
    ) -> dict[str, Any]:
        """One metrics.csv row: losses, lr, validation MAE per state (meV/atom, meV/Å)."""
        row: dict[str, Any] = {"epoch": epoch, "lr": optimizer.param_groups[0]["lr"]}
        row["train_loss"], row["valid_loss"] = train_loss, math.nan
        metrics: dict[str, list[float]] = {}
        if valid is not None:
            predictions = evaluate(module, valid, opt.eval_batch_size, device)
            row["valid_loss"] = float(weighted_loss(predictions.errors, w_energy, w_forces))
            metrics = predictions.errors.metrics()
        for s in range(model_config.n_states):
            for name in ("energy_mae", "forces_mae"):
                row[f"valid_{name}_s{s}"] = metrics.get(name, [math.nan] * (s + 1))[s]
        row["time_s"] = 0.0
        return row

    if state is None:  # the untrained model's row: where the learning curve starts
        history.append(validation_row(model, splits.valid, 0, optimizer, math.nan))
    train = splits.train
    n_batches = math.ceil(len(train) / opt.batch_size)
    bar = tqdm(
        total=opt.epochs * n_batches,
        initial=min(start_epoch, opt.epochs) * n_batches,
        desc="train",
        unit="batch",
        disable=not progress,
    )
    stopped = opt.early_stopping_patience is not None and bad_epochs >= opt.early_stopping_patience
    epoch = start_epoch
    for epoch in range(start_epoch, opt.epochs):
        if stopped:
            break
        epoch_start = time.perf_counter()
        force_model.train()
        order = _epoch_order(len(train), config.seed, epoch)
        train_errors: ErrorSums | None = None
        for b in range(n_batches):
            batch = train.batch(
                order[b * opt.batch_size : (b + 1) * opt.batch_size],
                model_config.elements,
                model_config.r_max,
                model_config.torch_dtype,
                device,
            )
            errors = batch_errors(force_model(batch.graph), batch)
            loss = weighted_loss(errors, w_energy, w_forces)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            if opt.clip_grad is not None:
                torch.nn.utils.clip_grad_norm_(model.parameters(), opt.clip_grad)
            optimizer.step()
            ema.update_parameters(model)
            if train_errors is None:
                train_errors = errors.detached()
            else:
                train_errors += errors
            bar.update(1)
            bar.set_postfix(epoch=epoch + 1, loss=f"{loss.item():.4g}")
        assert train_errors is not None
        train_loss = float(weighted_loss(train_errors, w_energy, w_forces))
        averaged = ema.module
        row = validation_row(averaged, splits.valid, epoch + 1, optimizer, train_loss)
        valid_loss = train_loss if splits.valid is None else row["valid_loss"]
        scheduler_step(scheduler, valid_loss)
        if valid_loss < best_loss:
            best_loss, best_epoch, bad_epochs = valid_loss, epoch + 1, 0
            _save_model_atomic(averaged, out_dir / MODEL)
        else:
            bad_epochs += 1
        row["time_s"] = time.perf_counter() - epoch_start
        history.append(row)
        bar.set_postfix(epoch=epoch + 1, train=f"{train_loss:.4g}", valid=f"{valid_loss:.4g}")
        save_checkpoint(
            checkpoint_path,
            {
                "arch": model_config.arch,
                "model_config": model_config.to_dict(),
                "epoch": epoch + 1,
                "model": model.state_dict(),
                "ema": ema.state_dict(),
                "optimizer": optimizer.state_dict(),
                "scheduler": scheduler.state_dict() if scheduler is not None else None,
                "rng": get_rng_state(),
                "history": history,
                "best_loss": best_loss,
                "best_epoch": best_epoch,
                "bad": bad_epochs,
            },
        )
        write_metrics_csv(history, out_dir / "metrics.csv")
        stopped = (
            opt.early_stopping_patience is not None and bad_epochs >= opt.early_stopping_patience
        )
    bar.close()
    if best_epoch < 0:
        raise RuntimeError(f"no epoch of {out_dir} gave a finite validation loss")

    best = load_model(out_dir / MODEL, device)
    metrics, report = final_report(best, splits, opt.eval_batch_size, device, out_dir)
    if history:
        plot_learning_curves(history, out_dir / "learning_curves.png")
    return TrainResult(
        run_dir=out_dir,
        model_path=out_dir / MODEL,
        metrics=metrics,
        n_parameters=sum(p.numel() for p in best.parameters()),
        wall_time_s=time.perf_counter() - started,
        epochs_run=len(history),
        best_epoch=best_epoch,
        best_valid_loss=best_loss,
        report=report,
    )


def final_report(
    model: torch.nn.Module,
    splits: Splits,
    batch_size: int,
    device: torch.device,
    out_dir: Path,
) -> tuple[dict[str, dict[str, list[float]]], str]:
    """Errors on the validation and test sets as Markdown (``report.md``) and parity plots
    of the test set (of the validation set when there is no test set)."""
    metrics: dict[str, dict[str, list[float]]] = {}
    sections = []
    plotted: tuple[LabelledFrames, Predictions] | None = None
    for name, part in (("valid", splits.valid), ("test", splits.test)):
        if part is None:
            continue
        predictions = evaluate(model, part, batch_size, device)
        metrics[name] = predictions.errors.metrics()
        sections.append(f"## {name} ({len(part)} frames)\n\n{metrics_table(metrics[name])}\n")
        plotted = (part, predictions)
    n_parameters = sum(p.numel() for p in model.parameters())
    header = (
        f"# {model.config.arch} ({n_parameters} parameters), "  # type: ignore[union-attr]
        f"{len(splits.train)} training frames\n"
    )
    report = "\n".join([header, *sections])
    atomic_write_text(out_dir / "report.md", report)
    if plotted is not None:
        plot_parity(*plotted, out_dir / "parity.png")
    return metrics, report
