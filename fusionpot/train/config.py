"""The training configuration (YAML), every key with its default.

Example, with every key and its default (only ``data.train`` is required)::

    seed: 0                  # model init, data split and per-epoch data order
    device: auto             # auto (cuda if available, else cpu), cpu, cuda, cuda:1, ...
                             #   (under torchrun, cuda is each process's cuda:LOCAL_RANK)
    run_dir: null            # output folder; null: "<config file stem>_run" beside the YAML
    model:                   # the architecture and its fields (its config class)
      arch: fusion-mace      # fusion-mace | mace (stock mace-torch MACE) | cormorant |
                             #   fusion-cormorant
      elements: null         # null: every element of the training set, by atomic number
      n_states: null         # null: from the data (see data.energy_keys)
      avg_num_neighbors: null  # null: mean neighbours per atom within r_max, training set
      dtype: float64         # float64 | float32
      # ... any other field of the arch's config: r_max, channels, l_max, n_layers, ...
      # (fields of the other arch only, e.g. diagram or correlation, are ignored)
    data:                    # paths are relative to this YAML file
      train: train.extxyz    # a file or a list of files (anything ase.io.read reads)
      valid: null            # null: valid_fraction of the training files, seeded
      test: null             # null: test_fraction of the training files, seeded
      valid_fraction: 0.1
      test_fraction: 0.1
      energy_keys: null      # per state; null: energy_s0, energy_s1, ... when the data
      forces_keys: null      #   has them, else ASE's energy/forces (one state)
    training:
      epochs: 100
      batch_size: 8          # frames per optimiser step (under torchrun: shared by all)
      eval_batch_size: 32    # frames per evaluation call
      lr: 0.01               # AdamW learning rate
      weight_decay: 0.0      # AdamW (decoupled) weight decay
      ema_decay: 0.99        # EMA of the weights (evaluated, checkpointed, saved); 0: off
      scheduler: plateau     # plateau (ReduceLROnPlateau on the validation loss) | cosine | none
      scheduler_patience: 10 # plateau: epochs without improvement before lr *= factor
      scheduler_factor: 0.5
      min_lr: 1.0e-6         # floor of plateau, end point of cosine
      clip_grad: 10.0        # max gradient norm; null: no clipping
      early_stopping_patience: null  # stop after this many epochs without improvement
      energy_weight: 1.0     # loss weight of the energy per atom (eV²/atom²): a number or
                             #   one per state
      forces_weight: 10.0    # loss weight of the forces (eV²/Å²): a number or one per state
      gap_weight: 0.0        # loss weight of the gaps between adjacent states (1/eV²); the
                             #   gaps drive surface hopping: > 0 fits them directly
      stress_weight: 0.0     # loss weight of the stress of S0 ((Å³/eV)²), for periodic
                             #   frames labelled with ASE's stress (eV/Å³, fusionpot label
                             #   --method xtb); > 0 needs such frames among the training data

The loss is ``Σ_s w_E,s · mean((ΔE_s / n_atoms)²) + w_F,s · mean(ΔF_s²)
+ w_gap · Σ_k mean((Δ(E_k - E_{k-1}))²) + w_σ · mean(Δσ²)`` over the labels present (a
missing label is masked out; a gap counts where both of its states are labelled; gaps are
per frame, not per atom; the stress mean is over the 9 components of the frames with a
stress label, as mace-torch's stress loss but not diluted by frames without one). The
stress MAE is reported whenever the data have stress labels, whatever its weight.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from fusionpot._fields import check_fields
from fusionpot.errors import ConfigError

__all__ = ["DataConfig", "OptimConfig", "TrainConfig", "load_config"]


@dataclass(frozen=True)
class DataConfig:
    """Where the frames come from and which labels to read (see the module docstring)."""

    train: tuple[str, ...]
    valid: tuple[str, ...] = ()
    test: tuple[str, ...] = ()
    valid_fraction: float = 0.1
    test_fraction: float = 0.1
    energy_keys: tuple[str, ...] | None = None
    forces_keys: tuple[str, ...] | None = None

    def __post_init__(self) -> None:
        for name in ("train", "valid", "test"):
            value = getattr(self, name)
            paths = () if value is None else (value,) if isinstance(value, str) else value
            object.__setattr__(self, name, tuple(str(p) for p in paths))
        for name in ("energy_keys", "forces_keys"):
            value = getattr(self, name)
            if value is not None:
                object.__setattr__(self, name, (value,) if isinstance(value, str) else tuple(value))
        if not self.train:
            raise ValueError("data.train must name at least one file")
        for name in ("valid_fraction", "test_fraction"):
            if not 0.0 <= getattr(self, name) < 1.0:
                raise ValueError(f"data.{name} must be in [0, 1), got {getattr(self, name)}")
        if self.valid_fraction + self.test_fraction >= 1.0:
            raise ValueError("data.valid_fraction + data.test_fraction must be below 1")
        keys = (self.energy_keys, self.forces_keys)
        if (keys[0] is None) != (keys[1] is None) or (
            keys[0] is not None and len(keys[0]) != len(keys[1] or ())
        ):
            raise ValueError(
                "data.energy_keys and data.forces_keys must be given together, one per state"
            )


@dataclass(frozen=True)
class OptimConfig:
    """Optimiser, schedule, EMA, clipping, early stopping, loss weights (module docstring)."""

    epochs: int = 100
    batch_size: int = 8
    eval_batch_size: int = 32
    lr: float = 0.01
    weight_decay: float = 0.0
    ema_decay: float = 0.99
    scheduler: str = "plateau"
    scheduler_patience: int = 10
    scheduler_factor: float = 0.5
    min_lr: float = 1e-6
    clip_grad: float | None = 10.0
    early_stopping_patience: int | None = None
    energy_weight: float | tuple[float, ...] = 1.0
    forces_weight: float | tuple[float, ...] = 10.0
    gap_weight: float = 0.0
    stress_weight: float = 0.0

    def __post_init__(self) -> None:
        for name in ("energy_weight", "forces_weight"):
            value = getattr(self, name)
            if isinstance(value, list | tuple):
                object.__setattr__(self, name, tuple(float(v) for v in value))
        for name in ("epochs", "batch_size", "eval_batch_size", "lr"):
            if not getattr(self, name) > 0:
                raise ValueError(f"training.{name} must be positive, got {getattr(self, name)}")
        if self.early_stopping_patience is not None and self.early_stopping_patience < 1:
            raise ValueError(
                "training.early_stopping_patience must be >= 1 (or null), "
                f"got {self.early_stopping_patience}"
            )
        for name in ("gap_weight", "stress_weight"):
            if not getattr(self, name) >= 0.0:
                raise ValueError(f"training.{name} must be >= 0, got {getattr(self, name)}")
        if not 0.0 <= self.ema_decay < 1.0:
            raise ValueError(f"training.ema_decay must be in [0, 1), got {self.ema_decay}")
        if self.scheduler not in ("plateau", "cosine", "none"):
            raise ValueError(
                f"training.scheduler must be plateau, cosine or none, got {self.scheduler!r}"
            )

    def weights(self, n_states: int) -> tuple[list[float], list[float]]:
        """(energy weights, forces weights), one per state."""
        out = []
        for name in ("energy_weight", "forces_weight"):
            value = getattr(self, name)
            per_state = [float(value)] * n_states if isinstance(value, float | int) else value
            if len(per_state) != n_states:
                raise ValueError(
                    f"training.{name} has {len(per_state)} values for {n_states} states"
                )
            out.append(list(per_state))
        return out[0], out[1]


@dataclass(frozen=True)
class TrainConfig:
    """A whole training run: model fields (a dict, with ``arch``), data, optimisation."""

    data: DataConfig
    model: dict[str, Any] = field(default_factory=dict)
    training: OptimConfig = field(default_factory=OptimConfig)
    seed: int = 0
    device: str = "auto"
    run_dir: str | None = None

    @classmethod
    def from_dict(cls, raw: dict[str, Any], base_dir: str | Path | None = None) -> TrainConfig:
        """Parse a YAML-shaped dict; relative data paths are taken from ``base_dir``.

        Every value is checked by the type of its field (numbers written as ``1e-3``
        are accepted), ``model`` fields by the architecture's config class; a wrong one
        raises :class:`~fusionpot.errors.ConfigError` naming the key."""
        if not isinstance(raw, dict):
            raise ConfigError(f"a training config is a mapping, got {type(raw).__name__}")
        _check_keys(raw, cls, "the config")
        for section in ("data", "training", "model"):
            if not isinstance(raw.get(section) or {}, dict):
                raise ConfigError(f"{section} must be a mapping, got {raw[section]!r}")
        data = dict(raw.get("data") or {})
        _check_keys(data, DataConfig, "data")
        if data.get("train") is None:
            raise ConfigError("data.train is required: the extxyz file(s) of training frames")
        data = {
            k: v
            if v is None and k in ("valid", "test")
            else check_fields(DataConfig, {k: v}, "data")[k]
            for k, v in data.items()
        }
        if base_dir is not None:
            for name in ("train", "valid", "test"):
                if data.get(name) is not None:
                    paths = [data[name]] if isinstance(data[name], str) else data[name]
                    data[name] = [str(Path(base_dir) / p) for p in paths]
        training = dict(raw.get("training") or {})
        _check_keys(training, OptimConfig, "training")
        training = check_fields(OptimConfig, training, "training")
        top = check_fields(cls, {k: raw[k] for k in ("seed", "device", "run_dir") if k in raw}, "")
        run_dir = top.get("run_dir")
        if run_dir is not None and base_dir is not None:
            run_dir = str(Path(base_dir) / run_dir)
        return cls(
            data=DataConfig(**data),
            model=_check_model(dict(raw.get("model") or {})),
            training=OptimConfig(**training),
            seed=top.get("seed", 0),
            device=top.get("device", "auto"),
            run_dir=run_dir,
        )

    def to_dict(self) -> dict[str, Any]:
        """Plain types (lists, str, numbers): written to ``run_dir/config.yaml``."""

        def plain(value: Any) -> Any:
            if isinstance(value, tuple | list):
                return [plain(v) for v in value]
            if isinstance(value, dict):
                return {k: plain(v) for k, v in value.items()}
            return value

        return plain(dataclasses.asdict(self))

    def replace(self, **changes: Any) -> TrainConfig:
        """A copy with top-level fields changed; ``training``/``model`` take dicts of changes."""
        if "training" in changes and isinstance(changes["training"], dict):
            changes["training"] = dataclasses.replace(self.training, **changes["training"])
        if "model" in changes:
            changes["model"] = {**self.model, **changes["model"]}
        return dataclasses.replace(self, **changes)


def _check_keys(raw: dict[str, Any], cls: type, where: str) -> None:
    known = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(raw) - known)
    if unknown:
        raise ConfigError(f"unknown keys {unknown} in {where}; known: {sorted(known)}")


#: model fields the training config may leave null (taken from the training set)
_FROM_DATA = ("elements", "n_states", "avg_num_neighbors")


def _check_model(model: dict[str, Any]) -> dict[str, Any]:
    """``model`` with each field checked by the type it has in the architecture's config
    class (or, for a field of the other architecture only, in that one's)."""
    from fusionpot.models.build import ARCHITECTURES

    arch = model.get("arch", "fusion-mace")
    if arch not in ARCHITECTURES:
        raise ConfigError(f"model.arch must be one of {sorted(ARCHITECTURES)}, got {arch!r}")
    classes = [ARCHITECTURES[arch][0]] + [c for c, _ in ARCHITECTURES.values()]
    out = dict(model)
    for key, value in model.items():
        if key == "arch" or (value is None and key in _FROM_DATA):
            continue
        owner = next((c for c in classes if key in {f.name for f in dataclasses.fields(c)}), None)
        if owner is not None:
            out[key] = check_fields(owner, {key: value}, "model")[key]
    return out


def load_config(path: str | Path) -> TrainConfig:
    """Read a YAML training config; data paths and run_dir are relative to its folder.

    ``run_dir`` defaults to ``<stem>_run`` beside the YAML file. A wrong value raises
    :class:`~fusionpot.errors.ConfigError` naming the file and the key.
    """
    path = Path(path)
    with open(path) as fh:
        try:
            raw = yaml.safe_load(fh) or {}
        except yaml.YAMLError as error:
            raise ConfigError(f"not valid YAML: {error}", path) from None
    try:
        config = TrainConfig.from_dict(raw, base_dir=path.parent)
    except ValueError as error:
        raise ConfigError(str(error), path) from None
    if config.run_dir is None:
        config = config.replace(run_dir=str(path.parent / f"{path.stem}_run"))
    return config
