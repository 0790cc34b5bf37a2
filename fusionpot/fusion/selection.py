"""Which admissible paths carry parameters, once identical leaves are accounted for.

Leaves with the same name are the same tensor, so only the symmetrisation of a path's
coupling tensor over the permutations of identical leaves matters. Some paths then
vanish identically and some repeat others; :func:`select_paths` finds both by
projecting each symmetrised tensor onto one canonical block and Gram–Schmidt
orthogonalising the projections.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import torch

from fusionpot.fusion.coupling import path_tensor
from fusionpot.fusion.diagram import FusionDiagram
from fusionpot.fusion.paths import FusionPath, LeafIrreps, path_order

VANISHING_TOLERANCE = 1e-9
"""Relative norm below which a symmetrised path counts as zero or as repeated."""


def leaf_permutations(diagram: FusionDiagram) -> list[tuple[int, ...]]:
    """Permutations ``σ`` of leaf positions that map every leaf to one of the same name."""
    groups: dict[str, list[int]] = {}
    for position, name in enumerate(diagram.leaf_names):
        groups.setdefault(name, []).append(position)
    perms = []
    for images in itertools.product(*(itertools.permutations(g) for g in groups.values())):
        sigma = [0] * diagram.n_leaves
        for group, image in zip(groups.values(), images, strict=True):
            for position, target in zip(group, image, strict=True):
                sigma[position] = target
        perms.append(tuple(sigma))
    return perms


def symmetrised_block(
    tensor: torch.Tensor, path: FusionPath, perms: list[tuple[int, ...]]
) -> tuple[tuple[int, ...], torch.Tensor]:
    """Restriction of the leaf-symmetrised coupling tensor to its canonical block.

    ``tensor`` is ``T[m_1, …, m_n, m_out]`` over the path's leaf irreps. Permuting
    axes by ``σ`` moves it to the block with leaf irreps ``a[σ[j]]``; the symmetrised
    tensor is fixed by its restriction to any one block of that orbit, and we take the
    smallest. Returns that block's leaf-irrep indices and ``Σ_{σ → canonical} σ·T``.
    """
    assignment = path.leaf_irreps
    moved = {sigma: tuple(assignment[s] for s in sigma) for sigma in perms}
    canonical = min(moved.values())
    n = len(assignment)
    block = sum(
        (tensor.permute(*sigma, n) for sigma, target in moved.items() if target == canonical),
        start=torch.zeros(()),
    )
    return canonical, block


@dataclass(frozen=True)
class PathSelection:
    """Admissible paths split into those kept and those dropped, with the reason."""

    kept: tuple[FusionPath, ...]
    vanishing: tuple[FusionPath, ...]
    """Paths whose symmetrised map is identically zero."""
    redundant: tuple[FusionPath, ...]
    """Nonzero paths that are linear combinations of kept ones."""

    @property
    def nonvanishing(self) -> tuple[FusionPath, ...]:
        return tuple(sorted(self.kept + self.redundant, key=path_order))


def select_paths(
    diagram: FusionDiagram, leaf_irreps: LeafIrreps, paths: list[FusionPath]
) -> PathSelection:
    """Keep a maximal linearly independent set of nonvanishing symmetrised paths.

    Paths are visited in order and kept when they add a new direction, so among
    repeats the first one is kept.
    """
    perms = leaf_permutations(diagram)
    kept: list[FusionPath] = []
    vanishing: list[FusionPath] = []
    redundant: list[FusionPath] = []
    bases: dict[tuple[int, tuple[int, ...]], list[torch.Tensor]] = {}
    for path in paths:
        tensor = path_tensor(diagram, leaf_irreps, path)
        canonical, block = symmetrised_block(tensor, path, perms)
        vector = block.flatten()
        norm = float(vector.norm())
        if norm <= VANISHING_TOLERANCE * float(tensor.norm()):
            vanishing.append(path)
            continue
        basis = bases.setdefault((path.output, canonical), [])
        residual = vector
        for _ in range(2):  # twice is enough for Gram–Schmidt in floating point
            for q in basis:
                residual = residual - (q @ residual) * q
        if float(residual.norm()) <= VANISHING_TOLERANCE * norm:
            redundant.append(path)
            continue
        basis.append(residual / residual.norm())
        kept.append(path)
    return PathSelection(tuple(kept), tuple(vanishing), tuple(redundant))


__all__ = ["PathSelection", "leaf_permutations", "select_paths", "symmetrised_block"]
