"""Counter-based random numbers: one independent stream per trajectory.

``uniform(seed, traj_id, step)`` is a pure function (SplitMix64 finaliser applied to
a key built from the three integers), so the number a trajectory draws at a step
does not depend on which other trajectories share its batch, on sharding, on the
device, or on whether the run was restarted. The generator's whole state is
``(seed, traj_id, step)``, all of which live on :class:`SurfaceHoppingState`.

Reference: G. Steele, D. Lea, C. Flood, "Fast splittable pseudorandom number
generators", OOPSLA 2014 (SplitMix64).
"""

from __future__ import annotations

import torch

__all__ = ["uniform"]

_MASK64 = (1 << 64) - 1


def _signed(value: int) -> int:
    """A 64-bit unsigned constant as the int64 with the same bits."""
    value &= _MASK64
    return value - (1 << 64) if value >= 1 << 63 else value


_GOLDEN = _signed(0x9E3779B97F4A7C15)
_MUL1 = _signed(0xBF58476D1CE4E5B9)
_MUL2 = _signed(0x94D049BB133111EB)


def _shr(x: torch.Tensor, k: int) -> torch.Tensor:
    """Logical right shift of int64 bit patterns."""
    return (x >> k) & ((1 << (64 - k)) - 1)


def _mix(x: torch.Tensor) -> torch.Tensor:
    """SplitMix64 step on int64 bit patterns (multiplication wraps modulo 2**64)."""
    z = x + _GOLDEN
    z = (z ^ _shr(z, 30)) * _MUL1
    z = (z ^ _shr(z, 27)) * _MUL2
    return z ^ _shr(z, 31)


def uniform(seed: int, traj_id: torch.Tensor, step: torch.Tensor, stream: int = 0) -> torch.Tensor:
    """Uniform numbers in [0, 1), one per trajectory.

    seed: ensemble seed; traj_id, step: [n_traj] int64; stream: which of a
    trajectory's independent streams (e.g. 0 hopping, 1 initial conditions).
    Returns [n_traj] float64 on the device of ``traj_id``.
    """
    key = torch.full_like(traj_id, _signed(seed))
    z = _mix(_mix(_mix(key ^ _signed(stream)) ^ traj_id) ^ step.to(traj_id.dtype))
    return _shr(z, 11).to(torch.float64) * 2.0**-53
