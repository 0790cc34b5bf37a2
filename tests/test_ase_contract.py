"""ASE's contract, checked with ASE's own tools (issue 23): per-atom ``energies`` of the
chosen state, per-state ``state_energies``/``state_forces``, parameters that ``set()``
changes and ``todict()`` returns, extxyz and ``ase.db`` round trips, ``SumCalculator``,
``Vibrations``, BFGS, ``FrechetCellFilter``, pickling and a spawned process pool.

All on ``tests/data/tiny_model.pt`` (H, C, O; two states; r_max 3 Å).
"""

from __future__ import annotations

import multiprocessing
import pickle
from pathlib import Path

import ase
import ase.db
import ase.io
import numpy as np
import pytest
import torch
from ase.build import molecule
from ase.calculators.calculator import all_properties
from ase.calculators.lj import LennardJones
from ase.calculators.mixing import SumCalculator
from ase.filters import FrechetCellFilter
from ase.optimize import BFGS
from ase.vibrations import Vibrations
from make_tiny_model import tiny_model

from fusionpot import FusionCalculator
from fusionpot.testing import small_triclinic_cell

MODEL = Path(__file__).parent / "data" / "tiny_model.pt"
PER_STATE = ("state_energies", "state_forces")


def ethanol() -> ase.Atoms:
    atoms = molecule("CH3CH2OH")
    atoms.rattle(0.05, seed=1)
    return atoms


def crystal() -> ase.Atoms:
    return small_triclinic_cell()


def properties_of(atoms: ase.Atoms) -> list[str]:
    implemented = FusionCalculator.implemented_properties
    return [p for p in implemented if p not in ("stress", "stresses") or atoms.pbc.any()]


def evaluate(calc: FusionCalculator, atoms: ase.Atoms) -> dict[str, np.ndarray]:
    """Every property of ``atoms`` (a copy) with ``calc``, as arrays."""
    atoms = atoms.copy()
    atoms.calc = calc
    return {p: np.asarray(calc.get_property(p, atoms)) for p in properties_of(atoms)}


def assert_identical(actual: dict, expected: dict) -> None:
    assert actual.keys() == expected.keys()
    for name in expected:
        np.testing.assert_array_equal(actual[name], expected[name], err_msg=name)


@pytest.fixture(scope="module")
def calc() -> FusionCalculator:
    return FusionCalculator(MODEL, device="cpu")


@pytest.fixture(scope="module")
def in_memory() -> FusionCalculator:
    """The same model from a module in memory (eager FusionMACE), state 1."""
    return FusionCalculator(tiny_model(), device="cpu", state=1)


def test_per_atom_energies_are_the_chosen_states_and_sum_to_its_energy(calc):
    for atoms in (ethanol(), crystal()):
        atoms.calc = calc
        per_state = {}
        for state in (0, 1):
            calc.set(state=state)
            energies = atoms.get_potential_energies()
            assert energies.shape == (len(atoms),) and energies.dtype == np.float64
            energy = atoms.get_potential_energy()
            assert energies.sum() == pytest.approx(energy, rel=0, abs=1e-10)
            assert calc.get_property("state_energies", atoms)[state] == energy
            state_forces = calc.get_property("state_forces", atoms)
            assert state_forces.shape == (2, len(atoms), 3)
            np.testing.assert_array_equal(state_forces[state], atoms.get_forces())
            per_state[state] = energies
        assert np.abs(per_state[1] - per_state[0]).min() > 1e-3  # each state its own
    calc.set(state=0)


def test_set_changes_parameters_drops_results_and_todict_rebuilds(calc, in_memory):
    atoms = crystal()
    atoms.calc = calc
    calc.set(state=0)
    s0 = atoms.get_potential_energy()
    assert calc.todict() == {
        "model": str(MODEL.resolve()),
        "state": 0,
        "device": "cpu",
        "dtype": "float64",
    }
    assert calc.set(state=1) == {"state": 1} and calc.results == {}
    assert atoms.get_potential_energy() != s0
    assert calc.set(state=1, device="cpu", dtype="float64", model=MODEL) == {}
    assert "energy" in calc.results  # nothing changed, nothing dropped
    for bad, error in (({"state": 2}, ValueError), ({"state": 0.0}, TypeError)):
        with pytest.raises(error, match="state"):
            calc.set(**bad)
    with pytest.raises(ValueError, match=r"no parameter \['temperature'\]"):
        calc.set(temperature=300)
    with pytest.raises(ValueError, match="dtype 'float16' is not one of"):
        calc.set(dtype="float16")
    assert calc.todict()["state"] == 1 and "energy" in calc.results  # unchanged
    expected = evaluate(calc, atoms)
    assert_identical(evaluate(FusionCalculator(**calc.todict()), atoms), expected)
    # another dtype (the exported file records its config), and back to the file's own
    assert calc.set(dtype="float32") == {"dtype": "float32"} and calc.results == {}
    float32 = evaluate(calc, atoms)
    assert float32["energy"] == pytest.approx(expected["energy"], abs=1e-4)
    assert float32["energy"] != expected["energy"]
    assert calc.set(dtype=None) == {"dtype": "float64"}
    assert_identical(evaluate(calc, atoms), expected)
    calc.set(state=0)
    # a model in memory has no path to record (pickling carries it instead)
    assert in_memory.todict() == {"model": None, "state": 1, "device": "cpu", "dtype": "float64"}
    with pytest.raises(TypeError, match="records model=None"):
        FusionCalculator(**in_memory.todict())


def test_extxyz_and_db_round_trips_after_every_property(calc, tmp_path):
    """After any one property (and so any mix of results), extxyz and ase.db write, and
    read back ASE's names (per-atom ``energies`` and ``stresses`` included) with their
    values. ASE's SQLite schema has no column for per-atom energies and stresses (any
    calculator's): its JSON backend keeps them."""
    calc.set(state=1)
    databases = [ase.db.connect(tmp_path / f"results.{kind}") for kind in ("json", "db")]
    for atoms in (ethanol(), crystal()):
        for name in properties_of(atoms):
            atoms = atoms.copy()
            atoms.calc = calc
            calc.get_property(name, atoms)
            results = dict(calc.results)
            known = set(results) & set(all_properties)
            assert {"energy", "energies"} <= known and name in (*known, *PER_STATE)
            path = tmp_path / f"{name}.extxyz"
            ase.io.write(path, atoms)
            copies = {"extxyz": ase.io.read(path)}
            for database in databases:
                row = database.get(database.write(atoms))
                assert row.calculator == "fusioncalculator"
                assert row.calculator_parameters == calc.todict()
                copies[type(database).__name__] = row.toatoms()
            for kind, copy in copies.items():
                assert isinstance(copy, ase.Atoms)
                per_atom = {"energies", "stresses"}
                kept = known - per_atom if kind == "SQLite3Database" else known
                assert set(copy.calc.results) == kept, kind
                for key in kept:
                    value = copy.calc.get_property(key, copy)
                    np.testing.assert_allclose(value, results[key], rtol=1e-9, atol=1e-8)
    rebuilt = FusionCalculator(**row.calculator_parameters)
    np.testing.assert_array_equal(evaluate(rebuilt, atoms)["energies"], results["energies"])
    calc.set(state=0)


def test_sum_calculator_with_lennard_jones(calc):
    atoms = crystal()
    lj = LennardJones(sigma=1.2, epsilon=0.02, rc=3.0, smooth=True)
    atoms.calc = SumCalculator([calc, lj])
    total = {
        "energy": atoms.get_potential_energy(),
        "energies": atoms.get_potential_energies(),
        "forces": atoms.get_forces(),
        "stress": atoms.get_stress(),
    }
    assert total["energies"].sum() == pytest.approx(total["energy"], abs=1e-10)
    parts = [evaluate(calc, atoms)]
    lj_atoms = atoms.copy()
    lj_atoms.calc = lj
    parts.append({name: lj_atoms.calc.get_property(name, lj_atoms) for name in total})
    assert np.abs(parts[1]["energies"]).max() > 1e-4  # the second one contributes
    for name, value in total.items():
        np.testing.assert_allclose(value, parts[0][name] + parts[1][name], rtol=0, atol=1e-12)


def test_bfgs_on_s1_then_vibrations(calc, tmp_path):
    """BFGS to the S1 minimum of water, then ASE's Vibrations there: six modes near zero
    (translations, rotations), three real ones."""
    atoms = molecule("H2O")
    atoms.rattle(0.05, seed=1)
    calc.set(state=1)
    atoms.calc = calc
    before = atoms.get_potential_energy()
    assert BFGS(atoms, logfile=None).run(fmax=1e-4, steps=100)
    assert atoms.get_potential_energy() < before
    vibrations = Vibrations(atoms, name=str(tmp_path / "vib"), delta=1e-3)
    vibrations.run()
    wavenumbers = np.sort(np.abs(vibrations.get_frequencies()))  # cm^-1
    assert wavenumbers[:6].max() < 15.0 and wavenumbers[6:].min() > 100.0
    assert np.all(vibrations.get_frequencies()[-3:].imag == 0)
    calc.set(state=0)


def water_in_a_box() -> ase.Atoms:
    """A water molecule in a 3.0 x 3.15 x 3.3 Å periodic box (r_max 3 Å)."""
    atoms = molecule("H2O")
    atoms.cell = [3.0, 3.15, 3.3]
    atoms.pbc = True
    atoms.center()
    atoms.rattle(0.05, seed=1)
    return atoms


def test_frechet_cell_filter_relaxes_a_periodic_cell(calc):
    atoms = water_in_a_box()
    calc.set(state=1)
    atoms.calc = calc
    before, stress = atoms.get_potential_energy(), np.abs(atoms.get_stress()).max()
    assert BFGS(FrechetCellFilter(atoms), logfile=None).run(fmax=0.02, steps=100)
    assert atoms.get_potential_energy() < before - 0.1
    assert np.abs(atoms.get_stress()).max() < 0.1 * stress
    assert np.abs(atoms.get_forces()).max() < 0.02
    assert np.abs(atoms.cell - water_in_a_box().cell).max() > 0.01  # the cell moved
    calc.set(state=0)


# ---------------------------------------------------------------- pickling, processes
_worker_calculators: tuple[FusionCalculator, ...] = ()


def _start_worker(*calculators: FusionCalculator) -> None:
    global _worker_calculators
    _worker_calculators = calculators


def _evaluate_in_worker(atoms: ase.Atoms) -> tuple[int, list[dict[str, np.ndarray]]]:
    return multiprocessing.current_process().pid, [
        evaluate(calc, atoms) for calc in _worker_calculators
    ]


def test_pickled_calculators_give_identical_results_in_spawned_processes(calc, in_memory):
    """A calculator of a file pickles to its parameters; one of a module in memory
    carries the model's bytes (a checkpoint for an eager model, the TorchScript archive
    for a scripted one). A 2-process spawn pool gives what this process gives."""
    calc.set(state=1)
    scripted = FusionCalculator(torch.jit.load(str(MODEL)), device="cpu", state=1)
    structures = [ethanol(), crystal(), molecule("H2O"), crystal() * (2, 1, 1)]
    expected = [[evaluate(c, atoms) for c in (calc, scripted)] for atoms in structures]
    assert len(pickle.dumps(calc)) < 10_000 < len(pickle.dumps(scripted))
    for original in (calc, scripted, in_memory):
        copy = pickle.loads(pickle.dumps(original))
        assert copy.todict() == original.todict()
        assert copy.results.keys() == original.results.keys()
        assert_identical(evaluate(copy, structures[1]), evaluate(original, structures[1]))
    context = multiprocessing.get_context("spawn")
    with context.Pool(2, initializer=_start_worker, initargs=(calc, scripted)) as pool:
        returned = pool.map(_evaluate_in_worker, structures, chunksize=1)
    assert multiprocessing.current_process().pid not in {pid for pid, _ in returned}
    for (_, actual), wanted in zip(returned, expected, strict=True):
        for one, other in zip(actual, wanted, strict=True):
            assert_identical(one, other)
    calc.set(state=0)
