"""``run_training``: data -> statistics -> model -> epochs -> checkpoints -> test report.

Run directory layout: ``config.yaml`` (the resolved config), ``checkpoint.pt`` (after
every epoch, atomic), ``model.pth`` (best validation loss, EMA weights,
:func:`fusionpot.models.save_model` format), ``metrics.csv`` (one row per epoch),
``report.md``, ``learning_curves.png``, ``parity.png``.

A run continued with ``resume=True`` after a kill ends with the same weights as an
uninterrupted one: the data order of epoch e is drawn from ``seed`` and e alone, and the
checkpoint restores model, EMA, optimiser, schedule, early-stopping counter and RNGs.
Resuming with an edited config is refused, naming the changed fields, unless only what
is safe to change changed (:data:`RESUMABLE_CHANGES`: ``training.epochs``, ``device``,
``run_dir``); the run's ``config.yaml`` then records the values that run.

Every frame's graph is built once (:class:`~fusionpot.train.graphs.FrameGraphs`, on the
training device) and batches are gathered from them. Started by ``torchrun``, the
processes train one model together (:mod:`fusionpot.train.distributed`): the same run
as one process with the same ``batch_size`` (global), and only rank 0 writes the run
directory; a checkpoint written by N processes resumes with any number.
"""

from __future__ import annotations

import dataclasses
import math
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
import yaml
from tqdm import tqdm

from fusionpot._device import resolve_device as fusionpot_device
from fusionpot._io import atomic_write, atomic_write_text
from fusionpot.errors import ConfigError, DataError
from fusionpot.models import ARCHITECTURES, build_model, load_model, save_model
from fusionpot.train.checkpoint import (
    get_rng_state,
    load_checkpoint,
    save_checkpoint,
    set_rng_state,
)
from fusionpot.train.config import TrainConfig
from fusionpot.train.dataset import STRESS_KEY, LabelledFrames, read_files
from fusionpot.train.distributed import Ranks, local_device, process_group
from fusionpot.train.evaluate import Predictions, evaluate
from fusionpot.train.graphs import FrameGraphs
from fusionpot.train.report import (
    metrics_table,
    plot_learning_curves,
    plot_parity,
    write_metrics_csv,
)
from fusionpot.train.split import split_indices
from fusionpot.train.statistics import average_num_neighbors, energy_statistics
from fusionpot.train.trainer import Trainer

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
    ``energy_mae``/``energy_rmse`` (meV/atom) and ``forces_mae``/``forces_rmse`` (meV/Å),
    and S0's ``stress_mae``/``stress_rmse`` (meV/Å³, NaN without stress labels)."""

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
    """``"auto"``: CUDA when available, else CPU; anything else as torch reads it
    (:func:`fusionpot._device.resolve_device`). Under torchrun, ``cuda`` is this process's
    GPU (``cuda:LOCAL_RANK``)."""
    return local_device(fusionpot_device(device))


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
    splits = Splits(train, valid or None, test or None)
    if config.training.stress_weight > 0.0 and not splits.train.stress_mask.any():
        raise DataError(
            f"training.stress_weight = {config.training.stress_weight} but no training frame "
            f"of {', '.join(d.train)} has a stress label ({STRESS_KEY} of a periodic frame)"
        )
    return splits


def _model_config(config: TrainConfig, train: LabelledFrames) -> Any:
    """The architecture's config: elements, states and neighbours from the training set
    unless the YAML gives them. Fields only another architecture has (``diagram`` for a
    ``mace`` run, ``correlation`` for ``fusion-mace``) are left out, so one YAML serves
    both sides of a comparison."""
    fields = dict(config.model)
    arch = fields.pop("arch", "fusion-mace")
    if arch not in ARCHITECTURES:
        raise ValueError(f"unknown model arch {arch!r}; known: {sorted(ARCHITECTURES)}")
    own = {f.name for f in dataclasses.fields(ARCHITECTURES[arch][0])}
    other = {
        f.name
        for config_class, _ in ARCHITECTURES.values()
        for f in dataclasses.fields(config_class)
    }
    fields = {k: v for k, v in fields.items() if k in own or k not in other}
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
        neighbours = average_num_neighbors(train, model_config.r_max)
    return dataclasses.replace(model_config, avg_num_neighbors=float(neighbours))


def _new_model(config: TrainConfig, train: LabelledFrames, device: torch.device) -> Any:
    """A model initialised from ``config.seed``, with E0, scale and shift from ``train``."""
    model_config = _model_config(config, train)
    torch.manual_seed(config.seed)
    model = build_model(model_config, device)
    stats = energy_statistics(train, model_config.elements)
    dtype = model_config.torch_dtype
    model.set_energy_normalisation(
        torch.as_tensor(stats.reference_energies, dtype=torch.float64),
        torch.as_tensor(stats.scale, dtype=dtype),
        torch.as_tensor(stats.shift, dtype=dtype),
    )
    return model


#: config fields a resumed run may change (the rest must equal the checkpoint's)
RESUMABLE_CHANGES = ("training.epochs", "device", "run_dir")


def _resume_view(config: TrainConfig) -> dict[str, Any]:
    """The config as flat ``{"section.key": value}`` with data paths made absolute, less
    the fields a resume may change: what a checkpoint records and a resume compares."""
    flat: dict[str, Any] = {}

    def walk(prefix: str, value: Any) -> None:
        if isinstance(value, dict) and (prefix in ("", "data", "training", "model")):
            for key, item in value.items():
                walk(f"{prefix}.{key}" if prefix else key, item)
        else:
            flat[prefix] = value

    walk("", config.to_dict())
    for name in ("data.train", "data.valid", "data.test"):
        flat[name] = [os.path.abspath(p) for p in flat.get(name) or []]
    for name in RESUMABLE_CHANGES:
        flat.pop(name, None)
    return flat


def _check_resumable(recorded: dict[str, Any], config: TrainConfig, checkpoint: Path) -> None:
    """ConfigError naming every field of ``config`` that differs from the checkpoint's.

    A field the checkpoint does not record (added to the config after it was written)
    counts as recorded with its default value."""
    now = _resume_view(config)
    recorded = {**_resume_view(TrainConfig(data=config.data)), **recorded}
    changed = [
        f"{key}: {recorded.get(key)!r} -> {now.get(key)!r}"
        for key in sorted(set(recorded) | set(now))
        if recorded.get(key) != now.get(key)
    ]
    if changed:
        raise ConfigError(
            f"{checkpoint} was written with another config; changed: {'; '.join(changed)}; "
            "resume with the run's own config (a resume may change only "
            f"{', '.join(RESUMABLE_CHANGES)}) or start a new run directory"
        )


def run_training(
    config: TrainConfig | dict[str, Any],
    run_dir: str | os.PathLike[str] | None = None,
    resume: bool = False,
    progress: bool = True,
) -> TrainResult:
    """Train a model as ``config`` says and write the run directory (module docstring).

    ``config``: a :class:`TrainConfig` or its YAML-shaped dict (paths relative to the
    working directory); ``run_dir`` overrides ``config.run_dir``; ``resume`` continues
    from ``run_dir/checkpoint.pt`` (``training.epochs`` may be raised; a cosine schedule
    keeps the length it started with). Under torchrun, every process calls this; all
    return the same result.
    """
    started = time.perf_counter()
    if isinstance(config, dict):
        config = TrainConfig.from_dict(config)
    device = resolve_device(config.device)
    with process_group(device) as ranks:
        return _run(config, run_dir, resume, progress and ranks.is_main, device, ranks, started)


def _run(
    config: TrainConfig,
    run_dir: str | os.PathLike[str] | None,
    resume: bool,
    progress: bool,
    device: torch.device,
    ranks: Ranks,
    started: float,
) -> TrainResult:
    """:func:`run_training` as rank ``ranks.rank`` of ``ranks.world_size``."""
    out_dir = Path(run_dir if run_dir is not None else config.run_dir or "run")
    checkpoint_path = out_dir / CHECKPOINT
    if resume and not checkpoint_path.exists():
        raise FileNotFoundError(f"nothing to resume: {checkpoint_path} does not exist")
    if not resume and checkpoint_path.exists():
        raise FileExistsError(
            f"{out_dir} already holds a run; resume it or choose another run directory"
        )
    ranks.barrier()  # every rank has seen the run directory as it was
    out_dir.mkdir(parents=True, exist_ok=True)
    splits = load_splits(config)
    state = load_checkpoint(checkpoint_path) if resume else None
    if state is not None and "config" in state:
        _check_resumable(state["config"], config, checkpoint_path)
    if state is None:
        model = _new_model(config, splits.train, device)
    else:
        model = build_model({**state["model_config"], "arch": state["arch"]}, device)
    model_config = model.config
    for part in (splits.train, splits.valid, splits.test):
        if part is not None:
            part.check_elements(model_config.elements)
    resolved = {**config.to_dict(), "model": {"arch": model_config.arch, **model_config.to_dict()}}
    if ranks.is_main:
        atomic_write_text(out_dir / "config.yaml", yaml.safe_dump(resolved, sort_keys=False))
    graphs = {
        name: FrameGraphs.build(
            part, model_config.elements, model_config.r_max, model_config.torch_dtype, device
        )
        for name, part in (("train", splits.train), ("valid", splits.valid))
        if part is not None
    }

    opt = config.training
    trainer = Trainer(model, opt, config.seed, device, ranks)
    if state is None:
        trainer.record_untrained(graphs.get("valid"))
    else:
        run_of = {"seed": config.seed, "n_train": len(splits.train)}
        if state["run"] != run_of:
            raise ValueError(
                f"{checkpoint_path} was written for {state['run']}, this config gives "
                f"{run_of}: resume with the run's own config"
            )
        trainer.load_state_dict(state["trainer"])
        set_rng_state(state["rng"])
    n_batches = math.ceil(len(splits.train) / opt.batch_size)
    bar = tqdm(
        total=opt.epochs * n_batches,
        initial=min(trainer.epoch, opt.epochs) * n_batches,
        desc="train",
        unit="batch",
        disable=not progress,
    )

    def on_batch(loss: float) -> None:
        bar.update(1)
        bar.set_postfix(epoch=trainer.epoch + 1, loss=f"{loss:.4g}")

    while trainer.epoch < opt.epochs and not trainer.stopped:
        improved = trainer.run_epoch(graphs["train"], graphs.get("valid"), on_batch)
        if not ranks.is_main:
            continue
        if improved:
            atomic_write(out_dir / MODEL, lambda tmp: save_model(trainer.averaged, tmp))
        save_checkpoint(
            checkpoint_path,
            {
                "arch": model_config.arch,
                "model_config": model_config.to_dict(),
                "run": {"seed": config.seed, "n_train": len(splits.train)},
                "config": _resume_view(config),
                "trainer": trainer.state_dict(),
                "rng": get_rng_state(),
            },
        )
        write_metrics_csv(trainer.history, out_dir / "metrics.csv")
    bar.close()
    if trainer.best_epoch < 0:
        raise RuntimeError(f"no epoch of {out_dir} gave a finite validation loss")

    ranks.barrier()  # rank 0 has written the best model
    best = load_model(out_dir / MODEL, device)
    written = out_dir if ranks.is_main else None
    metrics, report = final_report(best, splits, opt.eval_batch_size, device, written, graphs)
    if ranks.is_main:
        plot_learning_curves(trainer.history, out_dir / "learning_curves.png")
    return TrainResult(
        run_dir=out_dir,
        model_path=out_dir / MODEL,
        metrics=metrics,
        n_parameters=sum(p.numel() for p in best.parameters()),
        wall_time_s=time.perf_counter() - started,
        epochs_run=trainer.epoch,
        best_epoch=trainer.best_epoch,
        best_valid_loss=trainer.best_loss,
        report=report,
    )


def final_report(
    model: torch.nn.Module,
    splits: Splits,
    batch_size: int,
    device: torch.device,
    out_dir: Path | None,
    graphs: dict[str, FrameGraphs] | None = None,
) -> tuple[dict[str, dict[str, list[float]]], str]:
    """Errors on the validation and test sets as Markdown (``report.md``) and parity plots
    of the test set (of the validation set when there is no test set), written to
    ``out_dir`` (None: returned only). ``graphs``: those already built, by split name."""
    metrics: dict[str, dict[str, list[float]]] = {}
    sections = []
    plotted: tuple[LabelledFrames, Predictions] | None = None
    for name, part in (("valid", splits.valid), ("test", splits.test)):
        if part is None:
            continue
        predictions = evaluate(model, (graphs or {}).get(name, part), batch_size, device)
        metrics[name] = predictions.errors.metrics()
        sections.append(f"## {name} ({len(part)} frames)\n\n{metrics_table(metrics[name])}\n")
        plotted = (part, predictions)
    n_parameters = sum(p.numel() for p in model.parameters())
    header = (
        f"# {model.config.arch} ({n_parameters} parameters), "  # type: ignore[union-attr]
        f"{len(splits.train)} training frames\n"
    )
    report = "\n".join([header, *sections])
    if out_dir is not None:
        atomic_write_text(out_dir / "report.md", report)
        if plotted is not None:
            plot_parity(*plotted, out_dir / "parity.png")
    return metrics, report
