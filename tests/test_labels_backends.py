"""Backends on tiny systems: finite differences, state ordering, provenance, bad input."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from ase import Atoms
from ase.build import bulk, molecule

from fusionpot.labels import (
    LabelError,
    OpenQPLabeller,
    ProgramNotFoundError,
    XTBLabeller,
    check_atoms,
)
from fusionpot.labels.openqp import find_executable, parse_openqp_log

needs_openqp = pytest.mark.skipif(
    find_executable("openqp") is None, reason="OpenQP not installed (pip install openqp==1.2.1)"
)


def _tblite_available() -> bool:
    try:
        import tblite.ase  # noqa: F401
    except ImportError:
        return False
    return True


needs_tblite = pytest.mark.skipif(not _tblite_available(), reason="tblite not installed")


def _ethylene(twist_deg: float = 0.0) -> Atoms:
    atoms = molecule("C2H4")
    atoms.rattle(0.02, seed=1)
    if twist_deg:
        atoms.set_dihedral(
            2, 0, 1, 4, atoms.get_dihedral(2, 0, 1, 4) + twist_deg, indices=[1, 4, 5]
        )
    return atoms


def _central_difference(labeller, atoms: Atoms, atom: int, axis: int, h: float) -> np.ndarray:
    plus, minus = atoms.copy(), atoms.copy()
    plus.positions[atom, axis] += h
    minus.positions[atom, axis] -= h
    e_plus = labeller.label(plus, forces=False).energies
    e_minus = labeller.label(minus, forces=False).energies
    return -(e_plus - e_minus) / (2 * h)


@needs_tblite
def test_xtb_forces_are_minus_energy_gradient():
    labeller = XTBLabeller(accuracy=0.01)
    atoms = _ethylene()
    label = labeller.label(atoms)
    assert label.forces is not None and label.forces.shape == (6, 1, 3)
    for atom, axis in ((0, 2), (3, 1)):
        numeric = _central_difference(labeller, atoms, atom, axis, 1e-3)
        assert label.forces[atom, 0, axis] == pytest.approx(numeric[0], abs=2e-3)
    assert label.provenance["program"].startswith("tblite")
    assert label.provenance["method"] == "GFN2-xTB"


@needs_tblite
def test_xtb_periodic_stress_is_strain_derivative():
    labeller = XTBLabeller(method="GFN1-xTB", accuracy=0.01)
    atoms = bulk("Si", "diamond", a=5.43)
    label = labeller.label(atoms)
    assert label.stress is not None and label.stress.shape == (6,)
    eps = 1e-3
    energies = []
    for sign in (1, -1):
        strained = atoms.copy()
        cell = strained.cell.array.copy()
        cell[:, 0] *= 1 + sign * eps
        strained.set_cell(cell, scale_atoms=True)
        energies.append(labeller.label(strained, forces=False).energies[0])
    numeric = (energies[0] - energies[1]) / (2 * eps) / atoms.get_volume()
    assert label.stress[0] == pytest.approx(numeric, abs=2e-4)


@needs_openqp
def test_openqp_mrsf_states_gradients_and_provenance():
    # formaldehyde: S0, S1 (n-pi*) and S2 are eV apart, so finite differences are clean
    # (near an S1/S2 avoided crossing, e.g. in ethylene/STO-3G with a 0.05 eV gap, they
    # need steps below 5e-4 Å to approach the analytic gradient)
    labeller = OpenQPLabeller(basis="sto-3g", threads=2)
    atoms = molecule("H2CO")
    atoms.rattle(0.02, seed=1)
    label = labeller.label(atoms)
    assert label.energies.shape == (3,) and label.forces is not None
    assert label.forces.shape == (4, 3, 3)
    assert label.energies[1] - label.energies[0] > 2.0
    assert np.all(np.diff(label.energies) >= 0)
    for key in ("program", "method", "functional", "basis", "wall_s", "scf_iterations"):
        assert key in label.provenance
    assert label.provenance["program"].startswith("OpenQP")
    assert label.provenance["method"] == "MRSF-TDDFT"
    # forces of every state equal minus the finite-difference gradient of its energy
    for atom, axis in ((1, 2), (2, 1)):
        numeric = _central_difference(labeller, atoms, atom, axis, 2e-3)
        np.testing.assert_allclose(label.forces[atom, :, axis], numeric, atol=2e-2)


@needs_openqp
def test_openqp_s1_above_s0_away_from_the_twist():
    labeller = OpenQPLabeller(basis="sto-3g", threads=2)
    planar = labeller.label(_ethylene(), forces=False).energies
    twisted = labeller.label(_ethylene(90.0), forces=False).energies
    assert planar[1] - planar[0] > 5.0
    assert twisted[1] - twisted[0] < 0.5 * (planar[1] - planar[0])


@needs_openqp
def test_openqp_orbital_guess_changes_nothing_but_the_start(tmp_path: Path):
    labeller = OpenQPLabeller(basis="sto-3g", threads=2)
    atoms = _ethylene()
    orbitals = tmp_path / "orbitals.json"
    labeller.label(atoms, forces=False, save_orbitals=orbitals)
    assert orbitals.exists()
    moved = atoms.copy()
    moved.positions[0, 2] += 0.03
    fresh = labeller.label(moved, forces=False)
    reused = labeller.label(moved, forces=False, guess=orbitals)
    assert reused.provenance["guess"] != "huckel"
    np.testing.assert_allclose(reused.energies, fresh.energies, atol=1e-5)


def test_parse_openqp_log_reports_unconverged_scf():
    log = "PyOQP: SCF energy is not converged\n"
    with pytest.raises(LabelError, match="SCF energy"):
        parse_openqp_log(log, n_states=3, n_atoms=6)
    with pytest.raises(LabelError, match="Z-vector"):
        parse_openqp_log("PyOQP: TD Z-vector is not converged\n", n_states=3, n_atoms=6)
    with pytest.raises(LabelError, match="no final energies"):
        parse_openqp_log("Direct SCF iterations begin.\n", n_states=3, n_atoms=6)


def test_parse_openqp_log_accepts_a_recovered_scf_and_converts_nothing():
    log = (
        "PyOQP: SCF not converged; escalating to trah\n"
        "Final ROHF energy is   -78.3533197221 after  12 iterations\n"
        "PyOQP: Final Energy\n PyOQP S0   -78.50684664\n PyOQP S1   -78.20004041\n"
        "PyOQP: Final Gradient\n PyOQP electronic gradients\n PyOQP S0\n"
        " H  0.1 0.2 -0.3\n PyOQP S1\n H  -0.5 0.0 1.0\n PyOQP dftd correction\n"
    )
    parsed = parse_openqp_log(log, n_states=2, n_atoms=1)
    np.testing.assert_allclose(parsed["energies"], [-78.50684664, -78.20004041])
    # [n_atoms, n_states, 3]: atoms first, as every per-state array
    np.testing.assert_allclose(parsed["gradients"], [[[0.1, 0.2, -0.3], [-0.5, 0.0, 1.0]]])
    assert parsed["scf_iterations"] == 12


def test_missing_program_is_a_clear_error():
    labeller = OpenQPLabeller(executable="openqp-not-installed-here")
    with pytest.raises(ProgramNotFoundError, match="openqp-not-installed-here"):
        labeller.label(_ethylene())


def test_bad_geometries_are_rejected_by_name():
    nan = _ethylene()
    nan.positions[3, 1] = np.nan
    with pytest.raises(ValueError, match=r"non-finite coordinates on atom\(s\) \[3\]"):
        check_atoms(nan)
    dummy = Atoms("XH", positions=[[0, 0, 0], [0, 0, 1]])
    with pytest.raises(ValueError, match=r"unsupported element\(s\) \['X'\]"):
        check_atoms(dummy)
    heavy = Atoms("UH", positions=[[0, 0, 0], [0, 0, 2]])
    with pytest.raises(ValueError, match=r"\['U'\]"):
        OpenQPLabeller().label(heavy)
    with pytest.raises(ValueError, match="periodic"):
        OpenQPLabeller().label(bulk("Si"))
    with pytest.raises(TypeError, match=r"ase\.Atoms"):
        check_atoms("C2H4")  # type: ignore[arg-type]
