"""The liquid-benzene data script (campaigns/benzene_liquid/make_data.py) on one molecule."""

from __future__ import annotations

import sys
from pathlib import Path
from types import ModuleType

import numpy as np
import pytest
from ase import Atoms
from ase.calculators.singlepoint import SinglePointCalculator
from ase.units import GPa, _amu
from load_script import load_script

from fusionpot.labels import XTBLabeller
from fusionpot.labels.store import read_complete_frames

HERE = Path(__file__).resolve().parents[1] / "campaigns" / "benzene_liquid"


def _tblite_available() -> bool:
    try:
        import tblite.ase  # noqa: F401
    except ImportError:
        return False
    return True


needs_tblite = pytest.mark.skipif(
    not _tblite_available(), reason="tblite not installed (pip install tblite): no xTB labels"
)


def _load(name: str) -> ModuleType:
    if str(HERE) not in sys.path:
        sys.path.insert(0, str(HERE))  # the script imports its sibling liquid_cell.py
    return load_script(HERE / f"{name}.py", name)


@pytest.fixture(scope="module")
def script() -> ModuleType:
    return _load("make_data")


@pytest.fixture(scope="module")
def cell() -> ModuleType:
    return _load("liquid_cell")


def _tiny(script: ModuleType):
    """One benzene in a 7.6 Å box, two conditions, frames every 1 fs after 0.5 fs."""
    return script.Settings(
        conditions=((300.0, 1.0), (450.0, 0.95)),
        per_side=1,
        density_g_cm3=0.3,
        equilibration_fs=0.5,
    )


def test_liquid_cell_has_the_density_and_scales_molecules_rigidly(cell: ModuleType) -> None:
    atoms = cell.liquid_cell("C6H6", 2, 0.87, np.random.default_rng(4))
    assert len(atoms) == 96
    density = atoms.get_masses().sum() * _amu * 1e3 / (atoms.get_volume() * 1e-24)
    assert density == pytest.approx(0.87, rel=1e-10)
    mol = atoms.arrays["mol_id"]
    between = np.not_equal.outer(mol, mol)
    assert atoms.get_all_distances(mic=True)[between].min() >= 1.9
    squeezed = cell.scale_volume(atoms, 0.95)
    assert squeezed.get_volume() / atoms.get_volume() == pytest.approx(0.95, rel=1e-12)
    within = ~between
    np.testing.assert_allclose(
        squeezed.get_all_distances()[within], atoms.get_all_distances()[within], atol=1e-12
    )
    # the centres of mass move apart/together by the linear factor
    assert not np.allclose(squeezed.positions, atoms.positions)
    with pytest.raises(ValueError, match="could not place"):
        cell.liquid_cell("C6H6", 2, 1.5, np.random.default_rng(0), tries=20)


@needs_tblite
def test_frames_carry_provenance_and_their_own_labels_and_resume(
    script: ModuleType, tmp_path: Path
) -> None:
    settings = _tiny(script)
    out, straight = tmp_path / "resumed", tmp_path / "straight"
    assert script.make_data(settings, out, 2, 1.0, progress=False) == 2
    first_state = (out / "md_state.json").read_text()
    assert script.make_data(settings, out, 4, 1.0, progress=False) == 4
    assert script.make_data(settings, straight, 4, 1.0, progress=False) == 4

    frames = read_complete_frames(out / "labelled.extxyz")
    assert [(f.info["subset"], f.info["md_step"]) for f in frames] == [
        ("T300_V1", 3),
        ("T450_V0.95", 3),
        ("T300_V1", 5),
        ("T450_V0.95", 5),
    ]
    for frame in frames:
        assert frame.info["method"] == "GFN1-xTB" and frame.info["program"].startswith("tblite")
        assert frame.info["basis"] == "minimal (xTB)"  # read back intact
        assert frame.info["md_time_fs"] == frame.info["md_step"] * 0.5
        assert frame.info["seed"] == 0 and frame.info["timestep_fs"] == 0.5
        assert frame.info["temperature_K"] in (300.0, 450.0)
    volumes = {f.info["volume_scale"]: f.get_volume() for f in frames}
    assert volumes[0.95] / volumes[1.0] == pytest.approx(0.95, rel=1e-9)

    # a resumed run continues the same trajectories: same geometries as one straight run
    for a, b in zip(frames, read_complete_frames(straight / "labelled.extxyz"), strict=True):
        np.testing.assert_allclose(a.positions, b.positions, atol=1e-6)

    # the labels are those of the frame's own geometry (not of a neighbouring MD step)
    labeller = XTBLabeller(method="GFN1-xTB")
    for frame in frames[1:3]:
        fresh = labeller.label(frame)
        assert frame.info["energy_s0"] == pytest.approx(fresh.energies[0], abs=1e-8)
        assert fresh.forces is not None and fresh.stress is not None
        np.testing.assert_allclose(frame.arrays["forces_s0"], fresh.forces[:, 0], atol=1e-7)
        np.testing.assert_allclose(frame.get_stress(), fresh.stress, atol=1e-9)
    assert frames[0].info["energy_s0"] != frames[2].info["energy_s0"]

    # killed after the pool append of the last two frames but before their state was
    # saved, and mid-way through writing another pool frame: no duplicate, nothing lost
    (out / "md_state.json").write_text(first_state)
    with open(out / "pool.extxyz", "a") as pool:
        pool.write("12\nLattice=")
    assert script.make_data(settings, out, 6, 1.0, progress=False) == 6
    labelled, pool_frames = (
        read_complete_frames(out / "labelled.extxyz"),
        read_complete_frames(out / "pool.extxyz"),
    )
    keys = [(f.info["subset"], f.info["md_step"]) for f in labelled]
    assert len(set(keys)) == len(keys) == len(pool_frames) == 6
    assert len({f.info["frame_id"] for f in labelled}) == 6
    assert sorted(k[1] for k in keys) == [3, 3, 5, 5, 7, 7]


@needs_tblite
def test_a_model_driven_run_records_its_driver_and_labels_with_tblite(
    script: ModuleType, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    model = Path(__file__).parent / "data" / "tiny_model.pt"  # H, C, O; random weights
    settings = _tiny(script).with_driver(model)
    out = tmp_path / "driven"
    assert script.make_data(settings, out, 2, 1.0, progress=False) == 2
    frames = read_complete_frames(out / "labelled.extxyz")
    for frame in frames:
        assert frame.info["md_method"] == settings.md_method
        assert frame.info["subset"] in ("T300_V1_driven_seed0", "T450_V0.95_driven_seed0")
        assert "tiny_model.pt" in frame.info["md_method"]
        assert settings.driver_sha256[:12] in frame.info["md_method"]
        fresh = XTBLabeller(method="GFN1-xTB").label(frame)  # tblite's labels, not the model's
        assert frame.info["energy_s0"] == pytest.approx(fresh.energies[0], abs=1e-8)
    with pytest.raises(FileNotFoundError, match=r"no-such\.pt"):
        _tiny(script).with_driver(tmp_path / "no-such.pt")

    # a geometry with a broken molecule is not kept and its condition stops
    cell = script.ConditionMD(settings, 0, XTBLabeller(method="GFN1-xTB"))
    assert len(cell.bonds) == 12 and script.broken_bond(cell.atoms, cell.bonds) is None
    stretched = cell.atoms.copy()
    i, j = cell.bonds[0]
    stretched.positions[j] += 2.0 * (stretched.positions[j] - stretched.positions[i])
    assert "Å (range" in script.broken_bond(stretched, cell.bonds)
    monkeypatch.setattr(script, "broken_bond", lambda atoms, bonds: "C0–C1 at 9 Å")
    assert script.make_data(settings, tmp_path / "broken", 2, 1.0, progress=False) == 0
    assert not (tmp_path / "broken" / "pool.extxyz").exists()


@needs_tblite
def test_resuming_with_other_settings_is_refused(script: ModuleType, tmp_path: Path) -> None:
    out = tmp_path / "data"
    args = ["--out", str(out), "--conditions", "300:1", "--per-side", "1", "--density", "0.3"]
    args += ["--equilibration-fs", "0.5", "--stride-fs", "0.5", "--no-progress"]
    assert script.main(["--frames", "1", *args]) == 0
    other = script.Settings(
        conditions=((300.0, 1.0),), per_side=1, density_g_cm3=0.3, equilibration_fs=0.5, seed=7
    )
    with pytest.raises(ValueError, match="seed 0 there, 7 asked"):
        script.make_data(other, out, 2, 0.5)
    assert script.main(["--frames", "1", *args, "--seed", "7"]) == 2
    with script.exclusive(out), pytest.raises(ValueError, match=r"another make_data\.py"):
        script.make_data(_tiny(script), out, 1, 0.5)
    assert script.main(["--frames", "1", *args, "--conditions", "300"]) == 2
    assert len(read_complete_frames(out / "labelled.extxyz")) == 1


def _condition_frames(n: int, subset: str, stress_ev_a3: float) -> list[Atoms]:
    frames = []
    for step in np.random.default_rng(0).permutation(n) * 20 + 220:
        atoms = Atoms("H2", positions=[[0, 0, 0], [0.74, 0, 0]], cell=np.eye(3) * 5, pbc=True)
        atoms.info.update(subset=subset, md_step=int(step), md_time_fs=step * 0.5, energy_s0=-1.0)
        atoms.calc = SinglePointCalculator(atoms, stress=[stress_ev_a3] * 3 + [0.0] * 3)
        frames.append(atoms)
    return frames


def test_test_split_is_the_last_time_block_of_every_condition() -> None:
    split = _load("split_data")
    frames = _condition_frames(11, "T300_V1", 0.0) + _condition_frames(4, "T450_V1", 0.0)
    train, test = split.time_block_split(frames, 0.1)
    assert len(train) + len(test) == 15 and len(test) == 2 + 1
    assert {id(a) for a in train}.isdisjoint(id(a) for a in test)
    for subset in ("T300_V1", "T450_V1"):
        last_train = max(a.info["md_step"] for a in train if a.info["subset"] == subset)
        first_test = min(a.info["md_step"] for a in test if a.info["subset"] == subset)
        assert last_train < first_test
    with pytest.raises(ValueError, match="test fraction"):
        split.time_block_split(frames, 1.0)


def test_split_holds_out_named_data_sets(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from ase.io import read, write

    split = _load("split_data")
    data = tmp_path / "data"
    sets = {"": ("T300_V1", 10), "driven_1": ("T300_driven", 10), "driven_5": ("T300_NPT", 5)}
    for folder, (subset, n) in sets.items():
        (data / folder).mkdir(parents=True, exist_ok=True)
        write(data / folder / "labelled.extxyz", _condition_frames(n, subset, 0.0))
    out = tmp_path / "out"
    split.main(["--data", str(data), "--out", str(out), "--hold-out", "driven_5"])
    train, test = read(out / "train.extxyz", ":"), read(out / "test.extxyz", ":")
    assert len(train) + len(test) == 20 and len(test) == 2  # one per kept condition
    assert {a.info["subset"] for a in train + test} == {"T300_V1", "T300_driven"}
    assert "18 train, 2 test frames" in capsys.readouterr().out
    split.main(["--data", str(data), "--out", str(out)])  # nothing held out: all 25
    assert len(read(out / "train.extxyz", ":")) + len(read(out / "test.extxyz", ":")) == 25
    with pytest.raises(SystemExit) as stop:
        split.main(["--data", str(data), "--out", str(out), "--hold-out", "driven_9"])
    assert stop.value.code == 2
    assert "--hold-out driven_9: no " in capsys.readouterr().err


def test_summary_pressure_is_minus_the_mean_normal_stress() -> None:
    summarise = _load("summarise")
    squeezed = _condition_frames(3, "T300_V0.95", -0.01)  # compressive stress: P > 0
    assert summarise.pressure_gpa(squeezed[0]) == pytest.approx(0.01 / GPa)
    text = summarise.table(squeezed + _condition_frames(2, "T300_V1.05", 0.002))
    assert "| T300_V0.95 | 3 | 110–130 |" in text and f"{0.01 / GPa:.2f} ± 0.00" in text
    assert "5 labelled frames" in text
