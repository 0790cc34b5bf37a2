"""The stilbene photoisomerization study (examples/stilbene/run_study.py) on the demo potential."""

from __future__ import annotations

import json
from pathlib import Path
from types import ModuleType

import ase.io
import numpy as np
import pytest
from load_script import load_script

from fusionpot.sampling import pyramidalise

REPO = Path(__file__).resolve().parents[1]
SCRIPT = REPO / "examples" / "stilbene" / "run_study.py"
DEMO = REPO / "potentials" / "stilbene" / "stilbene_s012_demo.pt"
TRANS_MINIMUM = REPO / "potentials" / "stilbene" / "stilbene_s012_demo_trans_minimum.xyz"


@pytest.fixture(scope="module")
def study() -> ModuleType:
    return load_script(SCRIPT, "run_study")


def test_pyramidalisation_of_a_pushed_carbon(study: ModuleType) -> None:
    atoms = ase.io.read(TRANS_MINIMUM)
    neighbours = study.ethylenic_neighbours(atoms)
    assert neighbours[0][:2] == (1, 8) and neighbours[1][:2] == (0, 2)
    assert {atoms.numbers[neighbours[0][2]], atoms.numbers[neighbours[1][2]]} == {1}
    planar = atoms.positions[None]
    assert study.pyramidalisation(planar, neighbours)[0] < 0.01
    assert study.torsion_deg(planar)[0] == pytest.approx(180.0, abs=1.0)
    pushed = pyramidalise(atoms, 0, neighbours[0], 0.3).positions[None]
    # C0 alone: exactly the push plus its (near-zero) height at the planar minimum
    c0 = study.pyramidalisation(pushed, {0: neighbours[0]})[0]
    assert c0 == pytest.approx(
        0.3 + study.pyramidalisation(planar, {0: neighbours[0]})[0], abs=1e-3
    )
    assert study.pyramidalisation(pushed, neighbours)[0] >= c0 - 1e-12


def test_missing_model_is_a_one_line_error(study: ModuleType, tmp_path: Path) -> None:
    with pytest.raises(SystemExit) as error:
        study.main(["--model", str(tmp_path / "absent.pt"), "--out", str(tmp_path / "out")])
    message = str(error.value)
    assert "absent.pt" in message and "\n" not in message
    assert not (tmp_path / "out").exists()


def test_study_end_to_end_and_resume(study: ModuleType, tmp_path: Path) -> None:
    if not study.SEED_SET.is_file():
        pytest.skip(f"needs the MRSF seed set {study.SEED_SET} (../shared/data is absent)")
    out = tmp_path / "study"
    argv = [
        "--model", str(DEMO),
        "--n-cis", "4", "--n-trans", "2", "--time", "5", "--trans-time", "5",
        "--fmax", "0.02",  # a loose minimum keeps the test short; the study uses 1e-3
        "--committee", str(DEMO), str(DEMO),
        "--out", str(out),
    ]  # fmt: skip
    lines: list[str] = []
    assert study.main(argv, echo=lines.append) == 0
    for name in ("cis", "trans"):
        for file in ("minimum.xyz", "populations.png", "analysis.json", "run/run.h5"):
            assert (out / name / file).is_file(), f"{name}/{file} missing"
        analysis = json.loads((out / name / "analysis.json").read_text())
        assert analysis["n_traj"] == {"cis": 4, "trans": 2}[name]
    assert (out / "hop_geometry.png").is_file() and (out / "committee_spread.json").is_file()
    report = (out / "report.md").read_text()
    assert "cis-stilbene S1 lifetime: not reached within 5 fs" in report or "τ =" in report
    assert "| ensemble | cis | trans | DHP | undetermined |" in report
    assert "No molecule broke apart" in report  # 5 fs near the minimum: every bond holds
    undetermined = json.loads((out / "cis" / "analysis.json").read_text())["quantum_yields"]
    assert (
        undetermined["undetermined"]["count"]
        + sum(undetermined[p]["count"] for p in ("cis", "trans", "DHP"))
        == 4
    )
    for literature in ("44 : 52 : 4", "Weir et al. 2020", "Harabuchi et al. 2014", "0.35"):
        assert literature in report
    assert "## Committee spread (2 members)" in report
    assert "MRSF-TDDFT BHHLYP/6-31G" in report and "cannot" in report
    assert any(line.startswith("  cis: t =") for line in lines), "no progress line"
    spread = json.loads((out / "committee_spread.json").read_text())
    assert spread["trajectories"]["forces_active"]["median"] == pytest.approx(0.0, abs=1e-9)
    assert np.isfinite(spread["trajectories"]["gap_s1_s0"]["p95"])

    # a second call skips every finished step and rewrites the same report
    again: list[str] = []
    assert study.main(argv, echo=again.append) == 0
    assert not any("fusionpot namd" in line for line in again)
    assert "| ensemble | cis | trans | DHP | undetermined |" in (out / "report.md").read_text()
    # other settings in the same folder are refused
    with pytest.raises(SystemExit, match="n_cis"):
        study.main([*argv[:3], "5", *argv[4:]])
