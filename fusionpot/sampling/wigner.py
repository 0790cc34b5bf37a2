"""Normal modes from a finite-difference Hessian and Wigner sampling of positions."""

from __future__ import annotations

import tempfile

import numpy as np
from ase import Atoms, units
from ase.calculators.calculator import Calculator
from ase.vibrations import Vibrations

from fusionpot.sampling.modes import harmonic_modes
from fusionpot.sampling.provenance import derived

__all__ = ["normal_modes", "wigner_positions", "wigner_widths"]

HBAR = units._hbar * units.J * units.s  # eV · (Å sqrt(amu/eV)), ASE's time unit


def normal_modes(
    atoms: Atoms, calc: Calculator, delta: float = 0.01, soft_floor: float = 0.0025
) -> tuple[np.ndarray, np.ndarray]:
    """Vibrational modes of a minimum from ASE's central-difference Hessian.

    Translations and rotations are projected out of the mass-weighted Hessian, leaving
    3n-6 modes (3n-5 if linear; :func:`fusionpot.sampling.modes.harmonic_modes`).
    Returns (energies [n_modes] eV = ħω, modes [n_modes, n_atoms, 3] mass-weighted
    orthonormal eigenvectors). Soft modes with
    |ħω| < ``soft_floor`` eV (numerical noise of a flat torsion, either sign) get
    ħω = soft_floor; a stronger imaginary mode raises ValueError. delta: Å.
    """
    work = derived(atoms)
    work.calc = calc
    with tempfile.TemporaryDirectory(prefix="fusionpot-vib-") as tmp:
        vib = Vibrations(work, delta=delta, name=f"{tmp}/vib")
        vib.run()
        hessian = vib.get_vibrations().get_hessian_2d()  # [3n, 3n] eV/Å²
    omega2, modes = harmonic_modes(hessian, atoms.positions, atoms.get_masses())
    energies = HBAR * np.sign(omega2) * np.sqrt(np.abs(omega2))
    if np.any(energies < -soft_floor):
        raise ValueError(f"imaginary modes {energies[energies < 0]} eV: not a minimum")
    return np.maximum(energies, soft_floor), modes


def wigner_positions(
    atoms: Atoms,
    energies: np.ndarray,
    modes: np.ndarray,
    n_samples: int,
    rng: np.random.Generator,
    temperature: float = 0.0,
) -> list[Atoms]:
    """Positions drawn from the harmonic Wigner distribution of each mode.

    For mode k with ħω_k = energies[k] (eV), the mass-weighted coordinate Q_k
    (amu^½ Å) is Gaussian with the width of :func:`wigner_widths`;
    x = x_min + Σ_k Q_k modes[k] / sqrt(m).
    modes: [n_modes, n_atoms, 3] mass-weighted orthonormal; temperature: K.
    Samples carry the provenance of ``atoms``, never its labels (see
    :func:`fusionpot.sampling.provenance.derived`).
    """
    if n_samples < 0:
        raise ValueError(f"n_samples must be >= 0, got {n_samples}")
    sigma = wigner_widths(energies, temperature)
    inv_sqrt_m = 1.0 / np.sqrt(atoms.get_masses())[:, None]
    samples = []
    for _ in range(n_samples):
        q = rng.normal(0.0, sigma)
        displacement = np.einsum("k,kai->ai", q, modes) * inv_sqrt_m
        samples.append(derived(atoms, atoms.positions + displacement))
    return samples


def wigner_widths(hbar_omega: np.ndarray, temperature: float = 0.0) -> np.ndarray:
    """Standard deviations σ_k (amu^½ Å) of the mass-weighted normal coordinates Q_k.

    The harmonic Wigner distribution of mode k (ħω_k = ``hbar_omega[k]`` eV) is Gaussian in
    Q_k with σ_k² = ħ² / (2 ħω_k) · coth(ħω_k / 2 k_B T) (T = 0 K: coth = 1), and in the
    velocity Q̇_k with width ω_k σ_k. Reference: E. Wigner, Phys. Rev. 40, 749 (1932).

    >>> float(wigner_widths(np.array([0.2]))[0]) > float(wigner_widths(np.array([0.4]))[0])
    True
    """
    if temperature < 0:
        raise ValueError(f"temperature must be >= 0 K, got {temperature}")
    hbar_omega = np.asarray(hbar_omega, dtype=np.float64)
    coth = np.ones_like(hbar_omega)
    if temperature > 0:
        coth = 1.0 / np.tanh(hbar_omega / (2 * units.kB * temperature))
    return np.sqrt(HBAR**2 / (2 * hbar_omega) * coth)
