"""Sampling: Wigner statistics, seam steps, constrained scans, pyramidalisation, pools."""

from __future__ import annotations

import tempfile

import numpy as np
import pytest
from ase import Atoms
from ase.build import molecule
from ase.calculators.emt import EMT
from ase.io import read, write
from ase.vibrations import Vibrations

from fusionpot.cli import main as cli_main
from fusionpot.sampling import (
    hot_md,
    interleave,
    normal_modes,
    pyramidalise,
    relaxed_scan,
    seam_steps,
    wigner_positions,
)


def _xtb():
    tblite_ase = pytest.importorskip("tblite.ase", reason="tblite not installed")
    return tblite_ase.TBLite(method="GFN2-xTB", verbosity=0)


def _relaxed_water(calc) -> Atoms:
    from ase.optimize import BFGS

    atoms = molecule("H2O")
    atoms.calc = calc
    BFGS(atoms, logfile=None).run(fmax=1e-4)
    atoms.calc = None
    return atoms


def test_wigner_mean_potential_energy_is_quarter_hbar_omega_per_mode():
    calc = _xtb()
    water = _relaxed_water(calc)
    energies, modes = normal_modes(water, calc)
    assert energies.shape == (3,) and modes.shape == (3, 3, 3)
    assert np.all(energies > 0.1) and np.all(energies < 0.6)  # bend and stretches, eV
    samples = wigner_positions(water, energies, modes, 3000, np.random.default_rng(1))
    work = water.copy()
    work.calc = calc
    with tempfile.TemporaryDirectory() as tmp:
        vib = Vibrations(work, name=f"{tmp}/vib")
        vib.run()
        hessian = vib.get_vibrations().get_hessian_2d()
    dx = np.array([(s.positions - water.positions).ravel() for s in samples])
    mean_v = 0.5 * np.mean(np.einsum("si,ij,sj->s", dx, hessian, dx))
    assert mean_v == pytest.approx(energies.sum() / 4, rel=0.06)


def test_wigner_rejects_negative_temperature():
    with pytest.raises(ValueError, match="temperature"):
        wigner_positions(
            Atoms("H2"), np.ones(1), np.zeros((1, 2, 3)), 1, np.random.default_rng(), -1.0
        )


def test_seam_step_closes_a_linear_gap_exactly():
    rng = np.random.default_rng(3)
    positions = rng.normal(size=(4, 3))
    g0, g1 = rng.normal(size=(4, 3)), rng.normal(size=(4, 3))  # dE/dx of each state, eV/Å

    def energies(x):
        return 1.0 + np.sum(g0 * (x - positions)), 3.5 + np.sum(g1 * (x - positions))

    frame = Atoms("CH3", positions=positions)
    frame.info.update(energy_s0=1.0, energy_s1=3.5)
    frame.arrays["forces_s0"], frame.arrays["forces_s1"] = -g0, -g1
    full, half = seam_steps(frame, scales=(1.0, 0.5))
    e0, e1 = energies(full.positions)
    assert e1 - e0 == pytest.approx(0.0, abs=1e-12)
    e0, e1 = energies(half.positions)
    assert e1 - e0 == pytest.approx(1.25)
    with pytest.raises(ValueError, match="forces_s0"):
        seam_steps(Atoms("H", info={"energy_s0": 0.0, "energy_s1": 1.0}))


def test_seam_cli_climbs_past_frames_at_the_seam_and_parents_done(tmp_path):
    """``fusionpot sample seam`` steps from the lowest gaps that are not at the seam
    already and not stepped from before: repeated calls reach new parents."""
    rng = np.random.default_rng(5)
    frames = []
    for k, gap in enumerate((0.05, 0.5, 3.0, 1.0, 0.02, 0.7)):
        frame = Atoms("CH3", positions=rng.normal(size=(4, 3)))
        frame.info.update(frame_id=f"f{k}", energy_s0=-1.0, energy_s1=-1.0 + gap)
        frame.arrays["forces_s0"], frame.arrays["forces_s1"] = rng.normal(size=(2, 4, 3))
        frames.append(frame)
    labelled, out = tmp_path / "labels.extxyz", tmp_path / "seam.extxyz"
    write(labelled, frames, format="extxyz")
    args = ["sample", "seam", str(labelled), "-o", str(out), "--n-lowest", "2", "--scales", "1.0"]
    parents = []
    for _ in range(3):
        assert cli_main([*args, "--max-gap", "2.6", "--min-gap", "0.1"]) == 0
        parents.append([f.info["parent_id"] for f in read(out, ":")])
    assert parents == [["f1", "f5"], ["f3", "f1", "f5"], ["f3", "f1", "f5"]]


def test_pyramidalise_moves_the_centre_out_of_its_neighbours_plane():
    atoms = molecule("C2H4")
    out = pyramidalise(atoms, 0, (1, 2, 3), 0.3)
    n0, n1, n2 = out.positions[[1, 2, 3]]
    normal = np.cross(n1 - n0, n2 - n0)
    normal /= np.linalg.norm(normal)
    assert abs(np.dot(out.positions[0] - n0, normal)) == pytest.approx(0.3, abs=1e-9)
    assert np.allclose(out.positions[1:], atoms.positions[1:])
    with pytest.raises(ValueError, match="3 neighbours"):
        pyramidalise(atoms, 0, (1, 2), 0.3)


def test_relaxed_scan_holds_the_torsion_and_bond():
    calc = _xtb()
    h2o2 = molecule("H2O2")
    points = relaxed_scan(h2o2, calc, values=[100.0, 140.0], dihedral=(2, 0, 1, 3), fmax=0.1)
    for point, value in zip(points, (100.0, 140.0), strict=True):
        assert point.get_dihedral(2, 0, 1, 3) == pytest.approx(value, abs=0.5)
        assert point.info["scan_value"] == value
    stretched = relaxed_scan(h2o2, calc, values=[1.6], bond=(0, 1), fmax=0.1)[0]
    assert stretched.get_distance(0, 1) == pytest.approx(1.6, abs=1e-3)
    with pytest.raises(ValueError, match="exactly one"):
        relaxed_scan(h2o2, calc, values=[1.0])


def test_hot_md_gives_distinct_timed_frames():
    cluster = Atoms("Cu4", positions=[[0, 0, 0], [2.5, 0, 0], [0, 2.5, 0], [0, 0, 2.5]])
    frames = hot_md(
        cluster,
        EMT(),
        temperature=800.0,
        n_frames=3,
        stride_fs=5.0,
        equilibration_fs=5.0,
        rng=np.random.default_rng(0),
    )
    assert [f.info["md_time_fs"] for f in frames] == [10.0, 15.0, 20.0]
    assert not np.allclose(frames[0].positions, frames[1].positions)


def test_interleave_puts_priority_subsets_first_and_round_robins_the_rest():
    subsets = {name: [Atoms("H") for _ in range(n)] for name, n in (("a", 3), ("b", 1), ("c", 2))}
    pool = interleave(subsets, first=("b",))
    assert [f.info["subset"] for f in pool] == ["b", "a", "c", "a", "c", "a"]
    with pytest.raises(ValueError, match="unknown subsets"):
        interleave(subsets, first=("z",))


# --- sampled frames never carry their parent's labels -----------------------------------


def _labelled_parent(atoms: Atoms) -> Atoms:
    """``atoms`` as a labelled file holds it: labels, how they were made, a calculator."""
    from ase.calculators.singlepoint import SinglePointCalculator

    out = atoms.copy()
    rng = np.random.default_rng(7)
    n = len(out)
    out.info.update(
        energy_s0=-10.0, energy_s1=-7.0, energy_s2=-6.5, free_energy=-10.0, stress=np.zeros(6),
        program="OpenQP 1.2.1", method="MRSF-TDDFT", basis="6-31G", wall_s=3.0,
        scf_iterations=20, frame_id="feedc0de00000000", subset="minimum_xtb", seed_index=4,
    )  # fmt: skip
    for k in range(3):
        out.arrays[f"forces_s{k}"] = rng.normal(size=(n, 3))
    out.arrays["momenta"] = rng.normal(size=(n, 3))
    out.calc = SinglePointCalculator(out, energy=-10.0, forces=np.zeros((n, 3)))
    return out


def _assert_no_labels(frames, *, parent_id="feedc0de00000000", inherited=True):
    from fusionpot.labels.runner import is_label_key

    assert frames
    for frame in frames:
        leaked = [k for k in (*frame.info, *frame.arrays) if is_label_key(k)]
        assert leaked == [] and frame.calc is None and "momenta" not in frame.arrays, leaked
        assert frame.info["parent_id"] == parent_id
        assert ("seed_index" in frame.info) == inherited


def test_samplers_return_geometry_and_provenance_never_the_parents_labels():
    """Wigner, pyramidalisation, relaxed scans, hot MD and seam steps from a labelled
    parent: new positions, the parent's provenance and id, none of its labels."""
    rng = np.random.default_rng(0)
    h2o2 = _labelled_parent(molecule("H2O2"))
    modes = rng.normal(size=(2, 4, 3))
    samples = wigner_positions(h2o2, np.array([0.1, 0.2]), modes, 2, rng)
    _assert_no_labels(samples)
    assert samples[0].info["subset"] == "minimum_xtb" and samples[0].info["seed_index"] == 4
    _assert_no_labels([pyramidalise(h2o2, 0, (1, 2, 3), 0.2)])
    _assert_no_labels(relaxed_scan(h2o2, EMT(), values=[120.0], dihedral=(2, 0, 1, 3), fmax=1.0))
    cluster = _labelled_parent(
        Atoms("Cu4", positions=[[0, 0, 0], [2.5, 0, 0], [0, 2.5, 0], [0, 0, 2.5]])
    )
    _assert_no_labels(
        hot_md(
            cluster,
            EMT(),
            temperature=500.0,
            n_frames=2,
            stride_fs=1.0,
            equilibration_fs=1.0,
            rng=rng,
        )
    )
    steps = seam_steps(h2o2, scales=(1.0, 0.5))
    _assert_no_labels(steps, inherited=False)
    assert [s.info for s in steps] == [
        {"parent_id": "feedc0de00000000", "seam_scale": s} for s in (1.0, 0.5)
    ]


def test_photoisomer_cli_pool_has_no_labels_from_its_labelled_start_frames(tmp_path, monkeypatch):
    """``fusionpot sample photoisomer`` started from labelled frames (as the stilbene pool
    was, from the seed set): every subset keeps ``seed_index`` and drops the labels."""
    import functools

    from fusionpot.cli import sample as cli_sample
    from fusionpot.sampling import PhotoisomerPlan

    pytest.importorskip("tblite.ase", reason="tblite not installed")
    small = functools.partial(  # the plan's counts cut down to a few frames per subset
        PhotoisomerPlan, n_wigner_dhp=1, torsion_step_deg=60.0, twist_range_deg=(0.0, 180.0),
        pyramidalisation_A=(0.1,), closure_A=(2.4,), md_temperature_K=300.0,
    )  # fmt: skip
    monkeypatch.setattr(cli_sample, "PhotoisomerPlan", small)
    paths = {}
    for name in ("cis", "trans", "dhp"):
        paths[name] = tmp_path / f"{name}.extxyz"
        write(paths[name], _labelled_parent(molecule("H2O2")), format="extxyz")
    out = tmp_path / "pool.extxyz"
    argv = ["sample", "photoisomer", "--cis", str(paths["cis"]), "--trans", str(paths["trans"]),
            "--dhp", str(paths["dhp"]), "--torsion", "2,0,1,3", "--centre", "0",
            "--centre-neighbours", "1,2,3", "--ring-closure", "2,3", "--n-wigner", "2",
            "--n-md", "2", "-o", str(out)]  # fmt: skip
    assert cli_main(argv) == 0
    pool = read(out, ":")
    assert {f.info["subset"] for f in pool} == {
        "wigner_cis", "wigner_trans", "wigner_dhp", "torsion_scan", "twisted_pyramidalised",
        "dhp_path", "md_hot", "minimum_xtb",
    }  # fmt: skip
    _assert_no_labels(pool)


def test_seam_cli_output_has_no_labels_even_from_a_stale_output_file(tmp_path):
    rng = np.random.default_rng(2)
    parent = _labelled_parent(Atoms("CH3", positions=rng.normal(size=(4, 3))))
    labelled, out = tmp_path / "labels.extxyz", tmp_path / "seam.extxyz"
    write(labelled, parent, format="extxyz")
    stale = _labelled_parent(Atoms("CH3", positions=rng.normal(size=(4, 3))))
    stale.calc = None
    del stale.arrays["momenta"]
    stale.info.update(parent_id="feedc0de00000000", frame_id="0123456789abcdef")  # an old step
    write(out, stale, format="extxyz")
    stored = read(out, 0).positions
    argv = ["sample", "seam", str(labelled), "-o", str(out), "--scales", "1.0", "--max-gap", "9"]
    assert cli_main(argv) == 0
    frames = read(out, ":")
    assert len(frames) == 1  # the parent was stepped from before (the stale frame says so)
    _assert_no_labels(frames)
    np.testing.assert_array_equal(frames[0].positions, stored)  # the same geometry, bit for bit
