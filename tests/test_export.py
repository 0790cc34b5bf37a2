"""TorchScript export: exported = eager, the interface (state, local_mask, virial), the
metadata, loading without fusionpot, dtype conversion, the CLI and bad files."""

from __future__ import annotations

import itertools
import json
import re
import shutil
import subprocess
import sys
import warnings
from pathlib import Path

import ase
import numpy as np
import pytest
import torch
from ase.build import molecule
from make_tiny_model import ELEMENTS, PATH, tiny_model

from fusionpot.cli import main as cli_main
from fusionpot.data import atoms_to_graph, keys
from fusionpot.export import (
    FORMAT,
    FORMAT_VERSION,
    METADATA_FILE,
    SteadyScript,
    convert_dtype,
    dump_metadata,
    export_model,
    load_exported,
    load_potential,
    metadata_of,
    read_metadata,
)
from fusionpot.models import ForceOutput, MACEConfig, build_model, save_model
from fusionpot.testing import random_crystal

ATOL = 1e-10


@pytest.fixture(scope="module")
def eager():
    return tiny_model()


@pytest.fixture(scope="module")
def exported(eager, tmp_path_factory):
    path = tmp_path_factory.mktemp("export") / "tiny.pt"
    export_model(eager, path)
    return path


def ethanol() -> ase.Atoms:
    atoms = molecule("CH3CH2OH")
    atoms.rattle(0.05, seed=1)
    return atoms


def graph_of(structures: list[ase.Atoms], dtype: torch.dtype = torch.float64):
    return atoms_to_graph(structures, ELEMENTS, r_max=3.0, dtype=dtype)


def detached(out: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    return {k: v.detach() for k, v in out.items()}


def test_metadata_and_attributes(exported, eager):
    extra = {METADATA_FILE: ""}
    module = torch.jit.load(str(exported), _extra_files=extra)
    metadata = json.loads(extra[METADATA_FILE])
    config = eager.config
    assert metadata == {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "elements": ["H", "C", "O"],
        "atomic_numbers": [1, 6, 8],
        "r_max": 3.0,
        "n_layers": 2,
        "n_states": 2,
        "dtype": "float64",
        "units": {"energy": "eV", "length": "Å"},
        "fusionpot_version": metadata["fusionpot_version"],
        "torch_version": torch.__version__,
        "arch": "fusion-mace",
        "config": config.to_dict(),
    }
    assert module.metadata_json.encode() == extra[METADATA_FILE]  # one text: file and module
    assert metadata_of(module) == metadata == read_metadata(exported)


def test_loaded_versions_are_the_files_not_this_processs(exported, tmp_path):
    """The versions of a loaded model are those that exported it, read from the file (or
    from the module of that file in memory), not those of the running process."""
    extra = {METADATA_FILE: ""}
    module = torch.jit.load(str(exported), _extra_files=extra)
    old = {**json.loads(extra[METADATA_FILE]), "fusionpot_version": "0.0.1", "torch_version": "1.0"}
    module.metadata_json = dump_metadata(old)
    path = tmp_path / "old.pt"
    torch.jit.save(module, str(path), _extra_files={METADATA_FILE: dump_metadata(old)})
    for source in (path, torch.jit.load(str(path))):
        metadata = load_potential(source)[1]
        assert (metadata["fusionpot_version"], metadata["torch_version"]) == ("0.0.1", "1.0")
    assert load_exported(path)[1] == old


PLUGIN_SOURCE = Path(__file__).resolve().parents[1] / "lammps_plugin" / "src"
METADATA_DRIVER = r"""
#include "fusion_metadata.h"
#include <fstream>
#include <iostream>
#include <sstream>
int main(int, char **argv)
{
  std::ifstream in(argv[1]);
  std::stringstream text;
  text << in.rdbuf();
  try {
    const auto m = fusionpot::parse_metadata(text.str(), argv[2]);
    std::cout << m.format_version << "\n" << m.r_max << "\n" << m.n_layers << "\n"
              << m.n_states << "\n" << m.dtype << "\n" << m.fusionpot_version << "\n";
    for (const auto &element : m.elements) std::cout << element << " ";
    std::cout << "\n";
  } catch (const std::runtime_error &e) {
    std::cout << e.what() << "\n";
    return 1;
  }
}
"""


def test_the_lammps_plugin_reads_the_same_keys_and_checks_the_version(exported, tmp_path):
    """lammps_plugin/src/fusion_metadata.h, compiled on its own: its constants are
    fusionpot.export.metadata's, it reads an exported file's metadata.json to the values
    Python reads, and refuses another format_version with one line naming file and both
    versions, and a file of another format."""
    header = (PLUGIN_SOURCE / "fusion_metadata.h").read_text()
    constants = dict(re.findall(r"constexpr (?:const char \*|int )(k\w+) = \"?([^\";]+)", header))
    assert constants == {
        "kMetadataFile": METADATA_FILE,
        "kFormat": FORMAT,
        "kFormatVersion": str(FORMAT_VERSION),
    }
    compiler = shutil.which("c++")
    if compiler is None:
        pytest.skip("no C++ compiler")
    (tmp_path / "driver.cpp").write_text(METADATA_DRIVER)
    subprocess.run(
        [compiler, "-std=c++17", "-O0", f"-I{PLUGIN_SOURCE}", "driver.cpp", "-o", "driver"],
        cwd=tmp_path,
        check=True,
        timeout=120,
    )

    def plugin_reads(metadata: dict) -> tuple[int, list[str]]:
        (tmp_path / "metadata.json").write_text(dump_metadata(metadata), encoding="utf-8")
        result = subprocess.run(
            ["./driver", "metadata.json", "model.pt"],
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=60,
        )
        return result.returncode, result.stdout.splitlines()

    metadata = read_metadata(exported)
    assert plugin_reads(metadata) == (
        0,
        [str(FORMAT_VERSION), "3", "2", "2", "float64", metadata["fusionpot_version"], "H C O "],
    )
    rc, lines = plugin_reads({**metadata, "format_version": FORMAT_VERSION + 1})
    assert rc == 1 and lines == [
        f"'model.pt' is an exported model of format_version {FORMAT_VERSION + 1}; this plugin "
        f"reads format_version {FORMAT_VERSION}: re-export it, or build the plugin of the "
        "fusionpot that wrote it"
    ]
    rc, lines = plugin_reads({**metadata, "format": "something else"})
    assert rc == 1 and lines == [
        f"'model.pt' is not a fusionpot exported model (no {FORMAT} metadata)"
    ]
    rc, lines = plugin_reads({k: v for k, v in metadata.items() if k != "r_max"})
    assert rc == 1 and "lacks 'r_max'" in lines[0]


@pytest.mark.parametrize("name", ["molecule", "crystal", "batch"])
def test_exported_equals_eager_all_states(exported, eager, name):
    structures = {
        "molecule": [ethanol()],
        "crystal": [random_crystal(0)],
        "batch": [ethanol(), random_crystal(0), molecule("H2O")],
    }[name]
    module, _ = load_exported(exported)
    graph = graph_of(structures)
    actual = detached(module(graph, -1, True, True))
    expected = detached(ForceOutput(eager)(graph))
    assert actual[keys.FORCES].shape == (len(graph[keys.BATCH]), 2, 3)
    for key in (keys.ENERGY, keys.ATOMIC_ENERGY, keys.FORCES, keys.VIRIAL, keys.STRESS):
        torch.testing.assert_close(actual[key], expected[key], rtol=0.0, atol=ATOL)
    if name == "crystal":
        assert actual[keys.STRESS].abs().max() > 1e-3  # a real stress was compared
    assert keys.VIRIAL not in module(graph)  # compute_virial defaults to False


def test_cpu_potential_runs_the_script_unoptimised_with_the_same_results(exported):
    """On a CPU, load_potential wraps the script so that its first calls are not slowed
    by TorchScript's profiling; the wrapper changes no number and restores the flag."""
    module, metadata = load_potential(exported, "cpu")
    assert isinstance(module, SteadyScript) and metadata["n_states"] == 2
    graph = graph_of([ethanol(), random_crystal(0)])
    scripted, _ = load_exported(exported)
    expected = detached(scripted(graph, -1, True, True))
    optimise = torch._C._get_graph_executor_optimize()
    for _ in range(3):  # the profiling executor's first calls differ in how, not what
        actual = detached(module(graph, -1, True, True))
        assert actual.keys() == expected.keys()
        for key in expected:
            torch.testing.assert_close(actual[key], expected[key], rtol=0.0, atol=0.0)
    assert torch._C._get_graph_executor_optimize() == optimise


def test_float32_export_agrees_to_1e_5(eager, tmp_path):
    path = tmp_path / "tiny32.pt"
    assert export_model(eager, path, dtype="float32")["dtype"] == "float32"
    module, _ = load_exported(path)
    structures = [ethanol(), random_crystal(0)]
    actual = detached(module(graph_of(structures, torch.float32), -1, True, True))
    expected = detached(ForceOutput(eager)(graph_of(structures)))
    assert actual[keys.ENERGY].dtype == torch.float64  # absolute sums: see scaled_energies
    for key in (keys.ENERGY, keys.FORCES, keys.STRESS):
        assert key == keys.ENERGY or actual[key].dtype == torch.float32
        error = (actual[key].double() - expected[key]).abs().max()
        assert error <= 1e-5 * expected[key].abs().max(), key


def test_state_selects_one_backward_pass(exported):
    module, _ = load_exported(exported)
    graph = graph_of([random_crystal(0)])
    every = detached(module(graph, -1, True, True))
    for state in range(2):
        one = detached(module(graph, state, True, True))
        assert one[keys.FORCES].shape == (4, 1, 3) and one[keys.VIRIAL].shape == (1, 1, 3, 3)
        torch.testing.assert_close(one[keys.ENERGY], every[keys.ENERGY], rtol=0, atol=0)
        for key in (keys.FORCES, keys.VIRIAL, keys.STRESS):
            torch.testing.assert_close(
                one[key], every[key][:, state : state + 1], rtol=0, atol=1e-14
            )
    virial_only = module(graph, 1, False, True)
    assert keys.FORCES not in virial_only
    torch.testing.assert_close(virial_only[keys.VIRIAL], every[keys.VIRIAL][:, 1:2])
    energy_only = module(graph, -1, False, False)
    assert keys.FORCES not in energy_only and keys.VIRIAL not in energy_only
    for state in (2, -2):
        with pytest.raises(Exception, match=f"state {state} is out of range: this model has 2"):
            module(graph, state)


def explicit_images(atoms: ase.Atoms, cutoff: float) -> tuple[ase.Atoms, np.ndarray]:
    """The cell's atoms followed by every periodic image within ``cutoff`` of one of
    them, as one non-periodic structure (ghost atoms, as LAMMPS passes them); and the
    owner (index in ``atoms``) of each."""
    cell = atoms.cell.array
    reach = int(np.ceil(cutoff / min(1.0 / np.linalg.norm(np.linalg.inv(cell), axis=0)))) + 1
    shifts = [s for s in itertools.product(range(-reach, reach + 1), repeat=3) if any(s)]
    images = atoms.positions[None] + (np.array(shifts) @ cell)[:, None]  # [K, n, 3]
    images = images.reshape(-1, 3)
    owner = np.tile(np.arange(len(atoms)), len(shifts))
    distance = np.linalg.norm(images[:, None] - atoms.positions[None], axis=-1).min(axis=1)
    keep = distance < cutoff
    positions = np.concatenate([atoms.positions, images[keep]])
    owners = np.concatenate([np.arange(len(atoms)), owner[keep]])
    return ase.Atoms(atoms.numbers[owners], positions=positions), owners


def test_explicit_ghosts_with_local_mask_equal_the_periodic_cell(exported):
    """LAMMPS's view: ghosts as explicit atoms, zero cell, only local energies count."""
    module, metadata = load_exported(exported)
    periodic = random_crystal(3)
    cluster, owners = explicit_images(periodic, metadata["n_layers"] * metadata["r_max"])
    assert len(cluster) > 100
    graph = graph_of([cluster])
    assert not graph[keys.CELL].any() and not graph[keys.EDGE_CELL_SHIFT].any()
    graph[keys.LOCAL_MASK] = torch.arange(len(cluster)) < len(periodic)
    ghosts = detached(module(graph, -1, True, True))
    reference = detached(module(graph_of([periodic]), -1, True, True))
    torch.testing.assert_close(ghosts[keys.ENERGY], reference[keys.ENERGY], rtol=0, atol=ATOL)
    torch.testing.assert_close(ghosts[keys.VIRIAL], reference[keys.VIRIAL], rtol=0, atol=ATOL)
    assert not ghosts[keys.ATOMIC_ENERGY][len(periodic) :].any()
    folded = torch.zeros_like(reference[keys.FORCES]).index_add(
        0, torch.from_numpy(owners), ghosts[keys.FORCES]
    )
    torch.testing.assert_close(folded, reference[keys.FORCES], rtol=0, atol=ATOL)
    assert not ghosts[keys.STRESS].any()  # no volume: stress is zero, the virial is not
    graph[keys.LOCAL_MASK] = graph[keys.LOCAL_MASK].long()
    with pytest.raises(Exception, match="local_mask must be a bool"):
        module(graph)


ISOLATED = """
import sys

class NoFusionpot:
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in ("fusionpot", "e3nn", "mace"):
            raise ImportError("blocked: " + name)

sys.meta_path.insert(0, NoFusionpot())
import json, torch
model, graph_file, out_file = sys.argv[1:]
extra = {"metadata.json": ""}
module = torch.jit.load(model, _extra_files=extra)
graph = torch.load(graph_file, weights_only=True)
out = module(graph, -1, True, True)
torch.save({k: out[k].detach() for k in ("energy", "forces", "stress")}, out_file)
print(json.loads(extra["metadata.json"])["format"])
"""


def test_loads_and_runs_with_torch_alone(exported, eager, tmp_path):
    graph = graph_of([ethanol(), random_crystal(0)])
    torch.save(graph, tmp_path / "graph.pt")
    result = subprocess.run(
        [sys.executable, "-I", "-c", ISOLATED, str(exported), "graph.pt", "out.pt"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.strip() == FORMAT
    actual = torch.load(tmp_path / "out.pt", weights_only=True)
    expected = detached(ForceOutput(eager)(graph))
    for key, value in actual.items():
        torch.testing.assert_close(value, expected[key], rtol=0, atol=ATOL)


def test_float32_model_converted_to_float64_gets_exact_constants():
    single = tiny_model(dtype="float32")
    converted = convert_dtype(single, "float64")
    native = tiny_model(dtype="float64").state_dict()
    state = converted.state_dict()
    constants = [k for k in state if k.endswith(".cg")]
    assert constants
    for key in constants:  # rebuilt in float64, not float32 values widened
        assert state[key].dtype == torch.float64
        torch.testing.assert_close(state[key], native[key], rtol=0, atol=1e-15)
    weights = dict(single.named_parameters())
    for key, value in weights.items():
        assert torch.equal(state[key], value.detach().double()), key
    assert single.scale.dtype == torch.float32  # the source is untouched
    assert single.reference_energies.dtype == torch.float64  # E0 is float64 in every dtype


def test_cli_exports_a_checkpoint(eager, tmp_path, capsys):
    save_model(eager, tmp_path / "checkpoint.pt")
    output = tmp_path / "out.pt"
    assert cli_main(["export", str(tmp_path / "checkpoint.pt"), "-o", str(output)]) == 0
    assert "wrote" in capsys.readouterr().out
    module, metadata = load_exported(output)
    assert metadata["dtype"] == "float64" and metadata["n_states"] == 2
    graph = graph_of([ethanol()])
    torch.testing.assert_close(
        module(graph)[keys.ENERGY].detach(), eager(graph)[keys.ENERGY].detach(), rtol=0, atol=ATOL
    )
    assert (
        cli_main(
            ["export", str(tmp_path / "checkpoint.pt"), "-o", str(output), "--dtype", "float32"]
        )
        == 0
    )
    assert load_exported(output)[1]["dtype"] == "float32"
    assert not list(tmp_path.glob(".*.tmp"))  # the atomic write left nothing behind


@pytest.mark.parametrize("source", ["checkpoint", "exported"])
def test_cli_export_warns_nothing(eager, tmp_path, capsys, source):
    """``fusionpot export`` of a checkpoint or of an exported file shows no warning (it
    printed torch's remark on torch.fx.GraphModule 13 times). DeprecationWarnings are left
    out: Python shows them only for ``__main__`` code, so users never see torch.jit's."""
    if source == "checkpoint":
        save_model(eager, tmp_path / "input.pt")
    else:
        export_model(eager, tmp_path / "input.pt")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert cli_main(["export", str(tmp_path / "input.pt"), "-o", str(tmp_path / "o.pt")]) == 0
    shown = [f"{w.category.__name__}: {w.message}" for w in caught]
    assert [line for line in shown if not line.startswith("DeprecationWarning")] == []
    assert capsys.readouterr().err == ""


def test_bad_files_are_named(exported, eager, tmp_path):
    with pytest.raises(FileNotFoundError, match=r"no exported model at .*missing\.pt"):
        load_exported(tmp_path / "missing.pt")
    corrupt = tmp_path / "corrupt.pt"
    corrupt.write_bytes(b"\x00garbage" * 100)
    with pytest.raises(ValueError, match=r"corrupt\.pt' is not a fusionpot exported model"):
        load_exported(corrupt)
    save_model(eager, tmp_path / "checkpoint.pt")
    with pytest.raises(ValueError, match=r"checkpoint\.pt' is not a fusionpot exported model"):
        load_exported(tmp_path / "checkpoint.pt")
    extra = {METADATA_FILE: ""}
    module = torch.jit.load(str(exported), _extra_files=extra)
    future = {**json.loads(extra[METADATA_FILE]), "format_version": FORMAT_VERSION + 1}
    torch.jit.save(
        module, str(tmp_path / "future.pt"), _extra_files={METADATA_FILE: json.dumps(future)}
    )
    with pytest.raises(ValueError, match=f"format_version {FORMAT_VERSION + 1}; this fusionpot"):
        load_exported(tmp_path / "future.pt")
    with pytest.raises(TypeError, match="cannot export a Linear"):
        export_model(torch.nn.Linear(2, 2), tmp_path / "linear.pt")
    with pytest.raises(ValueError, match="dtype must be one of"):
        export_model(eager, tmp_path / "half.pt", dtype="float16")


def test_committed_tiny_model_is_what_the_script_makes(eager):
    """tests/data/tiny_model.pt (used by the LAMMPS plugin's tests too) is current:
    if this fails, rerun ``python tests/data/make_tiny_model.py`` and commit the file."""
    module, metadata = load_exported(PATH)
    assert metadata["n_states"] == 2 and metadata["dtype"] == "float64"
    graph = graph_of([ethanol(), random_crystal(0)])
    actual = detached(module(graph, -1, True, True))
    expected = detached(ForceOutput(eager)(graph))
    for key in (keys.ENERGY, keys.FORCES, keys.STRESS):
        torch.testing.assert_close(actual[key], expected[key], rtol=0, atol=ATOL)


def test_stock_mace_exports_through_the_same_interface(tmp_path):
    """Any model with the calling convention and a .config exports (here MACEBaseline)."""
    config = MACEConfig(
        elements=ELEMENTS, r_max=3.0, channels=4, l_max=1, n_states=2, radial_mlp=(8,)
    )
    torch.manual_seed(3)
    model = build_model(config).eval()
    metadata = export_model(model, tmp_path / "mace.pt")
    assert metadata["arch"] == "mace" and metadata["n_states"] == 2
    module, _ = load_exported(tmp_path / "mace.pt")
    graph = graph_of([ethanol(), random_crystal(0)])
    actual = detached(module(graph, -1, True, True))
    expected = detached(ForceOutput(model)(graph))
    for key in (keys.ENERGY, keys.FORCES, keys.STRESS):
        torch.testing.assert_close(actual[key], expected[key], rtol=0, atol=ATOL)
