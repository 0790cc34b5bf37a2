"""Whether a molecule stayed in one piece along a trajectory.

A potential trained on a few hundred frames can pull a molecule apart where it has no data
(an H atom leaves, a ring opens); what such a trajectory does afterwards is an artefact of
the potential, not chemistry. The bonds are taken from a trajectory's first geometry: atoms
i, j are bonded when d_ij < ``bonded`` · (r_i + r_j), with r the covalent radii of
:data:`ase.data.covalent_radii`; a bond is broken from the first recorded geometry from
which d_ij > ``broken`` · (r_i + r_j) holds to the end of the record (defaults 1.2 and
1.5: C–H bonded below 1.28 Å, broken beyond 1.61 Å; C–C below 1.82 Å, broken beyond
2.28 Å). A bond that stretches that far and comes back (a hot C–H vibration from a
compressed Wigner sample) is not a break; new bonds (a ring closing) are not breaks.

>>> import numpy as np
>>> numbers = np.array([6, 1])                     # a C–H pair
>>> path = np.zeros((3, 2, 3)); path[:, 1, 0] = [1.09, 1.40, 1.70]
>>> bonds = bond_list(numbers, path[0])
>>> bonds.tolist()
[[0, 1]]
>>> int(first_break(numbers, path, bonds))         # broken from the third geometry on
2
>>> int(first_break(numbers, path[[0, 2, 1]], bonds))  # stretched, then back: intact
-1
"""

from __future__ import annotations

import numpy as np
from ase.data import covalent_radii

__all__ = ["BONDED", "BROKEN", "bond_list", "first_break", "first_breaks"]

#: atoms closer than this many times the sum of their covalent radii are bonded
BONDED = 1.2
#: a bond is broken beyond this many times the sum of its atoms' covalent radii
BROKEN = 1.5


def _radius_sums(numbers: np.ndarray, bonds: np.ndarray) -> np.ndarray:
    radii = covalent_radii[np.asarray(numbers)]
    return radii[bonds[:, 0]] + radii[bonds[:, 1]]


def bond_list(numbers: np.ndarray, positions: np.ndarray, bonded: float = BONDED) -> np.ndarray:
    """Bonds [n_bonds, 2] (i < j) of one geometry: numbers [n_atoms], positions
    [n_atoms, 3] Å; atoms closer than ``bonded`` × the sum of their covalent radii."""
    n_atoms = len(numbers)
    i, j = np.triu_indices(n_atoms, k=1)
    pairs = np.stack([i, j], axis=1)
    distance = np.linalg.norm(positions[j] - positions[i], axis=-1)
    return pairs[distance < bonded * _radius_sums(numbers, pairs)]


def first_break(
    numbers: np.ndarray, path: np.ndarray, bonds: np.ndarray, broken: float = BROKEN
) -> int:
    """Index of the first geometry of ``path`` [n_geom, n_atoms, 3] Å from which a bond of
    ``bonds`` [n_bonds, 2] stays longer than ``broken`` × its covalent length through the
    last geometry, or −1 when there is none. NaN geometries (padding after a trajectory
    stopped) are skipped."""
    recorded = np.flatnonzero(np.isfinite(path).all(axis=(1, 2)))
    if not len(bonds) or not len(recorded):
        return -1
    ends = path[recorded]
    length = np.linalg.norm(ends[:, bonds[:, 1]] - ends[:, bonds[:, 0]], axis=-1)
    stretched = length > broken * _radius_sums(numbers, bonds)  # [n_recorded, n_bonds]
    stays = np.logical_and.accumulate(stretched[::-1], axis=0)[::-1].any(axis=1)
    return int(recorded[np.argmax(stays)]) if bool(stays.any()) else -1


def first_breaks(
    numbers: np.ndarray,
    positions: np.ndarray,
    bonded: float = BONDED,
    broken: float = BROKEN,
) -> np.ndarray:
    """For each trajectory of ``positions`` [n_traj, n_geom, n_atoms, 3] Å (NaN padded, as
    in a merged ``run.h5``), the index of its first broken geometry, or −1: [n_traj] int.
    Each trajectory's bonds are those of its first geometry (:func:`bond_list`)."""
    out = np.full(len(positions), -1, dtype=int)
    for k, path in enumerate(positions):
        out[k] = first_break(numbers, path, bond_list(numbers, path[0], bonded), broken)
    return out
