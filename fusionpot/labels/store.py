"""Append-only extxyz label files that survive being killed.

Each finished frame is serialised completely in memory and appended with a single
``write`` + ``fsync`` on a file opened in append mode, so a kill leaves either the
whole frame or (at worst, on a crash inside the write) a truncated tail, which
:func:`read_complete_frames` detects and :func:`repair_tail` removes atomically (temp file +
``os.replace``).
"""

from __future__ import annotations

import io
import json
import os
from pathlib import Path
from typing import Any

from ase import Atoms
from ase.io import read, write

from fusionpot._io import atomic_write_text

__all__ = [
    "append_frame",
    "append_jsonl",
    "read_complete_frames",
    "read_jsonl",
    "repair_tail",
]


def _complete_length(text: str) -> int:
    """Number of leading characters of ``text`` that form complete xyz frames."""
    lines = text.splitlines(keepends=True)
    i = end = 0
    while i < len(lines):
        head = lines[i].strip()
        if not head.isdigit():
            break
        n = int(head)
        if i + 2 + n > len(lines) or not lines[i + 1 + n].endswith("\n"):
            break
        i += 2 + n
        end = sum(len(line) for line in lines[:i])
    return end


def repair_tail(path: Path) -> bool:
    """Drop an incomplete last frame from ``path``; return True when one was dropped."""
    if not path.exists():
        return False
    text = path.read_text()
    keep = _complete_length(text)
    if keep == len(text):
        return False
    atomic_write_text(path, text[:keep])
    return True


def read_complete_frames(path: Path) -> list[Atoms]:
    """All complete frames of an extxyz file (empty list when it does not exist)."""
    if not path.exists() or path.stat().st_size == 0:
        return []
    text = path.read_text()
    complete = text[: _complete_length(text)]
    if not complete:
        return []
    frames = read(io.StringIO(complete), index=":", format="extxyz")
    return frames if isinstance(frames, list) else [frames]


def _append_text(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        data = text.encode()
        written = os.write(fd, data)
        if written != len(data):
            raise OSError(f"short write to {path}: {written} of {len(data)} bytes")
        os.fsync(fd)
    finally:
        os.close(fd)


def append_frame(path: Path, atoms: Atoms) -> None:
    """Append one frame (info and arrays as set on ``atoms``) to an extxyz file."""
    buffer = io.StringIO()
    write(buffer, atoms, format="extxyz")
    _append_text(path, buffer.getvalue())


def append_jsonl(path: Path, record: dict[str, Any]) -> None:
    """Append one JSON record as a line (the failure log)."""
    _append_text(path, json.dumps(record, sort_keys=True) + "\n")


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    """Records of a JSON-lines file; a truncated last line is ignored."""
    if not path.exists():
        return []
    records = []
    for line in path.read_text().splitlines():
        try:
            records.append(json.loads(line))
        except json.JSONDecodeError:
            continue
    return records
