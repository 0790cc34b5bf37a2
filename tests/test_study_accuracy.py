"""The accuracy study (``python -m studies.accuracy``): cell names, the report's verdicts
and extra-test tables, and one short real run of two cells in parallel workers
(acetylacetone from ../shared/data)."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import pytest

from studies.accuracy import grid
from studies.accuracy import report as accuracy_report

REPO = Path(__file__).resolve().parents[1]
ACAC = REPO.parent / "shared" / "data" / "botnet" / "dataset_acac"


def test_cell_names_carry_the_recipe_only_where_it_is_not_the_default():
    cell = grid.Cell("ethanol", "mace", "tiny", 1, 5)
    assert cell.name == "mace_tiny_seed1_ep5"
    other = grid.Cell("ethanol", "mace", "tiny", 1, 5, ema_decay=0.99, lr=0.005, batch_size=10)
    assert other.name == "mace_tiny_seed1_ep5_ema0.99_lr0.005_bs10"


def _record(dataset, model, seed, forces, extra=None, lr=0.01):
    return {
        "cell": {"dataset": dataset, "model": model, "size": "tiny", "seed": seed, "epochs": 5},
        "config": {"model": {"channels": 8}, "training": {"lr": lr, "batch_size": 5}},
        "n_test": 100,
        "n_atoms": 9,
        "n_states": 1,
        "n_params": 1000 if model == "mace" else 900,
        "n_product_params": 100,
        "energy_mae_meV": 10.0 + seed,
        "energy_mae_meV_per_atom": (10.0 + seed) / 9,
        "forces_mae_meV_per_A": forces,
        "train_wall_s": 60.0,
        "timing_ms": {"molecule": 1.0, "atoms26": 2.0, "atoms26_x64": 50.0},
        "timing_load_average": 2.0,
        "workers": 2,
        "extra_tests": extra or {},
        "valid_history": [
            {"epoch": e, "energy_mae": 9.0, "forces_mae": forces * (1 + 1 / (e + 1))}
            for e in range(6)
        ],
    }


def test_report_calls_a_win_only_outside_the_seed_spread():
    records = [_record("ethanol", "mace", s, f) for s, f in enumerate((50.0, 52.0, 48.0))]
    records += [
        _record("ethanol", "fusion-path-aaa", s, f) for s, f in enumerate((30.0, 31.0, 29.0))
    ]
    records += [
        _record("ethanol", "fusion-vertex-aaa", s, f) for s, f in enumerate((49.0, 60.0, 40.0))
    ]
    report = accuracy_report.render(records)
    assert "## ethanol: 5 epochs, lr 0.01, 5 frames per step, no EMA, 100 test frames" in report
    verdicts = {line.split(" (")[0][2:]: line for line in report.splitlines() if " vs MACE" in line}
    assert "forces better (×0.60)" in verdicts["fusion-path-aaa"]
    assert "forces tie (×0.99, within the seed spread)" in verdicts["fusion-vertex-aaa"]
    assert "×0.90 parameters" in verdicts["fusion-path-aaa"]
    summary = next(line for line in report.splitlines() if line.startswith("| ethanol | 5 |"))
    assert summary == (
        "| ethanol | 5 | tiny | 50.0 | fusion-path-aaa | 30.0 | ×0.60 | ×0.90 | 1 / 1 / 0 |"
    )
    # another learning rate is another recipe: its own table, never pooled with these
    report = accuracy_report.render([*records, _record("ethanol", "mace", 0, 10.0, lr=0.005)])
    assert report.count("## ethanol:") == 2


def test_extra_test_table_shows_forces_only_where_the_set_has_them():
    def extra(shift):
        return {
            "test_MD_600K": {"energy_mae_meV": 20.0 + shift, "forces_mae_meV_per_A": 70.0},
            "test_H_transfer": {"energy_mae_meV": 90.0 + shift, "forces_mae_meV_per_A": math.nan},
            "test_dihedral": {"energy_mae_meV": 40.0 + shift, "forces_mae_meV_per_A": math.nan},
        }

    records = [
        _record("acac", "mace", 0, 50.0, extra(0)),
        _record("acac", "fusion-path-aaa", 0, 40.0, extra(1)),
    ]
    lines = accuracy_report.render(records).splitlines()
    header = next(line for line in lines if line.startswith("| model | size | seeds |"))
    assert header.count("F MAE") == 1 and "test_MD_600K: F MAE" in header
    assert (
        header.index("test_MD_600K")
        < header.index("test_H_transfer")
        < header.index("test_dihedral")
    )
    row = next(line for line in lines if line.startswith("| fusion-path-aaa | tiny | 0 |"))
    assert row.strip(" |").split(" | ")[3:7] == ["21.0", "70.0", "91.0", "41.0"]


@pytest.mark.skipif(not ACAC.exists(), reason=f"{ACAC} absent (../shared/data not beside the repo)")
def test_two_cells_in_parallel_workers_then_resumed_as_done(tmp_path):
    """Two real one-epoch cells run at once; each JSON holds test and extra-test errors;
    a second call finds both done and trains nothing."""
    command = [
        sys.executable,
        "-m", "studies.accuracy",
        "--dataset", "acac",
        "--models", "mace", "fusion-path-aaa",
        "--sizes", "tiny",
        "--epochs", "1",
        "--n-test", "20",
        "--threads", "1",
        "--workers", "2",
        "--repeats", "1",
        "--quiet",
        "--work-dir", str(tmp_path / "work"),
        "--results-dir", str(tmp_path / "results"),
    ]  # fmt: skip
    first = subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=600)
    assert first.returncode == 0, first.stderr[-3000:]
    assert first.stdout.count("ran ") == 2
    for model in ("mace", "fusion-path-aaa"):
        path = tmp_path / "results" / "acac" / f"{model}_tiny_seed0_ep1.json"
        record = json.loads(path.read_text())
        assert record["n_test"] == 20 and record["epochs_run"] == 1
        assert 0 < record["forces_mae_meV_per_A"] < 2000
        assert set(record["extra_tests"]) == {"test_MD_600K", "test_H_transfer", "test_dihedral"}
        assert record["extra_tests"]["test_MD_600K"]["n_test"] == 650
        assert math.isnan(record["extra_tests"]["test_dihedral"]["forces_mae_meV_per_A"])
    report = (tmp_path / "results" / "accuracy.md").read_text()
    assert "Extra test sets of acac" in report
    assert (tmp_path / "results" / "accuracy_curves.png").exists()
    # a record from before the validation history was kept gets it from its run folder
    old = json.loads(path.read_text())
    history = old.pop("valid_history")
    assert [row["epoch"] for row in history] == [0, 1]
    path.write_text(json.dumps(old))
    second = subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=600)
    assert second.returncode == 0, second.stderr[-3000:]
    assert second.stdout.count("done ") == 2 and "ran " not in second.stdout
    assert "added validation history" in second.stdout
    assert json.loads(path.read_text())["valid_history"] == history


def test_learning_curves_are_drawn_only_from_records_with_a_history(tmp_path):
    records = [_record("ethanol", m, 0, 40.0) for m in ("mace", "fusion-path-aaa")]
    groups = accuracy_report._group(records)
    assert accuracy_report.plot_learning_curves(groups, tmp_path / "curves.png")
    assert (tmp_path / "curves.png").stat().st_size > 10_000
    for record in records:
        del record["valid_history"]
    groups = accuracy_report._group(records)
    assert not accuracy_report.plot_learning_curves(groups, tmp_path / "none.png")
    assert not (tmp_path / "none.png").exists()


def test_multi_state_sets_get_errors_per_state_and_of_the_gap():
    records = []
    for model, scale in (("mace", 1.0), ("fusion-vertex-aaa", 0.5)):
        record = _record("c6f6", model, 0, 40.0 * scale)
        record["n_states"] = 3
        record["gap_mae_meV"] = 100.0 * scale
        record["per_state"] = {
            "energy_mae_meV": [10.0 * scale, 20.0 * scale, 30.0 * scale],
            "forces_mae": [40.0 * scale, 50.0 * scale, 60.0 * scale],
        }
        records.append(record)
    lines = accuracy_report.render(records).splitlines()
    header = next(line for line in lines if "S1−S0 gap MAE meV" in line)
    assert header.count("E MAE meV") == 3 and header.count("F MAE meV/Å") == 3
    row = next(line for line in lines if line.startswith("| fusion-vertex-aaa | tiny | 0 | 5.0"))
    assert row.strip(" |").split(" | ")[3:] == [
        "5.0",
        "20.0",
        "10.0",
        "25.0",
        "15.0",
        "30.0",
        "50.0",
    ]
    assert "Test set: a seeded 10 % of the 3051 frames" in "\n".join(lines)


def test_one_seed_sets_are_judged_against_ethanols_relative_seed_spread():
    """Ethanol's three seeds give the yardstick (median relative spread of the force MAE
    over models, here 4 %) for a data set run with one seed."""
    records = [_record("ethanol", "mace", s, f) for s, f in enumerate((50.0, 52.0, 48.0))]
    records += [
        _record("ethanol", "fusion-path-aaa", s, f) for s, f in enumerate((30.0, 31.0, 29.0))
    ]
    records += [
        _record("ethanol", "fusion-vertex-aaa", s, f) for s, f in enumerate((49.0, 60.0, 40.0))
    ]
    one_seed = {"mace": 100.0, "fusion-path-aaa": 98.0, "fusion-vertex-aaa": 80.0}
    records += [_record("acac", model, 0, forces) for model, forces in one_seed.items()]
    report = accuracy_report.render(records)
    assert "seed spread of the force MAE at the same size (median over models: tiny ±4 %)" in report
    acac = report[report.index("## acac") : report.index("## ethanol")]
    assert "forces tie (×0.98, within ethanol's seed spread ±4 %, one seed)" in acac
    assert "forces better (×0.80, beyond ethanol's seed spread ±4 %, one seed)" in acac
    summary = next(line for line in report.splitlines() if line.startswith("| acac | 5 |"))
    assert summary.endswith("| 1 / 1 / 0 |")
