"""Per-atom virials (``atomic_virial``): the edge split sums to the strain-derivative virial,
is each edge's r ⊗ ∂E/∂r shared by its two atoms (checked by finite differences), rotates
as a tensor, and reaches ASE as ``stresses``; the exported interface still takes the old
four arguments."""

from __future__ import annotations

from pathlib import Path

import ase
import numpy as np
import pytest
import torch
from ase.build import molecule
from ase.calculators.calculator import PropertyNotImplementedError
from ase.stress import voigt_6_to_full_3x3_stress
from make_tiny_model import ELEMENTS, tiny_model
from scipy.spatial.transform import Rotation

from fusionpot import FusionCalculator
from fusionpot.data import atoms_to_graph, keys
from fusionpot.export import export_model, load_exported
from fusionpot.export.torchscript import accepts_atomic_virial
from fusionpot.models import ForceOutput
from fusionpot.testing import small_triclinic_cell

R_MAX = 3.0  # the tiny model's cutoff, Å


def skewed_crystal() -> ase.Atoms:
    """12 atoms in a strongly triclinic 5-6 Å cell (no atom sees itself)."""
    rng = np.random.default_rng(11)
    cell = [[5.2, 0.0, 0.0], [1.9, 5.0, 0.0], [-1.1, 1.4, 5.6]]
    atoms = ase.Atoms(
        rng.choice(list(ELEMENTS), 12), scaled_positions=rng.random((12, 3)), cell=cell, pbc=True
    )
    return atoms


def ethanol() -> ase.Atoms:
    atoms = molecule("CH3CH2OH")
    atoms.rattle(0.05, seed=3)
    return atoms


def graph_of(structures: list[ase.Atoms]) -> dict[str, torch.Tensor]:
    return atoms_to_graph(structures, ELEMENTS, R_MAX, dtype=torch.float64)


@pytest.fixture(scope="module")
def eager() -> ForceOutput:
    return ForceOutput(tiny_model())


@pytest.fixture(scope="module")
def exported(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("per_atom_virial") / "tiny.pt"
    export_model(tiny_model(), path)
    return path


def per_graph_sums(atomic: torch.Tensor, batch: torch.Tensor, n_graphs: int) -> torch.Tensor:
    return atomic.new_zeros(n_graphs, *atomic.shape[1:]).index_add(0, batch, atomic)


@pytest.mark.parametrize("state", [-1, 1])
def test_atomic_virials_sum_to_the_virial(eager, exported, state):
    """Self-images (a ~3 Å cell under a 3 Å cutoff), a skewed triclinic cell and a
    molecule in one batch: per-atom virials sum to -∂E/∂ε of their graph, eager and
    exported alike."""
    structures = [small_triclinic_cell(), skewed_crystal(), ethanol()]
    graph = graph_of(structures)
    module, _ = load_exported(exported)
    for model in (eager.evaluate, module):
        out = model(graph, state, True, True, True)
        atomic = out[keys.ATOMIC_VIRIAL].detach()
        assert atomic.shape == (len(graph[keys.BATCH]), 2 if state < 0 else 1, 3, 3)
        virial = out[keys.VIRIAL].detach()
        assert virial[:2].abs().amax(dim=(1, 2, 3)).min() > 1e-2  # real virials to sum
        sums = per_graph_sums(atomic, graph[keys.BATCH], len(structures))
        torch.testing.assert_close(sums, virial, rtol=0, atol=1e-10)
        assert torch.equal(atomic, atomic.transpose(2, 3))


def test_asking_for_atomic_virials_changes_nothing_else(eager):
    graph = graph_of([small_triclinic_cell(), ethanol()])
    plain = eager.evaluate(graph, -1, True, True, False)
    split = eager.evaluate(graph, -1, True, True, True)
    assert keys.ATOMIC_VIRIAL not in plain and keys.EDGE_VECTORS not in split
    for key in (keys.ENERGY, keys.ATOMIC_ENERGY, keys.FORCES, keys.VIRIAL, keys.STRESS):
        torch.testing.assert_close(split[key], plain[key], rtol=0, atol=1e-12)
    alone = eager.evaluate(graph, 0, False, False, True)  # no forces, no strain
    torch.testing.assert_close(
        alone[keys.ATOMIC_VIRIAL], split[keys.ATOMIC_VIRIAL][:, :1], rtol=0, atol=1e-12
    )


def test_each_edge_is_shared_by_its_two_atoms(eager):
    """The split from central finite differences of E in each edge vector (the model reads
    ``edge_vectors`` when given): W_a = -½ Σ_(edges at a) sym(r ⊗ ∂E/∂r)."""
    atoms = molecule("H2O")
    atoms.rattle(0.05, seed=4)
    graph = graph_of([atoms])
    model = eager.model
    vectors = (
        graph[keys.POSITIONS][graph[keys.EDGE_INDEX][0]]
        - graph[keys.POSITIONS][graph[keys.EDGE_INDEX][1]]
    )
    h = 1e-5
    gradient = torch.zeros_like(vectors)
    for e in range(vectors.shape[0]):
        for c in range(3):
            energies = []
            for sign in (1.0, -1.0):
                moved = vectors.clone()
                moved[e, c] += sign * h
                energies.append(model({**graph, keys.EDGE_VECTORS: moved})[keys.ENERGY][0, 0])
            gradient[e, c] = (energies[0] - energies[1]) / (2 * h)
    edge = torch.einsum("ea,eb->eab", vectors, gradient)
    edge = -0.25 * (edge + edge.transpose(1, 2))
    expected = torch.zeros(len(atoms), 3, 3, dtype=torch.float64)
    expected.index_add_(0, graph[keys.EDGE_INDEX][0], edge)
    expected.index_add_(0, graph[keys.EDGE_INDEX][1], edge)
    actual = eager.evaluate(graph, 0, False, False, True)[keys.ATOMIC_VIRIAL][:, 0].detach()
    assert expected.abs().max() > 1e-2
    torch.testing.assert_close(actual, expected, rtol=0, atol=1e-8)


def test_atomic_virials_rotate_as_tensors(eager):
    """W_a(R x) = R W_a(x) Rᵀ for a rotated (and translated) molecule."""
    atoms = ethanol()
    rotation = Rotation.random(random_state=5).as_matrix()
    turned = atoms.copy()
    turned.positions = atoms.positions @ rotation.T + [1.0, -2.0, 0.5]
    before, after = (
        eager.evaluate(graph_of([a]), -1, False, False, True)[keys.ATOMIC_VIRIAL].detach()
        for a in (atoms, turned)
    )
    r = torch.from_numpy(rotation)
    torch.testing.assert_close(after, r @ before @ r.T, rtol=0, atol=1e-10)


def test_ase_stresses_sum_to_the_stress(exported):
    """ASE's per-atom ``stresses`` (Voigt, eV/Å³, ase.calculators.lj's convention -W_a/V)
    sum to ``stress``, for the chosen state, one structure or a batch."""
    calculator = FusionCalculator(exported, device="cpu", state=1, tune_malloc=False)
    for atoms in (small_triclinic_cell(), skewed_crystal()):
        atoms.calc = calculator
        stresses = atoms.get_stresses()
        assert stresses.shape == (len(atoms), 6)
        np.testing.assert_allclose(stresses.sum(axis=0), atoms.get_stress(), rtol=0, atol=1e-10)
        assert np.abs(stresses).max() > 1e-3
        graph = graph_of([atoms])
        out = load_exported(exported)[0](graph, 1, True, True, True)
        w = out[keys.ATOMIC_VIRIAL][:, 0].detach().numpy()
        full = np.array([voigt_6_to_full_3x3_stress(s) for s in stresses])
        np.testing.assert_allclose(full * atoms.get_volume(), -w, rtol=0, atol=1e-10)
    batch = calculator.calculate_batch(
        [small_triclinic_cell(), skewed_crystal()], ["stress", "stresses"]
    )
    for result in batch:
        np.testing.assert_allclose(result["stresses"].sum(axis=0), result["stress"], atol=1e-10)


def test_stresses_need_a_cell_and_a_current_export(exported):
    calculator = FusionCalculator(exported, device="cpu", tune_malloc=False)
    atoms = ethanol()
    atoms.calc = calculator
    with pytest.raises(PropertyNotImplementedError, match="stresses needs a periodic cell"):
        atoms.get_stresses()

    class FourArguments(torch.nn.Module):  # the interface of files exported before
        def forward(
            self,
            data: dict[str, torch.Tensor],
            state: int = -1,
            compute_forces: bool = True,
            compute_virial: bool = False,
        ) -> dict[str, torch.Tensor]:
            return data

    assert not accepts_atomic_virial(torch.jit.script(FourArguments()))
    assert accepts_atomic_virial(load_exported(exported)[0])
    assert accepts_atomic_virial(ForceOutput(tiny_model()))
