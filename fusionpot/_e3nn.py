"""Import e3nn's ``o3`` without weakening ``torch.load`` for the whole process.

e3nn 0.4.4 loads its constants with a bare ``torch.load`` at import time, which
torch >= 2.6 refuses (``weights_only=True`` by default rejects ``slice``).
mace-torch works around it by setting ``TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD=1`` for the
whole process; we instead allow exactly ``slice`` for the duration of the import.
"""

import torch

with torch.serialization.safe_globals([slice]):
    from e3nn import o3

__all__ = ["o3"]
