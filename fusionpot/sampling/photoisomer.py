"""The sampling plan for a cis/trans photoisomerising ethylene derivative (stilbene).

Why these subsets: excited-state dynamics from the Franck-Condon regions of cis and
trans (Wigner samples of S0 normal modes) run along the central torsion to the
twisted-pyramidalised S1/S0 seam, where most population returns to S0, and from cis
partly toward 4a,4b-dihydrophenanthrene (DHP) by ring closure. A potential for those
dynamics needs every one of those regions, plus hot S0 geometries for the
vibrationally excited ground state after decay:

* ``wigner_cis``, ``wigner_trans``: T = 0 Wigner samples of the (xTB) minima;
* ``torsion_scan``: relaxed scan of the central torsion, cis to trans;
* ``twisted_pyramidalised``: torsion near 90° with the ethylenic carbon pushed out of
  the plane of its neighbours, both sides;
* ``dhp_path``: relaxed scan of the ring-closing distance from cis toward DHP (at xTB
  the constrained end is not in the DHP basin: it reopens when released), and
  ``wigner_dhp``: Wigner samples of a DHP minimum given separately (any atom order);
* ``md_hot``: Langevin MD at high temperature from cis and trans.
Seam steps (``fusionpot.sampling.seam``) from labelled frames come first in a campaign.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from ase import Atoms
from ase.calculators.calculator import Calculator
from ase.optimize import BFGS

from fusionpot.sampling.geometry import pyramidalise, relaxed_scan
from fusionpot.sampling.md import hot_md
from fusionpot.sampling.provenance import derived
from fusionpot.sampling.wigner import normal_modes, wigner_positions

__all__ = ["PhotoisomerPlan", "photoisomer_subsets"]


@dataclass(frozen=True)
class PhotoisomerPlan:
    """Atom indices and counts of the plan.

    torsion: central torsion (4 indices, degrees measured on them);
    centre, centre_neighbours: the ethylenic carbon to pyramidalise and its 3 neighbours;
    ring_closure: the two ortho carbons that bond in DHP.
    """

    torsion: tuple[int, int, int, int]
    centre: int
    centre_neighbours: tuple[int, int, int]
    ring_closure: tuple[int, int]
    n_wigner: int = 30
    n_wigner_dhp: int = 15
    torsion_step_deg: float = 10.0
    twist_range_deg: tuple[float, float] = (65.0, 115.0)
    pyramidalisation_A: Sequence[float] = (0.2, 0.35, 0.5)
    closure_A: Sequence[float] = tuple(np.round(np.arange(2.9, 1.59, -0.1), 2))
    md_temperature_K: float = 1000.0
    n_md: int = 20
    fmax: float = 0.05  # eV/Å, scans; minima for normal modes are relaxed to 1e-3


def _relaxed(atoms: Atoms, calc: Calculator, fmax: float) -> Atoms:
    work = derived(atoms)
    work.calc = calc
    BFGS(work, logfile=None).run(fmax=fmax, steps=2000)
    return derived(work)


def photoisomer_subsets(
    cis: Atoms,
    trans: Atoms,
    calc: Calculator,
    plan: PhotoisomerPlan,
    rng: np.random.Generator,
    dhp: Atoms | None = None,
) -> dict[str, list[Atoms]]:
    """All subsets of the plan as geometries (Å), from cis, trans (and DHP) structures.

    calc: the sampling level (an ASE calculator, e.g. tblite GFN2-xTB); the start
    structures are relaxed with it first, then sampled as the module docstring says.
    Without ``dhp`` there is no ``wigner_dhp`` subset. Every frame keeps the provenance
    of the structure it was made from (e.g. ``seed_index``), never its labels.
    """
    cis_min, trans_min = _relaxed(cis, calc, 1e-3), _relaxed(trans, calc, 1e-3)
    subsets: dict[str, list[Atoms]] = {}
    for name, minimum in (("cis", cis_min), ("trans", trans_min)):
        energies, modes = normal_modes(minimum, calc)
        subsets[f"wigner_{name}"] = wigner_positions(minimum, energies, modes, plan.n_wigner, rng)

    a, b, c, d = plan.torsion
    start = cis_min.get_dihedral(a, b, c, d)
    n_steps = round(180.0 / plan.torsion_step_deg)
    sign = 1.0 if start < 180.0 else -1.0
    angles = [start + sign * k * plan.torsion_step_deg for k in range(1, n_steps + 1)]
    subsets["torsion_scan"] = relaxed_scan(
        cis_min, calc, values=angles, dihedral=plan.torsion, fmax=plan.fmax
    )

    twisted = []
    low, high = plan.twist_range_deg
    for point in subsets["torsion_scan"]:
        twist = abs((point.get_dihedral(a, b, c, d) + 180.0) % 360.0 - 180.0)
        if not low <= twist <= high:
            continue
        for distance in plan.pyramidalisation_A:
            for side in (1.0, -1.0):
                frame = pyramidalise(point, plan.centre, plan.centre_neighbours, side * distance)
                frame.info["pyramidalisation_A"] = side * distance
                frame.info["twist_deg"] = round(twist, 1)
                twisted.append(frame)
    subsets["twisted_pyramidalised"] = twisted

    i, j = plan.ring_closure
    path = relaxed_scan(cis_min, calc, values=list(plan.closure_A), bond=(i, j), fmax=plan.fmax)
    subsets["dhp_path"] = path
    minima = [cis_min, trans_min]
    if dhp is not None:
        dhp_min = _relaxed(dhp, calc, 1e-3)
        energies, modes = normal_modes(dhp_min, calc)
        subsets["wigner_dhp"] = wigner_positions(dhp_min, energies, modes, plan.n_wigner_dhp, rng)
        minima.append(dhp_min)

    md = []
    for minimum in (cis_min, trans_min):
        md += hot_md(
            minimum, calc, temperature=plan.md_temperature_K, n_frames=plan.n_md // 2, rng=rng
        )
    subsets["md_hot"] = md
    subsets["minimum_xtb"] = minima
    return subsets
