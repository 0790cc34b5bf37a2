"""Evaluate a model on labelled frames: predictions and per-state errors."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from tqdm import tqdm

from fusionpot.data import keys
from fusionpot.models import ForceOutput
from fusionpot.train.dataset import LabelledFrames
from fusionpot.train.loss import ErrorSums, batch_errors

__all__ = ["Predictions", "evaluate"]


@dataclass
class Predictions:
    """energy [n_frames, S] eV; forces: one [n_atoms, S, 3] eV/Å per frame; errors against
    the labels (see :class:`~fusionpot.train.loss.ErrorSums`)."""

    energy: np.ndarray
    forces: list[np.ndarray]
    errors: ErrorSums


def evaluate(
    model: torch.nn.Module,
    data: LabelledFrames,
    batch_size: int = 32,
    device: torch.device | str = "cpu",
    progress: bool = False,
) -> Predictions:
    """Energies and forces of every frame from ``model`` (a FusionMACE or MACEBaseline, or
    anything with their ``config``), batch by batch on ``device``."""
    config: Any = model.config
    if data.n_states != config.n_states:
        raise ValueError(
            f"the data has {data.n_states} states, the model predicts {config.n_states}"
        )
    data.check_elements(config.elements)
    force_model = ForceOutput(model, compute_stress=False).eval()
    energies, forces, errors = [], [], None
    starts = range(0, len(data), batch_size)
    for start in tqdm(starts, desc="evaluate", disable=not progress, leave=False):
        indices = np.arange(start, min(start + batch_size, len(data)))
        batch = data.batch(indices, config.elements, config.r_max, config.torch_dtype, device)
        out = force_model(batch.graph)
        batch_err = batch_errors(out, batch).detached()
        if errors is None:
            errors = batch_err
        else:
            errors += batch_err
        energies.append(out[keys.ENERGY].detach().cpu().double().numpy())
        f = out[keys.FORCES].detach().cpu().double().numpy()
        forces.extend(np.split(f, np.cumsum([len(data.frames[i]) for i in indices])[:-1]))
    assert errors is not None
    return Predictions(np.concatenate(energies), forces, errors)
