"""The paths that run on an accelerator, once per device of the ``device`` fixture (cpu,
and cuda where present: ``bench/gpu_check.sh``): FusionCalculator and a short training
run. The device graph and ExportedModelProvider are checked per device in
test_data_device_graph.py and test_namd_exported_provider.py."""

from __future__ import annotations

from pathlib import Path

import ase.io
import numpy as np
import pytest
from ase.build import molecule

from fusionpot.calculators import FusionCalculator
from fusionpot.testing import two_state_frames
from fusionpot.train import read_metrics_csv, run_training

TINY = Path(__file__).parent / "data" / "tiny_model.pt"  # H/C/O, 2 states, float64


def test_calculator_on_the_device_matches_finite_differences(device: str) -> None:
    atoms = molecule("CH3CH2OH")
    atoms.rattle(0.05, seed=3)
    atoms.calc = FusionCalculator(TINY, device=device, state=1)
    assert atoms.calc.device.type == device
    forces = atoms.get_forces()
    h = 1e-4
    for atom, axis in ((0, 0), (4, 2), (8, 1)):
        energies = []
        for sign in (1, -1):
            moved = atoms.copy()
            moved.positions[atom, axis] += sign * h
            moved.calc = atoms.calc
            energies.append(moved.get_potential_energy())
        assert forces[atom, axis] == pytest.approx(-(energies[0] - energies[1]) / (2 * h), abs=1e-6)


@pytest.fixture(scope="module")
def frames_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("data") / "two_state.extxyz"
    ase.io.write(path, two_state_frames(12, seed=0))
    return path


def _short_run(frames: Path, device: str, run_dir: Path) -> list[dict[str, float]]:
    config = {
        "data": {"train": str(frames), "valid_fraction": 0.25, "test_fraction": 0.0},
        "model": {"channels": 4, "l_max": 1, "n_layers": 2, "r_max": 4.0, "radial_mlp": [8]},
        "training": {"batch_size": 4, "lr": 0.02, "ema_decay": 0.5, "epochs": 2},
        "device": device,
    }
    run_training(config, run_dir, progress=False)
    return read_metrics_csv(run_dir / "metrics.csv")


def test_a_short_training_run_on_the_device_equals_the_cpu_run(
    device: str, frames_file: Path, tmp_path: Path
) -> None:
    """Two float64 epochs from the same seed give the same validation errors on the
    device as on the CPU (and, run twice on the CPU, the same numbers: seeded)."""
    on_cpu = _short_run(frames_file, "cpu", tmp_path / "reference")
    on_device = _short_run(frames_file, device, tmp_path / "on_device")
    assert [row["epoch"] for row in on_device] == [0, 1, 2]
    for cpu_row, device_row in zip(on_cpu, on_device, strict=True):
        for key in ("valid_forces_mae_s0", "valid_forces_mae_s1", "valid_energy_mae_s1"):
            assert np.isfinite(device_row[key])
            assert device_row[key] == pytest.approx(cpu_row[key], rel=1e-6), key
    assert on_device[2]["valid_forces_mae_s0"] < on_device[0]["valid_forces_mae_s0"]
