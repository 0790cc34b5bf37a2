"""Training: learning on two analytic states (Fusion-MACE and stock MACE), masked labels,
bad data, training-set statistics, the eval command."""

from __future__ import annotations

import math
from pathlib import Path

import ase
import ase.io
import numpy as np
import pytest
import torch
import yaml
from ase.build import bulk
from ase.calculators.emt import EMT
from ase.calculators.singlepoint import SinglePointCalculator

from fusionpot.cli import main
from fusionpot.models import load_model
from fusionpot.testing import two_state_frames
from fusionpot.train import (
    TrainConfig,
    evaluate,
    labelled_frames,
    load_splits,
    metrics_table,
    read_files,
    read_metrics_csv,
    run_training,
)
from fusionpot.train.graphs import FrameGraphs
from fusionpot.train.loss import batch_errors
from fusionpot.train.statistics import energy_statistics

TINY = {"channels": 4, "l_max": 1, "n_layers": 2, "r_max": 4.0, "radial_mlp": [8]}
TINY_TRAINING = {"batch_size": 4, "lr": 0.02, "ema_decay": 0.5}


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("data")
    ase.io.write(folder / "two_state.extxyz", two_state_frames(48, seed=0))
    return folder


def config(data: Path, epochs: int, **model) -> dict:
    return {
        "data": {"train": str(data), "valid_fraction": 0.17, "test_fraction": 0.17},
        "model": {**TINY, **model},
        "training": {**TINY_TRAINING, "epochs": epochs},
        "device": "cpu",
    }


def test_training_lowers_force_error_of_both_states(data_dir, tmp_path):
    """EMT (S0) and Lennard-Jones (S1) on 32 training frames, 40 epochs (~20 s)."""
    cfg = config(data_dir / "two_state.extxyz", epochs=40, channels=8, radial_mlp=[16])
    cfg["training"].update(batch_size=8, lr=0.03, ema_decay=0.8, scheduler="cosine", min_lr=1e-3)
    result = run_training(cfg, tmp_path / "run", progress=False)
    rows = read_metrics_csv(tmp_path / "run" / "metrics.csv")
    assert [r["epoch"] for r in rows] == list(range(41))  # epoch 0: the untrained model
    for s in range(2):
        untrained = rows[0][f"valid_forces_mae_s{s}"]
        best = rows[result.best_epoch][f"valid_forces_mae_s{s}"]
        assert best < 0.3 * untrained, (s, untrained, best)
    # model.pth holds the EMA weights of the best epoch: its validation error is that row's
    valid = load_splits(TrainConfig.from_dict(cfg)).valid
    errors = evaluate(load_model(result.model_path), valid).errors.metrics()
    np.testing.assert_allclose(
        errors["forces_mae"], [rows[result.best_epoch][f"valid_forces_mae_s{s}"] for s in (0, 1)]
    )
    for name in ("report.md", "learning_curves.png", "parity.png", "config.yaml"):
        assert (result.run_dir / name).stat().st_size > 0
    assert metrics_table(result.metrics["test"]) in (result.run_dir / "report.md").read_text()


def test_missing_labels_are_masked(tmp_path):
    frames = two_state_frames(6, seed=2)
    del frames[1].arrays["forces_s1"]
    del frames[3].info["energy_s0"]
    path = tmp_path / "partial.extxyz"
    ase.io.write(path, frames)
    data = labelled_frames(path)
    assert data.n_states == 2
    assert data.forces_mask[:, 1].tolist() == [True, False, True, True, True, True]
    assert data.energy_mask[:, 0].tolist() == [True, True, True, False, True, True]
    batch = FrameGraphs.build(data, ("Cu", "Ag"), 4.0).batch(range(6))
    prediction = {
        "energy": torch.zeros_like(batch.energy),
        "forces": torch.zeros_like(batch.forces),
    }
    errors = batch_errors(prediction, batch)
    n_atoms = [len(a) for a in frames]
    assert errors.energy_n.tolist() == [5, 6]
    assert errors.forces_n.tolist() == [3 * sum(n_atoms), 3 * (sum(n_atoms) - n_atoms[1])]
    labelled = [a.arrays["forces_s1"] for i, a in enumerate(frames) if i != 1]
    np.testing.assert_allclose(float(errors.forces_sq[1]), sum((f**2).sum() for f in labelled))
    # a masked label never reaches the loss, whatever is stored in its place
    batch.forces[n_atoms[0] : n_atoms[0] + n_atoms[1], 1] = 1e6
    assert torch.equal(batch_errors(prediction, batch).forces_sq, errors.forces_sq)
    cfg = config(path, epochs=1)
    cfg["data"].update(valid_fraction=0.0, test_fraction=0.0)
    result = run_training(cfg, tmp_path / "run", progress=False)
    assert math.isfinite(result.best_valid_loss)


@pytest.mark.parametrize(
    "damage, message",
    [
        ("nan_energy", r"bad\.extxyz: frame 2: energy_s1 = nan is not one finite number"),
        ("nan_forces", r"bad\.extxyz: frame 2: forces_s0 is not finite"),
        ("nan_positions", r"bad\.extxyz: frame 2: positions are not finite"),
        ("no_labels", r"bad\.extxyz: frame 2: has none of the labels"),
    ],
)
def test_bad_data_names_file_and_frame(tmp_path, damage, message):
    frames = two_state_frames(4, seed=3)
    atoms = frames[2]
    if damage == "nan_energy":
        atoms.info["energy_s1"] = float("nan")
    elif damage == "nan_forces":
        atoms.arrays["forces_s0"][1, 2] = float("nan")
    elif damage == "nan_positions":
        atoms.positions[0, 0] = float("nan")
    else:
        for s in range(2):
            del atoms.info[f"energy_s{s}"], atoms.arrays[f"forces_s{s}"]
    ase.io.write(tmp_path / "bad.extxyz", frames)
    with pytest.raises(ValueError, match=message):
        labelled_frames(tmp_path / "bad.extxyz")


def test_bad_shapes_and_elements_name_the_frame(tmp_path):
    atoms = ase.Atoms("Cu2", positions=[[0, 0, 0], [2.5, 0, 0]])
    atoms.calc = SinglePointCalculator(atoms, energy=-1.0, forces=np.zeros((3, 3)))
    with pytest.raises(ValueError, match=r"mine: frame 0: forces has shape \[3, 3\], expected"):
        labelled_frames([atoms], name="mine")
    frames = two_state_frames(4, seed=4)
    frames[3].symbols[0] = "Au"
    ase.io.write(tmp_path / "valid.extxyz", frames)
    ase.io.write(tmp_path / "train.extxyz", two_state_frames(4, seed=5))
    cfg = config(tmp_path / "train.extxyz", epochs=1, elements=["Cu", "Ag"])
    cfg["data"].update(valid=str(tmp_path / "valid.extxyz"), test_fraction=0.0)
    with pytest.raises(ValueError, match=r"valid\.extxyz: frame 3: element Au is not among"):
        run_training(cfg, tmp_path / "run", progress=False)
    typo = config(tmp_path / "train.extxyz", epochs=1, chanels=8)
    with pytest.raises(ValueError, match=r"unknown FusionMACEConfig fields \['chanels'\]"):
        run_training(typo, tmp_path / "typo", progress=False)
    with pytest.raises(FileNotFoundError, match=r"missing\.extxyz"):
        labelled_frames(tmp_path / "missing.extxyz")
    with pytest.raises(ValueError, match=r"unknown keys \['epoch'\] in training"):
        TrainConfig.from_dict({"data": {"train": "x"}, "training": {"epoch": 3}})


def test_ground_state_labels_from_ase_calculator(tmp_path):
    """One state: ASE's energy/forces as a calculator writes them (SinglePointCalculator)."""
    frames = []
    for atoms in two_state_frames(3, seed=6):
        atoms = ase.Atoms(atoms.symbols, positions=atoms.positions)  # no state labels
        atoms.calc = EMT()
        atoms.get_forces()
        frames.append(atoms)
    ase.io.write(tmp_path / "gs.extxyz", frames)
    data = labelled_frames(tmp_path / "gs.extxyz")
    assert data.n_states == 1 and data.energy_mask.all() and data.forces_mask.all()
    np.testing.assert_allclose(data.energy[:, 0], [a.get_potential_energy() for a in frames])


def test_energy_statistics_recover_reference_energies():
    """E = Σ E0[Z] + 0.1 eV/atom exactly: E0 is found up to the shift, the residual is the
    shift, and the scale is the RMS force component."""
    frames = two_state_frames(8, seed=7)
    e0 = {"Cu": -3.0, "Ag": -1.5}
    for atoms in frames:
        atoms.info["energy_s0"] = sum(e0[s] for s in atoms.get_chemical_symbols()) + 0.1 * len(
            atoms
        )
    data = labelled_frames(frames)
    stats = energy_statistics(data, ("Cu", "Ag"))
    counts = np.array([[a.get_chemical_symbols().count(e) for e in ("Cu", "Ag")] for a in frames])
    predicted = counts @ stats.reference_energies[:, 0] + counts.sum(1) * stats.shift[0]
    np.testing.assert_allclose(predicted, data.energy[:, 0], atol=1e-10)
    forces = np.concatenate([f[:, 0] for f in data.forces])
    np.testing.assert_allclose(stats.scale[0], np.sqrt(np.mean(forces**2)))


def test_stock_mace_trains_through_the_same_pipeline(data_dir, tmp_path, capsys):
    """``fusionpot train --arch mace`` on a Fusion-MACE YAML, then ``fusionpot eval``."""
    cfg = config(data_dir / "two_state.extxyz", epochs=1, correlation=2, diagram="((A, A), h)")
    (tmp_path / "train.yaml").write_text(yaml.safe_dump(cfg))
    argv = ["train", str(tmp_path / "train.yaml"), "--arch", "mace", "--epochs", "8"]
    assert main([*argv, "--run-dir", str(tmp_path / "run"), "--no-progress"]) == 0
    assert "## test" in capsys.readouterr().out
    rows = read_metrics_csv(tmp_path / "run" / "metrics.csv")
    assert len(rows) == 9
    assert min(r["valid_loss"] for r in rows[1:]) < 0.5 * rows[0]["valid_loss"]
    model = load_model(tmp_path / "run" / "model.pth")
    assert model.config.arch == "mace" and model.n_states == 2
    # fusionpot eval prints the same table for the saved model
    data = str(data_dir / "two_state.extxyz")
    assert main(["eval", str(tmp_path / "run" / "model.pth"), data, "--no-progress"]) == 0
    printed = capsys.readouterr().out
    expected = evaluate(model, read_files([data])[0]).errors.metrics()
    assert metrics_table(expected) in printed
    assert "| S1 |" in printed and "mace" in printed
    # ... and for the same model exported (fusionpot eval takes exported files too)
    exported = tmp_path / "model.pt"
    assert main(["export", str(tmp_path / "run" / "model.pth"), "-o", str(exported)]) == 0
    capsys.readouterr()
    assert main(["eval", str(exported), data, "--no-progress"]) == 0
    assert metrics_table(expected) in capsys.readouterr().out


def test_periodic_and_molecular_frames_train_together_in_float32(tmp_path):
    """Rattled bulk Cu cells (two sizes) and Cu/Ag clusters in one data set and batch."""
    frames = []
    for i in range(6):
        crystal = bulk("Cu", "fcc", a=3.6, cubic=True).repeat((1, 1, 1 + i % 2))
        crystal.rattle(0.1, seed=i)
        crystal.calc = EMT()
        crystal.info["energy_s0"] = crystal.get_potential_energy()
        crystal.arrays["forces_s0"] = crystal.get_forces()
        crystal.calc = None
        frames.append(crystal)
    for cluster in two_state_frames(6, seed=8):
        del cluster.info["energy_s1"], cluster.arrays["forces_s1"]
        frames.append(cluster)
    ase.io.write(tmp_path / "mixed.extxyz", frames)
    cfg = config(tmp_path / "mixed.extxyz", epochs=2, dtype="float32")
    cfg["data"].update(valid_fraction=0.25, test_fraction=0.0)
    result = run_training(cfg, tmp_path / "run", progress=False)
    model = load_model(result.model_path)
    assert model.config.dtype == "float32" and model.scale.dtype == torch.float32
    assert model.reference_energies.dtype == torch.float64  # E0 sums stay out of float32
    assert np.isfinite(result.metrics["valid"]["forces_mae"]).all()
    assert [r["epoch"] for r in read_metrics_csv(tmp_path / "run" / "metrics.csv")] == [0, 1, 2]


def test_ema_averages_weights_and_keeps_integer_buffers():
    """torch's EMA truncates averaged integer buffers (0.9·i + 0.1·i -> i - 1): the EMA
    must average the weights only and keep the model's index tables."""
    from fusionpot.models import FusionMACEConfig, build_model
    from fusionpot.train.optim import make_ema

    model = build_model(FusionMACEConfig(elements=("H",), channels=4, l_max=1))
    ema = make_ema(model, 0.9)
    start = {k: v.clone() for k, v in model.named_parameters()}
    for _ in range(3):  # θ = θ0 + 1, + 2, + 3; the first update copies
        with torch.no_grad():
            for p in model.parameters():
                p.add_(1.0)
        ema.update_parameters(model)
    for name, p in ema.module.named_parameters():  # 0.9 (0.9 (θ0 + 1) + 0.1 (θ0 + 2)) + …
        torch.testing.assert_close(p, start[name] + 1.29)
    buffers = dict(ema.module.named_buffers())
    integer = [n for n, b in model.named_buffers() if not b.is_floating_point() and b.numel()]
    assert integer  # the fusion block's index tables
    for name, b in model.named_buffers():
        assert torch.equal(buffers[name], b), name
