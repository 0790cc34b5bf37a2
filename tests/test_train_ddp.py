"""``torchrun --nproc_per_node 2 fusionpot train``: two CPU processes (gloo) train the same
model as one process with the same global batch (stress term included), and a run they
checkpoint resumes to the same end."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import ase.io
import numpy as np
import torch
import yaml
from ase.calculators.emt import EMT

from fusionpot.testing import two_state_frames
from fusionpot.train import read_metrics_csv, run_training

#: 7 training frames in global batches of 3: shares of 2 + 1, 2 + 1, and 1 + none (the
#: second rank takes part unlabelled); 3 validation frames: shares of 2 + 1
CONFIG = {
    "data": {"train": "data.extxyz", "valid_fraction": 0.25, "test_fraction": 0.1},
    "model": {"channels": 4, "l_max": 1, "n_layers": 2, "r_max": 4.0, "radial_mlp": [8]},
    "training": {
        "epochs": 3,
        "batch_size": 3,
        "eval_batch_size": 2,
        "lr": 0.02,
        "ema_decay": 0.5,
        "scheduler_patience": 0,
        "scheduler_factor": 0.7,
        "clip_grad": 1.0,
        "stress_weight": 100.0,
    },
    "device": "cpu",
}


def _frames() -> list:
    """11 two-state Cu/Ag clusters; 0, 4 (training) and 9 (validation) in periodic 10 Å
    boxes, with EMT's S0 energy, forces and stress."""
    frames = two_state_frames(11, seed=1)
    for index in (0, 4, 9):
        boxed = frames[index]
        boxed.set_cell(np.eye(3) * 10.0)
        boxed.pbc = True
        boxed.center()
        boxed.calc = EMT()
        boxed.info["energy_s0"] = boxed.get_potential_energy()
        boxed.arrays["forces_s0"] = boxed.get_forces()
        boxed.info["stress"] = boxed.get_stress()
        boxed.calc = None
    return frames


def _torchrun(cwd: Path, *args: str) -> str:
    """``fusionpot train cfg.yaml ARGS`` in two processes; returns their stdout."""
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone"]
    command += ["--nproc_per_node", "2", "-m", "fusionpot", "train", "cfg.yaml", "--no-progress"]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    done = subprocess.run(
        [*command, *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=600
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout


def test_two_processes_train_as_one_and_resume(tmp_path):
    ase.io.write(tmp_path / "data.extxyz", _frames())
    (tmp_path / "cfg.yaml").write_text(yaml.safe_dump(CONFIG))
    first = _torchrun(tmp_path, "--run-dir", "ddp", "--epochs", "2")
    assert first.count("## valid") == 1  # rank 0 alone prints
    checkpoint = torch.load(tmp_path / "ddp" / "checkpoint.pt", weights_only=True)
    assert checkpoint["trainer"]["epoch"] == 2
    _torchrun(tmp_path, "--run-dir", "ddp", "--resume")

    config = {**CONFIG, "data": {**CONFIG["data"], "train": str(tmp_path / "data.extxyz")}}
    run_training(config, tmp_path / "one", progress=False)

    two, one = (read_metrics_csv(tmp_path / d / "metrics.csv") for d in ("ddp", "one"))
    assert [r["epoch"] for r in two] == [0, 1, 2, 3] and "valid_stress_mae_s0" in one[0]
    for column in one[0]:
        if column != "time_s":
            np.testing.assert_allclose(
                [r[column] for r in two], [r[column] for r in one], rtol=1e-9, err_msg=column
            )
    assert one[-1]["valid_loss"] < 0.95 * one[0]["valid_loss"]  # it learnt something
    state_two, state_one = (
        torch.load(tmp_path / d / "checkpoint.pt", weights_only=True)["trainer"]
        for d in ("ddp", "one")
    )
    for key in ("model", "ema"):
        for name, tensor in state_one[key].items():
            torch.testing.assert_close(state_two[key][name], tensor, rtol=0, atol=1e-10)
