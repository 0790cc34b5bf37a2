"""The resumable training job: convert the rMD17 frames once, then train every run of the
plan that has not finished, each with ``fusionpot train``'s own code (``run_training``),
resuming a run from its checkpoint when one is there.

A run's folder (``<work_dir>/<set>/<run name>/``) is a ``fusionpot train`` run directory
(``train.yaml``, ``checkpoint.pt``, ``model.pth``, ``metrics.csv`` with one row per epoch,
``report.md``) plus ``result.json``, written last (atomically) when the run has trained
its epochs: the run is then finished and skipped. Asking for more epochs later resumes
finished runs up to the new count. By hand: ``fusionpot train <folder>/train.yaml
--run-dir <folder> --resume``.
"""

from __future__ import annotations

import json
import multiprocessing
import time
from concurrent.futures import ProcessPoolExecutor, as_completed
from pathlib import Path
from typing import Any

import ase.io
import torch
import yaml

from fusionpot._io import atomic_write_text
from fusionpot.data.formats import convert
from fusionpot.models import load_model
from fusionpot.train import load_config, run_training
from fusionpot.train.report import read_metrics_csv
from studies.frontier.grid import RMD17, Recipe, Run
from studies.frontier.timing import ms_per_call

RESULT = "result.json"


def prepare_data(dataset: str, work_dir: Path, recipe: Recipe) -> Path:
    """Train / valid / test extxyz of ``dataset`` in ``work_dir/<dataset>/data`` (written
    once per frame counts; a folder for other counts is a different one)."""
    folder = work_dir / dataset / f"data_{recipe.n_train}_{recipe.n_valid}_{recipe.n_test}"
    train, test = (RMD17 / f"rmd17_{dataset}_{part}_01.npz" for part in ("train", "test"))
    for path in (train, test):
        if not path.is_file():
            raise FileNotFoundError(f"rMD17 set {dataset!r}: {path} is absent")
    split = recipe.n_train + recipe.n_valid
    parts = {
        "train.extxyz": (train, slice(0, recipe.n_train)),
        "valid.extxyz": (train, slice(recipe.n_train, split)),
        "test.extxyz": (test, slice(0, recipe.n_test)),
    }
    folder.mkdir(parents=True, exist_ok=True)
    for name, (source, indices) in parts.items():
        if not (folder / name).is_file():
            partial = folder / f"{name}.part.extxyz"
            convert(source, partial, "rmd17", indices)
            partial.replace(folder / name)
    return folder


def read_result(folder: Path) -> dict[str, Any] | None:
    """The run's ``result.json``, or None when it has not finished."""
    path = folder / RESULT
    return json.loads(path.read_text()) if path.is_file() else None


def train_run(run: Run, work_dir: Path, recipe: Recipe, progress: bool) -> dict[str, Any]:
    """Train (or resume, or extend) ``run`` to ``recipe.epochs``; returns its result record:
    params, test force MAE (meV/Å), ms per energy+forces call on the first test frame
    (one thread), epochs, training wall-clock s (sum of the epochs' ``time_s``)."""
    folder = run.folder(work_dir)
    data_dir = prepare_data(run.dataset, work_dir, recipe)
    folder.mkdir(parents=True, exist_ok=True)
    yaml_path = folder / "train.yaml"
    atomic_write_text(yaml_path, yaml.safe_dump(run.train_config(data_dir, recipe)))
    resume = (folder / "checkpoint.pt").is_file()
    started = time.perf_counter()
    result = run_training(load_config(yaml_path), folder, resume=resume, progress=progress)
    test = result.metrics["test"]
    molecule = ase.io.read(data_dir / "test.extxyz", 0)
    assert isinstance(molecule, ase.Atoms)
    record = {
        "dataset": run.dataset,
        "model": run.model,
        "arch": run.arch,
        "option": run.option,
        "channels": run.channels,
        "seed": run.seed,
        "params": result.n_parameters,
        "epochs": result.epochs_run,
        "best_epoch": result.best_epoch,
        "forces_mae": test["forces_mae"][0],
        "energy_mae": test["energy_mae"][0],
        "wall_s": sum(row["time_s"] for row in _history(folder)),
        "ms_per_call": ms_per_call(load_model(result.model_path), molecule),
        "this_call_s": time.perf_counter() - started,
        "torch": torch.__version__,
    }
    atomic_write_text(folder / RESULT, json.dumps(record, indent=1) + "\n")
    return record


def _history(folder: Path) -> list[dict[str, float]]:
    return read_metrics_csv(folder / "metrics.csv")[1:]  # row 0: the untrained model


def _train_one_thread(run: Run, work_dir: Path, recipe: Recipe) -> dict[str, Any]:
    """:func:`train_run` in a worker process, at one torch thread, without a progress bar."""
    torch.set_num_threads(1)
    return train_run(run, work_dir, recipe, progress=False)


def run_all(runs: list[Run], work_dir: Path, recipe: Recipe, progress: bool, jobs: int = 1) -> None:
    """Train every run that has not finished ``recipe.epochs`` epochs: in order, or with
    ``jobs`` > 1 that many at once, each in its own process at one thread (the runs are
    independent; on a machine with ``jobs`` free cores the plan takes ~1/``jobs`` of the
    time). A run stopped midway resumes from its checkpoint either way."""
    if jobs < 1:
        raise ValueError(f"--jobs must be >= 1, got {jobs}")
    torch.set_num_threads(1)
    todo = []
    for k, run in enumerate(runs, start=1):
        done = read_result(run.folder(work_dir))
        label = f"[{k}/{len(runs)}] {run.dataset} {run.name}"
        if done is not None and done["epochs"] >= recipe.epochs:
            print(f"{label}: finished ({done['epochs']} epochs), skipped", flush=True)
        else:
            todo.append((label, run))
    if jobs == 1:
        for label, run in todo:
            print(f"{label}: training to {recipe.epochs} epochs", flush=True)
            _print_record(label, train_run(run, work_dir, recipe, progress))
        return
    for dataset in sorted({run.dataset for _, run in todo}):
        prepare_data(dataset, work_dir, recipe)  # once, before the workers read it
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=jobs, mp_context=context) as pool:
        futures = {}
        for label, run in todo:
            print(f"{label}: training to {recipe.epochs} epochs (worker)", flush=True)
            futures[pool.submit(_train_one_thread, run, work_dir, recipe)] = label
        for future in as_completed(futures):
            _print_record(futures[future], future.result())


def _print_record(label: str, record: dict[str, Any]) -> None:
    print(
        f"{label}: {record['params']} params, test F MAE {record['forces_mae']:.1f} meV/Å, "
        f"{record['ms_per_call']:.1f} ms/call, {record['wall_s']:.0f} s",
        flush=True,
    )
