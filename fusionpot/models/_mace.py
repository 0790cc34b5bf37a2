"""mace-torch's building blocks, imported without leaving its torch.load override behind.

``import mace`` sets ``TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD=1`` for the whole process and
prints a notice about cuequivariance; this module restores the variable to what it was
before and keeps the notice off stdout, so importing fusionpot changes no process state.
Also re-exports e3nn's ``compile_mode`` (e3nn must be imported through ``fusionpot._e3nn``).
"""

import contextlib
import io
import os

from fusionpot._e3nn import o3  # e3nn first, with its safe import

_KEY = "TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD"
_previous = os.environ.get(_KEY)
try:
    with contextlib.redirect_stdout(io.StringIO()):
        from mace.modules.blocks import RadialEmbeddingBlock, RealAgnosticResidualInteractionBlock
        from mace.modules.models import MACE
finally:
    if _previous is None:
        os.environ.pop(_KEY, None)
    else:
        os.environ[_KEY] = _previous

from e3nn.util.jit import compile_mode  # noqa: E402  (after fusionpot._e3nn)

__all__ = [
    "MACE",
    "RadialEmbeddingBlock",
    "RealAgnosticResidualInteractionBlock",
    "compile_mode",
    "o3",
]
