"""Training on real data: 50 rMD17 ethanol frames lower the test force error by half.

The untrained model is the trainer's own starting point (same seed, same E0/scale/shift
from the training set), so the comparison isolates what the epochs learned.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from fusionpot.data import read_rmd17
from fusionpot.data.formats import write_extxyz
from fusionpot.models import build_model, load_model
from fusionpot.train import evaluate, labelled_frames, read_metrics_csv, run_training
from fusionpot.train.statistics import energy_statistics

RMD17 = Path(__file__).parents[1].parent / "shared" / "data" / "rmd17"


def _forces_mae(model: torch.nn.Module, frames) -> float:
    return evaluate(model, frames, batch_size=25).errors.metrics()["forces_mae"][0]


@pytest.mark.parametrize("arch", ["fusion-mace", "mace"])
def test_fifty_ethanol_frames_halve_the_force_error(arch, tmp_path):
    if not (RMD17 / "rmd17_ethanol_train_01.npz").exists():
        pytest.skip(f"{RMD17} is absent: the shared data (../shared/data) is not mounted")
    frames = read_rmd17(RMD17 / "rmd17_ethanol_train_01.npz", slice(0, 60))
    write_extxyz(tmp_path / "train.extxyz", frames[:50])
    write_extxyz(tmp_path / "valid.extxyz", frames[50:])
    test = labelled_frames(read_rmd17(RMD17 / "rmd17_ethanol_test_01.npz", slice(0, 50)))
    config = {
        "seed": 0,
        "device": "cpu",
        "model": {"arch": arch, "channels": 8, "hidden_irreps": "0e+1o", "l_max": 2},
        "data": {
            "train": str(tmp_path / "train.extxyz"),
            "valid": str(tmp_path / "valid.extxyz"),
            "test_fraction": 0.0,
        },
        # no EMA: over only 100 steps an average of the weights lags them
        "training": {
            "epochs": 10,
            "batch_size": 5,
            "lr": 0.01,
            "scheduler": "none",
            "ema_decay": 0.0,
        },
    }
    result = run_training(config, tmp_path / "run", progress=False)
    trained = load_model(result.model_path)

    torch.manual_seed(0)  # the trainer's initial weights: seed, build, E0/scale/shift
    untrained = build_model(trained.config)
    stats = energy_statistics(labelled_frames(tmp_path / "train.extxyz"), trained.config.elements)
    dtype = trained.config.torch_dtype
    untrained.set_energy_normalisation(
        *(
            torch.as_tensor(x, dtype=dtype)
            for x in (stats.reference_energies, stats.scale, stats.shift)
        )
    )
    # it is the trainer's starting point: its epoch-0 row scored the same validation error
    epoch0 = read_metrics_csv(result.run_dir / "metrics.csv")[0]
    valid = labelled_frames(tmp_path / "valid.extxyz")
    assert _forces_mae(untrained, valid) == pytest.approx(epoch0["valid_forces_mae_s0"], rel=1e-9)
    before, after = _forces_mae(untrained, test), _forces_mae(trained, test)
    assert after < 0.5 * before, f"force MAE {before:.1f} -> {after:.1f} meV/Å"
