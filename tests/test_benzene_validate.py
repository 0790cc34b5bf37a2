"""The liquid-benzene validation script (campaigns/benzene_liquid/validate.py) and the
LAMMPS benzene example (examples/lammps/benzene/).

The analysis functions against known answers (uniform points, two atoms, an exact P(V)
line), one MD stage end to end on the tiny test model with a stop and a resume, and the
LAMMPS input for a few steps on the plugin the test session builds (conftest.py).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import numpy as np
import pytest
from ase import Atoms
from ase.build import molecule
from ase.calculators.singlepoint import SinglePointCalculator
from ase.geometry import get_distances
from ase.io import read, write
from ase.units import _amu, bar, kB
from load_script import load_script

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "campaigns" / "benzene_liquid" / "validate.py"
MODEL = ROOT / "tests" / "data" / "tiny_model.pt"
EXAMPLE = ROOT / "examples" / "lammps" / "benzene"


@pytest.fixture(scope="module")
def validate() -> ModuleType:
    if str(SCRIPT.parent) not in sys.path:
        sys.path.insert(0, str(SCRIPT.parent))  # the script imports its sibling split_data.py
    return load_script(SCRIPT, "benzene_validate")


def uniform_frames(n_frames: int, n_atoms: int, edge: float, seed: int) -> list[Atoms]:
    rng = np.random.default_rng(seed)
    symbols = ["C", "H"] * (n_atoms // 2)
    return [
        Atoms(symbols, positions=rng.uniform(0, edge, (n_atoms, 3)), cell=[edge] * 3, pbc=True)
        for _ in range(n_frames)
    ]


@pytest.mark.parametrize(("a", "b"), [("C", "C"), ("C", "H")])
def test_rdf_of_uniform_points_is_one(validate: ModuleType, a: str, b: str) -> None:
    frames = uniform_frames(n_frames=40, n_atoms=120, edge=10.0, seed=3)
    r, g = validate.rdf(frames, a, b, r_max=5.0, bin_width=0.25)
    assert r.shape == g.shape == (20,)
    np.testing.assert_allclose(r[:2], [0.125, 0.375])
    # expected pairs per bin: frames × N_a × N_b' / V × shell; Poisson noise 1/√count
    n_b = 60 - (a == b)
    shells = 4 * np.pi / 3 * ((r + 0.125) ** 3 - (r - 0.125) ** 3)
    expected = 40 * 60 * n_b / 1000.0 * shells
    well_sampled = expected > 100
    assert well_sampled.sum() >= 15
    assert np.all(np.abs(g - 1)[well_sampled] < 5 / np.sqrt(expected[well_sampled]))
    assert abs(np.average(g[well_sampled], weights=expected[well_sampled]) - 1) < 0.01


def test_rdf_of_two_atoms_peaks_at_their_distance_through_the_boundary(
    validate: ModuleType,
) -> None:
    # C at x = 0.3, H at x = 8.78: 1.52 Å apart through the periodic boundary
    atoms = Atoms("CH", positions=[[0.3, 5, 5], [8.78, 5, 5]], cell=[10.0] * 3, pbc=True)
    r, g = validate.rdf([atoms], "C", "H", r_max=5.0, bin_width=0.05)
    assert r[np.argmax(g)] == pytest.approx(1.525)
    assert np.count_nonzero(g) == 1
    # one pair in a shell of volume 4π/3 (1.55³ − 1.5³) at pair density 1/V
    shell = 4 * np.pi / 3 * (1.55**3 - 1.5**3)
    assert g.max() == pytest.approx(1000.0 / shell)
    with pytest.raises(ValueError, match="no C–C pair"):  # one C atom
        validate.rdf([atoms], "C", "C", 5.0, 0.05)


def test_minimum_image_matches_ase_in_a_skewed_cell(validate: ModuleType) -> None:
    cell = np.array([[9.0, 0, 0], [2.5, 8.5, 0], [-1.5, 2.0, 9.5]])
    x = np.random.default_rng(0).uniform(-5, 15, (30, 3))
    ours = validate._minimum_image_distances(x[:10], x[10:], cell)
    theirs = get_distances(x[:10], x[10:], cell=cell, pbc=True)[1]
    np.testing.assert_allclose(ours, theirs, atol=1e-12)


def test_rdf_rejects_a_range_beyond_half_the_box(validate: ModuleType) -> None:
    frames = uniform_frames(1, 10, 8.0, seed=0)
    with pytest.raises(ValueError, match="half the smallest width"):
        validate.rdf(frames, "C", "H", r_max=4.5, bin_width=0.1)


def test_intermolecular_rdf_drops_pairs_within_a_molecule(validate: ModuleType) -> None:
    atoms = molecule("C6H6")
    atoms.cell = [12.0] * 3
    atoms.pbc = True
    atoms.center()
    atoms.arrays["mol_id"] = validate.molecule_ids(atoms)
    assert set(atoms.arrays["mol_id"]) == {0}
    g = validate.rdf([atoms], "C", "H", 5.0, 0.05, intermolecular=True)[1]
    assert g.sum() == 0
    assert validate.rdf([atoms], "C", "H", 5.0, 0.05)[1].sum() > 0


def test_block_average_of_independent_values(validate: ModuleType) -> None:
    x = np.random.default_rng(1).normal(2.0, 0.5, 10_003)
    mean, error = validate.block_average(x, 10)
    assert mean == pytest.approx(2.0, abs=4 * 0.5 / 100)
    assert error == pytest.approx(0.5 / np.sqrt(10_000), rel=0.6)
    with pytest.raises(ValueError, match="n_blocks"):
        validate.block_average(x[:3], 5)


def test_density_at_pressure_solves_an_exact_line(validate: ModuleType) -> None:
    # P(V) = 1 − 20 (V − 1250) bar: 1 bar at V* = 1250 Å³
    volumes = np.array([1150.0, 1200.0, 1260.0])
    pressures = 1.0 - 20.0 * (volumes - 1250.0)
    mass = 624.9  # amu
    est = validate.density_at_pressure(volumes, pressures, [50.0, 80.0, 60.0], 1.0, mass)
    assert est.volume_A3 == pytest.approx(1250.0)
    assert est.density_g_cm3 == pytest.approx(mass * _amu * 1e3 / (1250.0 * 1e-24))
    assert est.slope == pytest.approx(-20.0)
    assert est.chi2 == pytest.approx(0.0, abs=1e-12)
    assert est.resolved and est.note == ""
    # the first-order error against the spread of refits to noisy pressures
    rng = np.random.default_rng(2)
    sigma = np.array([50.0, 80.0, 60.0])
    refits = [
        validate.density_at_pressure(volumes, pressures + rng.normal(0, sigma), sigma, 1.0, mass)
        for _ in range(2000)
    ]
    spread = np.std([e.volume_A3 for e in refits])
    assert est.error_A3 == pytest.approx(spread, rel=0.1)


def test_density_at_pressure_says_when_it_cannot_tell(validate: ModuleType) -> None:
    volumes = [1150.0, 1200.0, 1250.0]
    flat = validate.density_at_pressure(volumes, [300.0, 100.0, 250.0], [500.0] * 3, 1.0, 624.9)
    assert not flat.resolved
    assert "not negative by three standard errors" in flat.note
    assert np.isnan(flat.density_g_cm3)
    # a resolved slope (3 σ) extrapolated 300 Å³ beyond the data: about ± 8 %
    far = [14001.0, 12001.0, 10001.0]
    wide = validate.density_at_pressure(volumes, far, [900.0] * 3, 1.0, 624.9)
    assert wide.volume_A3 == pytest.approx(1500.0)
    assert not wide.resolved and "exceeds 5 %" in wide.note and "extrapolated" in wide.note


def synthetic_frame(volume_scale: float, p_virial: float, step: int) -> Atoms:
    """Two benzene molecules in a cube whose stress label gives the virial pressure
    ``p_virial`` (eV/Å³), as a T300 frame of the data set."""
    a, b = molecule("C6H6"), molecule("C6H6")
    b.translate([0, 0, 3.8])
    atoms = a + b
    edge = 9.0 * volume_scale ** (1 / 3)
    atoms.cell = [edge] * 3
    atoms.pbc = True
    atoms.center()
    atoms.calc = SinglePointCalculator(
        atoms, energy=0.0, stress=np.array([-p_virial] * 3 + [0.0] * 3)
    )
    name = f"T300_V{volume_scale:g}"
    atoms.info.update(
        subset=name, temperature_K=300.0, md_step=step, md_time_fs=step / 2, md_method="test"
    )
    return atoms


def test_tblite_density_from_synthetic_pressures(validate: ModuleType) -> None:
    # total pressure (virial + ideal gas, N_dof = 3N − 3) exactly 1 − 0.02 (V − 700) bar
    frames, rng = [], np.random.default_rng(4)
    for scale in (0.95, 1.0, 1.05):
        volume = 729.0 * scale
        kinetic = (3 * 24 - 3) * kB * 300.0 / (3 * volume)
        target = (1.0 - 0.02 * (volume - 700.0)) * bar
        noise = rng.normal(0, 0.1 * bar, 20)
        noise -= noise.mean()  # the mean stays exact
        frames += [
            synthetic_frame(scale, target - kinetic + x, 20 * k) for k, x in enumerate(noise)
        ]
    # NPT-driven frames (the cell changes within the condition) are no point of P(V)
    npt = [synthetic_frame(scale, 5e-3, k) for k, scale in enumerate((0.6, 0.9, 1.2))]
    for atoms in npt:
        atoms.info["subset"] = "T300_NPT_1atm_driven"
    result = validate.tblite_density(frames + npt, 300.0, n_blocks=5)
    assert sorted(result["conditions"]) == ["T300_V0.95", "T300_V1", "T300_V1.05"]
    assert result["variable_volume_skipped"] == ["T300_NPT_1atm_driven"]
    est = result["estimate"]
    assert est["volume_A3"] == pytest.approx(700.0 + 1.0 / 0.02 * (1 - validate.ATM_BAR))
    mass = frames[0].get_masses().sum()
    assert est["density_g_cm3"] == pytest.approx(mass * _amu * 1e3 / (est["volume_A3"] * 1e-24))


def test_pressure_sets_are_the_data_set_and_the_driven_sets_beside_it(
    validate: ModuleType, tmp_path: Path
) -> None:
    data = tmp_path / "labelled.extxyz"
    for sub in ("driven_2", "driven_1"):
        (tmp_path / sub).mkdir()
        (tmp_path / sub / "labelled.extxyz").touch()
    (tmp_path / "work").mkdir()  # a folder without a labelled set is not one
    names = [p.relative_to(tmp_path).as_posix() for p in validate.pressure_sets(data)]
    assert names == ["labelled.extxyz", "driven_1/labelled.extxyz", "driven_2/labelled.extxyz"]


# ---------------------------------------------------------------- a stage end to end


def small_data(path: Path) -> Path:
    """A T300_V1 "data set" of two frames: two benzene molecules in a 9.2 Å cube."""
    frames = []
    for k in range(2):
        atoms = synthetic_frame(1.0, 0.0, 220 + 20 * k)
        atoms.cell = [9.2] * 3
        atoms.center()
        atoms.rattle(0.02, seed=k)
        atoms.info.update(subset="T300_V1", volume_scale=1.0)
        frames.append(atoms)
    write(path, frames, format="extxyz")
    return path


def test_drift_stage_stops_and_resumes_to_the_same_result(
    validate: ModuleType, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = small_data(tmp_path / "data.extxyz")
    common = ["--model", str(MODEL), "--data", str(data), "--device", "cpu"]
    common += ["--ps", "0.01", "--equil-ps", "0.005", "--checkpoint-fs", "2.5"]
    whole = ["drift", *common, "--out", str(tmp_path / "a"), "--work", str(tmp_path / "wa")]
    assert validate.main(whole) == 0
    expected = json.loads((tmp_path / "a" / "drift.json").read_text())
    assert expected["md"]["samples"] == 3  # NVE steps 0, 10, 20
    assert np.isfinite(expected["drift_meV_per_atom_per_ps"])

    split = ["drift", *common, "--out", str(tmp_path / "b"), "--work", str(tmp_path / "wb")]
    assert validate.main([*split, "--stop-after", "13"]) == 0  # a kill mid-NVE
    assert not (tmp_path / "b" / "drift.json").exists()
    assert (tmp_path / "wb" / "drift" / "checkpoint.npz").is_file()
    assert "stopped after 13 steps" in capsys.readouterr().out
    assert validate.main(split) == 0
    assert "resuming from" in capsys.readouterr().out
    resumed = json.loads((tmp_path / "b" / "drift.json").read_text())
    for key in ("drift_meV_per_atom_per_ps", "etot_std_meV_per_atom"):
        assert resumed[key] == pytest.approx(expected[key], rel=1e-9, abs=1e-12)
    assert (tmp_path / "b" / "drift.csv").read_text() == (tmp_path / "a" / "drift.csv").read_text()

    # the report reads what is there
    assert validate.main(["report", "--out", str(tmp_path / "b")]) == 0
    report = (tmp_path / "b" / "validation.md").read_text()
    assert "NVE drift of E_tot" in report and "validate.py drift" in report

    # another model's checkpoint is refused, naming the file
    other = tmp_path / "other.pt"
    other.write_bytes(MODEL.read_bytes() + b"\0")
    argv = ["drift", *common[2:], "--model", str(other)]
    argv += ["--out", str(tmp_path / "b"), "--work", str(tmp_path / "wb")]
    assert validate.main(argv) == 2
    assert "checkpoint.npz was made with other model_sha256" in capsys.readouterr().err


def test_tblite_nvt_frames_carry_their_own_labels_and_feed_the_rdf(
    validate: ModuleType, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    pytest.importorskip("tblite")
    from fusionpot.labels.xtb import XTBLabeller

    data = small_data(tmp_path / "data.extxyz")
    out, work = tmp_path / "out", tmp_path / "work"
    common = ["--data", str(data), "--out", str(out), "--work", str(work)]
    common += ["--model", str(MODEL), "--device", "cpu", "--checkpoint-fs", "5"]
    argv = ["tblite-nvt", *common, "--start", str(data), "--ps", "0.02", "--equil-ps", "0.005"]
    assert validate.main(argv) == 0
    frames = read(out / validate.TBLITE_NVT, ":")
    assert len(frames) == 3  # production steps 0, 20 and 40
    start = read(data, "-1")  # the latest frame at 300 K and volume scale 1
    assert frames[0].info["md_time_fs"] == 5.0 and frames[2].info["md_time_fs"] == 25.0
    assert not np.allclose(frames[0].positions, start.positions)  # MD moved it
    # each frame's labels are GFN1-xTB's at that frame's geometry, not a neighbour's
    calc = XTBLabeller(method="GFN1-xTB").calculator()
    for frame in (frames[0], frames[-1]):
        atoms = Atoms(frame.numbers, positions=frame.positions, cell=frame.cell, pbc=True)
        atoms.calc = calc
        assert frame.info["energy_s0"] == pytest.approx(atoms.get_potential_energy(), abs=1e-6)
        # (to the SCF's convergence: the MD started each SCF from the previous step's)
        np.testing.assert_allclose(frame.arrays["forces_s0"], atoms.get_forces(), atol=2e-4)
        np.testing.assert_allclose(frame.get_stress(), atoms.get_stress(), rtol=0, atol=1e-6)
    result = json.loads((out / "tblite_nvt.json").read_text())
    assert result["md"]["frames"] == 3 and result["model_errors"]["frames"] == 3
    errors = result["model_errors"]
    assert errors["forces_meV_per_A"] > 0 and np.isfinite(errors["pressure_bias_error_bar"])
    # the pressure bias recomputed by hand: the mean of P_model - P_label over the frames
    model = validate.model_calculator(MODEL, "cpu")
    differences = []
    for frame in frames:
        atoms = Atoms(frame.numbers, positions=frame.positions, cell=frame.cell, pbc=True)
        atoms.calc = model
        differences.append(-(atoms.get_stress()[:3].mean() - frame.get_stress()[:3].mean()))
    assert errors["pressure_bias_bar"] == pytest.approx(np.mean(differences) / bar, rel=1e-6)
    assert "tblite-nvt" in result["command"]
    assert "3 GFN1-xTB frames" in capsys.readouterr().out

    argv = ["rdf", *common, "--ps", "0.02", "--equil-ps", "0.005"]
    assert validate.main(argv) == 0
    rdf = json.loads((out / "rdf.json").read_text())
    assert rdf["tblite"]["frames"] == 3 and "tblite-nvt" in rdf["tblite"]["source"]
    assert (out / "rdf.png").stat().st_size > 0
    assert validate.main(["report", "--out", str(out)]) == 0
    report = (out / "validation.md").read_text()
    assert "3 GFN1-xTB NVT frames it never saw" in report and "tblite_nvt.extxyz" in report

    # another model's errors on the same frames, without GFN1-xTB MD: a renamed copy gives
    # the same numbers (to the file's 1e-6 precision), under its own name and command; the
    # frames' MD fields stay
    copy = tmp_path / "copy.pt"
    copy.write_bytes(MODEL.read_bytes())
    assert validate.main(["model-errors", *common, "--model", str(copy)]) == 0
    again = json.loads((out / "tblite_nvt.json").read_text())
    assert again["md"] == result["md"] and again["command"] == result["command"]
    assert again["model"] == str(copy) and "model-errors" in again["model_errors_command"]
    for key, value in errors.items():
        assert again["model_errors"][key] == pytest.approx(value, rel=1e-6, nan_ok=True)
    assert "[model-errors] 3 GFN1-xTB frames" in capsys.readouterr().out
    # the report refuses results of different models side by side, naming them
    rdf["model_sha256"] = "0" * 64
    (out / "rdf.json").write_text(json.dumps(rdf))
    assert validate.main(["report", "--out", str(out)]) == 2
    assert "are of different models (tblite_nvt.json" in capsys.readouterr().err
    # a frame without a stress label is named, not a traceback
    unstressed = read(out / validate.TBLITE_NVT, ":")
    unstressed[1].calc = None
    write(out / validate.TBLITE_NVT, unstressed, format="extxyz")
    assert validate.main(["model-errors", *common]) == 2
    assert "tblite_nvt.extxyz: frame 1 has no stress label" in capsys.readouterr().err
    # without reference frames the stage says what to run first
    argv = ["model-errors", "--out", str(tmp_path / "none"), "--model", str(MODEL)]
    assert validate.main(argv) == 2
    assert "run validate.py tblite-nvt --out" in capsys.readouterr().err


def test_density_stage_checks_its_own_geometries_with_gfn1_xtb(
    validate: ModuleType, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    pytest.importorskip("tblite")
    from fusionpot.labels.xtb import XTBLabeller

    data = small_data(tmp_path / "data.extxyz")
    out = tmp_path / "out"
    argv = ["density", "--model", str(MODEL), "--data", str(data), "--device", "cpu"]
    argv += ["--ps", "0.01", "--equil-ps", "0.005", "--check-every-fs", "5"]
    argv += ["--out", str(out), "--work", str(tmp_path / "work")]
    assert validate.main(argv) == 0
    check = json.loads((out / "density.json").read_text())["pressure_check"]
    frames = read(out / validate.DENSITY_FRAMES, ":")
    assert check["frames"] == len(frames) == 2  # production steps 10 and 20
    assert check["every_fs"] == 5.0 and check["frames_file"] == validate.DENSITY_FRAMES
    # with the provenance split_data.py needs to take them into a data set
    assert [f.info["md_step"] for f in frames] == [10, 20]
    assert [f.info["md_time_fs"] for f in frames] == [10.0, 15.0]
    # one condition per run (model and seed), so that runs are held out each on its own
    run = f"T300_NPT_1atm_{validate.file_sha256(MODEL)[:12]}_seed0"
    assert [f.info["subset"] for f in frames] == [run, run]
    # each label is GFN1-xTB's at that geometry (an NPT geometry: the cell moved too)
    calc = XTBLabeller(method="GFN1-xTB").calculator()
    assert not np.allclose(frames[0].cell.array, read(data, "0").cell.array)
    atoms = Atoms(frames[1].numbers, frames[1].positions, cell=frames[1].cell, pbc=True)
    atoms.calc = calc
    assert frames[1].info["energy_s0"] == pytest.approx(atoms.get_potential_energy(), abs=1e-6)
    np.testing.assert_allclose(frames[1].get_stress(), atoms.get_stress(), rtol=0, atol=1e-6)
    # the pressures by hand: label and model, virial + ideal gas at 300 K, and their pairs
    model = validate.model_calculator(MODEL, "cpu")
    p_label, p_model = [], []
    for frame in frames:
        p_label.append(validate.label_pressure(frame, 300.0) / bar)
        atoms = Atoms(frame.numbers, frame.positions, cell=frame.cell, pbc=True)
        atoms.calc = model
        p_model.append(validate.label_pressure(atoms, 300.0) / bar)
    assert check["tblite_pressure_bar"] == pytest.approx(np.mean(p_label), rel=1e-9)
    assert check["model_pressure_bar"] == pytest.approx(np.mean(p_model), rel=1e-9)
    bias = np.mean(np.subtract(p_model, p_label))
    assert check["pressure_bias_bar"] == pytest.approx(bias, rel=1e-9)
    assert "GFN1-xTB's pressure on 2 of the model's NPT frames" in capsys.readouterr().out
    # run again: the MD is done and the labelled frames are not labelled twice
    assert validate.main(argv) == 0
    assert len(read(out / validate.DENSITY_FRAMES, ":")) == 2
    assert validate.main(["report", "--out", str(out)]) == 0
    report = (out / "validation.md").read_text()
    assert "GFN1-xTB pressure at the model's NPT states" in report
    assert validate.DENSITY_FRAMES in report


def test_missing_files_are_one_line_errors(
    validate: ModuleType, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = small_data(tmp_path / "data.extxyz")
    missing = tmp_path / "nope.pt"
    argv = ["rdf", "--model", str(missing), "--data", str(data), "--work", str(tmp_path)]
    assert validate.main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and str(missing) in err
    argv = ["density", "--data", str(tmp_path / "none.extxyz"), "--work", str(tmp_path)]
    assert validate.main(argv) == 2
    assert "none.extxyz" in capsys.readouterr().err
    assert validate.main(["report", "--out", str(tmp_path / "empty")]) == 2


# -------------------------------------------------------------------------- LAMMPS


def test_benzene_data_file_is_the_liquid_cell() -> None:
    atoms = read(EXAMPLE / "benzene.data", format="lammps-data", Z_of_type={1: 1, 2: 6})
    assert isinstance(atoms, Atoms)
    assert atoms.get_chemical_formula() == "C48H48"
    np.testing.assert_allclose(atoms.cell.lengths(), np.full(3, 10.6051358), atol=1e-6)
    density = atoms.get_masses().sum() * _amu * 1e3 / (atoms.get_volume() * 1e-24)
    assert density == pytest.approx(0.87, abs=1e-3)


def test_lammps_benzene_input_runs(lammps_plugin: Path, tmp_path: Path) -> None:
    from fusionpot.lammps import lammps_environment, lmp_executable

    command = [str(lmp_executable()), "-in", str(EXAMPLE / "in.npt_nve"), "-log", "log.lammps"]
    for name, value in [
        ("model", MODEL),
        ("data", EXAMPLE / "benzene.data"),
        ("npt_steps", 6),
        ("nve_steps", 4),
        ("thermo_every", 2),
    ]:
        command += ["-var", name, str(value)]
    env = lammps_environment(lammps_plugin.parent)
    env["OMP_NUM_THREADS"] = "1"
    result = subprocess.run(
        command, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    rows = []
    for line in result.stdout.splitlines():
        fields = line.split()
        if len(fields) == 6 and fields[0].isdigit():
            rows.append([float(v) for v in fields])
    table = np.array(rows)  # step temp pe etotal press density
    assert table[:, 0].tolist() == [0, 2, 4, 6, 6, 8, 10]
    assert np.isfinite(table).all()
    assert table[0, 1] == pytest.approx(300.0, rel=1e-6)  # velocity create 300 K
    assert table[:, 5] == pytest.approx(0.869, abs=0.01)  # density, g/cm³
    assert (tmp_path / "density.dat").is_file() and (tmp_path / "benzene.lammpstrj").is_file()


def test_benzene_data_regenerates_from_the_data_set(tmp_path: Path) -> None:
    out = tmp_path / "benzene.data"
    script = EXAMPLE / "make_benzene_data.py"
    result = subprocess.run(
        [sys.executable, str(script), "--out", str(out)], capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert out.read_text() == (EXAMPLE / "benzene.data").read_text()


def test_ase_example_runs_a_few_steps(tmp_path: Path) -> None:
    script = ROOT / "examples" / "ase" / "benzene_nvt.py"
    command = [sys.executable, str(script), "--model", str(MODEL), "--steps", "4"]
    command += ["--device", "cpu", "--write-every", "2", "--out", str(tmp_path / "t.traj")]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    result = subprocess.run(command, capture_output=True, text=True, env=env, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    last = result.stdout.strip().splitlines()[-1]
    assert last.startswith("mean T ") and "ms/step" in last
    assert len(read(tmp_path / "t.traj", ":")) == 3  # steps 0, 2, 4
