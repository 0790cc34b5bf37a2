"""The driver looks at the device every ``sync_every`` steps; results must not depend on it."""

from __future__ import annotations

from pathlib import Path

import h5py
import numpy as np
import pytest
import torch

from fusionpot.namd import DynamicsOptions, StopCriteria, merge, run_ensemble
from fusionpot.namd.tully import TullyDualAvoidedCrossing, tully_initial_conditions
from fusionpot.namd.units import AU_TIME_FS, BOHR_ANG

OPTIONS = DynamicsOptions(dt=20 * AU_TIME_FS, decoherence=0.1)
# trajectories leave the box at different steps, and some stay until max_time
STOP = StopCriteria(max_time=33.0, box=(-6.0 * BOHR_ANG, 6.0 * BOHR_ANG))


class CountingTully(TullyDualAvoidedCrossing):
    """Tully's dual crossing that counts trajectory-steps computed."""

    def __init__(self) -> None:
        super().__init__()
        self.rows = 0

    def compute(self, positions, numbers, *, nac=False):
        self.rows += positions.shape[0]
        return super().compute(positions, numbers, nac=nac)


def run(directory: Path, sync_every: int, provider=None):
    ic = tully_initial_conditions(16.0, 30, x0_bohr=-5.0)
    return run_ensemble(
        provider or TullyDualAvoidedCrossing(),
        ic,
        OPTIONS,
        STOP,
        seed=2,
        batch_size=12,
        directory=directory,
        geometry_stride=3,
        checkpoint_every=4,
        sync_every=sync_every,
    )


def read_all(path: Path) -> dict[str, np.ndarray]:
    out: dict[str, np.ndarray] = {}
    with h5py.File(path, "r") as f:
        f.visititems(
            lambda name, obj: (
                out.__setitem__(name, obj[()]) if isinstance(obj, h5py.Dataset) else None
            )
        )
    return out


def test_results_and_files_do_not_depend_on_sync_every(tmp_path: Path) -> None:
    every_step = CountingTully()
    reference = run(tmp_path / "1", 1, every_step)
    rarely = CountingTully()
    for sync_every, provider in ((5, None), (13, rarely)):
        final = run(tmp_path / str(sync_every), sync_every, provider)
        for name in ("positions", "velocities", "active", "time", "n_hops"):
            assert torch.equal(getattr(final, name), getattr(reference, name)), name
        # torch's vectorised exp/abs may round differently for other batch sizes
        torch.testing.assert_close(final.amplitudes, reference.amplitudes, atol=1e-14, rtol=0)
        a = read_all(merge([tmp_path / "1"], tmp_path / "a.h5"))
        b = read_all(merge([tmp_path / str(sync_every)], tmp_path / f"{sync_every}.h5"))
        assert a.keys() == b.keys()
        for key in a:
            if np.iscomplexobj(a[key]) or key in ("populations", "energies", "total_energy"):
                np.testing.assert_allclose(a[key], b[key], rtol=0, atol=1e-12, err_msg=key)
            else:
                np.testing.assert_array_equal(a[key], b[key], err_msg=key)
    # stopped trajectories are held until the host looks: extra rows computed, none kept
    assert rarely.rows > every_step.rows
    assert np.unique(reference.time.numpy()).size > 2  # they did stop at different times


def test_sync_every_must_be_positive(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="sync_every must be ≥ 1"):
        run(tmp_path, 0)
