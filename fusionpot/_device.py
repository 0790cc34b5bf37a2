"""One reading of a ``device`` argument: ``"auto"`` or anything torch reads as a device."""

from __future__ import annotations

import torch

__all__ = ["resolve_device"]


def resolve_device(device: torch.device | str) -> torch.device:
    """``"auto"``: CUDA when available, else CPU; anything else as ``torch.device`` reads it.

    A value torch cannot read is a ``ValueError`` naming it.

    >>> resolve_device("cpu")
    device(type='cpu')
    >>> resolve_device("gpu0")
    Traceback (most recent call last):
    ...
    ValueError: device 'gpu0' is not a torch device (or 'auto')

    A CUDA device on a machine whose torch sees none is a ``ValueError`` too (not torch's
    assertion deep inside the first ``.to``).
    """
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        resolved = torch.device(device)
    except (RuntimeError, TypeError):
        raise ValueError(f"device {device!r} is not a torch device (or 'auto')") from None
    if resolved.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(
            f"device {str(device)!r}: this torch ({torch.__version__}) sees no CUDA device; "
            "use 'cpu' or 'auto'"
        )
    return resolved
