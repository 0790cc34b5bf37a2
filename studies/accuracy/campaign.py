"""Accuracy study: Fusion-MACE against stock MACE, same data, split, seeds and budget.

One *cell* is (data set, model, size, seed, epochs, recipe). Each finished cell writes one
JSON file, ``studies/accuracy/results/<dataset>/<model>_<size>_seed<k>_ep<E>.json`` (the
EMA decay, lr and batch size are appended where not the default; atomic:
temp file + ``os.replace``); a rerun skips finished cells and continues an interrupted
cell from its last finished epoch (``fusionpot.train`` checkpoints), so the script can be
stopped and resumed across sessions; ``--workers N`` trains N cells at once, each in its
own process (a lock on the cell's run folder keeps two benchmark processes off the same
cell). After every cell, and with ``--report``, every JSON present is rendered into
``studies/accuracy/results/accuracy.md``. Training is
``fusionpot.train.run_training`` (what ``fusionpot train`` runs), stock MACE as
``arch: mace`` in the same pipeline; AdamW, lr 0.01, 5 frames per step, no EMA unless
``--ema-decay`` (see ``EMA_NOTE``), no schedule below 10 epochs (plateau from 10), float64.

Data sets (read in place from ../shared/data; converted extxyz files and training runs
go to ``--work-dir``, default ``runs/accuracy``, which git ignores):

- ``ethanol``, ``malonaldehyde``, ``aspirin``: rMD17 split 01; 950 train / 50 valid from
  the 1000 training frames (seeded permutation, the same for every model), test on the
  1000 test frames (``--n-test`` caps it).
- ``acac``: acetylacetone, train_300K (450 / 50), test test_MD_300K; also evaluated on
  the extrapolation sets test_MD_600K, test_H_transfer and test_dihedral (the scans have
  energies only). Cells finished before a data set gained extra sets get them evaluated
  from their kept models on the next run.
- ``3bpa``: train_300K (450 / 50), test the frames of train_mixedT not in train_300K
  (matched by a hash of the rounded geometry; its own test sets are not available here).
- ``c6f6``: hexafluorobenzene S0/S1/S2 (PyRAI2MD), a seeded 80 / 10 / 10 split of the
  3051 frames: 2441 train / 305 valid / 305 test.
- ``butene``: cis-butene S0/S1/S2 (SPaiNN), 70 / 10, test the other 21 frames.

Models: ``mace`` (mace-torch MACE, correlation 3) and Fusion-MACE with weights
``vertex``/``path`` over the diagrams ``((A, A), A)`` (``aaa``) and ``((A, A), (A, h))``
(``aaah``); sizes ``tiny`` (8 channels), ``small`` (16), ``medium`` (32), all with
hidden irreps 0e+1o, l_max 2, 2 layers, r_max 5 Å.

Timing (per cell, trained model, eval mode, energy + forces of every state, graph built
beforehand, fastest of ``--repeats``): the data set's molecule, a 26-atom molecule
(stilbene, first frame of ../shared/data/stilbene_mrsf_seed; atoms of elements the model
lacks are relabelled to its last element) and a batch of 64 of them.

Examples::

    # the grid committed on 2026-12-02: 5 epochs for every data set but C6F6, which had
    # 2 epochs of its 2.6x larger training set (950 optimiser steps for rMD17, 976 for
    # C6F6, 450 for acac and 3BPA); two chains of one worker each on a 2-core CPU, with
    # the common options
    #   --sizes tiny small --threads 1 --workers 1 --repeats 3 --quiet
    # and the malloc settings below; about two and a half hours in all:
    python -m studies.accuracy --dataset ethanol --epochs 5 ...     # chain A
    python -m studies.accuracy --dataset malonaldehyde aspirin --epochs 5 ...
    python -m studies.accuracy --dataset c6f6 --epochs 2 ...        # chain B, at once
    python -m studies.accuracy --dataset acac 3bpa --epochs 5 ...
    # (cells finished by an older version of this script get the validation history,
    # the S1-S0 gap error and acac's extra test sets added by rerunning the same command)
    # the tiny-budget check committed on 2026-12-02 (ethanol, 2 epochs, 1 thread on a busy
    # 2-core machine: 31 min for the first command, 12 min for the second)
    nice -n 19 python -m studies.accuracy --dataset ethanol --sizes tiny --seeds 0 1 2 \
        --epochs 2 --threads 1
    nice -n 19 python -m studies.accuracy --dataset ethanol --sizes small --seeds 0 \
        --epochs 2 --threads 1
    # one quick cell per model: smallest size, first seed
    python -m studies.accuracy --dataset ethanol --only-fast --epochs 2
    # the long grid (5 models x small, medium; 3 seeds for ethanol; 7 data sets), in the
    # background, resumable (days on 2 CPU cores; hours on a GPU with --device cuda)
    MALLOC_MMAP_THRESHOLD_=4294967296 MALLOC_TRIM_THRESHOLD_=8589934592 \
    MALLOC_TOP_PAD_=1073741824 nohup nice -n 19 python -m studies.accuracy --epochs 50 \
        --threads 1 --workers 2 --quiet > runs/accuracy.log 2>&1 &
    python -m studies.accuracy --dry-run     # which cells are done, which are to do
    python -m studies.accuracy --report      # re-render the table from finished cells
"""

from __future__ import annotations

import argparse
import fcntl
import json
import multiprocessing
import os
import platform
import subprocess
import time
import warnings
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor, as_completed
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
import torch
from ase import Atoms
from ase.io import read

from fusionpot._io import atomic_write_text
from fusionpot.data import atoms_to_graph
from fusionpot.data.formats import write_extxyz
from fusionpot.models import ForceOutput, load_model
from fusionpot.train import evaluate as predict
from fusionpot.train import labelled_frames, read_metrics_csv, run_training
from fusionpot.train.loop import MODEL
from studies.accuracy.grid import (
    COMMON_MODEL,
    DATASETS,
    DEFAULT_BATCH_SIZE,
    DEFAULT_LR,
    MODELS,
    REPO,
    RESULTS,
    SIZES,
    STILBENE,
    Cell,
)
from studies.accuracy.report import write_report


def select_cells(args: argparse.Namespace) -> list[Cell]:
    """The grid selected on the command line, cheapest cells first."""
    sizes = [min(args.sizes, key=list(SIZES).index)] if args.only_fast else args.sizes
    recipe = {
        "epochs": args.epochs,
        "ema_decay": args.ema_decay,
        "lr": args.lr,
        "batch_size": args.batch_size,
    }
    cells = []
    for dataset in args.dataset:
        seeds = args.seeds if args.seeds else ([0, 1, 2] if dataset == "ethanol" else [0])
        if args.only_fast:
            seeds = seeds[:1]
        for size in sorted(sizes, key=list(SIZES).index):
            for seed in seeds:
                for model in args.models:
                    cells.append(Cell(dataset, model, size, seed, **recipe))
    return cells


# ---------------------------------------------------------------- running one cell


def prepare_data(name: str, work: Path, n_test: int | None) -> dict[str, Path]:
    """train/valid/test extxyz files of a data set in ``work``, and ``extra:<name>`` for
    each of its extra test sets (each written once, atomically)."""
    folder = work / "data" / name
    dataset = DATASETS[name]
    extra = {f"extra:{key}": folder / f"extra_{key}.extxyz" for key in dataset.extra_tests}
    for key, path in extra.items():
        if not path.exists():
            write_extxyz(path, dataset.extra_tests[key.removeprefix("extra:")]())
    paths = {split: folder / f"{split}.extxyz" for split in ("train", "valid")}
    paths["test"] = folder / (f"test_first{n_test}.extxyz" if n_test else "test.extxyz")
    if all(path.exists() for path in paths.values()):
        return {**paths, **extra}
    pool, test = dataset.load()
    if len(pool) < dataset.n_train + dataset.n_valid:
        raise ValueError(f"{name}: {len(pool)} frames, fewer than train + valid")
    order = np.random.default_rng(0).permutation(len(pool))  # one split for every model
    splits = {
        "train": [pool[i] for i in order[: dataset.n_train]],
        "valid": [pool[i] for i in order[dataset.n_train : dataset.n_train + dataset.n_valid]],
        "test": test[:n_test] if n_test else test,
    }
    for split, frames in splits.items():
        write_extxyz(paths[split], frames)
    return {**paths, **extra}


def train_config(
    cell: Cell, data: dict[str, Path], run_dir: Path, args: argparse.Namespace
) -> dict[str, Any]:
    """The ``fusionpot train`` config of a cell (YAML-shaped; the test set is ours)."""
    model = {**COMMON_MODEL, **MODELS[cell.model], **SIZES[cell.size], "dtype": args.dtype}
    return {
        "seed": cell.seed,
        "device": args.device,
        "run_dir": str(run_dir),
        "model": model,
        "data": {"train": str(data["train"]), "valid": str(data["valid"]), "test_fraction": 0.0},
        "training": {
            "epochs": cell.epochs,
            "batch_size": cell.batch_size,
            "lr": cell.lr,
            "scheduler": "none" if cell.epochs < 10 else "plateau",
            "ema_decay": cell.ema_decay,  # see EMA_NOTE
        },
    }


def run_cell(cell: Cell, args: argparse.Namespace) -> dict[str, Any]:
    """Train (resuming a killed run from its last epoch), test and time one cell."""
    torch.set_num_threads(args.threads)
    data = prepare_data(cell.dataset, Path(args.work_dir), args.n_test)
    run_dir = cell.run_dir(args.work_dir)
    config = train_config(cell, data, run_dir, args)
    resume = (run_dir / "checkpoint.pt").exists()
    result = run_training(config, run_dir, resume=resume, progress=not args.quiet)
    epochs = read_metrics_csv(run_dir / "metrics.csv")
    return {
        "cell": cell.__dict__,
        "config": config,
        "train_wall_s": sum(row["time_s"] for row in epochs),
        "valid_history": validation_history(epochs),
        "epochs_run": result.epochs_run,
        "best_epoch": result.best_epoch,
        **evaluate(result.model_path, data, args),
        "timing_load_average": os.getloadavg()[0],
        "timing_ms": time_model(result.model_path, data["test"], args),
        "threads": args.threads,
        "workers": args.workers,
        "malloc_tuned": "MALLOC_MMAP_THRESHOLD_" in os.environ,
        "machine": platform.processor() or platform.machine(),
        "torch": torch.__version__,
        "git_commit": _git_commit(),
        "finished": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
    }


def validation_history(epochs: list[dict[str, float]]) -> list[dict[str, float]]:
    """Validation MAE after each epoch of a run's ``metrics.csv`` rows (epoch 0: the
    untrained model), averaged over states: energy meV/atom, forces meV/Å."""

    def mean_over_states(row: dict[str, float], name: str) -> float:
        return float(np.mean([v for k, v in row.items() if k.startswith(f"valid_{name}_s")]))

    return [
        {
            "epoch": int(row["epoch"]),
            "energy_mae": mean_over_states(row, "energy_mae"),
            "forces_mae": mean_over_states(row, "forces_mae"),
        }
        for row in epochs
    ]


def evaluate(model_path: Path, data: dict[str, Path], args: argparse.Namespace) -> dict[str, Any]:
    """Parameter counts and test-set errors of the trained model (:func:`test_errors`);
    ``extra_tests``: the same errors on each extra test set of the data set."""
    model = load_model(model_path, device=args.device)
    return {
        "n_params": sum(p.numel() for p in model.parameters()),
        "n_product_params": product_parameters(model),
        **test_errors(model, data["test"], args),
        "extra_tests": extra_test_errors(model, data, args),
    }


def extra_test_errors(
    model: torch.nn.Module, data: dict[str, Path], args: argparse.Namespace
) -> dict[str, dict[str, Any]]:
    """:func:`test_errors` on each ``extra:<name>`` file of ``data``, by name."""
    return {
        key.removeprefix("extra:"): test_errors(model, path, args)
        for key, path in data.items()
        if key.startswith("extra:")
    }


def test_errors(model: torch.nn.Module, test: Path, args: argparse.Namespace) -> dict[str, Any]:
    """MAE per state and averaged over states (NaN where the set has no such label)."""
    frames = labelled_frames(test)
    predictions = predict(model, frames, batch_size=32, device=args.device)
    metrics = predictions.errors.metrics()
    energy_abs = np.where(frames.energy_mask, np.abs(predictions.energy - frames.energy), np.nan)
    gap = {}
    if frames.n_states > 1:  # S1 - S0, where a frame has both energies
        both = frames.energy_mask[:, 0] & frames.energy_mask[:, 1]
        predicted = predictions.energy[both, 1] - predictions.energy[both, 0]
        reference = frames.energy[both, 1] - frames.energy[both, 0]
        gap["gap_mae_meV"] = 1000 * float(np.mean(np.abs(predicted - reference)))
    return {
        **gap,
        "n_test": len(frames),
        "n_atoms": len(frames.frames[0]),
        "n_states": frames.n_states,
        "energy_mae_meV": 1000 * float(np.nanmean(energy_abs)),
        "energy_mae_meV_per_atom": float(np.mean(metrics["energy_mae"])),
        "forces_mae_meV_per_A": float(np.mean(metrics["forces_mae"])),
        "per_state": {
            "energy_mae_meV": (1000 * np.nanmean(energy_abs, axis=0)).tolist(),
            **metrics,
        },
    }


def product_parameters(model: torch.nn.Module) -> int:
    """Weights of the product basis alone: mace-torch's symmetric contractions, or the
    fusion blocks (the radial MLPs hold most of either model's parameters)."""
    return sum(
        p.numel()
        for name, p in model.named_parameters()
        if "symmetric_contractions" in name or ".product.block." in name
    )


def time_model(model_path: Path, test: Path, args: argparse.Namespace) -> dict[str, float]:
    """ms per energy+forces call: the data set's molecule, 26 atoms, 64 × 26 atoms."""
    model = load_model(model_path, device=args.device).eval()
    wrapped = ForceOutput(model, compute_stress=False)
    elements = list(model.config.elements)
    dtype = model.config.torch_dtype
    molecule = _first_frame(test)
    stilbene = _relabelled(_first_frame(STILBENE), elements)
    out = {}
    for label, structures in (
        ("molecule", [molecule]),
        ("atoms26", [stilbene]),
        ("atoms26_x64", [stilbene] * 64),
    ):
        graph = atoms_to_graph(structures, elements, model.config.r_max, dtype, args.device)
        out[label] = 1000 * _fastest(partial(wrapped, graph), args.repeats)
    return out


def _first_frame(path: Path) -> Atoms:
    atoms = read(path, 0)
    assert isinstance(atoms, Atoms)
    return atoms


def _relabelled(atoms: Atoms, elements: list[str]) -> Atoms:
    symbols = [s if s in elements else elements[-1] for s in atoms.get_chemical_symbols()]
    return Atoms(symbols=symbols, positions=atoms.positions)


def _fastest(call: Callable[[], object], repeats: int) -> float:
    call()  # warm-up
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        call()
        best = min(best, time.perf_counter() - start)
    return best


def _git_commit() -> str:
    result = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], cwd=REPO, capture_output=True, text=True
    )
    return result.stdout.strip()


def write_json(path: Path, record: dict[str, Any]) -> None:
    """Atomic write: a killed run leaves either no file or the whole record."""
    atomic_write_text(path, json.dumps(record, indent=1, sort_keys=True) + "\n")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--dataset", nargs="+", choices=list(DATASETS), default=list(DATASETS))
    parser.add_argument("--models", nargs="+", choices=list(MODELS), default=list(MODELS))
    parser.add_argument("--sizes", nargs="+", choices=list(SIZES), default=["small", "medium"])
    parser.add_argument(
        "--seeds", nargs="+", type=int, default=None, help="default: 0 1 2 for ethanol, 0 elsewhere"
    )
    parser.add_argument("--only-fast", action="store_true", help="smallest size, first seed")
    parser.add_argument("--epochs", type=int, default=50)
    parser.add_argument("--batch-size", type=int, default=DEFAULT_BATCH_SIZE)
    parser.add_argument("--lr", type=float, default=DEFAULT_LR)
    parser.add_argument("--ema-decay", type=float, default=0.0, help="0: no EMA (EMA_NOTE)")
    parser.add_argument("--dtype", choices=("float32", "float64"), default="float64")
    parser.add_argument("--n-test", type=int, default=None, help="cap the test frames")
    parser.add_argument("--threads", type=int, default=2, help="torch threads per worker")
    parser.add_argument("--workers", type=int, default=1, help="cells trained at once")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--repeats", type=int, default=5, help="timing: fastest of N calls")
    parser.add_argument("--work-dir", default=str(REPO / "runs" / "accuracy"))
    parser.add_argument("--results-dir", type=Path, default=RESULTS)
    parser.add_argument("--report", action="store_true", help="only re-render the table")
    parser.add_argument("--dry-run", action="store_true", help="list the cells and stop")
    parser.add_argument("--quiet", action="store_true", help="no progress bars")
    args = parser.parse_args(argv)
    # e3nn 0.4.4's o3.Linear, scripted when a model is built: harmless, and very noisy
    warnings.filterwarnings("ignore", message="The TorchScript type system")
    cells = [] if args.report else select_cells(args)
    todo = []
    for cell in cells:
        done = cell.result_path(args.results_dir).exists()
        print(f"{'done' if done else 'todo'}    {cell.dataset}/{cell.name}")
        if not done:
            todo.append(cell)
        elif not args.dry_run:
            complete_record(cell, args)
    if args.dry_run:
        return 0
    failed = run_grid(todo, args) if todo else 0
    write_report(args.results_dir)
    return 1 if failed else 0


def complete_record(cell: Cell, args: argparse.Namespace) -> None:
    """Add to a finished cell's JSON what later versions of this script record (the
    validation history, errors on extra test sets added to its data set since), from the
    run folder it left (metrics.csv, the trained model); skipped where that is gone."""
    path = cell.result_path(args.results_dir)
    record = json.loads(path.read_text())
    run_dir = cell.run_dir(args.work_dir)
    added = []
    if "valid_history" not in record and (run_dir / "metrics.csv").exists():
        record["valid_history"] = validation_history(read_metrics_csv(run_dir / "metrics.csv"))
        added.append("validation history")
    known = record.get("extra_tests", {})
    missing_extra = not set(DATASETS[cell.dataset].extra_tests) <= set(known)
    missing_gap = record["n_states"] > 1 and "gap_mae_meV" not in record
    if (missing_extra or missing_gap) and (run_dir / MODEL).exists():
        data = prepare_data(cell.dataset, Path(args.work_dir), args.n_test)
        model = load_model(run_dir / MODEL, device=args.device)
        if missing_gap:
            record.update(test_errors(model, data["test"], args))
            added.append("the S1-S0 gap error")
        if missing_extra:
            record["extra_tests"] = {**known, **extra_test_errors(model, data, args)}
            added.append("extra test sets")
    if added:
        write_json(path, record)
        print(f"        {cell.dataset}/{cell.name}: added {' and '.join(added)}")


def run_grid(cells: list[Cell], args: argparse.Namespace) -> int:
    """Run ``cells``, ``args.workers`` at a time, each in a fresh process; re-render the
    report after every finished cell. Returns the number of cells that failed."""
    for dataset in dict.fromkeys(cell.dataset for cell in cells):
        prepare_data(dataset, Path(args.work_dir), args.n_test)  # once, not per worker
    context = multiprocessing.get_context("spawn")
    failed = 0
    with ProcessPoolExecutor(args.workers, mp_context=context, max_tasks_per_child=1) as pool:
        futures = {pool.submit(run_and_write, cell, args): cell for cell in cells}
        for future in as_completed(futures):
            cell = futures[future]
            try:
                print(f"{future.result():7} {cell.dataset}/{cell.name}", flush=True)
            except Exception as error:  # one broken cell must not stop the grid
                failed += 1
                print(f"FAILED  {cell.dataset}/{cell.name}: {error!r}", flush=True)
            write_report(args.results_dir)
    return failed


def run_and_write(cell: Cell, args: argparse.Namespace) -> str:
    """One cell in a worker process: train, test, time, write its JSON. A lock on the
    cell's run folder keeps two benchmark processes from training the same cell."""
    warnings.filterwarnings("ignore", message="The TorchScript type system")
    run_dir = cell.run_dir(args.work_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    with open(run_dir / ".lock", "w") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return "busy"  # another benchmark process is training this cell
        if cell.result_path(args.results_dir).exists():
            return "done"
        write_json(cell.result_path(args.results_dir), run_cell(cell, args))
    return "ran"
