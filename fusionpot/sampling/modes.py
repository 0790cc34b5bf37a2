"""Normal modes of a Hessian: the one mass-weighted eigen-analysis behind both Hessian
sources, ASE finite differences (:func:`fusionpot.sampling.wigner.normal_modes`) and
autograd of a model (:func:`fusionpot.namd.initial.harmonic_analysis`)."""

from __future__ import annotations

import numpy as np

__all__ = ["harmonic_modes", "rigid_body_basis"]


def rigid_body_basis(positions: np.ndarray, masses: np.ndarray) -> np.ndarray:
    """Orthonormal mass-weighted translations and rotations, [3n, k]: k = 6, 5 for a
    linear molecule, 3 for one atom. positions: [n_atoms, 3] Å; masses: [n_atoms] amu."""
    sqrt_m = np.sqrt(masses)[:, None]
    centred = positions - (masses[:, None] * positions).sum(axis=0) / masses.sum()
    vectors = []
    for axis in np.eye(3):
        vectors.append((sqrt_m * axis).ravel())
        vectors.append((sqrt_m * np.cross(axis, centred)).ravel())
    u, s, _ = np.linalg.svd(np.array(vectors).T, full_matrices=False)
    return u[:, s > 1e-6 * s.max()]


def harmonic_modes(
    hessian: np.ndarray, positions: np.ndarray, masses: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """ω² and the mass-weighted normal modes of a Hessian, at a minimum or not.

    With K the Hessian [3n, 3n] eV/Å², M the masses repeated per coordinate and R the
    :func:`rigid_body_basis`, the modes are the eigenvectors of
    D = P · sym(M^-½ K M^-½) · P, P = 1 - R Rᵀ, less the k of smallest |ω²| (the rigid
    motions, which P sends to zero).

    positions: [n_atoms, 3] Å; masses: [n_atoms] amu. Returns ω² [n_modes] eV/(Å² amu),
    ascending (negative: imaginary), and L [n_modes, n_atoms, 3], orthonormal over all
    3·n_atoms components.
    """
    hessian, positions = np.asarray(hessian, np.float64), np.asarray(positions, np.float64)
    masses = np.asarray(masses, np.float64)
    n_atoms = len(masses)
    if hessian.shape != (3 * n_atoms, 3 * n_atoms) or positions.shape != (n_atoms, 3):
        raise ValueError(
            f"hessian {hessian.shape} and positions {positions.shape} do not fit {n_atoms} atoms"
        )
    inv_sqrt_m = np.repeat(masses, 3) ** -0.5
    weighted = hessian * np.outer(inv_sqrt_m, inv_sqrt_m)
    rigid = rigid_body_basis(positions, masses)
    projector = np.eye(3 * n_atoms) - rigid @ rigid.T
    eigenvalues, vectors = np.linalg.eigh(projector @ (0.5 * (weighted + weighted.T)) @ projector)
    keep = np.sort(np.argsort(np.abs(eigenvalues))[rigid.shape[1] :])  # eigh: ascending
    return eigenvalues[keep], vectors[:, keep].T.reshape(len(keep), n_atoms, 3)
