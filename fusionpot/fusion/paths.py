"""Admissible labellings (paths) of a fusion diagram, and which of them to keep.

A *path* chooses one irrep from each leaf's irreps and one irrep on every internal
edge, such that each vertex ``(l1, p1) ⊗ (l2, p2) → (l3, p3)`` obeys
``|l1 - l2| <= l3 <= l1 + l2`` and ``p3 = p1 p2``; internal edges have ``l <= lmax``
and the root edge is one of the diagram's output irreps.

Leaves with the same name are the same tensor, so a path's map only matters after
symmetrisation over the permutations of identical leaves. Some paths then vanish
identically and some repeat others (are linear combinations of them); neither may
carry parameters: :mod:`fusionpot.fusion.selection` finds them.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping
from dataclasses import dataclass

from fusionpot._e3nn import o3
from fusionpot.fusion.diagram import FusionDiagram, parse_irreps_list

LeafIrreps = Mapping[str, tuple[o3.Irrep, ...]]
"""Irreps of each named leaf, one item per copy (e.g. ``{"A": (0e, 1o, 2e)}``)."""


def parse_leaf_irreps(diagram: FusionDiagram, leaf_irreps: Mapping[str, object]) -> LeafIrreps:
    """Check that ``leaf_irreps`` names exactly the diagram's leaves and parse each entry.

    >>> d = FusionDiagram.parse("(A, h) -> 1o")
    >>> parse_leaf_irreps(d, {"A": "0e+1o", "h": "0e"})["A"]
    (0e, 1o)
    """
    names = set(diagram.unique_leaf_names)
    missing = sorted(names - set(leaf_irreps))
    unknown = sorted(set(leaf_irreps) - names)
    if missing:
        raise ValueError(f"no irreps given for leaf {missing} of diagram '{diagram}'")
    if unknown:
        raise ValueError(f"irreps given for {unknown}, which are not leaves of '{diagram}'")
    return {
        name: parse_irreps_list(str(leaf_irreps[name]), f"leaf {name}")
        for name in diagram.unique_leaf_names
    }


@dataclass(frozen=True)
class FusionPath:
    """One labelling of a diagram.

    ``leaf_irreps[k]``: index into the irreps of leaf position ``k``;
    ``edges[v]``: irrep on the output edge of internal node ``v`` (post-order, the last
    one is the root); ``output``: index into the diagram's output irreps.
    """

    leaf_irreps: tuple[int, ...]
    edges: tuple[o3.Irrep, ...]
    output: int

    def node_irreps(self, diagram: FusionDiagram, leaf_irreps: LeafIrreps) -> list[o3.Irrep]:
        """Irrep on the output edge of every node, in node order (leaves, then vertices)."""
        leaves = [
            leaf_irreps[name][index]
            for name, index in zip(diagram.leaf_names, self.leaf_irreps, strict=True)
        ]
        return leaves + list(self.edges)

    def partial(self, diagram: FusionDiagram, node: int) -> tuple:
        """The labels of the subtree under ``node``: identifies the partial path there."""
        leaves, vertices = diagram.subtrees[node]
        return (
            node,
            tuple(self.leaf_irreps[k] for k in leaves),
            tuple(self.edges[v] for v in vertices),
        )

    def describe(self, diagram: FusionDiagram, leaf_irreps: LeafIrreps) -> str:
        """The tree with every edge labelled, e.g. ``((A:1o, A:1o)->2e, A:2e)->0e``."""
        irreps = self.node_irreps(diagram, leaf_irreps)
        text = [f"{name}:{irreps[k]}" for k, name in enumerate(diagram.leaf_names)]
        for v, (left, right) in enumerate(diagram.vertices):
            text.append(f"({text[left]}, {text[right]})->{self.edges[v]}")
        return text[-1]


def admissible_paths(
    diagram: FusionDiagram, leaf_irreps: LeafIrreps, lmax: int
) -> list[FusionPath]:
    """Every path obeying the selection rules, in a fixed order.

    Vertices whose two children are leaves of the same name only take irreps
    ``i <= j`` from them: ``x_j ⊗ x_i`` coupled to ``l3`` is ``±`` ``x_i ⊗ x_j``
    coupled to ``l3``, so the swapped copy would only repeat it.
    """
    n = diagram.n_leaves
    # partial[k]: (leaf choices by position, edge irreps by vertex, irrep of node k)
    Partial = tuple[dict[int, int], dict[int, o3.Irrep], o3.Irrep]
    partial: list[list[Partial]] = []
    for position, name in enumerate(diagram.leaf_names):
        partial.append([({position: i}, {}, ir) for i, ir in enumerate(leaf_irreps[name])])
    for v, (left, right) in enumerate(diagram.vertices):
        is_root = v == diagram.n_vertices - 1
        same_leaf = left < n and right < n and diagram.leaf_names[left] == diagram.leaf_names[right]
        options: list[Partial] = []
        for (lc1, le1, ir1), (lc2, le2, ir2) in itertools.product(partial[left], partial[right]):
            if same_leaf and lc1[left] > lc2[right]:
                continue
            for ir3 in ir1 * ir2:
                if is_root and ir3 not in diagram.irreps_out:
                    continue
                if not is_root and ir3.l > lmax:
                    continue
                options.append(({**lc1, **lc2}, {**le1, **le2, v: ir3}, ir3))
        partial.append(options)
    paths = []
    for choices, edges, ir in partial[-1]:
        for output, ir_out in enumerate(diagram.irreps_out):
            if ir == ir_out:
                paths.append(
                    FusionPath(
                        leaf_irreps=tuple(choices[k] for k in range(n)),
                        edges=tuple(edges[v] for v in range(diagram.n_vertices)),
                        output=output,
                    )
                )
    paths.sort(key=path_order)
    return paths


def path_order(path: FusionPath) -> tuple:
    """Sort key of paths: by output, then leaf irreps, then internal irreps."""
    return (path.output, path.leaf_irreps, [(ir.l, ir.p) for ir in path.edges])


__all__ = ["FusionPath", "LeafIrreps", "admissible_paths", "parse_leaf_irreps", "path_order"]
