"""Active learning: a committee trained by one command, its spread, dynamics on its mean
with the spread recorded, and ``fusionpot select`` from extxyz and run.h5 files."""

from __future__ import annotations

import textwrap
from pathlib import Path

import ase
import ase.io
import h5py
import numpy as np
import pytest
import torch
import yaml
from scipy.spatial.transform import Rotation

from fusionpot.active import committee_spread
from fusionpot.active.select import pick_distant, rmsd
from fusionpot.cli import main
from fusionpot.labels.runner import is_label_key
from fusionpot.namd import CommitteeProvider, ExportedModelProvider
from fusionpot.testing import two_state_frames

TINY = {"channels": 4, "l_max": 1, "n_layers": 2, "r_max": 4.0, "radial_mlp": [8]}


@pytest.fixture(scope="module")
def committee(tmp_path_factory) -> list[Path]:
    """Two members trained by ``fusionpot train --committee 2`` (2 epochs each)."""
    folder = tmp_path_factory.mktemp("committee")
    ase.io.write(folder / "data.extxyz", two_state_frames(24, seed=0))
    config = {
        "data": {"train": "data.extxyz", "valid_fraction": 0.2, "test_fraction": 0.0},
        "model": TINY,
        "training": {"epochs": 2, "batch_size": 4, "lr": 0.02},
        "device": "cpu",
    }
    (folder / "train.yaml").write_text(yaml.safe_dump(config))
    argv = ["train", str(folder / "train.yaml"), "--committee", "2", "--run-dir", str(folder / "c")]
    assert main([*argv, "--no-progress"]) == 0
    return [folder / "c" / f"member_{k}" / "model.pth" for k in range(2)]


def test_committee_members_differ_and_a_finished_committee_is_not_retrained(committee, tmp_path):
    from fusionpot.models import load_model

    a, b = (load_model(p) for p in committee)
    seeds = [yaml.safe_load((p.parent / "config.yaml").read_text())["seed"] for p in committee]
    assert seeds == [0, 1]
    assert any(not torch.equal(x, y) for x, y in zip(a.parameters(), b.parameters(), strict=True))
    before = [p.stat().st_mtime_ns for p in committee]
    folder = committee[0].parents[1]
    argv = [
        "train",
        str(folder.parent / "train.yaml"),
        "--committee",
        "2",
        "--run-dir",
        str(folder),
    ]
    assert main([*argv, "--no-progress"]) == 0  # resumes both: nothing left to train
    assert [p.stat().st_mtime_ns for p in committee] == before
    with pytest.raises(ValueError, match="at least 2"):
        from fusionpot.train import TrainConfig, train_committee

        train_committee(TrainConfig.from_dict({"data": {"train": "x"}}), 1, tmp_path)


def test_committee_spread_is_the_members_standard_deviation():
    rng = np.random.default_rng(0)
    energies = rng.normal(size=(4, 5, 3))
    forces = rng.normal(size=(4, 5, 7, 3, 3))  # [K, n_frames, n_atoms, S, 3]
    spread = committee_spread(torch.from_numpy(energies), torch.from_numpy(forces)).numpy()
    np.testing.assert_allclose(spread[..., 0], energies.std(axis=0, ddof=1))
    gaps = energies - energies[..., :1]
    np.testing.assert_allclose(spread[..., 1], gaps.std(axis=0, ddof=1), atol=1e-12)
    expected = np.sqrt(forces.var(axis=0, ddof=1).mean(axis=(1, 3)))
    np.testing.assert_allclose(spread[..., 2], expected)


def test_rmsd_ignores_rotation_and_translation_and_pick_distant_keeps_apart():
    rng = np.random.default_rng(1)
    a = rng.normal(size=(8, 3))
    moved = Rotation.random(random_state=2).apply(a) + np.array([1.0, -2.0, 0.5])
    assert rmsd(a, moved) < 1e-10
    b = a.copy()
    b[0] += [0.8, 0.0, 0.0]
    assert 0.05 < rmsd(a, b) < 0.8 / np.sqrt(8) + 1e-12
    frames = [ase.Atoms("C8", positions=p) for p in (a, moved, b, a + 5.0)]
    # a, its rotated copy and its translated copy are one geometry: only one may be picked
    assert pick_distant(frames, np.array([3.0, 2.0, 1.0, 0.5]), 4, 0.1) == [0, 2]
    excluded = [ase.Atoms("C8", positions=b)]
    assert pick_distant(frames, np.array([3.0, 2.0, 1.0, 0.5]), 4, 0.1, excluded) == [0]


def test_committee_provider_averages_members_and_reports_their_spread(committee):
    frame = two_state_frames(1, seed=5)[0]
    positions = torch.tensor(frame.positions[None], dtype=torch.float64)
    numbers = torch.tensor(frame.numbers)
    provider = CommitteeProvider([str(p) for p in committee])
    result = provider.compute(positions, numbers)
    singles = [ExportedModelProvider(p).compute(positions, numbers) for p in committee]
    mean = (singles[0].energies + singles[1].energies) / 2
    torch.testing.assert_close(result.energies, mean)
    assert result.spread is not None and result.spread.shape == (1, 2, 3)
    difference = (singles[0].energies - singles[1].energies).abs() / np.sqrt(2)
    torch.testing.assert_close(result.spread[..., 0], difference.double())


def test_namd_on_a_committee_records_spread_and_select_picks_from_run_and_extxyz(
    committee, tmp_path, capsys
):
    rng = np.random.default_rng(3)
    start = two_state_frames(1, seed=7)[0]
    frames = []
    for state in (0, 1, 1):
        atoms = ase.Atoms(
            start.numbers, start.positions + rng.normal(scale=0.05, size=(len(start), 3))
        )
        atoms.info["state"] = state
        frames.append(atoms)
    ase.io.write(tmp_path / "initial.extxyz", frames)
    models = ", ".join(str(p) for p in committee)
    (tmp_path / "namd.yaml").write_text(
        textwrap.dedent(
            f"""
            provider:
              factory: fusionpot.namd:CommitteeProvider
              kwargs: {{models: [{models}], device: cpu}}
            initial: {{file: {{path: initial.extxyz}}}}
            dynamics: {{dt: 0.5, n_substeps: 5, coupling: ktdc, rescale: velocity}}
            stop: {{max_time: 5.0}}
            run: {{seed: 0, output: out, geometry_stride: 2}}
            """
        )
    )
    assert main(["namd", str(tmp_path / "namd.yaml"), "--no-progress"]) == 0
    run = tmp_path / "out" / "run.h5"
    with h5py.File(run, "r") as f:
        np.testing.assert_array_equal(f["numbers"][()], start.numbers)
        for name in ("energy_spread", "gap_spread", "forces_spread"):
            assert f[name].shape == (3, 11, 2)
            assert np.all(f[name][()] >= 0) and np.all(np.isfinite(f[name][()]))
        assert np.all(f["gap_spread"][()][..., 0] == 0)
        assert f["hops/positions"].shape == (len(f["hops/time"]), len(start), 3)
    picks = tmp_path / "picks.extxyz"
    argv = ["select", *map(str, committee), "--from", str(run), "-n", "4", "-o", str(picks)]
    assert main([*argv, "--min-rmsd", "0", "--no-progress"]) == 0
    assert "4 of 18 candidates" in capsys.readouterr().out
    chosen = ase.io.read(picks, ":")
    scores = [a.info["committee_score"] for a in chosen]
    assert scores == sorted(scores, reverse=True) and len(chosen) == 4
    for atoms in chosen:
        assert atoms.info["subset"] == "committee_pick" and "traj_id" in atoms.info
        assert atoms.info["committee_score"] == pytest.approx(
            max(atoms.info["committee_forces_std_s0"], atoms.info["committee_forces_std_s1"])
        )
    # from an extxyz whose frames carry labels: the picks never do
    labelled = tmp_path / "labelled.extxyz"
    ase.io.write(labelled, two_state_frames(6, seed=9))
    argv = ["select", *map(str, committee), "--from", str(labelled), "-n", "2", "-o", str(picks)]
    assert main([*argv, "--score", "gap", "--no-progress"]) == 0
    for atoms in ase.io.read(picks, ":"):
        assert not any(is_label_key(k) for k in [*atoms.info, *atoms.arrays])
        assert atoms.info["committee_score_kind"] == "gap"
    assert (
        main(
            [
                "select",
                *map(str, committee),
                "--from",
                str(tmp_path / "no.xyz"),
                "-n",
                "1",
                "-o",
                str(picks),
            ]
        )
        == 2
    )
    assert "no candidate file" in capsys.readouterr().err
