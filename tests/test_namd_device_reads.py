"""A surface-hopping step reads nothing back from the device; the driver reads once per look.

On CPU a read-back cannot be timed, so the Python entry points that copy a tensor's
value to the host (``item``, ``bool``, ``int``, ``float``, ``tolist``, ``cpu``, ``numpy``)
are counted. The device graph's edge count (``nonzero``) is the one read left in a step;
it is inside torch and not counted here.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from ase.build import molecule

from fusionpot.namd import (
    DynamicsOptions,
    ExportedModelProvider,
    StopCriteria,
    init,
    run_ensemble,
    step,
)
from fusionpot.namd.tully import TullyDualAvoidedCrossing, tully_initial_conditions
from fusionpot.namd.units import AU_TIME_FS, BOHR_ANG

TINY = Path(__file__).parent / "data" / "tiny_model.pt"  # H/C/O, 2 states, float64
READS = ("item", "__bool__", "__int__", "__float__", "tolist", "cpu", "numpy")


@pytest.fixture
def reads(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Names of the host reads made while the test runs."""
    seen: list[str] = []
    for name in READS:
        original = getattr(torch.Tensor, name)

        def counted(self, *args, _name=name, _original=original, **kwargs):
            seen.append(_name)
            return _original(self, *args, **kwargs)

        monkeypatch.setattr(torch.Tensor, name, counted)
    return seen


def test_a_step_of_the_exported_provider_reads_nothing_back(reads: list[str]) -> None:
    ethanol = molecule("CH3CH2OH")
    gen = torch.Generator().manual_seed(0)
    positions = torch.tensor(ethanol.positions) + 0.05 * torch.randn(
        4, 9, 3, generator=gen, dtype=torch.float64
    )
    velocities = 0.01 * torch.randn(4, 9, 3, generator=gen, dtype=torch.float64)
    masses = torch.tensor(ethanol.get_masses())
    numbers = torch.tensor(ethanol.numbers)
    options = DynamicsOptions(dt=0.5, n_substeps=10, coupling="ktdc")
    provider = ExportedModelProvider(TINY)
    state = init(provider, positions, velocities, masses, numbers, torch.ones(4), options)
    assert reads, "the counter must see init's checks of the active states"
    reads.clear()
    for _ in range(3):
        state, _ = step(state, provider, options)
    assert reads == []


def test_the_driver_reads_once_per_look(reads: list[str]) -> None:
    options = DynamicsOptions(dt=20 * AU_TIME_FS, decoherence=0.1)
    stop = StopCriteria(max_time=60.0, box=(-6.0 * BOHR_ANG, 6.0 * BOHR_ANG))
    ic = tully_initial_conditions(16.0, 8, x0_bohr=-5.0)
    counts = []
    for sync_every in (1, 25):
        reads.clear()
        run_ensemble(TullyDualAvoidedCrossing(), ic, options, stop, sync_every=sync_every)
        counts.append(len(reads))
    n_steps = 60.0 / options.dt
    assert counts[0] > n_steps  # every step is a look
    assert counts[1] < counts[0] / 8
