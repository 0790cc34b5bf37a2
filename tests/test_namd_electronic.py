"""Electronic propagation: the fixed-shape scaling-and-squaring exponential and substeps."""

from __future__ import annotations

import pytest
import torch

from fusionpot.namd.electronic import propagate_amplitudes, unitary_exp
from fusionpot.namd.units import AU_TIME_FS, HARTREE_EV


def anti_hermitian(n: int, size: int, scale: float, seed: int) -> torch.Tensor:
    """n random anti-Hermitian [size, size] matrices with ‖A‖₁ of order ``scale``."""
    gen = torch.Generator().manual_seed(seed)
    m = torch.randn(n, size, size, 2, generator=gen, dtype=torch.float64)
    m = torch.view_as_complex(m)
    return scale * (m - m.conj().transpose(1, 2)) / (2 * size)


@pytest.mark.parametrize("scale", [0.0, 1e-3, 0.4, 3.0, 100.0, 2e4])
def test_unitary_exp_equals_matrix_exp_and_is_unitary(scale: float) -> None:
    a = anti_hermitian(8, 3, scale, seed=1)
    u = unitary_exp(a)
    reference = torch.linalg.matrix_exp(a)
    tol = 1e-13 * max(1.0, scale)
    torch.testing.assert_close(u, reference, atol=tol, rtol=0)
    eye = torch.eye(3, dtype=u.dtype).expand_as(u)
    torch.testing.assert_close(u @ u.conj().transpose(1, 2), eye, atol=tol, rtol=0)


def test_each_matrix_is_independent_of_the_batch() -> None:
    """Small and large generators in one batch: each result equals its own call bitwise."""
    a = torch.cat([anti_hermitian(3, 3, 0.1, 2), anti_hermitian(3, 3, 500.0, 3)])
    batch = unitary_exp(a)
    for k in range(len(a)):
        assert torch.equal(unitary_exp(a[k : k + 1])[0], batch[k])


def test_constant_hamiltonian_is_propagated_exactly() -> None:
    """With E and σ constant over the step, the substeps compose to exp((−iE − σ)Δt)
    (up to the global phase of the mean energy, which the propagator removes)."""
    gen = torch.Generator().manual_seed(4)
    n_traj, dt = 5, 0.5
    energies = torch.randn(n_traj, 3, generator=gen, dtype=torch.float64)  # eV
    tdc = torch.randn(n_traj, 3, 3, generator=gen, dtype=torch.float64)
    tdc = tdc - tdc.transpose(1, 2)  # 1/fs, antisymmetric
    c0 = torch.view_as_complex(torch.randn(n_traj, 3, 2, generator=gen, dtype=torch.float64))
    c0 = c0 / c0.abs().pow(2).sum(dim=1, keepdim=True).sqrt()
    active = torch.tensor([0, 1, 2, 0, 1])
    c, g = propagate_amplitudes(c0, energies, energies, tdc, tdc, active, dt, 20)
    t_au = dt / AU_TIME_FS
    relative = energies - energies.mean(dim=1, keepdim=True)
    h = -1j * torch.diag_embed(relative / HARTREE_EV).to(c0.dtype) - (tdc * AU_TIME_FS).to(c0.dtype)
    exact = (torch.linalg.matrix_exp(h * t_au) @ c0[..., None])[..., 0]
    torch.testing.assert_close(c, exact, atol=1e-12, rtol=0)
    assert g.shape == (n_traj, 3) and (g >= 0).all()
    assert (g[torch.arange(n_traj), active] == 0).all()
