"""New geometries from old ones carry provenance, never labels.

Every sampler makes its frames with :func:`derived`: a sampled or moved geometry keeps
where it came from (``subset``, ``seed_index``, ``parent_id``, sampling parameters) and
none of its parent's energies, forces, stresses or their metadata, which are facts about
the parent's exact geometry (:func:`fusionpot.labels.runner.unlabelled` says which keys).
"""

from __future__ import annotations

from typing import Any

import numpy as np
from ase import Atoms

from fusionpot.labels.runner import unlabelled

__all__ = ["derived"]


def derived(
    parent: Atoms, positions: np.ndarray | None = None, *, inherit: bool = True, **provenance: Any
) -> Atoms:
    """A new frame made from ``parent``: its geometry and provenance, no labels.

    positions: [n_atoms, 3] Å, the new frame's (default: the parent's).
    inherit: keep the parent's non-label ``info`` (False: only what is set here).
    provenance: info keys to set (sampling parameters).
    The parent's ``frame_id`` becomes ``parent_id``; its labels, calculator, constraints
    and momenta (a phase-space point, not a geometry) are not carried over.
    """
    out = unlabelled(parent)
    if not inherit:
        out.info.clear()
    if "frame_id" in parent.info:
        out.info["parent_id"] = str(parent.info["frame_id"])
    if "momenta" in out.arrays:
        del out.arrays["momenta"]
    if positions is not None:
        positions = np.asarray(positions, dtype=float)
        if positions.shape != (len(parent), 3):
            raise ValueError(f"positions must be [{len(parent)}, 3] Å, got {positions.shape}")
        out.positions = positions
    out.info.update(provenance)
    return out
