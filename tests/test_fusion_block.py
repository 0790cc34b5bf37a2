"""FusionBlock: equivariance, agreement with the oracle, gradients, dropped paths."""

from __future__ import annotations

import pytest
import torch
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from fusionpot.fusion import FusionBlock, FusionDiagram, admissible_paths, select_paths
from fusionpot.fusion.coupling import path_tensor
from fusionpot.fusion.diagram import format_irreps_list
from fusionpot.fusion.paths import parse_leaf_irreps
from fusionpot.fusion.reference import reference_forward
from fusionpot.testing import assert_equivariant, random_leaves

IRREPS = [f"{degree}{parity}" for degree in range(4) for parity in "eo"]


@st.composite
def tree_over(draw, names: list[str]) -> str:
    """A random binary tree over the given leaf names, in that order."""
    if len(names) == 1:
        return names[0]
    split = draw(st.integers(1, len(names) - 1))
    return f"({draw(tree_over(names[:split]))}, {draw(tree_over(names[split:]))})"


@st.composite
def random_blocks(draw) -> tuple[str, dict[str, str], str, int]:
    """Diagram, leaf irreps, weight mode and lmax: 2-5 leaves, l <= 3, repeated names."""
    n_leaves = draw(st.integers(2, 5))
    names = draw(st.lists(st.sampled_from(["A", "B", "h"]), min_size=n_leaves, max_size=n_leaves))
    # Keep the number of paths moderate: fewer irreps per leaf on bigger trees.
    per_leaf = 3 if n_leaves <= 3 else 2
    leaf_irreps = {
        name: "+".join(draw(st.lists(st.sampled_from(IRREPS), min_size=1, max_size=per_leaf)))
        for name in dict.fromkeys(names)
    }
    out = draw(st.lists(st.sampled_from(IRREPS), min_size=1, max_size=3, unique=True))
    weights = draw(st.sampled_from(["path", "vertex"]))
    return f"{draw(tree_over(names))} -> {'+'.join(out)}", leaf_irreps, weights, 3


def build_reachable(diagram: str, leaf_irreps: dict[str, str], weights: str, lmax: int):
    """The block restricted to the outputs that some nonvanishing path reaches."""
    d = FusionDiagram.parse(diagram)
    irreps = parse_leaf_irreps(d, leaf_irreps)
    selection = select_paths(d, irreps, admissible_paths(d, irreps, lmax))
    reached = sorted({p.output for p in selection.kept})
    assume(reached)
    out = format_irreps_list(tuple(d.irreps_out[i] for i in reached))
    return FusionBlock(
        f"{diagram.split('->')[0]}-> {out}",
        leaf_irreps,
        n_channels=2,
        weights=weights,
        lmax=lmax,
        dtype=torch.float64,
    )


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.filter_too_much])
@given(spec=random_blocks())
def test_random_diagrams_are_equivariant(spec) -> None:
    block = build_reachable(*spec)
    assert_equivariant(block, n_nodes=3, atol=1e-10)


@pytest.mark.parametrize("weights", ["path", "vertex"])
@pytest.mark.parametrize(
    ("diagram", "leaf_irreps"),
    [
        ("((A, A), A) -> 0e+1o", {"A": "0e+1o+2e+3o"}),
        ("((A, h), (A, A)) -> 0e+1o+1e+2e", {"A": "0e+1o+2e", "h": "0e+1e"}),
        ("(((A, B), A), B) -> 0o+2e", {"A": "1o+2e", "B": "0e+1e"}),
    ],
)
def test_block_equals_reference_oracle(float64, diagram, leaf_irreps, weights) -> None:
    block = FusionBlock(diagram, leaf_irreps, n_channels=3, weights=weights, n_elements=2)
    leaves, node_attrs = random_leaves(block, 7, torch.Generator().manual_seed(1))
    expected = reference_forward(block, leaves, node_attrs)
    torch.testing.assert_close(block(leaves, node_attrs), expected, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("weights", ["path", "vertex"])
@pytest.mark.parametrize(
    ("diagram", "leaf_irreps"),
    [
        ("((A, A), A) -> 0e+1o", {"A": "0e+1o+2e+3o+0e"}),
        ("((A, A), (A, h)) -> 0e+1o+2e", {"A": "0e+1o+2e", "h": "0e+1o"}),
    ],
)
def test_gradients_reach_every_weight(float64, diagram, leaf_irreps, weights) -> None:
    block = FusionBlock(diagram, leaf_irreps, n_channels=3, weights=weights, n_elements=2)
    leaves, _ = random_leaves(block, 8, torch.Generator().manual_seed(2))
    node_attrs = torch.nn.functional.one_hot(torch.arange(8) % 2, 2).double()
    out = block(leaves, node_attrs)
    (out * torch.randn_like(out)).sum().backward()
    weighted = [v for v in block.vertices if v.weighted]
    assert weighted, "the root always carries weights"
    for vertex in weighted:
        assert vertex.weight.grad is not None
        assert (vertex.weight.grad.abs() > 1e-12).all(), f"dead weights in {block}"


def path_outputs(block: FusionBlock, paths, leaves) -> torch.Tensor:
    """Each path's output on identical-leaf inputs: ``[n_paths, n * c * dim_out]``."""
    d = block.diagram
    rows = []
    for path in paths:
        tensor = path_tensor(d, block.leaf_irreps, path)
        y = None
        for name, choice in zip(d.leaf_names, path.leaf_irreps, strict=True):
            irreps = block.leaf_irreps[name]
            start = sum(ir.dim for ir in irreps[:choice])
            x = leaves[name][..., start : start + irreps[choice].dim]
            y = (
                torch.einsum("nci,i...->nc...", x, tensor)
                if y is None
                else torch.einsum("nci,nci...->nc...", x, y)
            )
        assert y is not None
        rows.append((path.output, y.flatten()))
    return rows


@pytest.mark.parametrize(
    ("diagram", "leaf_irreps"),
    [
        ("((A, A), A) -> 0e+1o+1e", {"A": "0e+1o+2e+3o"}),
        ("((A, A), (A, A)) -> 0e+2e", {"A": "0e+1o+2e"}),
        ("((A, h), A) -> 1o", {"A": "1o+1e", "h": "0e"}),
    ],
)
def test_dropped_paths_are_exactly_the_zero_or_repeated_ones(float64, diagram, leaf_irreps) -> None:
    block = FusionBlock(diagram, leaf_irreps, n_channels=2, weights="path")
    leaves, _ = random_leaves(block, 6, torch.Generator().manual_seed(3))
    selection = block.selection
    assert selection.vanishing or selection.redundant, "these diagrams have symmetric leaves"
    for _, y in path_outputs(block, selection.vanishing, leaves):
        assert float(y.abs().max()) < 1e-12
    kept = path_outputs(block, selection.kept, leaves)
    for output in {o for o, _ in kept}:
        basis = torch.stack([y for o, y in kept if o == output], dim=1)
        # Kept paths are independent ...
        assert torch.linalg.matrix_rank(basis, rtol=1e-9) == basis.shape[1]
        # ... and every repeated path lies in their span.
        for o, y in path_outputs(block, selection.redundant, leaves):
            if o != output:
                continue
            fit = torch.linalg.lstsq(basis, y[:, None]).solution
            assert float((basis @ fit - y[:, None]).norm() / y.norm()) < 1e-10


def test_unreachable_output_is_refused() -> None:
    with pytest.raises(ValueError, match=r"\['1e'\] .* cannot be reached"):
        FusionBlock("(A, A) -> 0e+1e", {"A": "1o"}, n_channels=2)


@pytest.mark.parametrize(
    ("kwargs", "problem"),
    [
        ({"leaf_irreps": {"B": "0e"}}, r"no irreps given for leaf \['A'\]"),
        ({"leaf_irreps": {"A": "0e", "Z": "1o"}}, r"\['Z'\], which are not leaves"),
        ({"leaf_irreps": {"A": "1q"}}, "cannot parse leaf A"),
        ({"weights": "edge"}, "weights must be one of"),
    ],
)
def test_bad_arguments_are_named(kwargs, problem) -> None:
    arguments = {"leaf_irreps": {"A": "0e+1o"}, "n_channels": 2, **kwargs}
    with pytest.raises(ValueError, match=problem):
        FusionBlock("((A, A), A) -> 0e", **arguments)


def test_bad_inputs_are_named() -> None:
    block = FusionBlock("(A, h) -> 1o", {"A": "0e+1o", "h": "1o"}, n_channels=2, n_elements=3)
    good = {"A": torch.randn(4, 2, 4), "h": torch.randn(4, 2, 3)}
    with pytest.raises(ValueError, match="missing input for leaf 'h'"):
        block({"A": good["A"]}, torch.eye(3)[[0, 1, 2, 0]])
    with pytest.raises(ValueError, match=r"leaf 'A' must have shape \[n_nodes, 2, 4\]"):
        block({**good, "A": torch.randn(4, 2, 5)}, torch.eye(3)[[0, 1, 2, 0]])
    with pytest.raises(ValueError, match="pass node_attrs"):
        block(good)


@pytest.mark.parametrize("weights", ["path", "vertex"])
def test_torchscript_and_float32_agree_with_eager_float64(float64, weights) -> None:
    block = FusionBlock(
        "((A, A), (A, h)) -> 0e+1o", {"A": "0e+1o+2e", "h": "0e+1o"}, 4, weights, n_elements=2
    )
    leaves, node_attrs = random_leaves(block, 9, torch.Generator().manual_seed(4))
    expected = block(leaves, node_attrs)
    scripted = torch.jit.script(block)
    torch.testing.assert_close(scripted(leaves, node_attrs), expected, rtol=1e-13, atol=1e-13)
    block32 = block.to(torch.float32)
    as32 = {k: v.float() for k, v in leaves.items()}
    out32 = block32(as32, node_attrs.float())
    assert out32.dtype == torch.float32
    torch.testing.assert_close(out32.double(), expected, rtol=1e-5, atol=1e-5)


def test_torch_compile_agrees_with_eager() -> None:
    block = FusionBlock("((A, A), h) -> 0e+1o", {"A": "0e+1o", "h": "0e+1o"}, 3, n_elements=2)
    leaves, node_attrs = random_leaves(block, 6, torch.Generator().manual_seed(5))
    compiled = torch.compile(block)
    torch.testing.assert_close(compiled(leaves, node_attrs), block(leaves, node_attrs))


def test_parameter_counts_follow_the_weight_mode() -> None:
    diagram, leaves = "((A, A), A) -> 0e+1o", {"A": "0e+1o+2e+3o"}
    per_path = FusionBlock(diagram, leaves, n_channels=5, weights="path", n_elements=2)
    per_vertex = FusionBlock(diagram, leaves, n_channels=5, weights="vertex", n_elements=2)
    assert per_path.n_weights == 2 * 5 * len(per_path.selection.kept)
    n_couplings = sum(len(weight_of) for weight_of in per_vertex._weight_of)
    assert per_vertex.n_weights == 2 * 5 * n_couplings
    assert "independent paths" in repr(per_path) and "weights" in repr(per_vertex)
