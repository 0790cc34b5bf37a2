"""Graphs built once per frame: a gathered batch is the graph built for those frames
directly, and training on gathered batches takes the same steps as building each batch's
graph on the host (the path it replaced)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from fusionpot.data import atoms_to_graph, keys
from fusionpot.models import ForceOutput, FusionMACEConfig, build_model
from fusionpot.testing import random_crystal, random_molecule, two_state_frames
from fusionpot.train import OptimConfig, Trainer, evaluate, labelled_frames
from fusionpot.train.dataset import Batch, LabelledFrames
from fusionpot.train.graphs import FrameGraphs
from fusionpot.train.loss import batch_errors, weighted_loss
from fusionpot.train.trainer import epoch_order


def _labelled(frames, seed: int) -> LabelledFrames:
    """Random two-state labels and stresses of crystals, some missing."""
    rng = np.random.default_rng(seed)
    for k, atoms in enumerate(frames):
        for s in range(2):
            if (k + s) % 4 != 3:
                atoms.info[f"energy_s{s}"] = float(rng.normal())
            if (k + s) % 5 != 4:
                atoms.arrays[f"forces_s{s}"] = rng.normal(size=(len(atoms), 3))
        if atoms.pbc.all() and k % 3:
            atoms.info["stress"] = rng.normal(size=6)  # Voigt, eV/Å³
    return labelled_frames(frames)


def _host_batch(data: LabelledFrames, idx, elements, r_max: float, dtype: torch.dtype) -> Batch:
    """The batch as built before graphs were cached: one host graph per batch."""
    frames = [data.frames[i] for i in idx]
    sizes = np.array([len(a) for a in frames])
    return Batch(
        graph=atoms_to_graph(frames, elements, r_max, dtype=dtype),
        energy=torch.from_numpy(data.energy[idx]),
        energy_mask=torch.from_numpy(data.energy_mask[idx]),
        forces=torch.from_numpy(np.concatenate([data.forces[i] for i in idx])).to(dtype),
        forces_mask=torch.from_numpy(np.repeat(data.forces_mask[idx], sizes, axis=0)),
        stress=torch.from_numpy(data.stress[idx]).to(dtype),
        stress_mask=torch.from_numpy(data.stress_mask[idx]),
        n_atoms=torch.from_numpy(sizes).to(dtype),
    )


def _assert_same_batch(a: Batch, b: Batch) -> None:
    assert a.graph.keys() == b.graph.keys()
    for key in a.graph:
        assert a.graph[key].dtype == b.graph[key].dtype, key
        assert torch.equal(a.graph[key], b.graph[key]), key
    labels = ("energy", "energy_mask", "forces", "forces_mask", "stress", "stress_mask")
    for name in (*labels, "n_atoms"):
        assert torch.equal(getattr(a, name), getattr(b, name)), name


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
def test_gathered_batch_is_the_graph_of_its_frames(dtype):
    """Molecules and small triclinic cells whose atoms see their own images, in any
    order, repeated: every field equal to atoms_to_graph of the same frames."""
    frames = [random_crystal(k) if k % 2 else random_molecule(5 + k, seed=k) for k in range(7)]
    data = _labelled(frames, seed=0)
    graphs = FrameGraphs.build(data, ("H", "C", "O"), 3.5, dtype)
    assert graphs.graph[keys.EDGE_CELL_SHIFT].abs().max() > 0  # images are there
    for idx in ([3], [6, 1, 4], [2, 2, 5, 0, 3], list(range(7))):
        _assert_same_batch(graphs.batch(idx), _host_batch(data, idx, ("H", "C", "O"), 3.5, dtype))
    unlabelled = graphs.batch([1, 2], labelled=False)
    assert graphs.stress_mask.tolist() == [k in (1, 5) for k in range(7)]
    for name in ("energy_mask", "forces_mask", "stress_mask"):
        assert not getattr(unlabelled, name).any(), name
    with pytest.raises(ValueError, match="element"):
        FrameGraphs.build(data, ("H", "C"), 3.5)


def test_training_steps_equal_the_host_graph_path():
    """One epoch of the Trainer on cached graphs gives, batch after batch, the losses of
    the same steps on graphs built per batch on the host."""
    data = labelled_frames(two_state_frames(10, seed=3))
    config = FusionMACEConfig(
        elements=("Cu", "Ag"), n_states=2, channels=4, l_max=1, r_max=4.0, radial_mlp=(8,)
    )
    optim = OptimConfig(batch_size=3, lr=0.02, ema_decay=0.5, clip_grad=1.0)
    losses: dict[str, list[float]] = {"cached": [], "host": []}

    torch.manual_seed(0)
    trainer = Trainer(build_model(config), optim, seed=5, device=torch.device("cpu"))
    graphs = FrameGraphs.build(data, config.elements, config.r_max)
    trainer.train_epoch(graphs, losses["cached"].append)

    torch.manual_seed(0)
    oracle = Trainer(build_model(config), optim, seed=5, device=torch.device("cpu"))
    order = epoch_order(len(data), 5, 0)
    for start in range(0, len(data), optim.batch_size):
        idx = order[start : start + optim.batch_size]
        batch = _host_batch(data, idx, config.elements, config.r_max, torch.float64)
        errors = batch_errors(oracle.force_model(batch.graph), batch)
        loss = weighted_loss(errors, oracle.w_energy, oracle.w_forces)
        oracle.optimizer.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(oracle.model.parameters(), optim.clip_grad)
        oracle.optimizer.step()
        losses["host"].append(loss.item())
    assert len(losses["cached"]) == 4
    assert losses["cached"] == losses["host"]


def test_evaluate_is_one_frame_at_a_time_and_checks_what_graphs_were_built_for():
    """Batched evaluation over cached graphs = the model on each frame's own graph."""
    data = labelled_frames(two_state_frames(5, seed=4))
    torch.manual_seed(0)
    model = build_model(
        FusionMACEConfig(elements=("Cu", "Ag"), n_states=2, channels=4, l_max=1, r_max=4.0)
    )
    predictions = evaluate(model, FrameGraphs.build(data, ("Cu", "Ag"), 4.0), batch_size=2)
    force_model = ForceOutput(model, compute_stress=False).eval()
    for k, atoms in enumerate(data.frames):
        alone = force_model(atoms_to_graph([atoms], ("Cu", "Ag"), 4.0, dtype=torch.float64))
        np.testing.assert_allclose(predictions.energy[k], alone[keys.ENERGY][0].detach(), 1e-12)
        np.testing.assert_allclose(predictions.forces[k], alone[keys.FORCES].detach(), 1e-10)
    with pytest.raises(ValueError, match=r"graphs built for .* the model needs"):
        evaluate(model, FrameGraphs.build(data, ("Cu", "Ag"), 3.0))
