"""The end-to-end demo on the shipped stilbene potential (`fusionpot demo block`: test_cli.py)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from fusionpot.cli import main
from fusionpot.demo import SHIPPED, run_demo


def test_demo_end_to_end(tmp_path: Path) -> None:
    lines: list[str] = []
    result = run_demo(SHIPPED, n_traj=2, max_time=2.0, output=tmp_path, echo=lines.append)
    text = "\n".join(lines)
    for section in ("== 1.", "== 2.", "== 3.", "product basis", "trajectory-steps/s"):
        assert section in text
    assert result.n_parameters > 0
    assert result.table, "no held-out frame evaluated"
    for _, _, model, label, force_mae in result.table:
        assert model.shape == label.shape == (3,)
        assert np.isfinite(model).all() and np.isfinite(force_mae)
        # absolute energies (~ -14690 eV) agree to well under an eV per atom
        assert np.abs(model - label).max() < 26 * 0.5
    populations = result.populations
    assert populations.shape == (len(result.time), 3)
    np.testing.assert_allclose(populations.sum(axis=1), 1.0, atol=1e-12)
    np.testing.assert_allclose(populations[0], [0.0, 1.0, 0.0])  # started on S1
    assert result.time[-1] == pytest.approx(2.0)
    assert (tmp_path / "namd_run.h5").is_file()
    # progress while the dynamics run (2 fs = 4 steps: a line per step), then the analysis
    assert [line.split()[1] for line in lines if line.startswith("  step ")] == [
        "1/4",
        "2/4",
        "3/4",
        "4/4",
    ]
    assert "not reached within 2.0 fs" in result.analysis and "0 of 2 trajectories" in text
    assert "undetermined" in text and "hops (" in text
    assert result.plot == tmp_path / "populations.png" and result.plot.stat().st_size > 1000
    assert str(result.plot) in text and (tmp_path / "analysis.json").is_file()


def test_demo_names_a_missing_potential(tmp_path: Path, capsys) -> None:
    argv = ["demo", "--potential-dir", str(tmp_path), "--output", str(tmp_path / "out")]
    assert main(argv) == 2
    (line,) = capsys.readouterr().err.splitlines()
    assert line.startswith("fusionpot demo: error: ") and "stilbene_s012.pt is missing" in line
