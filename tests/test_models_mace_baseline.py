"""Stock-MACE baseline: symmetries, forces = finite differences, heads per state,
save/load with the arch recorded (old format still loads), TorchScript = eager."""

from __future__ import annotations

import ase
import numpy as np
import pytest
import torch
from e3nn.util.jit import compile as jit_compile
from scipy.spatial.transform import Rotation

from fusionpot.data import atoms_to_graph, keys
from fusionpot.models import (
    ForceOutput,
    FusionMACE,
    FusionMACEConfig,
    MACEBaseline,
    MACEConfig,
    build_model,
    load_model,
    save_model,
)
from fusionpot.testing import random_crystal, random_molecule

ELEMENTS = ("H", "C", "O")
CONFIG = MACEConfig(
    elements=ELEMENTS,
    r_max=3.0,
    channels=4,
    l_max=2,
    n_layers=2,
    correlation=2,
    n_states=3,
    radial_mlp=(8,),
    avg_num_neighbors=3.0,
)


@pytest.fixture(scope="module")
def model() -> MACEBaseline:
    torch.manual_seed(0)
    model = build_model(CONFIG)
    assert isinstance(model, MACEBaseline)
    generator = torch.Generator().manual_seed(1)
    model.set_energy_normalisation(
        torch.randn(3, 3, generator=generator, dtype=torch.float64),
        1.0 + torch.rand(3, generator=generator, dtype=torch.float64),
        torch.randn(3, generator=generator, dtype=torch.float64),
    )
    return model.eval()


def run(module: torch.nn.Module, structures: list[ase.Atoms]) -> dict[str, torch.Tensor]:
    graph = atoms_to_graph(structures, ELEMENTS, CONFIG.r_max, dtype=torch.float64)
    return {k: v.detach() for k, v in module(graph).items()}


@pytest.mark.parametrize(
    "atoms", [random_molecule(6, 0), random_crystal(1)], ids=["molecule", "crystal"]
)
def test_rotation_and_inversion(model, atoms):
    forces_model = ForceOutput(model).eval()
    rotation = Rotation.random(random_state=np.random.default_rng(3)).as_matrix()
    before = run(forces_model, [atoms])
    assert before[keys.FORCES].abs().max() > 1e-3
    for matrix in (rotation, -rotation):
        moved = atoms.copy()
        moved.positions = atoms.positions @ matrix.T + np.array([0.2, -1.0, 0.7])
        moved.cell = atoms.cell.array @ matrix.T
        after = run(forces_model, [moved])
        g = torch.as_tensor(matrix)
        torch.testing.assert_close(after[keys.ENERGY], before[keys.ENERGY], rtol=0, atol=1e-9)
        torch.testing.assert_close(after[keys.FORCES], before[keys.FORCES] @ g.T, rtol=0, atol=1e-9)
        torch.testing.assert_close(
            after[keys.STRESS], g @ before[keys.STRESS] @ g.T, rtol=0, atol=1e-9
        )


def test_forces_are_finite_differences_of_each_state(model):
    atoms, step = random_molecule(5, 2), 1e-5
    forces = run(ForceOutput(model).eval(), [atoms])[keys.FORCES].numpy()
    for i in range(len(atoms)):
        for x in range(3):
            energies = []
            for sign in (1, -1):
                displaced = atoms.copy()
                displaced.positions[i, x] += sign * step
                energies.append(run(model, [displaced])[keys.ENERGY][0].numpy())
            derivative = (energies[0] - energies[1]) / (2 * step)
            np.testing.assert_allclose(forces[i, :, x], -derivative, rtol=0, atol=1e-7)


def test_states_are_separate_heads_and_batching_is_exact(model):
    a, b = random_molecule(6, 4), random_crystal(5)
    together = run(model, [a, b])
    energies = torch.cat([run(model, [a])[keys.ENERGY], run(model, [b])[keys.ENERGY]])
    torch.testing.assert_close(together[keys.ENERGY], energies, rtol=0, atol=1e-10)
    assert torch.unique(together[keys.ENERGY][0]).numel() == 3
    # S = 1 is a plain (single-head) MACE
    single = build_model(MACEConfig(elements=ELEMENTS, channels=4, l_max=1, r_max=3.0))
    assert run(single, [a])[keys.ENERGY].shape == (1, 1)


def test_save_load_and_torchscript(model, tmp_path):
    path = tmp_path / "mace.pth"
    save_model(model, path)
    assert torch.load(path, weights_only=True)["arch"] == "mace"
    loaded = load_model(path)
    assert isinstance(loaded, MACEBaseline) and loaded.config == model.config
    atoms = [random_molecule(6, 6), random_crystal(7)]
    expected = run(ForceOutput(model).eval(), atoms)
    for candidate in (ForceOutput(loaded).eval(), jit_compile(ForceOutput(loaded).eval())):
        got = run(candidate, atoms)
        for key in (keys.ENERGY, keys.FORCES, keys.STRESS):
            torch.testing.assert_close(got[key], expected[key], rtol=0, atol=1e-10)


def test_format_1_files_load_and_unknown_arch_fails(tmp_path):
    fusion = build_model(FusionMACEConfig(elements=("H",), channels=4, l_max=1))
    save_model(fusion, tmp_path / "new.pth")
    checkpoint = torch.load(tmp_path / "new.pth", weights_only=True)
    old = {k: v for k, v in checkpoint.items() if k != "arch"} | {"format_version": 1}
    torch.save(old, tmp_path / "old.pth")
    assert isinstance(load_model(tmp_path / "old.pth"), FusionMACE)
    torch.save({**checkpoint, "arch": "nequip"}, tmp_path / "bad.pth")
    with pytest.raises(ValueError, match="unknown model arch 'nequip'"):
        load_model(tmp_path / "bad.pth")
    with pytest.raises(ValueError, match="correlation must be >= 1"):
        MACEConfig(elements=("H",), correlation=0)
