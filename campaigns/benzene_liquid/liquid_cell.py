"""A periodic cell of a molecular liquid at a given density: rigid molecules with random
orientations on a cubic lattice, placed one by one so that no two molecules come closer
than a minimum distance (minimum image). The lattice melts in the first femtoseconds of MD.
"""

from __future__ import annotations

import numpy as np
from ase import Atoms
from ase.build import molecule
from ase.geometry import get_distances
from ase.units import _amu
from scipy.spatial.transform import Rotation

__all__ = ["cubic_box_length", "liquid_cell", "scale_volume"]


def cubic_box_length(mass_amu: float, density_g_cm3: float) -> float:
    """Edge (Å) of the cube holding ``mass_amu`` amu at ``density_g_cm3`` g/cm³."""
    if mass_amu <= 0 or density_g_cm3 <= 0:
        raise ValueError(
            f"need mass > 0 amu and density > 0 g/cm³, got {mass_amu}, {density_g_cm3}"
        )
    volume_cm3 = mass_amu * _amu * 1e3 / density_g_cm3
    return float((volume_cm3 * 1e24) ** (1.0 / 3.0))


def liquid_cell(
    name: str,
    per_side: int,
    density_g_cm3: float,
    rng: np.random.Generator,
    *,
    min_distance: float = 1.9,
    tries: int = 2000,
) -> Atoms:
    """``per_side``³ copies of ``ase.build.molecule(name)`` in a periodic cube at
    ``density_g_cm3`` g/cm³: centres of mass on a cubic lattice, orientations uniformly
    random (rejected while an atom comes closer than ``min_distance`` Å to an atom of an
    already placed molecule or of its own periodic image).

    Returns Atoms with positions [n_atoms, 3] Å, molecules whole (not wrapped) and
    ``arrays["mol_id"]`` [n_atoms], the molecule of each atom. Raises ValueError when
    ``tries`` orientations of one molecule all clash (density too high for the
    lattice).
    """
    if per_side < 1:
        raise ValueError(f"per_side must be >= 1, got {per_side}")
    template = molecule(name)
    template.positions -= template.get_center_of_mass()
    n_molecules = per_side**3
    edge = cubic_box_length(template.get_masses().sum() * n_molecules, density_g_cm3)
    cell = np.eye(3) * edge
    pbc = np.ones(3, dtype=bool)
    placed = np.zeros((0, 3))
    spacing = edge / per_side
    for index in np.ndindex(per_side, per_side, per_side):
        centre = (np.array(index) + 0.5) * spacing
        for _ in range(tries):
            rotation = Rotation.random(random_state=rng).as_matrix()
            trial = template.positions @ rotation.T + centre
            nearest = _min_image_distance(trial, cell)
            if len(placed):
                nearest = min(nearest, get_distances(trial, placed, cell=cell, pbc=pbc)[1].min())
            if nearest >= min_distance:
                placed = np.concatenate([placed, trial])
                break
        else:
            raise ValueError(
                f"could not place {name} number {len(placed) // len(template) + 1} without "
                f"atoms closer than {min_distance} Å in {tries} tries at {density_g_cm3} g/cm³"
            )
    atoms = Atoms(
        numbers=np.tile(template.numbers, n_molecules), positions=placed, cell=cell, pbc=True
    )
    atoms.arrays["mol_id"] = np.repeat(np.arange(n_molecules), len(template))
    return atoms


def _min_image_distance(positions: np.ndarray, cell: np.ndarray) -> float:
    """Shortest distance (Å) between an atom of ``positions`` [n, 3] Å and an atom of one
    of its own group's periodic images (the nearest 26 lattice translations)."""
    shifts = np.array([s for s in np.ndindex(3, 3, 3) if s != (1, 1, 1)]) - 1
    translated = positions[None, :, :] + (shifts @ cell)[:, None, :]
    gaps = positions[None, :, None, :] - translated[:, None, :, :]
    return float(np.sqrt((gaps**2).sum(-1)).min())


def scale_volume(atoms: Atoms, factor: float) -> Atoms:
    """A copy of ``atoms`` with the cell volume times ``factor``, molecules rigid: each
    molecule (``arrays["mol_id"]``) is translated with its centre of mass, so no bond is
    stretched."""
    if factor <= 0:
        raise ValueError(f"volume factor must be positive, got {factor}")
    if "mol_id" not in atoms.arrays:
        raise ValueError("scale_volume needs arrays['mol_id'] (the molecule of each atom)")
    out = atoms.copy()
    linear = factor ** (1.0 / 3.0)
    mol_id = atoms.arrays["mol_id"]
    masses = atoms.get_masses()
    for m in np.unique(mol_id):
        members = mol_id == m
        centre = masses[members] @ atoms.positions[members] / masses[members].sum()
        out.positions[members] += (linear - 1.0) * centre
    out.set_cell(atoms.cell.array * linear, scale_atoms=False)
    return out
