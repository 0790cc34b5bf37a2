"""Training resumes to the same final weights: from an epoch checkpoint, and after SIGKILL."""

from __future__ import annotations

import math
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import ase.io
import numpy as np
import pytest
import torch
import yaml

from fusionpot.models import load_model
from fusionpot.testing import two_state_frames
from fusionpot.train import load_config, read_metrics_csv, run_training
from fusionpot.train.checkpoint import load_checkpoint, save_checkpoint

#: float64, a plateau schedule that acts (patience 0), EMA, clipping: every piece of state
CONFIG = {
    "data": {"valid_fraction": 0.17, "test_fraction": 0.17},
    "model": {"channels": 4, "l_max": 1, "n_layers": 2, "r_max": 4.0, "radial_mlp": [8]},
    "training": {
        "epochs": 6,
        "batch_size": 4,
        "lr": 0.02,
        "ema_decay": 0.5,
        "scheduler_patience": 0,
        "scheduler_factor": 0.7,
        "clip_grad": 1.0,
    },
    "device": "cpu",
}


@pytest.fixture(scope="module")
def data(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("data") / "small.extxyz"
    ase.io.write(path, two_state_frames(12, seed=1))
    return path


def _final_state(run_dir: Path) -> dict:
    """The trainer's part of the run's last checkpoint (model, EMA, optimiser, ...)."""
    return torch.load(run_dir / "checkpoint.pt", weights_only=True)["trainer"]


def _assert_same_run(a: Path, b: Path) -> None:
    state_a, state_b = _final_state(a), _final_state(b)
    assert state_a["epoch"] == state_b["epoch"]
    for key in ("model", "ema"):
        for name, tensor in state_a[key].items():
            torch.testing.assert_close(state_b[key][name], tensor, rtol=0, atol=1e-10)
    assert abs(state_a["best_loss"] - state_b["best_loss"]) <= 1e-10
    assert state_a["scheduler"].keys() == state_b["scheduler"].keys()
    for key, value in state_a["scheduler"].items():
        if isinstance(value, float) and math.isfinite(value):
            assert abs(state_b["scheduler"][key] - value) <= 1e-10, key
        else:
            assert state_b["scheduler"][key] == value, key
    assert state_a["optimizer"]["state"].keys() == state_b["optimizer"]["state"].keys()
    rows_a, rows_b = read_metrics_csv(a / "metrics.csv"), read_metrics_csv(b / "metrics.csv")
    np.testing.assert_allclose(
        [r["valid_loss"] for r in rows_b], [r["valid_loss"] for r in rows_a], rtol=0, atol=1e-10
    )
    final_a, final_b = load_model(a / "model.pth"), load_model(b / "model.pth")
    state_b = final_b.state_dict()
    for name, tensor in final_a.state_dict().items():
        torch.testing.assert_close(state_b[name], tensor, rtol=0, atol=1e-10)


@pytest.fixture(scope="module")
def uninterrupted(data, tmp_path_factory) -> tuple[dict, Path]:
    """Six epochs in one go."""
    cfg = {**CONFIG, "data": {**CONFIG["data"], "train": str(data)}}
    run_dir = tmp_path_factory.mktemp("uninterrupted")
    run_training(cfg, run_dir, progress=False)
    return cfg, run_dir


def test_resume_from_an_epoch_checkpoint_gives_the_same_run(uninterrupted, tmp_path):
    cfg, reference = uninterrupted
    first = {**cfg, "training": {**cfg["training"], "epochs": 2}}
    run_training(first, tmp_path, progress=False)
    assert _final_state(tmp_path)["epoch"] == 2
    with pytest.raises(FileExistsError, match="resume"):
        run_training(cfg, tmp_path, progress=False)
    with pytest.raises(ValueError, match="resume with the run's own config"):
        run_training({**cfg, "seed": 1}, tmp_path, resume=True, progress=False)
    # a checkpoint written before a config field existed resumes with its default
    state = load_checkpoint(tmp_path / "checkpoint.pt")
    del state["config"]["training.stress_weight"]
    save_checkpoint(tmp_path / "checkpoint.pt", state)
    run_training(cfg, tmp_path, resume=True, progress=False)
    _assert_same_run(reference, tmp_path)


def test_resume_after_sigkill_gives_the_same_run(uninterrupted, tmp_path):
    cfg, reference = uninterrupted
    (tmp_path / "train.yaml").write_text(yaml.safe_dump({**cfg, "run_dir": "run"}))
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    process = subprocess.Popen(
        [sys.executable, "-m", "fusionpot", "train", "train.yaml", "--no-progress"],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    checkpoint = tmp_path / "run" / "checkpoint.pt"
    deadline = time.monotonic() + 240
    while not checkpoint.exists() and process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.02)
    process.send_signal(signal.SIGKILL)
    _, stderr = process.communicate()
    assert checkpoint.exists(), stderr.decode()[-2000:]
    killed_at = _final_state(tmp_path / "run")["epoch"]
    assert killed_at < cfg["training"]["epochs"], "the run finished before it was killed"
    run_training(load_config(tmp_path / "train.yaml"), resume=True, progress=False)
    _assert_same_run(reference, tmp_path / "run")
