"""What the accuracy study compares: the data sets and their splits, the models and
sizes, and a *cell* (one training run of one model on one data set). ``campaign.py``
runs cells, ``report.py`` renders their results."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
from ase import Atoms
from ase.io import read

from fusionpot.data import read_pyrai2md, read_rmd17, read_spainn

REPO = Path(__file__).resolve().parents[2]
DATA = REPO.parent / "shared" / "data"
RESULTS = Path(__file__).resolve().parent / "results"
STILBENE = DATA / "stilbene_mrsf_seed" / "stilbene_mrsf_seed.extxyz"

# ---------------------------------------------------------------- data sets


@dataclass(frozen=True)
class Dataset:
    """How to get (train + valid pool, test) frames, and how to split the pool."""

    load: Callable[[], tuple[list[Atoms], list[Atoms]]]
    n_train: int
    n_valid: int
    test_set: str  # what the test frames are, for the report
    published: tuple[float, float] | None = None  # MACE test MAE: energy meV, forces meV/Å
    #: further test sets (name -> loader), e.g. extrapolation; evaluated, never trained on
    extra_tests: dict[str, Callable[[], list[Atoms]]] = field(default_factory=dict)


def _rmd17(molecule: str) -> Callable[[], tuple[list[Atoms], list[Atoms]]]:
    folder = DATA / "rmd17"
    return lambda: (
        read_rmd17(folder / f"rmd17_{molecule}_train_01.npz"),
        read_rmd17(folder / f"rmd17_{molecule}_test_01.npz"),
    )


def _extxyz(path: Path) -> list[Atoms]:
    """Frames of a labelled extxyz file (ASE keeps energy and forces on a calculator)."""
    frames = read(path, ":")
    assert isinstance(frames, list)
    return frames


def geometry_hash(atoms: Atoms, decimals: int = 5) -> str:
    """Hash of the atomic numbers and the positions rounded to ``decimals`` Å."""
    rounded = np.round(atoms.positions, decimals) + 0.0  # + 0.0 turns -0.0 into 0.0
    return hashlib.sha1(atoms.numbers.tobytes() + rounded.tobytes()).hexdigest()


def _3bpa() -> tuple[list[Atoms], list[Atoms]]:
    train = _extxyz(DATA / "botnet" / "dataset_3BPA" / "train_300K.xyz")
    seen = {geometry_hash(atoms) for atoms in train}
    mixed = _extxyz(DATA / "botnet" / "dataset_3BPA" / "train_mixedT.xyz")
    return train, [atoms for atoms in mixed if geometry_hash(atoms) not in seen]


ACAC = DATA / "botnet" / "dataset_acac"


def _acac() -> tuple[list[Atoms], list[Atoms]]:
    return _extxyz(ACAC / "train_300K.xyz"), _extxyz(ACAC / "test_MD_300K.xyz")


#: acetylacetone's extrapolation tests: MD at 600 K (energies and forces), the H-transfer
#: and dihedral scans (energies only)
ACAC_EXTRAPOLATION: dict[str, Callable[[], list[Atoms]]] = {
    name: partial(_extxyz, ACAC / f"{name}.xyz")
    for name in ("test_MD_600K", "test_H_transfer", "test_dihedral")
}


def _all_then_split(frames: list[Atoms], n_pool: int) -> tuple[list[Atoms], list[Atoms]]:
    order = np.random.default_rng(0).permutation(len(frames))
    return [frames[i] for i in order[:n_pool]], [frames[i] for i in order[n_pool:]]


RMD17_TEST = "rMD17 split 01 test frames"
DATASETS: dict[str, Dataset] = {
    "ethanol": Dataset(_rmd17("ethanol"), 950, 50, RMD17_TEST, (0.4, 2.1)),
    "malonaldehyde": Dataset(_rmd17("malonaldehyde"), 950, 50, RMD17_TEST, (0.8, 4.1)),
    "aspirin": Dataset(_rmd17("aspirin"), 950, 50, RMD17_TEST, (2.2, 6.6)),
    "acac": Dataset(_acac, 450, 50, "MD at 300 K (test_MD_300K)", extra_tests=ACAC_EXTRAPOLATION),
    "3bpa": Dataset(
        _3bpa,
        450,
        50,
        "the frames of train_mixedT not in train_300K: mixed-temperature extrapolation from "
        "300 K training (the published 3BPA test sets are not available here)",
    ),
    "c6f6": Dataset(  # 80 / 10 / 10 of 3051 frames
        lambda: _all_then_split(
            read_pyrai2md(DATA / "multistate" / "hexafluorobenzene_s0s1s2_3051.json.tar.xz"),
            2746,
        ),
        2441,
        305,
        "a seeded 10 % of the 3051 frames (train 80 %, valid 10 %)",
    ),
    "butene": Dataset(
        lambda: _all_then_split(
            read_spainn(DATA / "multistate" / "cis-butene_3singlets_101.db"), 80
        ),
        70,
        10,
        "the 21 frames left after a seeded 70 / 10 train / valid draw",
    ),
}

# ---------------------------------------------------------------- models


MODELS: dict[str, dict[str, Any]] = {
    "mace": {"arch": "mace", "correlation": 3},
    "fusion-vertex-aaa": {"arch": "fusion-mace", "diagram": "((A, A), A)", "weights": "vertex"},
    "fusion-path-aaa": {"arch": "fusion-mace", "diagram": "((A, A), A)", "weights": "path"},
    "fusion-vertex-aaah": {
        "arch": "fusion-mace",
        "diagram": "((A, A), (A, h))",
        "weights": "vertex",
    },
    "fusion-path-aaah": {"arch": "fusion-mace", "diagram": "((A, A), (A, h))", "weights": "path"},
}
SIZES: dict[str, dict[str, Any]] = {
    "tiny": {"channels": 8},
    "small": {"channels": 16},
    "medium": {"channels": 32},
}
#: why the default is no EMA of the weights (also printed in the report)
EMA_NOTE = (
    "EMA of the weights: `--ema-decay`, default 0 (none), stated in each table's title. "
    "The cells of 2026-12-02 ran without it because fusionpot.train's EMA then also "
    "averaged integer buffers and rounded them, corrupting Fusion-MACE's index tables (a "
    "trained Fusion-MACE at 126 meV/Å had an EMA copy at 1054 meV/Å; fixed in 79880d8); "
    "the default stays 0 so that later cells share their recipe."
)
COMMON_MODEL = {"hidden_irreps": "0e+1o", "l_max": 2, "n_layers": 2, "r_max": 5.0}


DEFAULT_LR = 0.01
DEFAULT_BATCH_SIZE = 5  # frames per optimiser step, as MACE's rMD17 runs


@dataclass(frozen=True)
class Cell:
    dataset: str
    model: str
    size: str
    seed: int
    epochs: int
    ema_decay: float = 0.0
    lr: float = DEFAULT_LR
    batch_size: int = DEFAULT_BATCH_SIZE

    @property
    def name(self) -> str:
        """``<model>_<size>_seed<k>_ep<E>``, then whatever of the recipe is not the default."""
        recipe = f"_ema{self.ema_decay:g}" if self.ema_decay else ""
        recipe += f"_lr{self.lr:g}" if self.lr != DEFAULT_LR else ""
        recipe += f"_bs{self.batch_size}" if self.batch_size != DEFAULT_BATCH_SIZE else ""
        return f"{self.model}_{self.size}_seed{self.seed}_ep{self.epochs}{recipe}"

    def result_path(self, results: Path) -> Path:
        return results / self.dataset / f"{self.name}.json"

    def run_dir(self, work_dir: str) -> Path:
        """Where the cell's training run (checkpoints, metrics, model) lives."""
        return Path(work_dir) / "runs" / self.dataset / self.name
