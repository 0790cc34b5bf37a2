"""Build a model from its config; save and load (config + state_dict + format version).

A checkpoint holds only plain data, so it loads with ``torch.load(weights_only=True)``
and can never run code.
"""

from __future__ import annotations

import os
from typing import Any

import torch

from fusionpot.models.config import FusionMACEConfig
from fusionpot.models.fusion_mace import FusionMACE

__all__ = ["FORMAT_VERSION", "build_model", "load_model", "save_model"]

FORMAT_VERSION = 1


def build_model(
    config: FusionMACEConfig | dict[str, Any], device: torch.device | str | None = None
) -> FusionMACE:
    """A freshly initialised :class:`FusionMACE` from a config (object or plain dict)."""
    if isinstance(config, dict):
        config = FusionMACEConfig.from_dict(config)
    return FusionMACE(config).to(device)


def save_model(model: FusionMACE, path: str | os.PathLike[str]) -> None:
    """Write ``{"format_version", "config", "state_dict"}`` to ``path``."""
    if not isinstance(model, FusionMACE):
        raise TypeError(f"save_model takes a FusionMACE, got {type(model).__name__}")
    state = {k: v.detach().cpu() for k, v in model.state_dict().items()}
    checkpoint = {
        "format_version": FORMAT_VERSION,
        "config": model.config.to_dict(),
        "state_dict": state,
    }
    torch.save(checkpoint, path)


def load_model(
    path: str | os.PathLike[str], device: torch.device | str | None = None
) -> FusionMACE:
    """Rebuild the model saved by :func:`save_model` (never unpickles code)."""
    checkpoint = torch.load(path, map_location="cpu", weights_only=True)
    if not isinstance(checkpoint, dict) or "format_version" not in checkpoint:
        raise ValueError(f"{os.fspath(path)!r} is not a fusionpot model checkpoint")
    version = checkpoint["format_version"]
    if version != FORMAT_VERSION:
        raise ValueError(
            f"{os.fspath(path)!r} has checkpoint format {version}; this fusionpot reads "
            f"format {FORMAT_VERSION}"
        )
    model = build_model(checkpoint["config"])
    model.load_state_dict(checkpoint["state_dict"])
    return model.to(device)
