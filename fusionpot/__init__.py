"""fusionpot: equivariant potentials built from fusion diagrams.

>>> from fusionpot.fusion import FusionDiagram
>>> str(FusionDiagram.parse("((A, A), h) -> 0e + 1o"))
'((A, A), h) -> 0e+1o'
"""

from typing import Any

from fusionpot._version import __version__

__all__ = ["FusionCalculator", "__version__"]


def __getattr__(name: str) -> Any:
    """``fusionpot.FusionCalculator`` imports torch and the models only when first used."""
    if name == "FusionCalculator":
        from fusionpot.calculators import FusionCalculator

        return FusionCalculator
    raise AttributeError(f"module 'fusionpot' has no attribute {name!r}")
