"""Slow, obviously correct evaluation of a fusion block: the test oracle.

Each path's full coupling tensor is materialised (:func:`path_tensor`) and contracted
with the leaves one at a time; path outputs are weighted by
:meth:`FusionBlock.path_weights` and summed. Its cost grows with every leaf, which is
why the block itself contracts along the tree instead.
"""

from __future__ import annotations

import torch

from fusionpot.fusion.block import FusionBlock
from fusionpot.fusion.coupling import path_tensor


def reference_forward(
    block: FusionBlock, leaves: dict[str, torch.Tensor], node_attrs: torch.Tensor | None = None
) -> torch.Tensor:
    """What ``block(leaves, node_attrs)`` must return, computed path by path.

    Shapes as in :class:`FusionBlock`: leaves ``[n, c, dim_leaf]`` -> ``[n, c, dim_out]``.
    """
    diagram, leaf_irreps = block.diagram, block.leaf_irreps
    first = leaves[diagram.leaf_names[0]]
    n_nodes = first.shape[0]
    out = first.new_zeros(n_nodes, block.n_channels, block.irreps_out.dim)
    out_offsets = [0]
    for irrep in diagram.irreps_out:
        out_offsets.append(out_offsets[-1] + irrep.dim)
    weights = block.path_weights(node_attrs)
    for p, path in enumerate(block.paths):
        tensor = path_tensor(diagram, leaf_irreps, path).to(first)
        # Contract the first leaf axis with each leaf in turn; the batch axes (n, c)
        # appear after the first contraction.
        contracted = None
        for name, choice in zip(diagram.leaf_names, path.leaf_irreps, strict=True):
            start = sum(ir.dim for ir in leaf_irreps[name][:choice])
            x = leaves[name][..., start : start + leaf_irreps[name][choice].dim]
            if contracted is None:
                contracted = torch.einsum("nci,i...->nc...", x, tensor)
            else:
                contracted = torch.einsum("nci,nci...->nc...", x, contracted)
        assert contracted is not None
        start = out_offsets[path.output]
        out[..., start : start + contracted.shape[-1]] += weights[..., p, None] * contracted
    return out
