"""Evaluate a model on labelled frames: predictions and per-state errors."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from tqdm import tqdm

from fusionpot.data import keys
from fusionpot.models import ForceOutput
from fusionpot.train.dataset import Batch, LabelledFrames
from fusionpot.train.distributed import Ranks
from fusionpot.train.graphs import FrameGraphs
from fusionpot.train.loss import ErrorSums, batch_errors

__all__ = ["Predictions", "error_sums", "evaluate", "frame_graphs"]


@dataclass
class Predictions:
    """energy [n_frames, S] eV; forces: one [n_atoms, S, 3] eV/Å per frame; errors against
    the labels (see :class:`~fusionpot.train.loss.ErrorSums`; stress errors when the frames
    have stress labels); stress of S0 [n_frames, 3, 3] eV/Å³ (ASE's sign) when some frame
    has a stress label, else None."""

    energy: np.ndarray
    forces: list[np.ndarray]
    errors: ErrorSums
    stress: np.ndarray | None = None


def frame_graphs(
    model: torch.nn.Module, data: LabelledFrames | FrameGraphs, device: torch.device | str
) -> FrameGraphs:
    """``data``'s graphs for ``model`` (built once, on ``device``, from LabelledFrames);
    ``ValueError`` when the states, elements, cutoff or dtype are not the model's."""
    config: Any = model.config
    if isinstance(data, LabelledFrames):
        if data.n_states != config.n_states:
            raise ValueError(
                f"the data has {data.n_states} states, the model predicts {config.n_states}"
            )
        return FrameGraphs.build(data, config.elements, config.r_max, config.torch_dtype, device)
    built_for = (data.elements, data.r_max, data.dtype, data.energy.shape[1])
    wanted = (tuple(config.elements), float(config.r_max), config.torch_dtype, config.n_states)
    if built_for != wanted:
        raise ValueError(
            f"graphs built for (elements, r_max, dtype, states) = {built_for}, the model "
            f"needs {wanted}"
        )
    return data


def _batches(
    force_model: torch.nn.Module,
    graphs: FrameGraphs,
    frames: np.ndarray,
    batch_size: int,
    labelled: bool = True,
) -> Iterator[tuple[Batch, dict[str, torch.Tensor]]]:
    """(batch, model output) for ``frames`` of ``graphs``, ``batch_size`` frames at a time."""
    for start in range(0, len(frames), batch_size):
        batch = graphs.batch(frames[start : start + batch_size], labelled)
        yield batch, force_model(batch.graph)


def evaluate(
    model: torch.nn.Module,
    data: LabelledFrames | FrameGraphs,
    batch_size: int = 32,
    device: torch.device | str = "cpu",
    progress: bool = False,
) -> Predictions:
    """Energies and forces of every frame from ``model`` (a FusionMACE or MACEBaseline, or
    anything with their ``config``), batch by batch on ``device`` (graphs: built once
    from LabelledFrames, or ``data``'s own); the stress too where frames are labelled
    with one."""
    graphs = frame_graphs(model, data, device)
    force_model = ForceOutput(model, compute_stress=graphs.has_stress).eval()
    energies, forces, stresses, errors = [], [], [], None
    n_batches = -(-len(graphs) // batch_size)
    outputs = _batches(force_model, graphs, np.arange(len(graphs)), batch_size)
    bar = tqdm(outputs, total=n_batches, desc="evaluate", disable=not progress, leave=False)
    for batch, out in bar:
        batch_err = batch_errors(out, batch).detached()
        if errors is None:
            errors = batch_err
        else:
            errors += batch_err
        energies.append(out[keys.ENERGY].detach().cpu().double().numpy())
        f = out[keys.FORCES].detach().cpu().double().numpy()
        forces.extend(np.split(f, batch.graph[keys.PTR][1:-1].cpu().numpy()))
        if graphs.has_stress:
            stresses.append(out[keys.STRESS][:, 0].detach().cpu().double().numpy())
    assert errors is not None
    stress = np.concatenate(stresses) if stresses else None
    return Predictions(np.concatenate(energies), forces, errors, stress)


def error_sums(
    model: torch.nn.Module, graphs: FrameGraphs, batch_size: int, ranks: Ranks
) -> ErrorSums:
    """Errors of ``model`` over every frame of ``graphs`` (of the stress too where frames
    are labelled with one): each rank evaluates its share and the sums are added over
    ranks (one process: all frames)."""
    force_model = ForceOutput(model, compute_stress=graphs.has_stress).eval()
    frames, labelled = ranks.share(np.arange(len(graphs)))
    total: ErrorSums | None = None
    for batch, out in _batches(force_model, graphs, frames, batch_size, labelled):
        errors = batch_errors(out, batch).detached()
        if total is None:
            total = errors
        else:
            total += errors
    assert total is not None
    return ranks.sum(total)
