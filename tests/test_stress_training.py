"""Stress in training: labels read and masked, the trainer's stress is (1/V) ∂E/∂ε, the
stress term fits the stress, and `fusionpot train`/`fusionpot eval` report it.

Data: ASE's EMT on randomly strained and rattled fcc Cu cells of 4 and 8 atoms (real
energies, forces and stresses), stored as `fusionpot label --method xtb` writes them:
``energy_s0``, ``forces_s0`` and ASE's ``stress`` (Voigt, eV/Å³) in ``info``.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import ase
import ase.io
import numpy as np
import pytest
import torch
import yaml
from ase.build import bulk
from ase.calculators.emt import EMT
from ase.stress import voigt_6_to_full_3x3_stress
from ase.units import GPa

from fusionpot.cli import main
from fusionpot.data import atoms_to_graph, keys
from fusionpot.models import ForceOutput, FusionMACEConfig, build_model, load_model
from fusionpot.testing import two_state_frames
from fusionpot.train import (
    OptimConfig,
    TrainConfig,
    Trainer,
    evaluate,
    labelled_frames,
    read_files,
    read_metrics_csv,
)
from fusionpot.train.graphs import FrameGraphs
from fusionpot.train.loss import batch_errors, weighted_loss

MODEL = {"channels": 4, "l_max": 1, "n_layers": 1, "r_max": 4.0, "radial_mlp": [8]}


def strained_copper(n_frames: int, seed: int) -> list[ase.Atoms]:
    """fcc Cu, 4 or 8 atoms, strained by up to ±3 % and rattled by 0.05 Å, EMT labels."""
    rng = np.random.default_rng(seed)
    frames = []
    for k in range(n_frames):
        atoms = bulk("Cu", "fcc", a=3.6, cubic=True).repeat((1 + k % 2, 1, 1))
        strain = rng.uniform(-0.03, 0.03, (3, 3))
        atoms.set_cell(atoms.cell @ (np.eye(3) + 0.5 * (strain + strain.T)), scale_atoms=True)
        atoms.positions += rng.normal(scale=0.05, size=atoms.positions.shape)
        atoms.calc = EMT()
        atoms.info["energy_s0"] = atoms.get_potential_energy()
        atoms.arrays["forces_s0"] = atoms.get_forces()
        atoms.info["stress"] = atoms.get_stress()  # Voigt, eV/Å³
        atoms.calc = None
        frames.append(atoms)
    return frames


def strain_derivative(energy, atoms: ase.Atoms, h: float = 1e-5) -> np.ndarray:
    """(1/V) ∂E/∂ε [3, 3] by central differences, ε symmetric, x -> x (1 + ε) for the
    positions and the rows of the cell; ``energy(atoms)`` in eV."""
    out = np.zeros((3, 3))
    for i in range(3):
        for j in range(3):
            step = np.zeros((3, 3))
            step[i, j] += 0.5 * h
            step[j, i] += 0.5 * h
            values = []
            for sign in (1.0, -1.0):
                strained = atoms.copy()
                strained.set_cell(atoms.cell @ (np.eye(3) + sign * step), scale_atoms=True)
                values.append(energy(strained))
            out[i, j] = (values[0] - values[1]) / (2 * h)
    return out / atoms.get_volume()


def test_trainer_stress_is_the_strain_derivative_of_its_energy():
    """The stress the trainer fits, against finite differences of the model's energy on
    one frame, with the labels' sign (EMT's stress, differentiated the same way)."""
    atoms = strained_copper(2, seed=5)[1]  # 8 atoms, triclinic after the strain
    emt = atoms.copy()
    emt.calc = EMT()
    np.testing.assert_allclose(
        strain_derivative(lambda a: EMT().get_potential_energy(a), atoms),
        emt.get_stress(voigt=False),
        atol=1e-7,
    )
    torch.manual_seed(0)
    model = build_model(FusionMACEConfig(elements=("Cu",), **MODEL))
    trainer = Trainer(model, OptimConfig(stress_weight=100.0), 0, torch.device("cpu"))
    graphs = FrameGraphs.build(labelled_frames([atoms]), ("Cu",), MODEL["r_max"])
    predicted = trainer.force_model(graphs.batch([0]).graph)[keys.STRESS][0, 0]

    def model_energy(a: ase.Atoms) -> float:
        graph = atoms_to_graph([a], ("Cu",), MODEL["r_max"], dtype=torch.float64)
        return float(model(graph)[keys.ENERGY][0, 0].detach())

    expected = strain_derivative(model_energy, atoms)
    assert np.abs(expected).max() > 1e-4  # an untrained model still has a stress
    np.testing.assert_allclose(predicted.detach().numpy(), expected, rtol=1e-5, atol=1e-9)
    assert predicted.requires_grad  # the stress loss trains the weights


def test_missing_stress_is_masked_and_stress_needs_a_periodic_cell(tmp_path):
    """Crystals with stress, molecules and a crystal without: the stress term of the loss
    is that of the labelled frames alone, whatever an unlabelled frame carries."""
    crystals = strained_copper(3, seed=1)
    del crystals[1].info["stress"]
    molecules = two_state_frames(2, seed=3)
    for atoms in molecules:
        del atoms.info["energy_s1"], atoms.arrays["forces_s1"]
    frames = [crystals[0], molecules[0], crystals[1], crystals[2], molecules[1]]
    data = labelled_frames(frames)
    assert data.stress_mask.tolist() == [True, False, False, True, False]
    np.testing.assert_allclose(
        data.stress[3][[0, 1, 2, 1, 0, 0], [0, 1, 2, 2, 2, 1]], crystals[2].info["stress"]
    )
    torch.manual_seed(0)
    model = ForceOutput(build_model(FusionMACEConfig(elements=("Cu", "Ag"), **MODEL)))
    graphs = FrameGraphs.build(data, ("Cu", "Ag"), MODEL["r_max"])
    everything = batch_errors(model(graphs.batch(range(5)).graph), graphs.batch(range(5)))
    labelled = batch_errors(model(graphs.batch([0, 3]).graph), graphs.batch([0, 3]))
    assert int(everything.stress_n) == 18
    torch.testing.assert_close(everything.stress_sq, labelled.stress_sq)
    torch.testing.assert_close(everything.stress_abs, labelled.stress_abs)
    w = torch.ones(1, dtype=torch.float64)
    added = weighted_loss(everything, w, w, stress_weight=50.0) - weighted_loss(everything, w, w)
    expected = 50.0 * float(labelled.stress_sq.detach()) / 18
    assert float(added.detach()) == pytest.approx(expected)
    # an unlabelled frame's stored stress is never looked at
    unlabelled = ~graphs.stress_mask[:, None, None]
    garbage = dataclasses.replace(graphs, stress=graphs.stress + 7.0 * unlabelled)
    again = batch_errors(model(garbage.batch(range(5)).graph), garbage.batch(range(5)))
    torch.testing.assert_close(again.stress_sq, everything.stress_sq)
    # a stress label on a molecule, or one of the wrong shape, names the frame
    molecules[0].info["stress"] = np.zeros(6)
    with pytest.raises(ValueError, match=r"mine: frame 0: has a stress label but is not periodic"):
        labelled_frames(molecules[:1], name="mine")
    crystals[0].info["stress"] = np.zeros(4)
    with pytest.raises(ValueError, match=r"frame 0: stress has shape \[4\]"):
        labelled_frames(crystals[:1])


def _config(path: Path, stress_weight: float) -> dict:
    return {
        "data": {"train": str(path), "valid_fraction": 0.25, "test_fraction": 0.0},
        "model": MODEL,
        "training": {
            "epochs": 12,
            "batch_size": 6,
            "lr": 0.05,
            "ema_decay": 0.5,
            "forces_weight": 1.0,
            "stress_weight": stress_weight,
        },
        "device": "cpu",
    }


def test_stress_weight_fits_the_stress_and_train_and_eval_report_it(tmp_path, capsys):
    """Same seed, data and epochs through `fusionpot train`: the stress term lowers the
    validation stress MAE; metrics.csv, report.md and `fusionpot eval` show it.

    The stresses are ~20 meV/Å³ (0.02 eV/Å³): a weight of 1e5 (Å³/eV)² makes their MSE
    count as much as that of forces of ~6 eV/Å at weight 1 would."""
    data = tmp_path / "cu.extxyz"
    ase.io.write(data, strained_copper(24, seed=0))
    mae = {}
    for weight in (0.0, 1e5):
        (tmp_path / f"w{weight}.yaml").write_text(yaml.safe_dump(_config(data, weight)))
        argv = ["train", str(tmp_path / f"w{weight}.yaml"), "--no-progress"]
        assert main(argv) == 0
        run = tmp_path / f"w{weight}_run"
        rows = read_metrics_csv(run / "metrics.csv")
        best = min(rows[1:], key=lambda row: row["valid_loss"])
        mae[weight] = (rows[0]["valid_stress_mae_s0"], best["valid_stress_mae_s0"])
        assert "Stress MAE (S0):" in (run / "report.md").read_text()
    untrained, fitted = mae[1e5]
    assert fitted < 0.5 * mae[0.0][1] and fitted < 0.3 * untrained, mae
    printed = capsys.readouterr().out
    assert "Stress MAE (S0):" in printed

    model_path = tmp_path / "w100000.0_run" / "model.pth"
    assert main(["eval", str(model_path), str(data), "--no-progress"]) == 0
    line = next(s for s in capsys.readouterr().out.splitlines() if s.startswith("Stress MAE"))
    expected = evaluate(load_model(model_path), read_files([data])[0]).errors.metrics()
    assert f"Stress MAE (S0): {expected['stress_mae'][0]:.3f} meV/Å³" in line
    assert f"({expected['stress_mae'][0] * 1e-3 / GPa:.4f} GPa)" in line


def test_stress_weight_needs_stress_labels(tmp_path, capsys):
    frames = strained_copper(4, seed=2)
    for atoms in frames:
        del atoms.info["stress"]
    ase.io.write(tmp_path / "nostress.extxyz", frames)
    (tmp_path / "cfg.yaml").write_text(yaml.safe_dump(_config(tmp_path / "nostress.extxyz", 1.0)))
    assert main(["train", str(tmp_path / "cfg.yaml"), "--no-progress"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1
    assert "training.stress_weight = 1.0" in err and "nostress.extxyz" in err
    assert "has a stress label" in err
    with pytest.raises(ValueError, match=r"training\.stress_weight must be >= 0"):
        TrainConfig.from_dict({"data": {"train": "x"}, "training": {"stress_weight": -1}})


def _table_rows(text: str, heading: str) -> dict[str, list[str]]:
    """The cells of each row of the Markdown table after ``heading``, keyed by group."""
    lines = text.split(heading, 1)[1].splitlines()
    rows = [line for line in lines if line.startswith("| ") and not line.startswith("| subset")]
    return {
        cells[0]: cells[1:]
        for cells in ([c.strip() for c in r.strip("|").split("|")] for r in rows)
    }


def test_eval_by_key_reports_each_groups_mean_errors_as_the_calculator_gives_them(tmp_path, capsys):
    """`fusionpot eval --by subset`: per group the energy's mean signed error per atom and
    the pressure's (model − label), checked against FusionCalculator frame by frame; the
    "all" row agrees with the overall table; frames without the key form "(none)"; a key
    no frame has is a one-line error naming the keys there are."""
    from fusionpot.calculators import FusionCalculator
    from fusionpot.models import save_model

    torch.manual_seed(0)
    save_model(
        build_model(FusionMACEConfig(elements=("Cu",), dtype="float64", **MODEL)),
        tmp_path / "m.pth",
    )
    frames = strained_copper(7, seed=4)
    for k, atoms in enumerate(frames[:6]):
        atoms.info["subset"] = "squeezed" if k < 3 else "stretched"
    data = tmp_path / "cu.extxyz"
    ase.io.write(data, frames)
    argv = ["eval", str(tmp_path / "m.pth"), str(data), "--no-progress", "--device", "cpu"]
    assert main([*argv, "--by", "subset", "--output", str(tmp_path / "e.md")]) == 0
    report = (tmp_path / "e.md").read_text()
    assert report.strip() in capsys.readouterr().out
    rows = _table_rows(report, "## By subset")
    assert list(rows) == ["(none)", "squeezed", "stretched", "(all)"]

    calc = FusionCalculator(model=tmp_path / "m.pth", device="cpu")
    de, dp, df_sum, df_n, ds = [], [], [], [], []
    for labels in ase.io.read(data, ":"):  # extxyz's stress comes back as labels.calc's
        atoms = labels.copy()
        atoms.calc = calc
        de.append((atoms.get_potential_energy() - labels.info["energy_s0"]) / len(atoms) * 1e3)
        df = atoms.get_forces() - labels.arrays["forces_s0"]
        df_sum.append(np.abs(df).sum() * 1e3)
        df_n.append(df.size)
        dsigma = voigt_6_to_full_3x3_stress(atoms.get_stress() - labels.get_stress())
        ds.append(np.abs(dsigma).mean() * 1e3)
        dp.append(-np.trace(dsigma) / 3 / GPa)
    groups = {"(none)": [6], "squeezed": [0, 1, 2], "stretched": [3, 4, 5], "(all)": range(7)}
    for name, index in groups.items():
        n, e_mae, e_mean, f_mae, s_mae, p_mean = rows[name]
        assert int(n) == len(index)
        f_expected = np.take(df_sum, index).sum() / np.take(df_n, index).sum()
        assert float(f_mae) == pytest.approx(f_expected, abs=0.051)
        assert float(s_mae) == pytest.approx(np.mean(np.take(ds, index)), abs=6e-4)
        assert float(e_mae) == pytest.approx(np.mean(np.abs(np.take(de, index))), abs=0.006)
        assert float(e_mean.split(" ± ")[0]) == pytest.approx(
            np.mean(np.take(de, index)), abs=0.006
        )
        assert float(p_mean.split(" ± ")[0]) == pytest.approx(np.mean(np.take(dp, index)), abs=6e-5)
        assert (" ± " in p_mean) == (len(index) > 1)  # no standard error from one frame
    overall = report.split("## By subset")[0]
    s0 = next(line for line in overall.splitlines() if line.startswith("| S0 |")).split("|")
    assert rows["(all)"][1] == s0[2].strip()  # the energy MAE, 2 decimals in both
    assert float(rows["(all)"][3]) == pytest.approx(float(s0[4]), abs=0.051)  # force MAE
    assert f"Stress MAE (S0): {rows['(all)'][4]} meV/Å³" in overall

    assert main([*argv, "--by", "config_type"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1
    assert "--by config_type: no frame has info key 'config_type'" in err and "subset" in err
