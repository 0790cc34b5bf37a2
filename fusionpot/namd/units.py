"""Unit conversions used by the surface-hopping code (values from :mod:`ase.units`).

Public interfaces speak eV, Å, fs and amu; atomic units appear only inside the
electronic propagator and the 1-D Tully models.
"""

from __future__ import annotations

from ase import units

#: ħ in eV·fs.
HBAR_EV_FS: float = units._hbar / units._e * 1e15
#: One atomic unit of time in fs.
AU_TIME_FS: float = units._aut * 1e15
#: One Hartree in eV.
HARTREE_EV: float = units.Hartree
#: One Bohr in Å.
BOHR_ANG: float = units.Bohr
#: One electron mass in amu.
ME_AMU: float = units._me / units._amu
#: Acceleration in Å/fs² of a force of 1 eV/Å on a mass of 1 amu.
ACCEL_ANG_FS2: float = units.fs**2
#: Kinetic energy in eV of 1 amu moving at 1 Å/fs is 0.5 * KE_EV / 1.
KE_EV: float = 1.0 / units.fs**2

__all__ = ["ACCEL_ANG_FS2", "AU_TIME_FS", "BOHR_ANG", "HARTREE_EV", "HBAR_EV_FS", "KE_EV", "ME_AMU"]
