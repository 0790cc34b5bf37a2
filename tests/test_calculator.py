"""FusionCalculator: file kinds agree, states, finite differences, NVE, batching, small
cells, bad input, malloc tuning."""

from __future__ import annotations

import json
import platform
import subprocess
import sys
import time

import ase
import numpy as np
import pytest
import torch
from ase import units
from ase.build import bulk, molecule
from ase.calculators.calculator import PropertyNotImplementedError
from ase.md.velocitydistribution import MaxwellBoltzmannDistribution, Stationary, ZeroRotation
from ase.md.verlet import VelocityVerlet
from make_tiny_model import tiny_model

from fusionpot import FusionCalculator
from fusionpot.export import FORMAT_VERSION, METADATA_FILE, export_model
from fusionpot.models import save_model
from fusionpot.testing import small_triclinic_cell

ATOL = 1e-10


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    """The tiny two-state model as an exported file and as a checkpoint."""
    directory = tmp_path_factory.mktemp("calculator")
    model = tiny_model()
    export_model(model, directory / "exported.model")
    save_model(model, directory / "checkpoint.model")
    return {"exported": directory / "exported.model", "checkpoint": directory / "checkpoint.model"}


@pytest.fixture(scope="module")
def calc(files):
    return FusionCalculator(files["exported"], device="cpu")


def crystal() -> ase.Atoms:
    return small_triclinic_cell()


def ethanol() -> ase.Atoms:
    atoms = molecule("CH3CH2OH")
    atoms.rattle(0.05, seed=1)
    return atoms


def results_of(calculator, atoms, properties):
    atoms = atoms.copy()
    atoms.calc = calculator
    return {name: calculator.get_property(name, atoms) for name in properties}


ALL = ("energy", "free_energy", "forces", "energies", "state_energies", "state_forces")


def test_exported_checkpoint_and_eager_agree(files, calc):
    """The file kind is told by content (same extension); all three give one answer."""
    from_checkpoint = FusionCalculator(files["checkpoint"], device="cpu")
    from_module = FusionCalculator(tiny_model(), device="cpu")
    for atoms, properties in ((ethanol(), ALL), (crystal(), (*ALL, "stress"))):
        expected = results_of(calc, atoms, properties)
        for other in (from_checkpoint, from_module):
            actual = results_of(other, atoms, properties)
            for name in properties:
                np.testing.assert_allclose(actual[name], expected[name], rtol=0, atol=ATOL)
    assert expected["state_energies"].shape == (2,) and expected["state_forces"].shape == (2, 4, 3)
    assert abs(expected["stress"]).max() > 1e-4


def test_state_chooses_energy_forces_and_stress(files):
    atoms = crystal()
    every = results_of(FusionCalculator(files["exported"], device="cpu"), atoms, ALL)
    for state in (0, 1):
        calculator = FusionCalculator(files["exported"], device="cpu", state=state)
        one = results_of(calculator, atoms, ("energy", "forces", "stress"))
        assert one["energy"] == pytest.approx(every["state_energies"][state], abs=1e-12)
        np.testing.assert_allclose(one["forces"], every["state_forces"][state], rtol=0, atol=1e-12)
        if state == 1:
            assert abs(one["energy"] - every["energy"]) > 1e-3  # the states differ
    with pytest.raises(ValueError, match=r"state 2 is out of range: this model has 2 states"):
        FusionCalculator(files["exported"], device="cpu", state=2)
    with pytest.raises(ValueError, match=r"state -1 is out of range"):
        calculator.state = -1


def test_forces_are_finite_differences(calc):
    atoms = ethanol()
    atoms.calc = calc
    forces = atoms.get_forces()
    h = 1e-4
    for atom, axis in ((0, 0), (2, 1), (5, 2), (8, 0)):
        energies = []
        for sign in (1, -1):
            moved = atoms.copy()
            moved.positions[atom, axis] += sign * h
            moved.calc = calc
            energies.append(moved.get_potential_energy())
        assert forces[atom, axis] == pytest.approx(-(energies[0] - energies[1]) / (2 * h), abs=1e-7)


def test_stress_is_the_strain_derivative(calc):
    """σ_ij = (1/V) ∂E/∂ε_ij for a symmetric strain of cell and positions."""
    atoms = crystal()
    atoms.calc = calc
    stress = atoms.get_stress(voigt=False)
    h = 1e-5
    for i, j in ((0, 0), (1, 1), (2, 2), (1, 2), (0, 2), (0, 1)):
        energies = []
        for sign in (1, -1):
            strain = np.eye(3)
            strain[i, j] += sign * h / (2 if i != j else 1)
            strain[j, i] += sign * h / 2 if i != j else 0
            strained = atoms.copy()
            strained.set_cell(atoms.cell.array @ strain, scale_atoms=True)
            strained.calc = calc
            energies.append(strained.get_potential_energy())
        derivative = (energies[0] - energies[1]) / (2 * h) / atoms.get_volume()
        assert stress[i, j] == pytest.approx(derivative, abs=1e-8), (i, j)
    with pytest.raises(PropertyNotImplementedError, match="stress needs a periodic cell"):
        results_of(calc, ethanol(), ("stress",))


def test_forces_of_a_periodic_cell_come_with_the_stress(files):
    """NPT asks for the forces, then the stress: one model call answers both."""
    calculator = FusionCalculator(files["exported"], device="cpu")
    atoms = crystal()
    atoms.calc = calculator
    calls = []
    model = calculator.model
    calculator.model = lambda *args: calls.append(args) or model(*args)  # type: ignore[assignment]
    forces = atoms.get_forces()
    stress = atoms.get_stress()
    assert len(calls) == 1
    expected = results_of(FusionCalculator(files["exported"], device="cpu"), crystal(), ("stress",))
    np.testing.assert_allclose(stress, expected["stress"], rtol=0, atol=ATOL)
    assert np.abs(forces).max() > 1e-4
    molecule_only = ethanol()
    molecule_only.calc = calculator
    molecule_only.get_forces()  # no cell: forces alone, no error
    assert "stress" not in calculator.results


def test_cell_smaller_than_the_cutoff(calc):
    """An atom sees its own images: a 2.2 Å cell with r_max 3 Å equals its supercell."""
    cell = bulk("C", "diamond", a=3.1)
    cell.rattle(0.05, seed=3)
    assert min(cell.cell.lengths()) < calc.r_max
    small = results_of(calc, cell, ("energy", "forces", "stress"))
    big = results_of(calc, cell * (2, 2, 2), ("energy", "forces", "stress"))
    assert big["energy"] == pytest.approx(8 * small["energy"], abs=1e-9)
    np.testing.assert_allclose(big["forces"], np.tile(small["forces"], (8, 1)), atol=1e-10)
    np.testing.assert_allclose(big["stress"], small["stress"], atol=1e-10)


def test_batch_equals_one_at_a_time(calc):
    structures = [ethanol(), crystal(), molecule("H2O"), bulk("C", "diamond", a=3.57)]
    properties = ("energy", "forces", "energies", "state_energies", "state_forces")
    batch = calc.calculate_batch(structures, properties)
    assert len(batch) == len(structures)
    for atoms, result in zip(structures, batch, strict=True):
        single = results_of(calc, atoms, properties)
        for name in properties:
            np.testing.assert_allclose(result[name], single[name], rtol=0, atol=ATOL)
    periodic = calc.calculate_batch(structures[1::2], ("energy", "stress"))
    np.testing.assert_allclose(
        periodic[0]["stress"], results_of(calc, crystal(), ["stress"])["stress"]
    )
    with pytest.raises(PropertyNotImplementedError, match="structure 0 has none"):
        calc.calculate_batch(structures, ("stress",))
    with pytest.raises(PropertyNotImplementedError, match="does not compute \\['magmom'\\]"):
        calc.calculate_batch(structures, ("magmom",))


@pytest.mark.filterwarnings("ignore:Use thermalize_momenta:DeprecationWarning")
def test_nve_conserves_energy(calc):
    """2000 velocity-Verlet steps of 0.5 fs: total energy drifts < 1 meV/atom (float64)."""
    atoms = ethanol()
    atoms.calc = calc
    MaxwellBoltzmannDistribution(atoms, temperature_K=300, rng=np.random.default_rng(0))
    Stationary(atoms)
    ZeroRotation(atoms)
    dynamics = VelocityVerlet(atoms, timestep=0.5 * units.fs)
    totals = []
    dynamics.attach(lambda: totals.append(atoms.get_total_energy()), interval=10)
    start = time.perf_counter()
    dynamics.run(2000)
    elapsed = time.perf_counter() - start
    totals = np.array(totals)
    kinetic = atoms.get_kinetic_energy()
    assert kinetic > 0.05 and np.abs(atoms.get_forces()).max() > 0.5  # it moved, forces act
    drift = np.abs(totals - totals[0]).max() / len(atoms)
    print(f"NVE 2000 steps: {elapsed:.1f} s, max |ΔE| {1000 * drift:.4f} meV/atom")
    assert drift < 1e-3


def test_bad_input_is_named(files, calc, tmp_path):
    with pytest.raises(ValueError, match=r"element N is not supported.*\['H', 'C', 'O'\]"):
        results_of(calc, molecule("CH3CN"), ("energy",))
    broken = ethanol()
    broken.positions[3, 1] = np.nan
    with pytest.raises(ValueError, match=r"positions of atoms \[3\] are not finite"):
        results_of(calc, broken, ("energy",))
    with pytest.raises(FileNotFoundError, match=r"no model file at .*nothing\.pt"):
        FusionCalculator(tmp_path / "nothing.pt", device="cpu")
    corrupt = tmp_path / "corrupt.pt"
    corrupt.write_bytes(files["exported"].read_bytes()[:5000])
    with pytest.raises(
        ValueError, match="neither a fusionpot exported model nor a model checkpoint"
    ):
        FusionCalculator(corrupt, device="cpu")
    text = tmp_path / "notes.txt"
    text.write_text("not a model")
    with pytest.raises(ValueError, match="neither a fusionpot exported model"):
        FusionCalculator(text, device="cpu")
    extra = {METADATA_FILE: ""}
    module = torch.jit.load(str(files["exported"]), _extra_files=extra)
    future = {**json.loads(extra[METADATA_FILE]), "format_version": FORMAT_VERSION + 1}
    newer = tmp_path / "newer.pt"
    torch.jit.save(module, str(newer), _extra_files={METADATA_FILE: json.dumps(future)})
    with pytest.raises(ValueError, match=f"format_version {FORMAT_VERSION + 1}; this fusionpot"):
        FusionCalculator(newer, device="cpu")
    # an exported file converts through the config in its metadata; one without cannot
    assert FusionCalculator(files["exported"], device="cpu", dtype="float32").dtype == torch.float32
    bare = tmp_path / "bare.pt"
    old = {k: v for k, v in json.loads(extra[METADATA_FILE]).items() if k != "config"}
    torch.jit.save(module, str(bare), _extra_files={METADATA_FILE: json.dumps(old)})
    with pytest.raises(ValueError, match="this exported model is float64, not float32"):
        FusionCalculator(bare, device="cpu", dtype="float32")


def test_empty_structures_coincident_atoms_and_bad_states_are_named(files, calc):
    """Issue 18: one clear error instead of a TorchScript reshape error, NaN energies and
    forces, or a state silently rounded."""
    with pytest.raises(ValueError, match="the structure has no atoms"):
        results_of(calc, ase.Atoms(), ("energy",))
    with pytest.raises(ValueError, match="structure 1 has no atoms"):
        calc.calculate_batch([ethanol(), ase.Atoms()])
    stacked = ethanol()
    stacked.positions[4] = stacked.positions[1]
    with pytest.raises(ValueError, match=r"atoms 1 and 4 are at the same position"):
        results_of(calc, stacked, ("energy", "forces"))
    imaged = crystal()  # atom 3 onto the image of atom 0 one cell vector away
    imaged.positions[3] = imaged.positions[0] + imaged.cell[1]
    with pytest.raises(
        ValueError, match=r"atoms 0 and 3 \(a periodic image\) of structure 1 are at the same"
    ):
        calc.calculate_batch([ethanol(), imaged])
    before = calc.state
    for state, kind in (("1", TypeError), (1.5, TypeError), (True, TypeError), (2, ValueError)):
        with pytest.raises(kind, match=f"state {state!r}|got {state!r}"):
            FusionCalculator(files["exported"], device="cpu", state=state)
        with pytest.raises(kind):
            calc.set(state=state)
        assert calc.state == before
    assert FusionCalculator(files["exported"], device="cpu", state=np.int64(1)).state == 1


MALLOC_PROBE = """
import ctypes, sys
class Info(ctypes.Structure):
    names = "arena ordblks smblks hblks hblkhd usmblks fsmblks uordblks fordblks keepcost"
    _fields_ = [(name, ctypes.c_size_t) for name in names.split()]
libc = ctypes.CDLL("libc.so.6")
libc.mallinfo2.restype = Info
libc.malloc.restype = ctypes.c_void_p
from fusionpot import FusionCalculator
FusionCalculator(sys.argv[1], device="cpu")
before = libc.mallinfo2().hblks
block = libc.malloc(64 << 20)  # 64 MiB: mmapped under glibc's defaults
print(libc.mallinfo2().hblks - before)
"""


@pytest.mark.skipif(
    platform.libc_ver()[0] != "glibc"
    or tuple(int(v) for v in platform.libc_ver()[1].split(".")[:2]) < (2, 33),
    reason="the tuning is glibc-only; the probe needs mallinfo2 (glibc >= 2.33)",
)
def test_malloc_tuning_keeps_large_blocks_in_the_heap(files):
    def mmapped_blocks(**environment: str) -> int:
        result = subprocess.run(
            [sys.executable, "-c", MALLOC_PROBE, str(files["exported"])],
            capture_output=True,
            text=True,
            env={"PATH": "/usr/bin:/bin", "OMP_NUM_THREADS": "1", **environment},
            timeout=120,
        )
        assert result.returncode == 0, result.stderr[-2000:]
        return int(result.stdout.split()[-1])

    assert mmapped_blocks() == 0  # tuned: a 64 MiB block comes from the heap
    assert mmapped_blocks(FUSIONPOT_MALLOC_TUNING="0") == 1  # glibc's default: mmap


def test_importing_fusionpot_is_cheap():
    code = (
        "import sys, fusionpot; print('torch' in sys.modules, fusionpot.FusionCalculator.__name__)"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120
    )
    assert result.stdout.split() == ["False", "FusionCalculator"], result.stderr[-2000:]
