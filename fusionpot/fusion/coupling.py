"""Clebsch–Gordan vertices and the coupling tensor of a whole path.

Every vertex uses e3nn's real ``wigner_3j`` scaled by ``sqrt(2 l3 + 1)`` ("component"
normalisation: unit-variance components in give unit-variance components out).

e3nn 0.4.4 tabulates ``wigner_3j`` from float32 numbers: each tensor solves its
equivariance equation to float64 accuracy, but its norm is off by ~1e-8, which we
remove by renormalising.
"""

from __future__ import annotations

from functools import cache

import torch

from fusionpot._e3nn import o3
from fusionpot.fusion.diagram import FusionDiagram
from fusionpot.fusion.paths import FusionPath, LeafIrreps


@cache
def wigner_3j(l1: int, l2: int, l3: int) -> torch.Tensor:
    """e3nn's ``wigner_3j(l1, l2, l3)`` in float64 with unit Frobenius norm."""
    tabulated = o3.wigner_3j(l1, l2, l3, dtype=torch.float64)
    return tabulated / tabulated.norm()


def clebsch_gordan(l1: int, l2: int, l3: int) -> torch.Tensor:
    """Vertex tensor ``C[m1, m2, m3]``: shape ``[2l1+1, 2l2+1, 2l3+1]``, float64.

    ``Σ C[a, b, k] (D1 x)[a] (D2 y)[b] = (D3 Σ C x y)[k]`` for every rotation; the
    selection rules are the caller's business.
    """
    return wigner_3j(l1, l2, l3) * (2 * l3 + 1) ** 0.5


def path_tensor(diagram: FusionDiagram, leaf_irreps: LeafIrreps, path: FusionPath) -> torch.Tensor:
    """The full coupling tensor of one path, contracted vertex by vertex along the tree.

    Returns ``T[m_1, …, m_n, m_out]`` (float64) whose leaf axes run over the irrep the
    path selects at each leaf position; the map is
    ``out[m_out] = Σ T[m_1, …, m_n, m_out] x_1[m_1] ⋯ x_n[m_n]``.
    """
    irreps = path.node_irreps(diagram, leaf_irreps)
    # subtree[k]: tensor with one axis per leaf under node k (left to right) and a last
    # axis for node k's own irrep.
    subtree: list[torch.Tensor] = [
        torch.eye(irreps[k].dim, dtype=torch.float64) for k in range(diagram.n_leaves)
    ]
    for left, right in diagram.vertices:
        a, b = subtree[left], subtree[right]
        cg = clebsch_gordan(irreps[left].l, irreps[right].l, irreps[len(subtree)].l)
        fused = torch.einsum("pa,qb,abc->pqc", a.flatten(0, -2), b.flatten(0, -2), cg)
        subtree.append(fused.reshape(*a.shape[:-1], *b.shape[:-1], cg.shape[-1]))
    return subtree[-1]
