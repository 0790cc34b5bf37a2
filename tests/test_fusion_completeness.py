"""Fusion blocks span what they should: MACE's product basis, and recoupled trees."""

from __future__ import annotations

import os

import pytest
import torch

from fusionpot.fusion import FusionBlock
from fusionpot.testing import random_leaves


@pytest.fixture
def symmetric_contraction():
    """mace-torch's SymmetricContraction, without leaving mace's torch.load override behind."""
    previous = os.environ.get("TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD")
    from mace.modules.symmetric_contraction import SymmetricContraction

    if previous is None:
        os.environ.pop("TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD", None)
    return SymmetricContraction


def path_features(block: FusionBlock, leaves, node_attrs=None) -> torch.Tensor:
    """Output of each path alone, unit weight: ``[n, c, dim_out, n_paths]``.

    A path-mode block is linear in its root weights, so setting one weight per path to
    one (for every element and channel) isolates that path.
    """
    root = block.vertices[-1]
    saved = root.weight.detach().clone()
    features = []
    with torch.no_grad():
        for k in range(root.weight.shape[1]):
            root.weight.zero_()
            root.weight[:, k, :] = 1.0
            features.append(block(leaves, node_attrs))
        root.weight.copy_(saved)
    return torch.stack(features, dim=-1)


def relative_fit_residual(features: torch.Tensor, target: torch.Tensor) -> float:
    """Worst relative residual of a per-channel least-squares fit of ``target``.

    ``features``: ``[n, c, d, P]``; ``target``: ``[n, c, d]``.
    """
    worst = 0.0
    for channel in range(target.shape[1]):
        a = features[:, channel].reshape(-1, features.shape[-1])
        b = target[:, channel].reshape(-1, 1)
        solution = torch.linalg.lstsq(a, b).solution
        worst = max(worst, float((a @ solution - b).norm() / b.norm()))
    return worst


def test_caterpillar_reproduces_mace_symmetric_contraction(float64, symmetric_contraction):
    """MACE's product basis (nu = 3, orders 1..3) is a special case of ((A', A'), A').

    A' = A + 1x0e with the extra scalar fixed to one carries every order <= 3.
    """
    channels, n_elements, n_nodes = 4, 2, 80
    sh = "0e+1o+2e+3o"
    mace = symmetric_contraction(
        irreps_in=f"{channels}x0e+{channels}x1o+{channels}x2e+{channels}x3o",
        irreps_out=f"{channels}x0e+{channels}x1o",
        correlation=3,
        num_elements=n_elements,
    )
    generator = torch.Generator().manual_seed(0)
    x = torch.randn(n_nodes, channels, 16, generator=generator)
    element = torch.arange(n_nodes) % n_elements
    node_attrs = torch.nn.functional.one_hot(element, n_elements).double()
    with torch.no_grad():
        flat = mace(x, node_attrs)
    # MACE's output is [c x 0e | c x 1o] (multiplicity-major); ours is per channel.
    target = torch.cat(
        [flat[:, :channels, None], flat[:, channels:].reshape(n_nodes, channels, 3)], dim=-1
    )
    block = FusionBlock(
        "((A, A), A) -> 0e+1o", {"A": f"{sh}+0e"}, n_channels=channels, weights="path"
    )
    ones = torch.ones(n_nodes, channels, 1)
    features = path_features(block, {"A": torch.cat([x, ones], dim=-1)})
    mace_weights = sum(p.numel() for p in mace.parameters())
    assert block.n_weights * n_elements < mace_weights  # fewer parameters, same span
    for e in range(n_elements):
        nodes = element == e
        assert relative_fit_residual(features[nodes], target[nodes]) < 1e-8


@pytest.mark.parametrize(
    "leaf_irreps",
    [
        {"a": "0e+1o+2e", "b": "1o+2e", "c": "0e+1o"},
        {"a": "1e+2o", "b": "0e+1o+3o", "c": "2e"},
    ],
)
def test_recoupled_trees_span_the_same_maps(float64, leaf_irreps):
    """((a, b), c) and (a, (b, c)) are related by 6j recoupling: each fits the other."""
    out = "0e+1o+1e+2e"
    left = FusionBlock("((a, b), c) -> " + out, leaf_irreps, n_channels=2, weights="path", lmax=6)
    right = FusionBlock("(a, (b, c)) -> " + out, leaf_irreps, n_channels=2, weights="path", lmax=6)
    assert len(left.paths) == len(right.paths)
    leaves, _ = random_leaves(left, 40, torch.Generator().manual_seed(1))
    for source, model in ((left, right), (right, left)):
        with torch.no_grad():
            target = source(leaves)
        assert relative_fit_residual(path_features(model, leaves), target) < 1e-8
