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

import errno
import os
import secrets
from collections.abc import Callable
from pathlib import Path
from typing import Any

__all__ = ["atomic_torch_save", "atomic_write", "atomic_write_text"]


def atomic_write(path: str | os.PathLike[str], write: Callable[[Path], object]) -> None:
    """Call ``write(tmp)`` on a temporary file beside ``path``, fsync it, move it onto ``path``.

    The folder is created if missing; on any error the temporary file is removed and the
    previous ``path`` (if any) is left untouched. A ``path`` that is a directory raises
    ``IsADirectoryError``, a folder that cannot take the file the ``OSError`` of the
    attempt; both name ``path`` (never the temporary name), before ``write`` runs.
    """
    path = Path(path)
    if path.is_dir():
        raise IsADirectoryError(errno.EISDIR, "is a directory; give a file name", str(path))
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        reason = f"cannot make its folder ({error.strerror}: {error.filename})"
        raise type(error)(error.errno, reason, str(path)) from None
    # a fresh name, created here with the usual permissions (umask), not mkstemp's
    # owner-only 0600
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp")
    try:
        with open(tmp, "xb"):
            pass
    except OSError as error:
        reason = f"cannot write a file there ({error.strerror})"
        raise type(error)(error.errno, reason, str(path)) from None
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
    import torch  # here: labelling and sampling write files without importing torch

    atomic_write(path, lambda tmp: torch.save(obj, tmp))
