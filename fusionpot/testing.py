"""Checks for users' own diagrams and models, the same ones our tests use.

>>> import torch
>>> from fusionpot.fusion import FusionBlock
>>> diagram, leaves = "((A, A), h) -> 0e+1o", {"A": "0e+1o", "h": "1o"}
>>> assert_equivariant(FusionBlock(diagram, leaves, n_channels=2, dtype=torch.float64))
"""

from __future__ import annotations

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


def assert_equivariant(
    block: FusionBlock, n_nodes: int = 5, seed: int = 0, atol: float = 1e-10
) -> None:
    """Assert ``block(D(g) x) == D_out(g) block(x)`` for a random rotation, inversion and both.

    ``atol`` is relative to the largest output component; use float64 blocks for 1e-10.
    """
    for label, error in equivariance_errors(block, n_nodes, seed).items():
        if not error <= atol:
            raise AssertionError(
                f"{block.diagram}: {label} changes the output by {error:.2e} (relative) > {atol:g}"
            )
