"""Atomic file writes: a kill mid-write never leaves half a file where a whole one was.

Every writer goes to a temporary file in the destination's folder, is flushed to disk,
and is then moved onto the destination with ``os.replace`` (atomic on POSIX).

>>> import tempfile
>>> from pathlib import Path
>>> path = Path(tempfile.mkdtemp()) / "note.txt"
>>> atomic_write_text(path, "done")
>>> path.read_text()
'done'
>>> mask = os.umask(0); _ = os.umask(mask)   # the usual permissions, not owner-only
>>> path.stat().st_mode & 0o777 == 0o666 & ~mask
True
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

__all__ = ["atomic_torch_save", "atomic_write", "atomic_write_text"]


def atomic_write(path: str | os.PathLike[str], write: Callable[[Path], object]) -> None:
    """Call ``write(tmp)`` on a temporary file beside ``path``, fsync it, move it onto ``path``.

    The folder is created if missing; on any error the temporary file is removed and the
    previous ``path`` (if any) is left untouched.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    # a fresh name, created by the writer itself, so the file gets the usual permissions
    # (umask), not mkstemp's owner-only 0600
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp")
    try:
        write(tmp)
        with open(tmp, "rb") as fh:
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def atomic_write_text(path: str | os.PathLike[str], text: str) -> None:
    """Replace ``path`` by ``text`` atomically."""
    atomic_write(path, lambda tmp: tmp.write_text(text))


def atomic_torch_save(obj: Any, path: str | os.PathLike[str]) -> None:
    """``torch.save(obj)`` to ``path`` atomically."""
    atomic_write(path, lambda tmp: torch.save(obj, tmp))
