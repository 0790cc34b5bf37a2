"""Import e3nn's ``o3`` without weakening ``torch.load`` for the whole process, and build
e3nn modules without torch's spurious TorchScript warning.

e3nn 0.4.4 loads its constants with a bare ``torch.load`` at import time, which
torch >= 2.6 refuses (``weights_only=True`` by default rejects ``slice``).
mace-torch works around it by setting ``TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD=1`` for the
whole process; we instead allow exactly ``slice`` for the duration of the import.
"""

import contextlib
import warnings
from collections.abc import Iterator

import torch

with torch.serialization.safe_globals([slice]):
    from e3nn import o3

__all__ = ["FX_ANNOTATION_WARNING", "o3", "quiet_fx_scripting"]

#: What ``torch.jit.script`` says about ``torch.fx.GraphModule.__init__`` itself (torch's
#: own ``self.meta: dict[str, Any] = {}``): e3nn's code generation scripts a GraphModule for
#: every ``o3.Linear`` and tensor product it builds, so building or exporting a model
#: printed it once per module (13 times per ``fusionpot export``). It is about torch's
#: code, not the scripted model, which has no such attribute.
FX_ANNOTATION_WARNING = "The TorchScript type system doesn't support instance-level annotations"


@contextlib.contextmanager
def quiet_fx_scripting() -> Iterator[None]:
    """Within the block (or the decorated function), drop :data:`FX_ANNOTATION_WARNING`,
    and only it; every other warning is shown as before."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=FX_ANNOTATION_WARNING, category=UserWarning)
        yield
