"""A surface-hopping step reads nothing back from the device; the driver reads once per look.

On CPU a read-back cannot be timed, so three counters stand in for it: the Python entry
points that copy a tensor's value to the host (``item``, ``bool``, ``int``, ``float``,
``tolist``, ``cpu``, ``numpy``); the Python calls of ops whose output shape depends on
the data (``nonzero``, ``masked_select``, ``unique``, ``repeat_interleave``, indexing by a
boolean mask); and torch's profiler, which also sees inside the TorchScript model, for
those ops and for ``_local_scalar_dense`` (every read of a value). On CUDA, torch's
sync debug mode turns any synchronisation inside a step into an error.

With the pruned graph a step reads the edge count (``nonzero``); with fixed-shape edges
(``fixed_edges=True``) the only reads left on CPU are ``one_hot``'s two range checks of
the species, which torch skips on CUDA (it relies on a device assert there).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from pathlib import Path

import pytest
import torch
from ase.build import molecule

from fusionpot.namd import (
    CommitteeProvider,
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
#: (namespace, name) of the ops whose output shape depends on the values of their input
SHAPE_FROM_DATA = [
    (space, name)
    for space in (torch, torch.Tensor)
    for name in ("nonzero", "masked_select", "unique", "repeat_interleave")
]
#: the same ops as the profiler names them (boolean indexing runs ``aten::nonzero``)
ATEN_SHAPE_FROM_DATA = (
    "aten::nonzero",
    "aten::masked_select",
    "aten::_unique",
    "aten::_unique2",
    "aten::unique_dim",
    "aten::unique_consecutive",
    "aten::repeat_interleave",
)


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


@pytest.fixture
def shape_ops(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Names of the data-dependent-shape ops called from Python while the test runs
    (indexing with a boolean mask counts as ``nonzero``)."""
    seen: list[str] = []

    def counting(name: str, original: Callable[..., object]) -> Callable[..., object]:
        def counted(*args, **kwargs):
            seen.append(name)
            return original(*args, **kwargs)

        return counted

    for space, name in SHAPE_FROM_DATA:
        monkeypatch.setattr(space, name, counting(name, getattr(space, name)))
    getitem = torch.Tensor.__getitem__

    def indexed(self, index):
        parts = index if isinstance(index, tuple) else (index,)
        if any(isinstance(p, torch.Tensor) and p.dtype == torch.bool for p in parts):
            seen.append("boolean index")
        return getitem(self, index)

    monkeypatch.setattr(torch.Tensor, "__getitem__", indexed)
    return seen


ETHANOL = molecule("CH3CH2OH")
OPTIONS = DynamicsOptions(dt=0.5, n_substeps=10, coupling="ktdc")


def ethanol_state(provider: ExportedModelProvider | CommitteeProvider, device: str):
    """A started state of 4 distorted ethanols on ``device``."""
    gen = torch.Generator().manual_seed(0)
    positions = torch.tensor(ETHANOL.positions) + 0.05 * torch.randn(
        4, 9, 3, generator=gen, dtype=torch.float64
    )
    velocities = 0.01 * torch.randn(4, 9, 3, generator=gen, dtype=torch.float64)
    masses = torch.tensor(ETHANOL.get_masses())
    numbers = torch.tensor(ETHANOL.numbers)
    inputs = [t.to(device) for t in (positions, velocities, masses, numbers, torch.ones(4))]
    return init(provider, *inputs, OPTIONS)


@pytest.mark.parametrize("fixed_edges", [False, True])
def test_a_step_of_the_exported_provider_reads_nothing_back_from_python(
    reads: list[str], shape_ops: list[str], fixed_edges: bool
) -> None:
    provider = ExportedModelProvider(TINY, fixed_edges=fixed_edges)
    state = ethanol_state(provider, "cpu")
    assert reads, "the counter must see init's checks of the active states"
    reads.clear()
    shape_ops.clear()
    for _ in range(3):
        state, _ = step(state, provider, OPTIONS)
    assert reads == []
    # the pruned graph's edge count is the one data-dependent shape of a step
    assert shape_ops == ([] if fixed_edges else ["nonzero"] * 3)


def test_a_fixed_edge_step_has_no_data_dependent_shape_or_read_inside_torch(
    device: str,
) -> None:
    """The profiler sees every aten op of a step, the TorchScript model's included: with
    fixed edges none has a data-dependent shape, and the only values read are
    ``one_hot``'s range checks on CPU (none on CUDA); with the pruned graph the
    profiler sees the ``nonzero``, so the check can fail."""
    counts = {}
    for fixed_edges in (False, True):
        provider = ExportedModelProvider(TINY, device, fixed_edges=fixed_edges)
        state, _ = step(ethanol_state(provider, device), provider, OPTIONS)
        with torch.profiler.profile(activities=[torch.profiler.ProfilerActivity.CPU]) as prof:
            step(state, provider, OPTIONS)
        events = prof.events()
        counts[fixed_edges] = Counter(e.name for e in events if e.name in ATEN_SHAPE_FROM_DATA)
        reads_outside_one_hot = []
        for event in events:
            if event.name != "aten::_local_scalar_dense":
                continue
            parents, parent = [], event.cpu_parent
            while parent is not None:
                parents.append(parent.name)
                parent = parent.cpu_parent
            if device != "cpu" or "aten::one_hot" not in parents:
                reads_outside_one_hot.append(parents)
        if fixed_edges:
            assert reads_outside_one_hot == []
    assert counts[True] == Counter()
    assert counts[False]["aten::nonzero"] >= 1


def test_a_fixed_edge_committee_step_reads_nothing_back(
    reads: list[str], shape_ops: list[str]
) -> None:
    provider = CommitteeProvider([TINY, TINY], fixed_edges=True)
    state = ethanol_state(provider, "cpu")
    reads.clear()
    shape_ops.clear()
    for _ in range(2):
        state, _ = step(state, provider, OPTIONS)
    assert reads == [] and shape_ops == []


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_a_fixed_edge_step_does_not_synchronise_the_gpu() -> None:
    provider = ExportedModelProvider(TINY, "cuda")
    assert provider.fixed_edges, "on by default on CUDA"
    state, _ = step(ethanol_state(provider, "cuda"), provider, OPTIONS)
    torch.cuda.synchronize()
    torch.cuda.set_sync_debug_mode("error")
    try:
        for _ in range(3):
            state, _ = step(state, provider, OPTIONS)
    finally:
        torch.cuda.set_sync_debug_mode("default")
    torch.cuda.synchronize()
    assert state.energies.isfinite().all()


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
