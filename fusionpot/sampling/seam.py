"""Steps toward the S1/S0 intersection seam from labelled frames."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from ase import Atoms

from fusionpot.sampling.provenance import derived

__all__ = ["seam_parents", "seam_steps"]


def seam_steps(
    labelled: Atoms, scales: Sequence[float] = (1.0,), lower: int = 0, upper: int = 1
) -> list[Atoms]:
    """Geometries along the Newton step that closes the gap of a linear model.

    With ΔE = E_upper − E_lower (eV) and g = ∇ΔE = F_lower − F_upper (eV/Å) from the
    frame's ``energy_s{k}`` / ``forces_s{k}``, the step is dx = −ΔE g / |g|² (Å); returns
    x + s·dx for each s in ``scales``, tagged ``info["seam_scale"]`` (and ``parent_id``
    = the frame's ``frame_id`` if it has one), without the frame's labels or other info.
    """
    try:
        gap = labelled.info[f"energy_s{upper}"] - labelled.info[f"energy_s{lower}"]
        g = labelled.arrays[f"forces_s{lower}"] - labelled.arrays[f"forces_s{upper}"]
    except KeyError as error:
        raise ValueError(
            f"frame lacks {error.args[0]}: seam steps need energies and forces"
        ) from None
    norm2 = float(np.sum(g * g))
    if norm2 == 0.0:
        raise ValueError("zero gap gradient: no seam direction")
    step = -gap * g / norm2
    return [
        derived(labelled, labelled.positions + s * step, inherit=False, seam_scale=float(s))
        for s in scales
    ]


def seam_parents(
    gaps: Sequence[float] | np.ndarray,
    names: Sequence[str],
    done: set[str],
    n_lowest: int,
    min_gap: float,
    max_gap: float,
) -> list[int]:
    """Indices of the next frames to step from: the ``n_lowest`` smallest gaps (eV) in
    [``min_gap``, ``max_gap``) among frames whose ``names`` are not in ``done``.

    Frames already at the seam (gap below ``min_gap``) and frames stepped from before are
    passed over, so each call reaches further up the gap ladder instead of stopping at
    the same few frames.

    >>> seam_parents([0.05, 0.8, 0.4, 3.0, 0.6], ["a", "b", "c", "d", "e"], {"c"}, 2, 0.1, 2.6)
    [4, 1]
    """
    candidates = [
        i
        for i in np.argsort(gaps, kind="stable")
        if min_gap <= gaps[i] < max_gap and names[i] not in done
    ]
    return [int(i) for i in candidates[:n_lowest]]
