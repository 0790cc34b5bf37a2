"""Save/load, reference-energy fit, TorchScript, import hygiene."""

from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pytest
import torch
from ase.build import molecule

from fusionpot.data import atoms_to_graph, keys
from fusionpot.models import (
    FORMAT_VERSION,
    ForceOutput,
    FusionMACEConfig,
    build_model,
    fit_reference_energies,
    load_model,
    save_model,
    species_counts,
)

CONFIG = FusionMACEConfig(
    elements=("H", "C", "O"),
    r_max=3.0,
    channels=4,
    l_max=1,
    n_states=2,
    diagram="((A, h), A)",
    radial_mlp=(8,),
)


@pytest.fixture(scope="module")
def model():
    torch.manual_seed(5)
    return build_model(CONFIG)


@pytest.fixture(scope="module")
def graph():
    return atoms_to_graph(
        [molecule("CH3CH2OH"), molecule("H2O")], CONFIG.elements, CONFIG.r_max, torch.float64
    )


def test_save_load_round_trip(tmp_path, model, graph):
    model.set_energy_normalisation(torch.ones(3, 2), torch.full((2,), 2.0), torch.zeros(2))
    path = tmp_path / "model.pt"
    save_model(model, path)
    loaded = load_model(path)
    assert loaded.config == model.config
    torch.testing.assert_close(loaded(graph)[keys.ENERGY], model(graph)[keys.ENERGY])
    checkpoint = torch.load(path, weights_only=True)
    assert checkpoint["format_version"] == FORMAT_VERSION
    assert set(checkpoint) == {"format_version", "arch", "config", "state_dict"}
    assert checkpoint["arch"] == "fusion-mace"


class _Exploit:
    def __reduce__(self):
        return (os.system, ("echo pwned",))


def test_load_never_unpickles_code(tmp_path):
    path = tmp_path / "evil.pt"
    torch.save({"format_version": FORMAT_VERSION, "config": _Exploit()}, path)
    with pytest.raises(Exception, match="Weights only load failed"):
        load_model(path)


def test_load_rejects_other_files(tmp_path, model):
    path = tmp_path / "other.pt"
    torch.save({"weights": torch.zeros(2)}, path)
    with pytest.raises(ValueError, match="not a fusionpot model checkpoint"):
        load_model(path)
    save_model(model, path)
    checkpoint = torch.load(path, weights_only=True)
    torch.save({**checkpoint, "format_version": FORMAT_VERSION + 1}, path)
    with pytest.raises(ValueError, match=f"format {FORMAT_VERSION + 1}"):
        load_model(path)
    with pytest.raises(TypeError, match="takes a FusionMACE"):
        save_model(torch.nn.Linear(1, 1), path)  # type: ignore[arg-type]


def test_reference_energies_recovered_per_state():
    rng = np.random.default_rng(0)
    counts = rng.integers(0, 6, size=(40, 4))
    truth = rng.normal(size=(4, 3)) * 100
    fitted = fit_reference_energies(counts, counts @ truth)
    np.testing.assert_allclose(fitted, truth, rtol=1e-10)
    noisy = counts @ truth + rng.normal(scale=0.01, size=(40, 3))
    np.testing.assert_allclose(fit_reference_energies(counts, noisy), truth, atol=0.05)
    with pytest.raises(ValueError, match="energies must be"):
        fit_reference_energies(counts, np.zeros((39, 3)))
    with pytest.raises(ValueError, match="counts must be"):
        fit_reference_energies(np.zeros(40), np.zeros((40, 3)))


def test_species_counts(graph):
    counts = species_counts(graph[keys.SPECIES], graph[keys.BATCH], 3)
    assert counts.tolist() == [[6, 2, 1], [2, 0, 1]]


def test_torchscript_model_and_forces(model, graph):
    """Compiled with e3nn's jit helper (plain torch.jit.script fails on e3nn modules)."""
    from e3nn.util.jit import compile as jit_compile

    eager = ForceOutput(model).eval()
    scripted = jit_compile(eager, in_place=False)
    assert isinstance(scripted, torch.jit.ScriptModule)
    expected, actual = eager(graph), scripted(graph)
    for key in (keys.ENERGY, keys.ATOMIC_ENERGY, keys.FORCES, keys.STRESS):
        torch.testing.assert_close(actual[key], expected[key], rtol=0, atol=1e-12)


def test_import_leaves_the_environment_alone():
    code = (
        "import os, fusionpot.models, fusionpot.data; "
        "print(os.environ.get('TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD'))"
    )
    environment = {k: v for k, v in os.environ.items() if k != "TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD"}
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=environment, check=True
    )
    assert result.stdout == "None\n"


def test_training_mode_differentiates_forces(graph):
    """In training mode the force graph is kept, so a force loss reaches every weight."""
    torch.manual_seed(6)
    model = ForceOutput(build_model(CONFIG), compute_stress=False).train()
    out = model(graph)
    loss = out[keys.FORCES].square().sum() + out[keys.ENERGY].square().sum()
    loss.backward()
    missing = [name for name, p in model.named_parameters() if p.grad is None]
    assert not missing
    assert all(float(p.grad.abs().max()) > 0 for p in model.parameters() if p.grad is not None)
