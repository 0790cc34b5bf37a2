"""mace-torch's building blocks, imported without leaving its torch.load override behind.

``import mace`` sets ``TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD=1`` for the whole process; this
module restores the variable to what it was before, so importing fusionpot changes no
process state.
"""

import os

from fusionpot._e3nn import o3  # e3nn first, with its safe import

_KEY = "TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD"
_previous = os.environ.get(_KEY)
try:
    from mace.modules.blocks import RadialEmbeddingBlock, RealAgnosticResidualInteractionBlock
finally:
    if _previous is None:
        os.environ.pop(_KEY, None)
    else:
        os.environ[_KEY] = _previous

__all__ = ["RadialEmbeddingBlock", "RealAgnosticResidualInteractionBlock", "o3"]
