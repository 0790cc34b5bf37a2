"""glibc malloc tuning for CPU inference (DESIGN.md §5), applied once per process.

PyTorch on CPU allocates and frees large tensors every step; glibc returns them to the
kernel (``munmap``/``trim``) and page-faults them back on the next step. Raising the
mmap and trim thresholds and the top pad keeps the memory in the heap:
``mallopt(M_MMAP_THRESHOLD, 1 GiB)``, ``mallopt(M_TRIM_THRESHOLD, 2 GiB)``,
``mallopt(M_TOP_PAD, 1 GiB)`` (the equivalents of ``MALLOC_MMAP_THRESHOLD_`` etc.,
but set from inside the process). Only on Linux with glibc; skipped when the user set
any ``MALLOC_*_`` variable (theirs wins) or ``FUSIONPOT_MALLOC_TUNING=0``.
"""

from __future__ import annotations

import ctypes
import os
import platform
import sys

__all__ = ["OPT_OUT", "tune_malloc"]

#: set to 0 to keep glibc's defaults
OPT_OUT = "FUSIONPOT_MALLOC_TUNING"
_USER_VARIABLES = ("MALLOC_MMAP_THRESHOLD_", "MALLOC_TRIM_THRESHOLD_", "MALLOC_TOP_PAD_")
# mallopt parameters (malloc.h) and values; mallopt takes a C int
_SETTINGS = {-3: 1 << 30, -1: (1 << 31) - 1, -2: 1 << 30}
_applied = False


def tune_malloc() -> bool:
    """Apply the tuning (once per process); True if it is in effect."""
    global _applied
    if _applied:
        return True
    if os.environ.get(OPT_OUT, "1") == "0" or any(v in os.environ for v in _USER_VARIABLES):
        return False
    if sys.platform != "linux" or platform.libc_ver()[0] != "glibc":
        return False
    try:
        libc = ctypes.CDLL("libc.so.6")
    except OSError:
        return False
    libc.mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    libc.mallopt.restype = ctypes.c_int
    _applied = all(libc.mallopt(parameter, value) == 1 for parameter, value in _SETTINGS.items())
    return _applied
