"""Seeded train / validation / test split of a frame count."""

from __future__ import annotations

import numpy as np

__all__ = ["split_indices"]


def split_indices(
    n_frames: int, valid_fraction: float, test_fraction: float, seed: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Shuffle ``range(n_frames)`` with ``seed`` and cut it into (train, valid, test).

    The validation and test parts get ``round(fraction * n_frames)`` frames (at least one
    when the fraction is positive); training keeps the rest, and must keep at least one.

    >>> [part.tolist() for part in split_indices(5, 0.2, 0.2, seed=0)]
    [[2, 4, 3], [0], [1]]
    """
    counts = [max(1, round(f * n_frames)) if f > 0 else 0 for f in (valid_fraction, test_fraction)]
    n_train = n_frames - sum(counts)
    if n_train < 1:
        raise ValueError(
            f"{n_frames} frames cannot give {counts[0]} validation and {counts[1]} test frames "
            "and still leave one to train on"
        )
    order = np.random.default_rng(seed).permutation(n_frames)
    return order[:n_train], order[n_train : n_train + counts[0]], order[n_train + counts[0] :]
