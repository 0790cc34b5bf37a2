"""campaigns/benzene_liquid/pressure_bands.py: the models' paired pressure error per
density band, against numbers computed here by hand from the same model and labels."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from types import ModuleType

import numpy as np
import pytest
from ase import Atoms, units
from ase.build import molecule
from ase.calculators.singlepoint import SinglePointCalculator
from ase.io import write
from load_script import load_script

from fusionpot import FusionCalculator

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "campaigns" / "benzene_liquid" / "pressure_bands.py"
MODEL = ROOT / "tests" / "data" / "tiny_model.pt"


@pytest.fixture(scope="module")
def bands() -> ModuleType:
    if str(SCRIPT.parent) not in sys.path:
        sys.path.insert(0, str(SCRIPT.parent))  # it imports its sibling validate.py
    return load_script(SCRIPT, "benzene_pressure_bands")


def labelled_pair(edge: float, p_virial_bar: float) -> Atoms:
    """Two benzene molecules in a cube of ``edge`` Å whose stress label is the virial
    pressure ``p_virial_bar``."""
    a, b = molecule("C6H6"), molecule("C6H6")
    b.translate([0.3, 0.2, 3.8])
    atoms = a + b
    atoms.cell = [edge] * 3
    atoms.pbc = True
    atoms.center()
    stress = np.array([-p_virial_bar * units.bar] * 3 + [0.0] * 3)
    atoms.calc = SinglePointCalculator(atoms, energy=0.0, stress=stress)
    return atoms


def test_summarise_bins_by_density_with_block_errors(bands: ModuleType) -> None:
    differences = np.array([1.0, 3.0, 10.0, 20.0, 30.0, 40.0, -5.0])
    densities = np.array([0.70, 0.75, 0.85, 0.85, 0.86, 0.89, 0.95])
    out = bands.summarise(differences, densities, [0.8, 0.9])
    assert out["<0.8"] == {"frames": 2, "bias_bar": 2.0, "error_bar": pytest.approx(1.0)}
    assert out["0.8–0.9"]["frames"] == 4 and out["0.8–0.9"]["bias_bar"] == pytest.approx(25.0)
    # 4 frames, 4 blocks of one: standard error = std(ddof 1) / 2
    assert out["0.8–0.9"]["error_bar"] == pytest.approx(np.std([10, 20, 30, 40], ddof=1) / 2)
    assert out[">0.9"]["frames"] == 1 and out[">0.9"]["bias_bar"] == -5.0
    assert np.isnan(out[">0.9"]["error_bar"])
    assert out["all"]["frames"] == 7


def test_main_measures_the_paired_pressure_error_per_band(
    bands: ModuleType, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    frames = [
        labelled_pair(edge, p)
        for edge, p in [(8.6, 500.0), (8.7, -300.0), (9.6, 200.0), (9.7, 0.0)]
    ]
    path = tmp_path / "frames.extxyz"
    write(path, frames)
    out = tmp_path / "bands.json"
    argv = [
        str(MODEL),
        "--frames",
        str(path),
        "--edges",
        "0.35",
        "--json",
        str(out),
        "--device",
        "cpu",
    ]
    assert bands.main(argv) == 0
    # by hand: the model's virial pressure on each geometry minus the label's
    calc = FusionCalculator(MODEL, device="cpu")
    expected = []
    for frame, p_label in zip(frames, [500.0, -300.0, 200.0, 0.0], strict=True):
        atoms = Atoms(frame.numbers, frame.positions, cell=frame.cell, pbc=True)
        atoms.calc = calc
        expected.append(-atoms.get_stress()[:3].mean() / units.bar - p_label)
    result = json.loads(out.read_text())["models"][str(MODEL)]
    density = [bands.density_g_cm3(f) for f in frames]
    assert density[0] > 0.35 > density[2]  # two frames each side of the edge
    assert result[">0.35"]["bias_bar"] == pytest.approx(np.mean(expected[:2]), abs=1e-3)
    assert result["<0.35"]["bias_bar"] == pytest.approx(np.mean(expected[2:]), abs=1e-3)
    assert result["all"]["frames"] == 4
    assert "| model | <0.35 g/cm³ | >0.35 g/cm³ | all |" in capsys.readouterr().out


def test_a_missing_model_or_frames_file_is_a_one_line_error(
    bands: ModuleType, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "frames.extxyz"
    write(path, [labelled_pair(9.0, 0.0)])
    assert bands.main([str(tmp_path / "nope.pt"), "--frames", str(path)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "nope.pt" in err
    assert bands.main([str(MODEL), "--frames", str(tmp_path / "none.extxyz")]) == 2
    assert "none.extxyz" in capsys.readouterr().err
