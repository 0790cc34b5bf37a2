"""The frontier job (studies/frontier): a tiny run trains, is skipped when finished, and
the report lists it with its numbers and the rest of the plan as not run."""

from __future__ import annotations

import json

import pytest

from studies.frontier.__main__ import main
from studies.frontier.grid import RMD17
from studies.frontier.report import flattened

pytestmark = pytest.mark.skipif(
    not (RMD17 / "rmd17_ethanol_train_01.npz").is_file(), reason="../shared/data/rmd17 absent"
)


def test_flattening_criterion():
    assert flattened([100.0, 60, 40, 30, 25, 24.9, 24.8, 24.8, 24.7, 24.6]) == "yes"
    assert flattened([100.0, 80, 60, 50, 40, 35, 30, 27, 25, 23]) == "no"
    assert flattened([100.0, 50, 40]) == "too short"
    # 2 % is the line: 1.9 % better in the last window is flat, 2.1 % is not
    assert flattened([100.0] * 5 + [98.1] * 5) == "yes"
    assert flattened([100.0] * 5 + [97.9] * 5) == "no"


def test_run_skip_and_report(tmp_path, capsys):
    common = ["--set", "ethanol", "--sizes", "8", "--seeds", "0", "--seed-size", "8"]
    common += ["--n-train", "6", "--n-valid", "2", "--n-test", "2", "--epochs", "1"]
    common += ["--work-dir", str(tmp_path / "runs"), "--out", str(tmp_path / "out")]
    assert main(["run", "--models", "cormorant", *common]) == 0
    result = json.loads((tmp_path / "runs/ethanol/cormorant_c8_seed0/result.json").read_text())
    assert result["epochs"] == 1 and result["params"] > 1000
    assert 0 < result["forces_mae"] < 1e4 and result["ms_per_call"] > 0
    capsys.readouterr()

    assert main(["run", "--models", "cormorant", *common]) == 0
    assert "finished (1 epochs), skipped" in capsys.readouterr().out

    assert main(["report", "--models", "cormorant", "fusion-cormorant", *common]) == 0
    table = (tmp_path / "out/frontier.md").read_text().splitlines()
    row = next(line for line in table if line.startswith("| cormorant |"))
    assert f"| {result['params']} |" in row and f"| {result['forces_mae']:.1f} |" in row
    other = next(line for line in table if line.startswith("| fusion-cormorant |"))
    assert "| not run |" in other
    assert (tmp_path / "out/frontier.png").stat().st_size > 1000


def test_runs_train_in_parallel_workers_and_match_a_serial_run(tmp_path, capsys):
    common = ["--set", "ethanol", "--sizes", "8", "--seeds", "0", "--seed-size", "8"]
    common += ["--n-train", "6", "--n-valid", "2", "--n-test", "2", "--epochs", "1"]
    common += ["--out", str(tmp_path / "out"), "--models", "cormorant", "fusion-cormorant"]
    parallel, serial = tmp_path / "parallel", tmp_path / "serial"
    assert main(["run", "--jobs", "2", "--work-dir", str(parallel), *common]) == 0
    assert main(["run", "--work-dir", str(serial), *common]) == 0
    for name in ("cormorant_c8_seed0", "fusion-cormorant_c8_seed0"):
        got = json.loads((parallel / "ethanol" / name / "result.json").read_text())
        want = json.loads((serial / "ethanol" / name / "result.json").read_text())
        assert got["forces_mae"] == pytest.approx(want["forces_mae"], rel=1e-9)
        assert got["params"] == want["params"]
    assert "(worker)" in capsys.readouterr().out
    with pytest.raises(ValueError, match="--jobs must be >= 1"):
        main(["run", "--jobs", "0", "--work-dir", str(serial), *common])
