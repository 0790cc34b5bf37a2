"""fusionpot: equivariant potentials built from fusion diagrams.

>>> from fusionpot.fusion import FusionDiagram
>>> str(FusionDiagram.parse("((A, A), h) -> 0e + 1o"))
'((A, A), h) -> 0e+1o'
"""

from fusionpot._version import __version__

__all__ = ["__version__"]
