"""Constrained geometry changes: relaxed scans of a torsion or distance, pyramidalisation."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from ase import Atoms
from ase.calculators.calculator import Calculator
from ase.constraints import FixInternals
from ase.optimize import BFGS

from fusionpot.sampling.provenance import derived

__all__ = ["pyramidalise", "relaxed_scan"]


def relaxed_scan(
    atoms: Atoms,
    calc: Calculator,
    *,
    values: Sequence[float],
    dihedral: Sequence[int] | None = None,
    bond: Sequence[int] | None = None,
    fmax: float = 0.05,
    steps: int = 300,
) -> list[Atoms]:
    """Relax ``atoms`` with one internal coordinate held at each of ``values`` in turn.

    dihedral: 4 atom indices, values in degrees; bond: 2 atom indices, values in Å.
    Each point starts from the previous one; fmax in eV/Å. Returns one relaxed copy
    per value with ``info["scan_value"]`` and ``atoms``' provenance, not its labels.
    """
    if (dihedral is None) == (bond is None):
        raise ValueError("give exactly one of dihedral (4 indices) or bond (2 indices)")
    if dihedral is not None and len(dihedral) != 4:
        raise ValueError(f"dihedral needs 4 atom indices, got {list(dihedral)}")
    if bond is not None and len(bond) != 2:
        raise ValueError(f"bond needs 2 atom indices, got {list(bond)}")
    work = derived(atoms)
    work.calc = calc
    points = []
    for value in values:
        work.set_constraint()
        if dihedral is not None:
            a, b, c, d = (int(i) for i in dihedral)
            work.set_dihedral(a, b, c, d, value, indices=_side(work, b, c))
            constraint = FixInternals(dihedrals_deg=[[value, [a, b, c, d]]])
        else:
            i, j = (int(k) for k in bond)  # type: ignore[union-attr]
            work.set_distance(i, j, value, fix=0.5)
            constraint = FixInternals(bonds=[[value, [i, j]]])
        work.set_constraint(constraint)
        BFGS(work, logfile=None).run(fmax=fmax, steps=steps)
        points.append(derived(work, scan_value=float(value)))
    return points


def _side(atoms: Atoms, b: int, c: int) -> list[int]:
    """Atoms on c's side of the b-c bond (bond graph from covalent radii)."""
    from ase.neighborlist import natural_cutoffs, neighbor_list

    i, j = neighbor_list("ij", atoms, natural_cutoffs(atoms))
    adjacency: dict[int, set[int]] = {k: set() for k in range(len(atoms))}
    for p, q in zip(i, j, strict=True):
        adjacency[int(p)].add(int(q))
    seen, stack = {c}, [c]
    while stack:
        node = stack.pop()
        for other in adjacency[node]:
            if other not in seen and not (node == c and other == b):
                seen.add(other)
                stack.append(other)
    if b in seen:
        raise ValueError(f"atoms {b} and {c} are in a ring: the torsion cannot be set")
    return sorted(seen)


def pyramidalise(atoms: Atoms, centre: int, neighbours: Sequence[int], distance: float) -> Atoms:
    """Move atom ``centre`` by ``distance`` Å along the normal of its neighbours' plane.

    neighbours: the 3 atoms bonded to ``centre``; a positive distance moves it along
    (n1 - n0) × (n2 - n0). The new frame has ``atoms``' provenance, not its labels.
    """
    if len(neighbours) != 3:
        raise ValueError(f"pyramidalise needs 3 neighbours, got {list(neighbours)}")
    n0, n1, n2 = (atoms.positions[int(k)] for k in neighbours)
    normal = np.cross(n1 - n0, n2 - n0)
    length = np.linalg.norm(normal)
    if length < 1e-8:
        raise ValueError(f"neighbours {list(neighbours)} are collinear: no plane")
    positions = atoms.get_positions()
    positions[centre] += distance * normal / length
    return derived(atoms, positions)
