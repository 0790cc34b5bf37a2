"""Build a model from its config; save and load (arch + config + state_dict + format version).

A checkpoint holds only plain data, so it loads with ``torch.load(weights_only=True)``
and can never run code. Format 2 records the architecture (a key of
:data:`ARCHITECTURES`: ``"fusion-mace"``, ``"mace"``, ``"cormorant"``,
``"fusion-cormorant"``); format 1 files (Fusion-MACE only, no ``arch``) still load.
"""

from __future__ import annotations

import os
from typing import Any

import torch

from fusionpot.models.base import EnergyModel
from fusionpot.models.config import (
    ConfigDict,
    CormorantConfig,
    FusionCormorantConfig,
    FusionMACEConfig,
)
from fusionpot.models.cormorant import Cormorant, FusionCormorant
from fusionpot.models.fusion_mace import FusionMACE
from fusionpot.models.mace_baseline import MACEBaseline, MACEConfig

__all__ = ["ARCHITECTURES", "FORMAT_VERSION", "build_model", "load_model", "save_model"]

FORMAT_VERSION = 2
#: formats :func:`load_model` reads
READABLE_FORMATS = (1, 2)
#: architecture name -> (config class, model class)
ARCHITECTURES: dict[str, tuple[type[ConfigDict], type[EnergyModel]]] = {
    FusionMACEConfig.arch: (FusionMACEConfig, FusionMACE),
    MACEConfig.arch: (MACEConfig, MACEBaseline),
    CormorantConfig.arch: (CormorantConfig, Cormorant),
    FusionCormorantConfig.arch: (FusionCormorantConfig, FusionCormorant),
}


def build_model(
    config: ConfigDict | dict[str, Any], device: torch.device | str | None = None
) -> EnergyModel:
    """A freshly initialised model from a config object, or a plain dict whose optional
    ``arch`` key (default ``"fusion-mace"``) picks the architecture."""
    if isinstance(config, dict):
        fields = dict(config)
        arch = fields.pop("arch", FusionMACEConfig.arch)
        if arch not in ARCHITECTURES:
            raise ValueError(f"unknown model arch {arch!r}; known: {sorted(ARCHITECTURES)}")
        config = ARCHITECTURES[arch][0].from_dict(fields)
    if not isinstance(config, ConfigDict):
        raise TypeError(f"config must be a model config or dict, got {type(config).__name__}")
    model_class = ARCHITECTURES[config.arch][1]
    return model_class(config).to(device)


def save_model(model: torch.nn.Module, path: str | os.PathLike[str]) -> None:
    """Write ``{"format_version", "arch", "config", "state_dict"}`` to ``path``."""
    if not isinstance(model, EnergyModel) or model.config.arch not in ARCHITECTURES:
        known = ", ".join(model_class.__name__ for _, model_class in ARCHITECTURES.values())
        raise TypeError(f"save_model takes a {known}, got {type(model).__name__}")
    state = {k: v.detach().cpu() for k, v in model.state_dict().items()}
    checkpoint = {
        "format_version": FORMAT_VERSION,
        "arch": model.config.arch,
        "config": model.config.to_dict(),
        "state_dict": state,
    }
    torch.save(checkpoint, path)


def load_model(
    path: str | os.PathLike[str], device: torch.device | str | None = None
) -> EnergyModel:
    """Rebuild the model saved by :func:`save_model` (never unpickles code)."""
    checkpoint = torch.load(path, map_location="cpu", weights_only=True)
    if not isinstance(checkpoint, dict) or "format_version" not in checkpoint:
        raise ValueError(f"{os.fspath(path)!r} is not a fusionpot model checkpoint")
    version = checkpoint["format_version"]
    if version not in READABLE_FORMATS:
        raise ValueError(
            f"{os.fspath(path)!r} has checkpoint format {version}; this fusionpot reads "
            f"formats {list(READABLE_FORMATS)}"
        )
    arch = checkpoint.get("arch", FusionMACEConfig.arch)
    model = build_model({**checkpoint["config"], "arch": arch})
    model.load_state_dict(checkpoint["state_dict"])
    return model.to(device)
