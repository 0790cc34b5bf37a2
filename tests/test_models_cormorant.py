"""Cormorant and Fusion-Cormorant: symmetries, forces by finite differences, batching,
dtypes, TorchScript export and the ASE calculator, save/load, training through the CLI."""

from __future__ import annotations

import copy

import ase
import ase.io
import numpy as np
import pytest
import torch
import yaml
from scipy.spatial.transform import Rotation

from fusionpot.calculators import FusionCalculator
from fusionpot.cli import main
from fusionpot.data import atoms_to_graph, keys
from fusionpot.export import export_model
from fusionpot.models import (
    Cormorant,
    CormorantConfig,
    ForceOutput,
    FusionCormorant,
    FusionCormorantConfig,
    build_model,
    load_model,
    save_model,
)
from fusionpot.testing import random_crystal, random_molecule, two_state_frames
from fusionpot.train import read_metrics_csv

ELEMENTS = ("H", "C", "O")
ATOL = 1e-9
BASE = {
    "elements": ELEMENTS,
    "r_max": 3.0,
    "channels": 6,
    "l_max": 2,
    "n_layers": 2,
    "n_states": 3,
    "radial_mlp": (8,),
    "avg_num_neighbors": 4.0,
    "dtype": "float64",
}
#: name -> config: Cormorant, Fusion-Cormorant's default ((c, c), (n, Y)) with vertex
#: weights, and the trilinear diagram in path mode
CONFIGS = {
    "cormorant": CormorantConfig(**BASE),
    "fusion": FusionCormorantConfig(**BASE),
    "fusion-cny": FusionCormorantConfig(**BASE, diagram="((c, n), Y)", weights="path"),
}
STRUCTURES = {"molecule": random_molecule(6, 0), "crystal": random_crystal(1)}


def with_normalisation(model, seed: int):
    """Non-trivial E0, scale and shift, so that they are exercised too."""
    generator = torch.Generator().manual_seed(seed)
    n_elements, n_states = model.reference_energies.shape
    model.set_energy_normalisation(
        torch.randn(n_elements, n_states, generator=generator, dtype=torch.float64),
        1.0 + torch.rand(n_states, generator=generator, dtype=torch.float64),
        torch.randn(n_states, generator=generator, dtype=torch.float64),
    )
    return model


@pytest.fixture(scope="module", params=sorted(CONFIGS))
def model(request):
    """Each architecture with three states, forces and stress (float64)."""
    torch.manual_seed(0)
    return ForceOutput(with_normalisation(build_model(CONFIGS[request.param]), 1)).eval()


def evaluate(model, structures: list[ase.Atoms]) -> dict[str, torch.Tensor]:
    graph = atoms_to_graph(structures, ELEMENTS, model.model.r_max, dtype=torch.float64)
    return {k: v.detach() for k, v in model(graph).items()}


def energies_at(model, atoms: ase.Atoms) -> np.ndarray:
    """Energies [n_states] eV from the bare model (no derivatives)."""
    graph = atoms_to_graph([atoms], ELEMENTS, model.model.r_max, dtype=torch.float64)
    with torch.no_grad():
        return model.model(graph)[keys.ENERGY][0].numpy()


def transformed(atoms: ase.Atoms, matrix: np.ndarray, shift: np.ndarray) -> ase.Atoms:
    moved = atoms.copy()
    moved.positions = atoms.positions @ matrix.T + shift
    moved.cell = atoms.cell.array @ matrix.T
    return moved


def close(actual: torch.Tensor, expected: torch.Tensor, atol: float = ATOL) -> None:
    torch.testing.assert_close(actual, expected, rtol=0.0, atol=atol)


def test_architectures_and_their_blocks(model):
    """The arch names, and the atom update each one uses."""
    inner = model.model
    update = type(inner.layers[0].update).__name__
    expected = {"cormorant": "CGUpdate", "fusion-cormorant": "FusionCGUpdate"}
    assert update == expected[inner.config.arch]
    assert isinstance(inner, FusionCormorant) == (inner.config.arch == "fusion-cormorant")
    assert isinstance(inner, Cormorant)


@pytest.mark.parametrize("name", sorted(STRUCTURES))
@pytest.mark.parametrize("operation", ["rotation", "inversion", "rotoinversion", "translation"])
def test_energies_invariant_forces_and_stress_equivariant(model, name, operation):
    atoms = STRUCTURES[name]
    rotation = Rotation.random(random_state=np.random.default_rng(7)).as_matrix()
    matrix = {
        "rotation": rotation,
        "inversion": -np.eye(3),
        "rotoinversion": -rotation,
        "translation": np.eye(3),
    }[operation]
    shift = np.array([0.3, -1.7, 2.2]) if operation == "translation" else np.zeros(3)
    before = evaluate(model, [atoms])
    after = evaluate(model, [transformed(atoms, matrix, shift)])
    g = torch.as_tensor(matrix)
    close(after[keys.ENERGY], before[keys.ENERGY])
    close(after[keys.ATOMIC_ENERGY], before[keys.ATOMIC_ENERGY])
    close(after[keys.FORCES], before[keys.FORCES] @ g.T)
    close(after[keys.STRESS], g @ before[keys.STRESS] @ g.T)
    assert before[keys.FORCES].abs().max() > 1e-3  # the checks are not vacuous


def test_permutation(model):
    atoms = STRUCTURES["crystal"]
    order = np.random.default_rng(3).permutation(len(atoms))
    before = evaluate(model, [atoms])
    after = evaluate(model, [atoms[order]])
    close(after[keys.ENERGY], before[keys.ENERGY])
    close(after[keys.ATOMIC_ENERGY], before[keys.ATOMIC_ENERGY][order])
    close(after[keys.FORCES], before[keys.FORCES][order])


@pytest.mark.parametrize("name", sorted(STRUCTURES))
def test_forces_are_finite_differences_of_each_state(model, name):
    atoms, step = STRUCTURES[name], 1e-5
    forces = evaluate(model, [atoms])[keys.FORCES].numpy()  # [n_atoms, n_states, 3]
    assert forces.shape == (len(atoms), 3, 3)
    for i in range(len(atoms)):
        for x in range(3):
            plus, minus = atoms.copy(), atoms.copy()
            plus.positions[i, x] += step
            minus.positions[i, x] -= step
            derivative = (energies_at(model, plus) - energies_at(model, minus)) / (2 * step)
            np.testing.assert_allclose(forces[i, :, x], -derivative, rtol=0, atol=1e-7)


def test_stress_is_the_strain_derivative(model):
    atoms, step = STRUCTURES["crystal"], 1e-5
    stress = evaluate(model, [atoms])[keys.STRESS][0].numpy()  # [n_states, 3, 3]
    for a, b in ((0, 0), (1, 2)):
        strain = np.zeros((3, 3))
        strain[a, b] = strain[b, a] = step / (1 if a == b else 2)
        plus = transformed(atoms, (np.eye(3) + strain).T, np.zeros(3))
        minus = transformed(atoms, (np.eye(3) - strain).T, np.zeros(3))
        derivative = (energies_at(model, plus) - energies_at(model, minus)) / (2 * step)
        np.testing.assert_allclose(
            stress[:, a, b], derivative / atoms.get_volume(), rtol=0, atol=1e-7
        )
    assert np.abs(stress).max() > 1e-4


def test_atomic_virials_sum_to_the_virial(model):
    """The model reads the edge vectors ForceOutput differentiates (per-atom virials)."""
    structures = [STRUCTURES["crystal"], random_crystal(2)]
    graph = atoms_to_graph(structures, ELEMENTS, 3.0, dtype=torch.float64)
    out = model.evaluate(graph, -1, True, True, True)
    atomic = out[keys.ATOMIC_VIRIAL].detach()
    sums = atomic.new_zeros(2, 3, 3, 3).index_add(0, graph[keys.BATCH], atomic)
    close(sums, out[keys.VIRIAL].detach())
    assert out[keys.VIRIAL].abs().max() > 1e-2


def test_batch_equals_separate_runs(model):
    parts = [random_molecule(5, 11), STRUCTURES["crystal"], random_molecule(8, 12)]
    batched = evaluate(model, parts)
    separate = [evaluate(model, [atoms]) for atoms in parts]
    for key in (keys.ENERGY, keys.ATOMIC_ENERGY, keys.FORCES, keys.STRESS):
        close(batched[key], torch.cat([s[key] for s in separate]))
    per_atom = batched[keys.ATOMIC_ENERGY]
    close(batched[keys.ENERGY][0], per_atom[:5].sum(0))


def test_states_differ_and_depend_on_geometry(model):
    first = evaluate(model, [random_molecule(6, 21)])[keys.ENERGY]
    second = evaluate(model, [random_molecule(6, 22)])[keys.ENERGY]
    assert (first[0, 1:] - first[0, :-1]).abs().min() > 1e-6
    assert (first - second).abs().min() > 1e-6


def test_float32_model_matches_float64(model, tmp_path):
    """The same weights in float32: energies within float32 precision, energies float64."""
    path = tmp_path / "model.pt"
    save_model(model.model, path)
    checkpoint = torch.load(path, weights_only=True)
    checkpoint["config"]["dtype"] = "float32"
    torch.save(checkpoint, path)
    single = ForceOutput(load_model(path)).eval()
    atoms = STRUCTURES["molecule"]
    graph = atoms_to_graph([atoms], ELEMENTS, 3.0, dtype=torch.float32)
    result = {k: v.detach() for k, v in single(graph).items()}
    expected = evaluate(model, [atoms])
    assert result[keys.ENERGY].dtype == torch.float64
    assert result[keys.FORCES].dtype == torch.float32
    close(result[keys.ENERGY], expected[keys.ENERGY], atol=1e-4)
    close(result[keys.FORCES].double(), expected[keys.FORCES], atol=1e-4)


def test_save_load_round_trip(model, tmp_path):
    path = tmp_path / "model.pt"
    save_model(model.model, path)
    loaded = load_model(path)
    assert type(loaded) is type(model.model)
    assert loaded.config == model.model.config
    assert torch.load(path, weights_only=True)["arch"] == model.model.config.arch
    graph = atoms_to_graph([STRUCTURES["crystal"]], ELEMENTS, 3.0, dtype=torch.float64)
    close(loaded(graph)[keys.ENERGY], model.model(graph)[keys.ENERGY], atol=0.0)


def test_export_and_calculator_give_the_eager_results(model, tmp_path):
    """TorchScript file -> FusionCalculator: every state's energy and forces as eager."""
    path = tmp_path / "exported.pt"
    metadata = export_model(model, path)
    assert metadata["arch"] == model.model.config.arch
    atoms = STRUCTURES["crystal"].copy()
    expected = evaluate(model, [atoms])
    atoms.calc = FusionCalculator(str(path), device="cpu", state=1)
    np.testing.assert_allclose(
        atoms.calc.get_property("state_energies", atoms), expected[keys.ENERGY][0], atol=1e-10
    )
    np.testing.assert_allclose(atoms.get_forces(), expected[keys.FORCES][:, 1], atol=1e-10)
    np.testing.assert_allclose(
        atoms.get_potential_energy(), float(expected[keys.ENERGY][0, 1]), atol=1e-10
    )


def test_training_mode_differentiates_forces(model):
    """A force loss reaches every weight."""
    graph = atoms_to_graph([STRUCTURES["molecule"]], ELEMENTS, 3.0, dtype=torch.float64)
    trained = copy.deepcopy(model).train()
    out = trained(graph)
    (out[keys.FORCES].square().sum() + out[keys.ENERGY].square().sum()).backward()
    weights = [(n, p) for n, p in trained.named_parameters() if p.numel()]  # path mode: empty
    silent = [n for n, p in weights if p.grad is None or not p.grad.any()]
    assert not silent, f"no gradient reaches {silent}"


@pytest.mark.parametrize("arch", ["cormorant", "fusion-cormorant"])
def test_train_through_the_cli(arch, tmp_path, capsys):
    """``fusionpot train`` with ``model.arch: cormorant`` (and ``--arch fusion-cormorant``
    over it), a few epochs on two analytic states."""
    ase.io.write(tmp_path / "two_state.extxyz", two_state_frames(24, seed=0))
    config = {
        "data": {"train": "two_state.extxyz", "valid_fraction": 0.25, "test_fraction": 0.0},
        "model": {"arch": "cormorant", "channels": 4, "l_max": 1, "r_max": 4.0, "radial_mlp": [8]},
        "training": {"epochs": 4, "batch_size": 6, "lr": 0.02, "ema_decay": 0.5},
        "device": "cpu",
    }
    (tmp_path / "train.yaml").write_text(yaml.safe_dump(config))
    argv = ["train", str(tmp_path / "train.yaml"), "--run-dir", str(tmp_path / "run")]
    if arch != "cormorant":
        argv += ["--arch", arch]
    assert main([*argv, "--no-progress"]) == 0
    assert f"{arch} (" in capsys.readouterr().out
    rows = read_metrics_csv(tmp_path / "run" / "metrics.csv")
    assert [r["epoch"] for r in rows] == [0, 1, 2, 3, 4]
    assert min(r["valid_loss"] for r in rows[1:]) < rows[0]["valid_loss"]
    model = load_model(tmp_path / "run" / "model.pth")
    assert model.config.arch == arch and model.n_states == 2


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"diagram": "((A, A), h)"}, r"must use leaf Y and may use c and n; found \['A', 'h'\]"),
        ({"diagram": "((c, n), c)"}, r"must use leaf Y and may use c and n; found \[\]"),
        ({"diagram": "((c, n), Y) -> 0e"}, "give the tree only"),
        ({"weights": "edge"}, "weights must be"),
        ({"hidden_irreps": "1o"}, "needs a 0e"),
    ],
)
def test_bad_config(change, message):
    with pytest.raises(ValueError, match=message):
        FusionCormorantConfig(**{**BASE, **change})


def test_bad_input_and_config_round_trip():
    with pytest.raises(TypeError, match="config must be a CormorantConfig"):
        Cormorant(CONFIGS["fusion"])  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="config must be a FusionCormorantConfig"):
        FusionCormorant(CONFIGS["cormorant"])  # type: ignore[arg-type]
    for config in CONFIGS.values():
        assert type(config).from_dict(config.to_dict()) == config
    with pytest.raises(ValueError, match=r"unknown CormorantConfig fields \['diagram'\]"):
        CormorantConfig.from_dict({**CONFIGS["cormorant"].to_dict(), "diagram": "(n, Y)"})
