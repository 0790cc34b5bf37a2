"""Training checkpoints: everything needed to continue a run to the same final weights.

A checkpoint is plain data (tensors, numbers, strings, lists, dicts), written atomically
(temp file + ``os.replace``) and read with ``weights_only=True``: it can never run code.
"""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

import numpy as np
import torch

from fusionpot._io import atomic_torch_save

__all__ = ["get_rng_state", "load_checkpoint", "save_checkpoint", "set_rng_state"]

#: version of the training-checkpoint layout
CHECKPOINT_VERSION = 1


def get_rng_state() -> dict[str, Any]:
    """torch (CPU and every CUDA device), numpy's and Python's global generator states."""
    kind, key, pos, has_gauss, cached = np.random.get_state()  # noqa: NPY002
    return {
        "torch": torch.get_rng_state(),
        "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
        "numpy": [kind, torch.from_numpy(np.asarray(key, dtype=np.int64)), pos, has_gauss, cached],
        "python": random.getstate(),
    }


def set_rng_state(state: dict[str, Any]) -> None:
    """Restore what :func:`get_rng_state` recorded."""
    torch.set_rng_state(state["torch"])
    if state["cuda"] and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])
    kind, key, pos, has_gauss, cached = state["numpy"]
    np.random.set_state((kind, key.numpy().astype(np.uint32), pos, has_gauss, cached))  # noqa: NPY002
    version, internal, gauss = state["python"]
    random.setstate((version, tuple(internal), gauss))


def save_checkpoint(path: str | Path, state: dict[str, Any]) -> None:
    """Write ``state`` (plus the layout version) to ``path`` atomically."""
    atomic_torch_save({"checkpoint_version": CHECKPOINT_VERSION, **state}, Path(path))


def load_checkpoint(path: str | Path) -> dict[str, Any]:
    """Read a checkpoint written by :func:`save_checkpoint` (never unpickles code)."""
    state = torch.load(path, map_location="cpu", weights_only=True)
    if not isinstance(state, dict) or state.get("checkpoint_version") != CHECKPOINT_VERSION:
        raise ValueError(
            f"{path} is not a fusionpot training checkpoint of version {CHECKPOINT_VERSION}"
        )
    return state
