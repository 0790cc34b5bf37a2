"""The per-state layout of surface hopping (``keys.TRAJ_FIELDS``): registry, checks, runs
bit-identical to the states-first layout they replaced, and version-1 checkpoints."""

from __future__ import annotations

from pathlib import Path

import h5py
import numpy as np
import pytest
import torch
from ase.build import molecule

from fusionpot.data import keys
from fusionpot.namd import (
    DynamicsOptions,
    ExportedModelProvider,
    ProviderResult,
    StopCriteria,
    SurfaceHoppingState,
    init,
    merge,
    run_ensemble,
    step,
)
from fusionpot.namd.tully import (
    TullyDualAvoidedCrossing,
    tully_initial_conditions,
    tully_model,
)
from fusionpot.namd.units import AU_TIME_FS, BOHR_ANG

TINY = Path(__file__).parent / "data" / "tiny_model.pt"  # H/C/O, 2 states, float64

# Recorded with the states-first layout (forces [n_traj, S, n_atoms, 3], nac [n_traj, S, S,
# n_atoms, 3]) at commit b5e9bd4, same seeds, one thread: the run must not change by a bit.
TULLY_X = ["-0x1.e9be3808aa145p-2"] * 16
TULLY_X[5], TULLY_X[15] = "-0x1.06dac4dc58c89p-1", "-0x1.0613301265792p-1"
TULLY_V = ["0x1.03f65611421bdp-2"] * 16
TULLY_V[5], TULLY_V[15] = "0x1.b09da0f977ec4p-3", "0x1.b0a6a57279b6bp-3"
TULLY_POP1 = ["0x1.12a2c73a53919p-5"] * 16
TULLY_POP1[5], TULLY_POP1[15] = "0x1.8885648da1e36p-1", "0x1.825679349c1d1p-1"
TULLY_ACTIVE = [0] * 16
TULLY_ACTIVE[5] = TULLY_ACTIVE[15] = 1
ETHANOL_POS0 = [
    "0x1.178e6aac680bap+0",
    "-0x1.06745822eb314p-1",
    "-0x1.1c5f3962199c0p-3",
    "0x1.436de5b90574fp+0",
    "-0x1.04d27a95ec4e9p-1",
    "0x1.b69697a671ab8p-4",
    "0x1.2e0b47ef5a958p+0",
    "-0x1.8598a4482361ap-2",
    "-0x1.29fd1d478884ep-6",
]
ETHANOL_POP0 = ["0x0.0p+0", "0x1.076b42a60500dp-40", "0x1.2f6b85be10cddp-41"]


def hexes(values: torch.Tensor) -> list[str]:
    return [float(v).hex() for v in values.flatten().tolist()]


def test_traj_fields_are_registered_with_atoms_before_states() -> None:
    state_fields = set(SurfaceHoppingState.__dataclass_fields__) - {"seed"}
    assert state_fields == set(keys.TRAJ_FIELDS)
    assert set(ProviderResult.__dataclass_fields__) <= set(keys.TRAJ_FIELDS)
    assert set(keys.fields_of_scope("traj")) == state_fields - {"masses", "numbers"}
    for name, field in keys.TRAJ_FIELDS.items():
        dims = field.dims
        assert dims[0] == ("n_traj" if field.scope == "traj" else "n_atoms"), name
        assert field.per_state == ("n_states" in dims), name
        if "n_atoms" in dims and field.per_state:  # atoms, then states, Cartesian last
            assert dims.index("n_atoms") < dims.index("n_states") and dims[-1] == 3, name
    assert keys.TRAJ_FIELDS["forces"].dims[1:] == keys.FIELDS[keys.FORCES].dims


def test_a_result_in_the_states_first_layout_is_refused() -> None:
    energies = torch.zeros(4, 2)
    ProviderResult(energies, torch.zeros(4, 9, 2, 3))
    with pytest.raises(ValueError, match=r"ProviderResult.forces has shape \(4, 2, 9, 3\)"):
        ProviderResult(energies, torch.zeros(4, 2, 9, 3))
    with pytest.raises(ValueError, match=r"ProviderResult.nac .*n_traj, n_atoms, n_states"):
        ProviderResult(energies, torch.zeros(4, 9, 2, 3), nac=torch.zeros(4, 2, 2, 9, 3))


def test_tully_run_is_bit_identical_to_the_states_first_layout() -> None:
    provider = tully_model("dual")
    options = DynamicsOptions(dt=2 * AU_TIME_FS, decoherence=0.1)
    ic = tully_initial_conditions(20.0, 16, x0_bohr=-4.0)
    state = init(
        provider, ic.positions, ic.velocities, ic.masses, ic.numbers, ic.active, options, 7
    )
    for _ in range(150):
        state, _ = step(state, provider, options)
    assert hexes(state.positions[:, 0, 0]) == TULLY_X
    assert hexes(state.velocities[:, 0, 0]) == TULLY_V
    assert hexes(state.amplitudes.abs()[:, 1] ** 2) == TULLY_POP1
    assert state.active.tolist() == TULLY_ACTIVE and state.n_hops.tolist() == TULLY_ACTIVE


def test_exported_model_run_is_bit_identical_to_the_states_first_layout() -> None:
    atoms = molecule("CH3CH2OH")
    gen = torch.Generator().manual_seed(1)
    noise = torch.randn(3, 9, 3, generator=gen, dtype=torch.float64)
    positions = torch.tensor(atoms.positions)[None] + 0.05 * noise
    velocities = 0.01 * torch.randn(3, 9, 3, generator=gen, dtype=torch.float64)
    provider, options = ExportedModelProvider(TINY), DynamicsOptions(dt=0.5)
    masses, numbers = torch.tensor(atoms.get_masses()), torch.tensor(atoms.numbers)
    active = torch.ones(3, dtype=torch.long)
    state = init(provider, positions, velocities, masses, numbers, active, options, 3)
    for _ in range(10):
        state, _ = step(state, provider, options)
    assert hexes(state.positions[:, 0]) == ETHANOL_POS0
    assert hexes(state.amplitudes.abs()[:, 0] ** 2) == ETHANOL_POP0


def test_a_version_1_checkpoint_resumes_to_the_uninterrupted_run(tmp_path: Path) -> None:
    """A checkpoint written before the layout change (states first, version 1) resumes."""
    ic = tully_initial_conditions(25.0, 12, x0_bohr=-5.0)
    options = DynamicsOptions(dt=20 * AU_TIME_FS, decoherence=0.1)
    stop = StopCriteria(max_time=1e6, box=(-6.0 * BOHR_ANG, 6.0 * BOHR_ANG))
    common = {"seed": 2, "batch_size": 8, "geometry_stride": 3, "checkpoint_every": 5}
    provider = TullyDualAvoidedCrossing()
    run_ensemble(provider, ic, options, stop, directory=tmp_path / "whole", **common)

    class Killed(Exception):
        pass

    class DiesAfter(TullyDualAvoidedCrossing):
        calls = 13

        def compute(self, positions, numbers, *, nac=False):
            self.calls -= 1
            if self.calls < 0:
                raise Killed
            return super().compute(positions, numbers, nac=nac)

    with pytest.raises(Killed):
        run_ensemble(DiesAfter(), ic, options, stop, directory=tmp_path / "old", **common)
    path = tmp_path / "old" / "checkpoint.pt"
    data = torch.load(path, weights_only=True)
    assert data["version"] == 2 and data["running"]["nac"] is not None
    data["version"] = 1  # as the states-first code wrote it
    data["running"]["forces"] = data["running"]["forces"].movedim(1, 2)
    data["running"]["nac"] = data["running"]["nac"].movedim(1, 3)
    torch.save(data, path)
    run_ensemble(provider, ic, options, stop, directory=tmp_path / "old", **common)
    whole = merge([tmp_path / "whole"], tmp_path / "whole.h5")
    resumed = merge([tmp_path / "old"], tmp_path / "old.h5")
    with h5py.File(whole) as a, h5py.File(resumed) as b:
        for name in ("active", "amplitudes", "positions", "final/velocities", "hops/time"):
            np.testing.assert_array_equal(a[name][()], b[name][()], err_msg=name)
