"""The gap term of the training loss: errors of E_k - E_{k-1} per frame, masked where a
state is unlabelled, reported by `fusionpot eval`, and a weight that fits the gaps."""

from __future__ import annotations

import ase.io
import numpy as np
import pytest
import torch
import yaml

from fusionpot.cli import main
from fusionpot.data import keys
from fusionpot.testing import two_state_frames
from fusionpot.train import read_metrics_csv, run_training
from fusionpot.train.dataset import Batch
from fusionpot.train.loss import batch_errors, weighted_loss


def _batch(energy: torch.Tensor, mask: torch.Tensor, n_atoms: list[int]) -> Batch:
    n = sum(n_atoms)
    s = energy.shape[1]
    return Batch(
        graph={},
        energy=energy,
        energy_mask=mask,
        forces=torch.zeros(n, s, 3, dtype=torch.float64),
        forces_mask=torch.ones(n, s, dtype=torch.bool),
        stress=torch.zeros(len(n_atoms), 3, 3, dtype=torch.float64),
        stress_mask=torch.zeros(len(n_atoms), dtype=torch.bool),
        n_atoms=torch.tensor(n_atoms, dtype=torch.float64),
    )


def test_gap_errors_are_per_frame_and_masked():
    f64 = torch.float64
    reference = torch.tensor(
        [[-10.0, -7.0, -6.0], [-20.0, -16.0, -15.5], [-5.0, -1.0, 0.0]], dtype=f64
    )
    mask = torch.tensor([[True, True, True], [True, False, True], [True, True, True]])
    error = torch.tensor([[0.1, 0.4, 0.4], [0.2, 9.0, -0.3], [0.0, 0.0, 0.5]], dtype=f64)
    predicted = reference + error
    batch = _batch(reference, mask, [2, 3, 4])
    out = {keys.ENERGY: predicted, keys.FORCES: torch.zeros(9, 3, 3, dtype=f64)}
    errors = batch_errors(out, batch)
    # frame 1 lacks S1, so neither of its gaps counts; gaps are not divided by n_atoms
    np.testing.assert_array_equal(errors.gap_n.numpy(), [2, 2])
    np.testing.assert_allclose(errors.gap_abs.numpy(), [0.3 + 0.0, 0.0 + 0.5], atol=1e-12)
    np.testing.assert_allclose(errors.gap_sq.numpy(), [0.09, 0.25], atol=1e-12)
    metrics = errors.metrics()
    np.testing.assert_allclose(metrics["gap_mae"], [150.0, 250.0], atol=1e-9)
    w_e = torch.ones(3, dtype=torch.float64)
    w_f = torch.zeros(3, dtype=torch.float64)
    without = weighted_loss(errors, w_e, w_f)
    with_gaps = weighted_loss(errors, w_e, w_f, gap_weight=2.0)
    assert float(with_gaps - without) == pytest.approx(2.0 * (0.09 / 2 + 0.25 / 2))


def test_one_state_has_no_gaps():
    batch = _batch(torch.tensor([[-1.0]], dtype=torch.float64), torch.tensor([[True]]), [2])
    out = {keys.ENERGY: torch.tensor([[-0.5]], dtype=torch.float64)}
    out[keys.FORCES] = torch.zeros(2, 1, 3, dtype=torch.float64)
    errors = batch_errors(out, batch)
    assert errors.gap_n.shape == (0,) and errors.metrics()["gap_mae"] == []


def test_gap_weight_fits_the_gap_and_eval_reports_it(tmp_path, capsys):
    """Same seed and data, 12 epochs: the gap term lowers the validation loss's gap part;
    the config rejects a negative weight by name; `fusionpot eval` prints gap MAEs."""
    ase.io.write(tmp_path / "two.extxyz", two_state_frames(32, seed=0))
    runs = {}
    for weight in (0.0, 20.0):
        cfg = {
            "data": {"train": str(tmp_path / "two.extxyz"), "valid_fraction": 0.25},
            "model": {"channels": 4, "l_max": 1, "n_layers": 1, "r_max": 4.0, "radial_mlp": [8]},
            "training": {"epochs": 12, "batch_size": 4, "lr": 0.02, "ema_decay": 0.5},
            "device": "cpu",
        }
        cfg["training"]["gap_weight"] = weight
        cfg["data"]["test_fraction"] = 0.0
        result = run_training(cfg, tmp_path / f"run_{weight}", progress=False)
        runs[weight] = result
    gap = {w: r.metrics["valid"]["gap_mae"][0] for w, r in runs.items()}
    assert gap[20.0] < gap[0.0], gap
    assert len(read_metrics_csv(tmp_path / "run_20.0" / "metrics.csv")) == 13

    bad = {"data": {"train": str(tmp_path / "two.extxyz")}, "training": {"gap_weight": -1}}
    (tmp_path / "bad.yaml").write_text(yaml.safe_dump(bad))
    assert main(["train", str(tmp_path / "bad.yaml")]) == 2
    assert "training.gap_weight" in capsys.readouterr().err

    capsys.readouterr()
    code = main(["eval", str(runs[20.0].model_path), str(tmp_path / "two.extxyz")])
    assert code == 0
    assert "Gap MAE (meV, whole frame): S1-S0" in capsys.readouterr().out
