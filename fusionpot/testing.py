"""Checks for users' own diagrams and models, the same ones our tests use.

>>> import torch
>>> from fusionpot.fusion import FusionBlock
>>> diagram, leaves = "((A, A), h) -> 0e+1o", {"A": "0e+1o", "h": "1o"}
>>> assert_equivariant(FusionBlock(diagram, leaves, n_channels=2, dtype=torch.float64))
"""

from __future__ import annotations

import ase
import numpy as np
import torch
from scipy.spatial.transform import Rotation

from fusionpot._e3nn import o3
from fusionpot.fusion.block import FusionBlock
from fusionpot.fusion.diagram import format_irreps_list


def random_leaves(
    block: FusionBlock, n_nodes: int, generator: torch.Generator | None = None
) -> tuple[dict[str, torch.Tensor], torch.Tensor | None]:
    """Random inputs for ``block`` in its dtype and device: leaves and one-hot node_attrs."""
    reference = next(iter(block.buffers()))
    leaves = {
        name: torch.randn(
            n_nodes, block.n_channels, dim, generator=generator, dtype=reference.dtype
        ).to(reference.device)
        for name, dim in block.leaf_dims.items()
    }
    node_attrs = None
    if block.n_elements:
        element = torch.randint(block.n_elements, (n_nodes,), generator=generator)
        node_attrs = torch.nn.functional.one_hot(element, block.n_elements).to(reference)
    return leaves, node_attrs


def equivariance_errors(block: FusionBlock, n_nodes: int = 5, seed: int = 0) -> dict[str, float]:
    """Largest ``|block(D(g) x) - D_out(g) block(x)|`` relative to ``max |block(x)|``.

    One entry each for a random rotation, the inversion and their product.
    """
    generator = torch.Generator().manual_seed(seed)
    leaves, node_attrs = random_leaves(block, n_nodes, generator)
    rotation = Rotation.random(random_state=np.random.default_rng(seed)).as_matrix()
    transforms = {"rotation": rotation, "inversion": -np.eye(3), "rotoinversion": -rotation}
    errors = {}
    with torch.no_grad():
        out = block(leaves, node_attrs)
        scale = max(float(out.abs().max()), 1e-30)
        for label, matrix in transforms.items():
            g = torch.as_tensor(matrix, dtype=out.dtype)

            def act(irreps: str, x: torch.Tensor, g: torch.Tensor = g) -> torch.Tensor:
                return x @ o3.Irreps(irreps).D_from_matrix(g).to(x).T

            moved = {
                name: act(format_irreps_list(block.leaf_irreps[name]), x)
                for name, x in leaves.items()
            }
            expected = act(str(block.irreps_out), out)
            errors[label] = float((block(moved, node_attrs) - expected).abs().max()) / scale
    return errors


def default_atol(dtype: torch.dtype) -> float:
    """The tolerance of :func:`assert_equivariant` for ``dtype``: ``max(1e-10, 100 ε)``
    (float64: 1e-10, float32: 1.2e-5), relative to the largest output component."""
    return max(1e-10, 100 * torch.finfo(dtype).eps)


def assert_equivariant(
    block: FusionBlock, n_nodes: int = 5, seed: int = 0, atol: float | None = None
) -> None:
    """Assert ``block(D(g) x) == D_out(g) block(x)`` for a random rotation, inversion and both.

    ``atol`` is relative to the largest output component; None: :func:`default_atol` of
    the block's dtype (1e-10 in float64, 1.2e-5 in float32).
    """
    if atol is None:
        atol = default_atol(next(iter(block.buffers())).dtype)
    for label, error in equivariance_errors(block, n_nodes, seed).items():
        if not error <= atol:
            raise AssertionError(
                f"{block.diagram}: {label} changes the output by {error:.2e} (relative) > {atol:g}"
            )


def random_molecule(
    n_atoms: int, seed: int, elements: tuple[str, ...] = ("H", "C", "O")
) -> ase.Atoms:
    """A random connected cluster: each atom 0.9–1.5 Å from an earlier one, no two closer
    than 0.9 Å, elements drawn from ``elements`` (seeded)."""
    rng = np.random.default_rng(seed)
    positions = [np.zeros(3)]
    while len(positions) < n_atoms:
        candidate = positions[rng.integers(len(positions))] + rng.normal(size=3)
        if min(np.linalg.norm(candidate - p) for p in positions) > 0.9:
            positions.append(candidate)
    return ase.Atoms(rng.choice(list(elements), n_atoms).tolist(), positions=positions)


def random_crystal(seed: int) -> ase.Atoms:
    """C, O, H, C in a small triclinic cell (edges 2.6–3 Å, rattled fcc sites): with a
    cutoff of 3 Å or more every atom sees its own periodic images (seeded)."""
    rng = np.random.default_rng(seed)
    cell = np.diag([2.6, 2.8, 3.0]) + rng.uniform(-0.3, 0.3, (3, 3))
    fractional = np.array([[0, 0, 0], [0.5, 0.5, 0], [0.5, 0, 0.5], [0, 0.5, 0.5]])
    positions = (fractional + rng.uniform(-0.05, 0.05, (4, 3))) @ cell
    return ase.Atoms(["C", "O", "H", "C"], positions=positions, cell=cell, pbc=True)


def two_state_frames(n_frames: int, seed: int = 0) -> list[ase.Atoms]:
    """Labelled frames of two analytic "states", for testing training code (seeded).

    Cu/Ag clusters of 3–6 atoms near the corners of a 2.6 Å cube; S0 from ASE's EMT, S1
    from a Lennard-Jones potential (σ = 2.3 Å, ε = 0.1 eV, cutoff 3.8 Å) 0.5 eV/atom higher, as
    ``energy_s{k}`` (eV, ``info``) and ``forces_s{k}`` (eV/Å, ``arrays``).
    """
    from ase.calculators.emt import EMT
    from ase.calculators.lj import LennardJones

    rng = np.random.default_rng(seed)
    corners = np.array([[i, j, k] for i in range(2) for j in range(2) for k in range(2)]) * 2.6
    frames = []
    for _ in range(n_frames):
        n = int(rng.integers(3, 7))
        positions = corners[rng.choice(8, n, replace=False)] + rng.normal(size=(n, 3)) * 0.15
        atoms = ase.Atoms(rng.choice(["Cu", "Ag"], n).tolist(), positions=positions)
        for s, calc in enumerate((EMT(), LennardJones(sigma=2.3, epsilon=0.1, rc=3.8))):
            atoms.calc = calc
            atoms.info[f"energy_s{s}"] = atoms.get_potential_energy() + 0.5 * s * n
            atoms.arrays[f"forces_s{s}"] = atoms.get_forces()
        atoms.calc = None
        frames.append(atoms)
    return frames


def small_triclinic_cell() -> ase.Atoms:
    """Four atoms (C, O, H, C) in a triclinic ~3 Å cell, rattled (seeded): with a cutoff
    above 3 Å every atom sees images of itself. For calculator and LAMMPS tests."""
    atoms = ase.Atoms(
        ["C", "O", "H", "C"],
        scaled_positions=[[0, 0, 0], [0.5, 0.5, 0], [0.5, 0, 0.5], [0.02, 0.5, 0.47]],
        cell=[[2.9, 0.1, 0.2], [0.0, 3.1, -0.1], [0.3, 0.0, 3.3]],
        pbc=True,
    )
    atoms.rattle(0.05, seed=2)
    return atoms
