"""Which admissible paths carry parameters, once identical leaves are accounted for.

Leaves with the same name are the same tensor, so a path is a polynomial map of the
distinct leaf tensors. Some of these maps vanish identically (e.g. the antisymmetric
``1o ⊗ 1o -> 1e`` of one vector with itself) and some are linear combinations of
others; neither may carry parameters.

We decide both by evaluating every path at random inputs: a polynomial that is not
identically zero is nonzero at random points with probability one, and linear
relations between the maps are exactly the relations between their value vectors
once there are more sample points than paths. Evaluations share work along the tree
(partial paths are memoised), so this costs far less than materialising and
symmetrising each path's full coupling tensor.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from fusionpot.fusion.coupling import clebsch_gordan
from fusionpot.fusion.diagram import FusionDiagram
from fusionpot.fusion.paths import FusionPath, LeafIrreps, path_order

VANISHING_TOLERANCE = 1e-9
"""Relative norm below which a path's values count as zero or as repeated."""


@dataclass(frozen=True)
class PathSelection:
    """Admissible paths split into those kept and those dropped, with the reason."""

    kept: tuple[FusionPath, ...]
    vanishing: tuple[FusionPath, ...]
    """Paths whose map is identically zero on identical leaves."""
    redundant: tuple[FusionPath, ...]
    """Nonzero paths that are linear combinations of kept ones."""

    @property
    def nonvanishing(self) -> tuple[FusionPath, ...]:
        return tuple(sorted(self.kept + self.redundant, key=path_order))


class _PathEvaluator:
    """Values of partial paths at fixed random inputs: ``[n_samples, 2l+1]`` each.

    With ``identical=True`` leaves of one name share their samples (the real map);
    otherwise every leaf position gets its own, which never vanishes and gives the
    scale against which vanishing is judged.
    """

    def __init__(
        self,
        diagram: FusionDiagram,
        leaf_irreps: LeafIrreps,
        n_samples: int,
        generator: torch.Generator,
        identical: bool,
    ) -> None:
        self.diagram = diagram
        self.leaf_irreps = leaf_irreps
        sources = diagram.leaf_names if identical else range(diagram.n_leaves)
        samples = {
            source: torch.randn(
                n_samples,
                sum(ir.dim for ir in leaf_irreps[diagram.leaf_names[k]]),
                generator=generator,
                dtype=torch.float64,
            )
            for k, source in reversed(list(enumerate(sources)))
        }
        self.inputs = [samples[source] for source in sources]
        self.memo: dict[tuple, torch.Tensor] = {}

    def __call__(self, path: FusionPath, node: int) -> torch.Tensor:
        key = path.partial(self.diagram, node)
        if key in self.memo:
            return self.memo[key]
        irreps = path.node_irreps(self.diagram, self.leaf_irreps)
        n = self.diagram.n_leaves
        if node < n:
            choices = self.leaf_irreps[self.diagram.leaf_names[node]]
            start = sum(ir.dim for ir in choices[: path.leaf_irreps[node]])
            value = self.inputs[node][:, start : start + irreps[node].dim]
        else:
            left, right = self.diagram.vertices[node - n]
            cg = clebsch_gordan(irreps[left].l, irreps[right].l, irreps[node].l)
            outer = self(path, left).unsqueeze(2) * self(path, right).unsqueeze(1)
            value = outer.flatten(1) @ cg.flatten(0, 1)
        self.memo[key] = value
        return value


def select_paths(
    diagram: FusionDiagram, leaf_irreps: LeafIrreps, paths: list[FusionPath], seed: int = 0
) -> PathSelection:
    """Keep a maximal linearly independent set of nonvanishing paths.

    Paths are visited in order and kept when they add a new direction, so among
    repeats the first one is kept. Deterministic for a given ``seed``.
    """
    generator = torch.Generator().manual_seed(seed)
    n_samples = len(paths) + 16
    on_identical = _PathEvaluator(diagram, leaf_irreps, n_samples, generator, identical=True)
    on_distinct = _PathEvaluator(diagram, leaf_irreps, n_samples, generator, identical=False)
    root = diagram.n_leaves + diagram.n_vertices - 1
    kept: list[FusionPath] = []
    vanishing: list[FusionPath] = []
    redundant: list[FusionPath] = []
    bases: dict[int, list[torch.Tensor]] = {}
    for path in paths:
        values = on_identical(path, root).flatten()
        norm = float(values.norm())
        if norm <= VANISHING_TOLERANCE * float(on_distinct(path, root).norm()):
            vanishing.append(path)
            continue
        basis = bases.setdefault(path.output, [])
        residual = values
        for _ in range(2):  # twice is enough for Gram–Schmidt in floating point
            for q in basis:
                residual = residual - (q @ residual) * q
        if float(residual.norm()) <= VANISHING_TOLERANCE * norm:
            redundant.append(path)
            continue
        basis.append(residual / residual.norm())
        kept.append(path)
    return PathSelection(tuple(kept), tuple(vanishing), tuple(redundant))


__all__ = ["VANISHING_TOLERANCE", "PathSelection", "select_paths"]
