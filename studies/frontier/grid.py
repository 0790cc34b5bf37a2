"""What the frontier trains: data sets, models (arch + parsimony option), sizes, seeds, and
one *run* (one training of one model on one set) with its folder and training YAML."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
RMD17 = REPO.parent / "shared" / "data" / "rmd17"
RESULTS = Path(__file__).resolve().parent / "results"

#: rMD17 molecules with split 01 in ../shared/data/rmd17
SETS = ("ethanol", "malonaldehyde", "aspirin")
#: model name -> (arch, option, model fields beyond the shared ones)
MODELS: dict[str, tuple[str, str, dict[str, Any]]] = {
    "mace": ("mace", "-", {}),
    "fusion-mace": ("fusion-mace", "-", {}),
    "fusion-mace+linear": (
        "fusion-mace",
        "fusion_replaces_linear",
        {"fusion_replaces_linear": True},
    ),
    "fusion-mace+radial": ("fusion-mace", "share_radial_channels", {"share_radial_channels": True}),
    "fusion-mace+both": (
        "fusion-mace",
        "both",
        {"fusion_replaces_linear": True, "share_radial_channels": True},
    ),
    "cormorant": ("cormorant", "-", {}),
    "fusion-cormorant": ("fusion-cormorant", "-", {}),
}
#: fields every model shares (the package defaults otherwise: l_max 2, hidden 0e+1o,
#: 2 layers, radial MLP 64-64-64, vertex weights, default diagrams)
COMMON_MODEL = {"r_max": 5.0, "dtype": "float64"}


@dataclass(frozen=True)
class Recipe:
    """Frames, optimiser settings and device shared by every run (rMD17 split 01: the first
    ``n_train`` frames of the training file train, the next ``n_valid`` validate, the first
    ``n_test`` of the test file test)."""

    epochs: int = 300
    n_train: int = 950
    n_valid: int = 50
    n_test: int = 1000
    batch_size: int = 5
    lr: float = 0.01
    device: str = "cpu"


@dataclass(frozen=True)
class Run:
    """One training run: a model at ``channels`` channels on ``dataset`` with ``seed``."""

    dataset: str
    model: str
    channels: int
    seed: int

    @property
    def name(self) -> str:
        return f"{self.model}_c{self.channels}_seed{self.seed}"

    @property
    def arch(self) -> str:
        return MODELS[self.model][0]

    @property
    def option(self) -> str:
        return MODELS[self.model][1]

    def folder(self, work_dir: Path) -> Path:
        return work_dir / self.dataset / self.name

    def train_config(self, data_dir: Path, recipe: Recipe) -> dict[str, Any]:
        """The ``fusionpot train`` YAML of this run (absolute data paths)."""
        return {
            "seed": self.seed,
            "device": recipe.device,
            "model": {
                "arch": self.arch,
                "channels": self.channels,
                **COMMON_MODEL,
                **MODELS[self.model][2],
            },
            "data": {
                "train": str(data_dir / "train.extxyz"),
                "valid": str(data_dir / "valid.extxyz"),
                "test": str(data_dir / "test.extxyz"),
            },
            "training": {
                "epochs": recipe.epochs,
                "batch_size": recipe.batch_size,
                "lr": recipe.lr,
            },
        }


def plan(
    sets: list[str], models: list[str], sizes: list[int], seeds: list[int], seed_size: int
) -> list[Run]:
    """Every model at every size with the first seed, and the further seeds at
    ``seed_size``, on every set; in the order they train (cheapest sizes first)."""
    runs = []
    for channels in sorted(sizes):
        for dataset in sets:
            for model in models:
                chosen = seeds if channels == seed_size else seeds[:1]
                runs += [Run(dataset, model, channels, seed) for seed in chosen]
    return runs
