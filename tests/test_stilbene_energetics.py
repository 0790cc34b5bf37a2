"""`campaigns/stilbene/check_energetics.py`: S0 energies of a model along the MRSF torsion
scan and at the minima, relative to the cis minimum, against the labels."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import ase.io
import numpy as np
import pytest
from load_script import load_script

from fusionpot.active.select import model_predictions

REPO = Path(__file__).resolve().parents[1]
SCRIPT = REPO / "campaigns" / "stilbene" / "check_energetics.py"
PRODUCTION = REPO / "campaigns" / "stilbene" / "make_production.py"
MODEL = REPO / "potentials" / "stilbene" / "stilbene_s012.pt"
SEED = REPO.parent / "shared" / "data" / "stilbene_mrsf_seed" / "stilbene_mrsf_seed.extxyz"


def test_relative_s0_energies_are_the_models_and_the_labels(tmp_path: Path) -> None:
    if not SEED.is_file():
        pytest.skip(f"needs the MRSF seed set {SEED} (../shared/data is absent)")
    out = tmp_path / "energetics.md"
    argv = [sys.executable, str(SCRIPT), str(MODEL), f"{MODEL},{MODEL}", "--out", str(out)]
    done = subprocess.run(argv, capture_output=True, text=True, cwd=REPO)
    assert done.returncode == 0, done.stderr
    table = {}  # torsion (°) -> [MRSF, model 1, model 2] meV
    for line in out.read_text().splitlines():
        cells = [cell.strip() for cell in line.split("|")[1:-1]]
        if cells and cells[0].lstrip("-").replace(".", "").isdigit():
            table[float(cells[0])] = [float(x) for x in cells[2:]]
    assert table[-6.2] == [0.0, 0.0, 0.0]  # the cis xTB minimum is the zero
    # the trans minimum by hand, from the seed set's own labels and the model
    frames = ase.io.read(SEED, ":")
    minima = sorted(
        (a for a in frames if a.info["subset"] == "minimum_xtb"), key=lambda a: a.info["seed_index"]
    )[:2]
    labels = np.array([a.info["energy_s0"] for a in minima])
    energies = model_predictions(MODEL, minima)[0][:, 0]
    mrsf, model, committee = table[-180.0]
    assert mrsf == pytest.approx(1000 * (labels[1] - labels[0]), abs=0.5)
    assert model == pytest.approx(1000 * (energies[1] - energies[0]), abs=0.5)
    assert committee == model  # a committee of one model twice is that model
    assert f"model 1: {MODEL}" in done.stdout

    missing = subprocess.run(
        [sys.executable, str(SCRIPT), str(tmp_path / "none.pt")], capture_output=True, text=True
    )
    assert missing.returncode != 0 and "none.pt: no such model file" in missing.stderr


def test_production_refuses_a_model_with_trans_above_cis() -> None:
    if not SEED.is_file():
        pytest.skip(f"needs the MRSF seed set {SEED} (../shared/data is absent)")
    if str(PRODUCTION.parent) not in sys.path:
        sys.path.insert(0, str(PRODUCTION.parent))  # it imports its siblings
    production = load_script(PRODUCTION, "stilbene_make_production")
    minima = production.xtb_minima()  # the xTB geometries: |φ| 6° and 180°
    minima["cis"].info["energy_s0"], minima["trans"].info["energy_s0"] = -10.0, -10.281
    production.check_minima(minima, Path("member_0/model.pth"))  # passes
    minima["trans"].info["energy_s0"] = -9.746
    with pytest.raises(SystemExit, match="trans S0 minimum 254 meV above the cis one"):
        production.check_minima(minima, Path("member_0/model.pth"))
