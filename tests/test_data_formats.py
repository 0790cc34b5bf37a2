"""Readers for rMD17, PyRAI2MD and SPaiNN data: units, shapes, provenance, errors.

Expected numbers are computed here from the raw files with the conversion factors
written out (CODATA), independently of the readers' own unit table.
"""

from __future__ import annotations

import json
import tarfile
from pathlib import Path

import numpy as np
import pytest
from ase.db import connect
from ase.io import read

from fusionpot.cli import main
from fusionpot.data import convert, read_dataset, read_pyrai2md, read_rmd17, read_spainn
from fusionpot.data.formats import detect_format, unit_factor

DATA = Path(__file__).parents[1].parent / "shared" / "data"
RMD17 = DATA / "rmd17" / "rmd17_ethanol_train_01.npz"
C6F6 = DATA / "multistate" / "hexafluorobenzene_s0s1s2_3051.json.tar.xz"
BUTENE = DATA / "multistate" / "cis-butene_3singlets_101.db"

KCAL_PER_MOL = 4184.0 / 6.02214076e23 / 1.602176634e-19  # eV, = 0.0433641
HARTREE = 27.211386245988  # eV (CODATA 2018; ASE uses 2014, equal to 1e-8)
BOHR = 0.529177210903  # Å
RTOL = 1e-7


def need(path: Path) -> Path:
    if not path.exists():
        pytest.skip(f"{path} is absent: the shared data (../shared/data) is not mounted")
    return path


# ---------------------------------------------------------------- rMD17


def test_rmd17_units_and_shapes_against_raw_npz():
    raw = np.load(need(RMD17))
    frames = read_rmd17(RMD17, [0, 7, -1])
    assert [a.info["source_index"] for a in frames] == [0, 7, 999]
    for atoms, index in zip(frames, [0, 7, 999], strict=True):
        assert atoms.numbers.tolist() == raw["nuclear_charges"].tolist()
        np.testing.assert_array_equal(atoms.positions, raw["coords"][index])
        assert atoms.info["energy"] == pytest.approx(raw["energies"][index] * KCAL_PER_MOL, RTOL)
        assert atoms.arrays["forces"].shape == (9, 3)
        np.testing.assert_allclose(
            atoms.arrays["forces"], raw["forces"][index] * KCAL_PER_MOL, rtol=RTOL
        )
        assert atoms.info["source"] == RMD17.name
        assert "kcal/mol" in atoms.info["units_converted"]


def test_rmd17_missing_key_and_bad_shape_are_named(tmp_path):
    path = tmp_path / "bad.npz"
    coords = np.zeros((2, 3, 3))
    np.savez(path, nuclear_charges=[1, 1, 8], coords=coords, energies=np.zeros(2))
    with pytest.raises(ValueError, match=r"bad\.npz.*missing keys \['forces'\]"):
        read_rmd17(path)
    np.savez(path, nuclear_charges=[1, 1, 8], coords=coords, energies=[0.0], forces=coords)
    with pytest.raises(ValueError, match=r"coords has shape \(2, 3, 3\)"):
        read_rmd17(path)
    np.savez(path, nuclear_charges=[1, 1, 8], coords=coords, energies=[0.0, 0], forces=coords)
    with pytest.raises(IndexError, match=r"frame 5 requested, the file has 2"):
        read_rmd17(path, [5])
    np.savez(path, nuclear_charges=[1, 1, 150], coords=coords, energies=[0.0, 0], forces=coords)
    with pytest.raises(ValueError, match=r"frame 0 of bad\.npz: atomic number 150"):
        read_rmd17(path)


# ---------------------------------------------------------------- PyRAI2MD


@pytest.fixture(scope="module")
def c6f6_raw():
    with tarfile.open(need(C6F6)) as archive:
        (member,) = [m for m in archive.getmembers() if m.name.endswith(".json")]
        handle = archive.extractfile(member)
        assert handle is not None
        return json.load(handle)


def test_pyrai2md_units_and_shapes_against_raw_json(c6f6_raw):
    natom, nstate, xyz, _, energy, grad, *_ = c6f6_raw
    frames = read_pyrai2md(C6F6, slice(0, 2000, 997))
    assert [a.info["source_index"] for a in frames] == [0, 997, 1994]
    for atoms in frames:
        i = atoms.info["source_index"]
        assert len(atoms) == natom == 12
        assert atoms.get_chemical_symbols() == [row[0] for row in xyz[i]]
        np.testing.assert_allclose(atoms.positions, [[float(x) for x in r[1:]] for r in xyz[i]])
        for k in range(nstate):
            assert atoms.info[f"energy_s{k}"] == pytest.approx(energy[i][k] * HARTREE, RTOL)
            expected = -np.array(grad[i][k]) * HARTREE / BOHR
            np.testing.assert_allclose(atoms.arrays[f"forces_s{k}"], expected, rtol=RTOL)
        assert "energy" not in atoms.info and "forces" not in atoms.arrays
        assert not any(key.startswith("nac") for key in atoms.arrays)  # all-zero in the source


def test_pyrai2md_forces_are_minus_the_energy_gradient():
    """Between nearest-neighbour frames, ΔE ≈ −F̄·Δx: the sign flip is right."""
    frames = read_pyrai2md(need(C6F6), slice(0, 150))
    positions = np.array([a.positions for a in frames])
    agree = []
    for a, atoms in enumerate(frames):
        distance = ((positions - positions[a]) ** 2).sum(axis=(1, 2))
        distance[a] = np.inf
        b = int(distance.argmin())
        step = positions[b] - positions[a]
        for k in range(3):
            mean_force = (atoms.arrays[f"forces_s{k}"] + frames[b].arrays[f"forces_s{k}"]) / 2
            predicted = -(mean_force * step).sum()
            actual = frames[b].info[f"energy_s{k}"] - atoms.info[f"energy_s{k}"]
            agree.append(abs(predicted - actual) < abs(predicted + actual))
    assert np.mean(agree) > 0.85


def _pyrai2md_file(path: Path, xyz, energy, grad, nac) -> Path:
    path.write_text(json.dumps([len(xyz[0]), len(energy[0]), xyz, [], energy, grad, nac, [], []]))
    return path


def test_pyrai2md_errors_name_frame_and_problem(tmp_path):
    water = [["O", "0", "0", "0"], ["H", "0.96", "0", "0"], ["H", "-0.24", "0.93", "0"]]
    grad = [np.zeros((2, 3, 3)).tolist()] * 2
    good = _pyrai2md_file(tmp_path / "ok.json", [water, water], [[0, 0.1]] * 2, grad, [])
    assert len(read_pyrai2md(good)) == 2
    bad = [water, [["Xx", "0", "0", "0"], *water[1:]]]
    path = _pyrai2md_file(tmp_path / "el.json", bad, [[0, 0.1]] * 2, grad, [])
    with pytest.raises(ValueError, match=r"frame 1 of el\.json: unknown element 'Xx'"):
        read_pyrai2md(path)
    short = [grad[0], np.zeros((2, 2, 3)).tolist()]
    path = _pyrai2md_file(tmp_path / "grad.json", [water, water], [[0, 0.1]] * 2, short, [])
    with pytest.raises(ValueError, match=r"frame 1: grad has shape \(2, 2, 3\)"):
        read_pyrai2md(path)
    nac = [np.ones((1, 3, 3)).tolist()] * 2
    path = _pyrai2md_file(tmp_path / "nac.json", [water, water], [[0, 0.1]] * 2, grad, nac)
    with pytest.raises(ValueError, match=r"frame 0: non-zero NACs"):
        read_pyrai2md(path)
    assert len(read_pyrai2md(path, ignore_nacs=True)) == 2
    (tmp_path / "list.json").write_text(json.dumps({"xyz": []}))
    with pytest.raises(ValueError, match="not PyRAI2MD data"):
        read_pyrai2md(tmp_path / "list.json")


# ---------------------------------------------------------------- SPaiNN


def test_spainn_units_shapes_and_nac_pairs_against_raw_db():
    rows = list(connect(need(BUTENE)).select(sort="id"))
    frames = read_spainn(BUTENE, [3, 50])
    for atoms, row in zip(frames, [rows[3], rows[50]], strict=True):
        assert atoms.info["db_id"] == row.id
        np.testing.assert_allclose(atoms.positions, row.positions * BOHR, rtol=RTOL)
        energy = row.data["energy"][0]
        for k in range(3):
            assert atoms.info[f"energy_s{k}"] == pytest.approx(energy[k] * HARTREE, RTOL)
            expected = row.data["forces"][:, k] * HARTREE / BOHR
            np.testing.assert_allclose(atoms.arrays[f"forces_s{k}"], expected, rtol=RTOL)
        # SPaiNN's smooth NACs are (E_i − E_j)·d_ij: they fix which pair is which column
        for column, (i, j) in enumerate([(0, 1), (0, 2), (1, 2)]):
            nac = atoms.arrays[f"nac_s{i}{j}"]  # 1/Å
            assert nac.shape == (12, 3)
            np.testing.assert_allclose(nac * BOHR, row.data["nacs"][:, column], rtol=RTOL)
            smooth = nac * BOHR * (energy[i] - energy[j])
            np.testing.assert_allclose(smooth, row.data["smooth_nacs"][:, column], atol=1e-6)
        assert atoms.info["nac_units"] == "1/Å"


def test_spainn_rejects_a_plain_ase_database(tmp_path):
    from ase.build import molecule

    path = tmp_path / "plain.db"
    connect(path).write(molecule("H2O"))
    with pytest.raises(ValueError, match="lacks _distance_unit"):
        read_spainn(path)


# ---------------------------------------------------------------- convert


def test_round_trip_through_extxyz(tmp_path):
    for source, indices in ((RMD17, [1, 2]), (BUTENE, slice(0, 3))):
        frames = read_dataset(need(source), indices=indices)
        out = tmp_path / f"{source.stem}.extxyz"
        assert convert(source, out, indices=indices) == len(frames)
        back = read(out, ":")
        assert len(back) == len(frames)
        for original, copy in zip(frames, back, strict=True):
            np.testing.assert_allclose(copy.positions, original.positions, atol=1e-8)
            for key, value in original.arrays.items():
                if key.startswith(("forces", "nac")) and key != "forces":
                    np.testing.assert_allclose(copy.arrays[key], value, atol=1e-8)
            if "energy" in original.info:  # ASE moves energy/forces onto a calculator
                assert copy.get_potential_energy() == pytest.approx(original.info["energy"])
                np.testing.assert_allclose(copy.get_forces(), original.arrays["forces"], atol=1e-8)
            for key in ("source", "source_index", "units_converted"):
                assert copy.info[key] == original.info[key]


def test_cli_convert_indices_and_max_frames(tmp_path, capsys):
    out = tmp_path / "c6f6.extxyz"
    code = main(
        ["convert", str(need(C6F6)), "-o", str(out), "--indices", "10:40:5", "--max-frames", "3"]
    )
    assert code == 0 and "wrote 3 frames" in capsys.readouterr().out
    frames = read(out, ":")
    assert [a.info["source_index"] for a in frames] == [10, 15, 20]
    assert sorted(k for k in frames[0].info if k.startswith("energy")) == [
        "energy_s0",
        "energy_s1",
        "energy_s2",
    ]


def test_format_detection_and_units():
    assert detect_format("x.npz") == "rmd17" and detect_format("y.db") == "spainn"
    with pytest.raises(ValueError, match=r"cannot tell the format of z\.h5"):
        detect_format("z.h5")
    assert unit_factor("Hartree/Bohr") == pytest.approx(HARTREE / BOHR, rel=RTOL)
    assert unit_factor("kcal/mol") == pytest.approx(KCAL_PER_MOL, rel=RTOL)
    with pytest.raises(ValueError, match="unknown unit 'furlong'"):
        unit_factor("eV/furlong")
