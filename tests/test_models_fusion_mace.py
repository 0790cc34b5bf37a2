"""Fusion-MACE: symmetries, forces and stress by finite differences, batching, bad input."""

from __future__ import annotations

import ase
import numpy as np
import pytest
import torch
from scipy.spatial.transform import Rotation

from fusionpot.data import atoms_to_graph, keys
from fusionpot.models import ForceOutput, FusionMACEConfig, build_model
from fusionpot.testing import random_crystal, random_molecule

ELEMENTS = ("H", "C", "O")
ATOL = 1e-9


def small_config(**changes) -> FusionMACEConfig:
    base = {
        "elements": ELEMENTS,
        "r_max": 3.0,
        "channels": 8,
        "l_max": 2,
        "n_layers": 2,
        "n_states": 3,
        "diagram": "((A, A), (A, h))",
        "radial_mlp": (16,),
        "avg_num_neighbors": 4.0,
        "dtype": "float64",
    }
    return FusionMACEConfig(**{**base, **changes})


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


@pytest.fixture(scope="module")
def model():
    """A small three-state model with forces and stress (float64)."""
    torch.manual_seed(0)
    return ForceOutput(with_normalisation(build_model(small_config()), 1)).eval()


STRUCTURES = {"molecule": random_molecule(6, 0), "crystal": random_crystal(1)}


def evaluate(model, structures: list[ase.Atoms]) -> dict[str, torch.Tensor]:
    graph = atoms_to_graph(structures, ELEMENTS, model.model.r_max, dtype=torch.float64)
    return {k: v.detach() for k, v in model(graph).items()}


def transformed(atoms: ase.Atoms, matrix: np.ndarray, shift: np.ndarray) -> ase.Atoms:
    moved = atoms.copy()
    moved.positions = atoms.positions @ matrix.T + shift
    moved.cell = atoms.cell.array @ matrix.T
    return moved


def close(actual: torch.Tensor, expected: torch.Tensor) -> None:
    torch.testing.assert_close(actual, expected, rtol=0.0, atol=ATOL)


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


@pytest.mark.parametrize("name", sorted(STRUCTURES))
def test_permutation(model, name):
    atoms = STRUCTURES[name]
    order = np.random.default_rng(3).permutation(len(atoms))
    before = evaluate(model, [atoms])
    after = evaluate(model, [atoms[order]])
    close(after[keys.ENERGY], before[keys.ENERGY])
    close(after[keys.ATOMIC_ENERGY], before[keys.ATOMIC_ENERGY][order])
    close(after[keys.FORCES], before[keys.FORCES][order])


def energies_at(model, atoms: ase.Atoms) -> np.ndarray:
    """Energies [n_states] eV from the bare model (no derivatives)."""
    graph = atoms_to_graph([atoms], ELEMENTS, model.model.r_max, dtype=torch.float64)
    with torch.no_grad():
        return model.model(graph)[keys.ENERGY][0].numpy()


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
    result = evaluate(model, [atoms])
    stress = result[keys.STRESS][0].numpy()  # [n_states, 3, 3]
    volume = atoms.get_volume()
    for a in range(3):
        for b in range(a, 3):
            strain = np.zeros((3, 3))
            strain[a, b] = strain[b, a] = step / (1 if a == b else 2)
            plus = transformed(atoms, (np.eye(3) + strain).T, np.zeros(3))
            minus = transformed(atoms, (np.eye(3) - strain).T, np.zeros(3))
            derivative = (energies_at(model, plus) - energies_at(model, minus)) / (2 * step)
            np.testing.assert_allclose(stress[:, a, b], derivative / volume, rtol=0, atol=1e-7)
    close(result[keys.VIRIAL][0], -torch.as_tensor(stress) * volume)
    assert np.abs(stress).max() > 1e-4


def test_molecule_has_no_stress(model):
    result = evaluate(model, [STRUCTURES["molecule"]])
    assert torch.equal(result[keys.STRESS], torch.zeros(1, 3, 3, 3, dtype=torch.float64))


def test_batch_equals_separate_runs(model):
    parts = [random_molecule(5, 11), STRUCTURES["crystal"], random_molecule(8, 12)]
    batched = evaluate(model, parts)
    separate = [evaluate(model, [atoms]) for atoms in parts]
    close(batched[keys.ENERGY], torch.cat([s[keys.ENERGY] for s in separate]))
    for key in (keys.ATOMIC_ENERGY, keys.FORCES):
        close(batched[key], torch.cat([s[key] for s in separate]))
    close(batched[keys.STRESS], torch.cat([s[keys.STRESS] for s in separate]))


def test_atomic_energies_sum_to_the_total(model):
    result = evaluate(model, [random_molecule(5, 11), random_molecule(7, 12)])
    per_atom = result[keys.ATOMIC_ENERGY]
    close(result[keys.ENERGY], torch.stack([per_atom[:5].sum(0), per_atom[5:].sum(0)]))


def test_single_state_path_weights_caterpillar():
    """S = 1 is the ordinary potential; also the MACE-like diagram with per-path weights."""
    torch.manual_seed(2)
    config = small_config(n_states=1, diagram="((A, A), A)", weights="path", n_layers=1)
    model = ForceOutput(build_model(config), compute_stress=False).eval()
    atoms = STRUCTURES["molecule"]
    result = evaluate(model, [atoms])
    assert result[keys.ENERGY].shape == (1, 1)
    assert result[keys.FORCES].shape == (len(atoms), 1, 3)
    assert keys.STRESS not in result
    moved = evaluate(model, [transformed(atoms, -np.eye(3), np.zeros(3))])
    close(moved[keys.FORCES], -result[keys.FORCES])


def test_states_differ_and_depend_on_geometry(model):
    first = evaluate(model, [random_molecule(6, 21)])[keys.ENERGY]
    second = evaluate(model, [random_molecule(6, 22)])[keys.ENERGY]
    assert (first[0, 1:] - first[0, :-1]).abs().min() > 1e-6
    assert (first - second).abs().min() > 1e-6


def test_bad_input(model):
    graph = atoms_to_graph([STRUCTURES["molecule"]], ELEMENTS, 3.0, dtype=torch.float64)
    del graph[keys.EDGE_CELL_SHIFT]
    with pytest.raises(ValueError, match="no 'edge_cell_shift'"):
        model(graph)
    single = atoms_to_graph([STRUCTURES["molecule"]], ELEMENTS, 3.0, dtype=torch.float32)
    with pytest.raises(TypeError, match="positions are not in the model's dtype"):
        model(single)
    with pytest.raises(ValueError, match=r"reference_energies must have shape \[3, 3\]"):
        model.model.set_energy_normalisation(torch.zeros(3), torch.ones(3), torch.zeros(3))
    with pytest.raises(TypeError, match="config must be a FusionMACEConfig"):
        type(model.model)({"elements": ELEMENTS})


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"elements": ("H", "Qq")}, "unknown chemical symbol 'Qq'"),
        ({"elements": ("H", "H")}, "repeats"),
        ({"diagram": "((A, A), B)"}, r"must use leaf A and may use h; found \['B'\]"),
        ({"diagram": "((A, A), A) -> 0e"}, "give the tree only"),
        ({"diagram": "((A, A), A"}, "does not parse"),
        ({"hidden_irreps": "1o"}, "needs a 0e"),
        ({"weights": "edge"}, "weights must be"),
        ({"dtype": "float16"}, "dtype must be one of"),
        ({"n_states": 0}, "n_states must be positive"),
        ({"r_max": -1.0}, "r_max must be positive"),
    ],
)
def test_bad_config(change, message):
    with pytest.raises(ValueError, match=message):
        small_config(**change)


def test_config_round_trip_and_unknown_fields():
    config = small_config()
    assert FusionMACEConfig.from_dict(config.to_dict()) == config
    with pytest.raises(ValueError, match=r"unknown FusionMACEConfig fields \['lmax_sh'\]"):
        FusionMACEConfig.from_dict({**config.to_dict(), "lmax_sh": 3})


def test_channel_layout_matches_e3nn():
    """``to_channels`` puts channel c of every irrep together; ``from_channels`` undoes it."""
    from fusionpot.models.product import channel_irreps, from_channels, to_channels

    irreps = channel_irreps("0e+1o", 2)  # e3nn layout: [c0 0e, c1 0e | c0 1o (3), c1 1o (3)]
    flat = torch.arange(8.0)[None]
    per_channel = to_channels(flat, [1, 3], 2)
    assert str(irreps) == "2x0e+2x1o"
    assert per_channel.tolist() == [[[0.0, 2.0, 3.0, 4.0], [1.0, 5.0, 6.0, 7.0]]]
    assert torch.equal(from_channels(per_channel, [1, 3]), flat)


OPTIONS = {
    "fusion_replaces_linear": {"fusion_replaces_linear": True},
    "share_radial_channels": {"share_radial_channels": True},
    "both": {"fusion_replaces_linear": True, "share_radial_channels": True},
}


@pytest.mark.parametrize("option", sorted(OPTIONS))
def test_parsimony_options_are_equivariant_conservative_and_export(option, tmp_path):
    """Each option: O(3) invariance of energies, equivariance of forces (1e-9, float64),
    forces = finite differences, and the exported TorchScript file = the eager model."""
    from fusionpot.export import export_model, load_exported

    torch.manual_seed(5)
    config = small_config(n_states=2, **OPTIONS[option])
    model = ForceOutput(with_normalisation(build_model(config), 3), compute_stress=False).eval()
    atoms = STRUCTURES["molecule"]
    matrix = -Rotation.random(random_state=np.random.default_rng(8)).as_matrix()
    before = evaluate(model, [atoms])
    after = evaluate(model, [transformed(atoms, matrix, np.zeros(3))])
    close(after[keys.ENERGY], before[keys.ENERGY])
    close(after[keys.FORCES], before[keys.FORCES] @ torch.as_tensor(matrix).T)
    assert before[keys.FORCES].abs().max() > 1e-3

    step = 1e-5
    for i, x in [(0, 0), (2, 1), (5, 2)]:
        plus, minus = atoms.copy(), atoms.copy()
        plus.positions[i, x] += step
        minus.positions[i, x] -= step
        derivative = (energies_at(model, plus) - energies_at(model, minus)) / (2 * step)
        np.testing.assert_allclose(before[keys.FORCES][i, :, x], -derivative, rtol=0, atol=1e-7)

    path = tmp_path / "option.pt"
    export_model(model, path)
    scripted = load_exported(path)[0]
    graph = atoms_to_graph([atoms], ELEMENTS, config.r_max, dtype=torch.float64)
    exported = scripted(graph, -1, True, False)
    close(exported[keys.ENERGY].detach(), before[keys.ENERGY])
    close(exported[keys.FORCES].detach(), before[keys.FORCES])


def test_parsimony_options_remove_the_counted_weights():
    """fusion_replaces_linear removes the product's linear (channels² per irrep and layer);
    share_radial_channels shrinks each radial MLP's last layer ``channels``-fold."""

    def count(**changes) -> int:
        return sum(p.numel() for p in build_model(small_config(**changes)).parameters())

    base = build_model(small_config())
    c, hidden = 8, 16  # small_config: 8 channels, radial MLP (16,)
    linear = sum(layer.product.linear.weight.numel() for layer in base.layers)
    # layer 1 outputs 0e+1o (2 irreps), layer 2 outputs 0e: 3 c² weights
    assert linear == 3 * c * c
    assert count(fusion_replaces_linear=True) == count() - linear
    last = [layer.interaction.block.conv_tp_weights.layer1.weight for layer in base.layers]
    n_paths = [w.shape[1] // c for w in last]
    saved = sum(hidden * p * (c - 1) for p in n_paths)
    assert count(share_radial_channels=True) == count() - saved


@pytest.mark.parametrize("name", ["fusion_replaces_linear", "share_radial_channels"])
def test_parsimony_options_must_be_booleans(name):
    with pytest.raises(ValueError, match=f"{name} must be true or false, got 'yes'"):
        small_config(**{name: "yes"})


def test_bad_parsimony_option_in_a_training_yaml(tmp_path, capsys):
    """Through ``fusionpot train``: one line naming the file, the key and the value."""
    from fusionpot.cli import main

    path = tmp_path / "bad.yaml"
    path.write_text('model:\n  fusion_replaces_linear: "yes"\ndata:\n  train: frames.extxyz\n')
    assert main(["train", str(path), "--no-progress"]) == 2
    error = capsys.readouterr().err.strip()
    assert error.endswith("bad.yaml: model.fusion_replaces_linear must be true or false, got 'yes'")
    assert "\n" not in error
