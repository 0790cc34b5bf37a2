"""Geometry sampling for labelling campaigns: Wigner, constrained scans, hot MD, seam steps.

Every function returns new ``ase.Atoms`` (positions Å) made by :func:`derived`: the
geometry and provenance of the structure it came from, never that structure's labels.
"""

from fusionpot.sampling.geometry import pyramidalise, relaxed_scan
from fusionpot.sampling.md import hot_md
from fusionpot.sampling.photoisomer import PhotoisomerPlan, photoisomer_subsets
from fusionpot.sampling.pool import interleave
from fusionpot.sampling.provenance import derived
from fusionpot.sampling.seam import seam_parents, seam_steps
from fusionpot.sampling.wigner import normal_modes, wigner_positions

__all__ = [
    "PhotoisomerPlan",
    "derived",
    "hot_md",
    "interleave",
    "normal_modes",
    "photoisomer_subsets",
    "pyramidalise",
    "relaxed_scan",
    "seam_parents",
    "seam_steps",
    "wigner_positions",
]
