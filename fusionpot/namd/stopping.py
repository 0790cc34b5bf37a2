"""When a trajectory stops: user criteria evaluated on the whole batch at once."""

from __future__ import annotations

from dataclasses import dataclass

import torch

from fusionpot.namd.state import SurfaceHoppingState

__all__ = ["StopCriteria"]


@dataclass(frozen=True)
class StopCriteria:
    """Stop a trajectory when any criterion holds.

    max_time: fs (always applies). ground_dwell: fs, stop once the lowest state has been
    active continuously for this long (None: never). box: (lo, hi) Å, stop once any
    coordinate leaves [lo, hi] (scattering models; None: never).
    """

    max_time: float
    ground_dwell: float | None = None
    box: tuple[float, float] | None = None

    def __post_init__(self) -> None:
        if not self.max_time > 0:
            raise ValueError(f"max_time must be positive (fs), got {self.max_time}")
        if self.ground_dwell is not None and self.ground_dwell < 0:
            raise ValueError(f"ground_dwell must be ≥ 0 fs, got {self.ground_dwell}")
        if self.box is not None and not self.box[0] < self.box[1]:
            raise ValueError(f"box must be (lo, hi) with lo < hi, got {self.box}")

    def done(self, state: SurfaceHoppingState) -> torch.Tensor:
        """[n_traj] bool: which trajectories have finished."""
        eps = 1e-9 * max(1.0, self.max_time)
        stop = state.time >= self.max_time - eps
        if self.ground_dwell is not None:
            stop |= (state.active == 0) & (state.ground_time >= self.ground_dwell - eps)
        if self.box is not None:
            lo, hi = self.box
            outside = (state.positions < lo) | (state.positions > hi)
            stop |= outside.flatten(1).any(dim=1)
        return stop
