"""Fusion diagrams compiled into equivariant torch modules.

>>> block = FusionBlock("((A, A), A) -> 0e", {"A": "0e+1o"}, n_channels=8, weights="path")
>>> len(block.paths), block.n_weights
(2, 16)
"""

from fusionpot.fusion.block import FusionBlock
from fusionpot.fusion.diagram import DiagramSyntaxError, FusionDiagram, balanced, caterpillar
from fusionpot.fusion.paths import FusionPath, admissible_paths
from fusionpot.fusion.selection import PathSelection, select_paths

__all__ = [
    "DiagramSyntaxError",
    "FusionBlock",
    "FusionDiagram",
    "FusionPath",
    "PathSelection",
    "admissible_paths",
    "balanced",
    "caterpillar",
    "select_paths",
]
