"""Ordering a labelling pool so that any prefix covers every subset."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from ase import Atoms

__all__ = ["interleave"]


def interleave(subsets: Mapping[str, Sequence[Atoms]], first: Sequence[str] = ()) -> list[Atoms]:
    """All frames, subsets named in ``first`` entirely at the front (in that order), then
    the rest round-robin; every frame gets ``info["subset"]`` = its subset's name."""
    unknown = [name for name in first if name not in subsets]
    if unknown:
        raise ValueError(f"unknown subsets {unknown}; have {sorted(subsets)}")
    for name, frames in subsets.items():
        for frame in frames:
            frame.info["subset"] = name
    ordered = [frame for name in first for frame in subsets[name]]
    rest = [list(frames) for name, frames in subsets.items() if name not in first]
    while any(rest):
        for frames in rest:
            if frames:
                ordered.append(frames.pop(0))
    return ordered
