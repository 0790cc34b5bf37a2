"""Output, checkpoints, restarts after a kill, sharding and the command line."""

from __future__ import annotations

import argparse
import textwrap
from pathlib import Path

import h5py
import numpy as np
import pytest

from fusionpot.cli import namd as namd_cli
from fusionpot.cli import namd_analyze as analyze_cli
from fusionpot.namd import DynamicsOptions, StopCriteria, merge, run_ensemble
from fusionpot.namd.runner import merge_shards, parse_shard
from fusionpot.namd.tully import TullyDualAvoidedCrossing, tully_initial_conditions
from fusionpot.namd.units import AU_TIME_FS, BOHR_ANG

OPTIONS = DynamicsOptions(dt=20 * AU_TIME_FS, decoherence=0.1)
STOP = StopCriteria(max_time=1e6, box=(-6.0 * BOHR_ANG, 6.0 * BOHR_ANG))


class Killed(Exception):
    pass


class DiesAfter(TullyDualAvoidedCrossing):
    """The dual-crossing model, killed (an exception, no cleanup) at its n-th call."""

    def __init__(self, calls: int):
        super().__init__()
        self.calls = calls

    def compute(self, positions, numbers, *, nac=False):
        self.calls -= 1
        if self.calls < 0:
            raise Killed
        return super().compute(positions, numbers, nac=nac)


def run_into(directory: Path, provider, **kwargs) -> None:
    run_ensemble(
        provider,
        tully_initial_conditions(25.0, 40, x0_bohr=-5.0),
        OPTIONS,
        STOP,
        seed=4,
        batch_size=16,
        directory=directory,
        geometry_stride=3,
        checkpoint_every=5,
        **kwargs,
    )


def read_all(path: Path) -> dict[str, np.ndarray]:
    out = {}
    with h5py.File(path, "r") as f:
        f.visititems(
            lambda name, obj: (
                out.__setitem__(name, obj[()]) if isinstance(obj, h5py.Dataset) else None
            )
        )
    return out


def assert_same_files(a: Path, b: Path) -> None:
    da, db = read_all(a), read_all(b)
    assert da.keys() == db.keys()
    for key in da:
        np.testing.assert_array_equal(da[key], db[key], err_msg=key)


def test_output_contents(tmp_path: Path) -> None:
    run_into(tmp_path, TullyDualAvoidedCrossing())
    data = read_all(merge([tmp_path], tmp_path / "run.h5"))
    n_traj, n_frames = data["active"].shape
    assert n_traj == 40 and data["time"].shape == (n_frames,)
    valid = np.arange(n_frames)[None, :] < data["n_frames"][:, None]
    pop = data["populations"][valid]
    np.testing.assert_allclose(pop.sum(axis=1), 1.0, atol=1e-10)
    assert np.all(data["active"][~valid] == -1) and np.all(np.isnan(data["kinetic"][~valid]))
    assert np.all(data["geometry_step"] % 3 == 0)
    assert data["positions"].shape[1:] == (len(data["geometry_step"]), 1, 3)
    accepted = data["hops/accepted"].astype(bool)
    assert accepted.sum() == data["final/n_hops"].sum() > 0
    drift = np.nanmax(np.abs(data["total_energy"] - data["total_energy"][:, :1]))
    assert drift == pytest.approx(data["final/max_drift"].max(), rel=1e-9)


def test_restart_after_kill_reproduces_uninterrupted_run(tmp_path: Path) -> None:
    run_into(tmp_path / "whole", TullyDualAvoidedCrossing())
    with pytest.raises(Killed):
        run_into(tmp_path / "killed", DiesAfter(calls=23))
    assert (tmp_path / "killed" / "checkpoint.pt").exists()
    with pytest.raises(Killed):  # killed again after the first restart
        run_into(tmp_path / "killed", DiesAfter(calls=9))
    with pytest.raises(ValueError, match="different run"):
        run_into(tmp_path / "killed", TullyDualAvoidedCrossing(), attrs={"config": "other"})
    run_into(tmp_path / "killed", TullyDualAvoidedCrossing())
    assert_same_files(
        merge([tmp_path / "whole"], tmp_path / "a.h5"),
        merge([tmp_path / "killed"], tmp_path / "b.h5"),
    )


def test_shards_merge_to_the_unsharded_run(tmp_path: Path) -> None:
    ic = tully_initial_conditions(25.0, 30, x0_bohr=-5.0)
    common = dict(seed=1, batch_size=8, geometry_stride=4)
    run_ensemble(
        TullyDualAvoidedCrossing(), ic, OPTIONS, STOP, directory=tmp_path / "all", **common
    )
    for i in range(3):
        run_ensemble(
            TullyDualAvoidedCrossing(),
            ic.shard(i, 3),
            OPTIONS,
            STOP,
            directory=tmp_path / "sharded" / f"shard_{i:04d}_of_0003",
            **common,
        )
    assert_same_files(
        merge([tmp_path / "all"], tmp_path / "a.h5"), merge_shards(tmp_path / "sharded")
    )


def test_parse_shard(monkeypatch: pytest.MonkeyPatch) -> None:
    assert parse_shard("2/5") == (2, 5)
    monkeypatch.setenv("RANK", "1")
    monkeypatch.setenv("WORLD_SIZE", "4")
    assert parse_shard("auto") == (1, 4)
    for bad in ("5/5", "a/b", "3"):
        with pytest.raises(ValueError, match="shard"):
            parse_shard(bad)


def _cli(module, argv: list[str]) -> int:
    parser = argparse.ArgumentParser()
    module.add_arguments(parser)
    return module.run(parser.parse_args(argv))


def test_command_line_run_and_analysis(tmp_path: Path) -> None:
    config = tmp_path / "tully.yaml"
    config.write_text(
        textwrap.dedent(
            """
            provider: {factory: "fusionpot.namd.tully:tully_model", kwargs: {name: dual}}
            initial: {tully: {momentum: 25.0, n_traj: 48, x0: -5.0}}
            dynamics: {dt: 0.48, n_substeps: 10, decoherence: null}
            stop: {max_time: 100000.0, box: [-3.2, 3.2]}
            run: {seed: 3, batch_size: 24, output: out, checkpoint_every: 10}
            """
        )
    )
    assert _cli(namd_cli, [str(config), "--no-progress"]) == 0
    run_file = tmp_path / "out" / "run.h5"
    products = tmp_path / "products.yaml"
    products.write_text(
        "collective_variables: {x: {distance: [0, 0]}}\nproducts:\n  - {name: all, x: [0, 1]}\n"
    )
    assert _cli(analyze_cli, [str(run_file), "--products", str(products), "--bootstrap", "50"]) == 0
    assert (tmp_path / "out" / "populations.png").stat().st_size > 1000
    assert '"all"' in (tmp_path / "out" / "analysis.json").read_text()
    config.write_text(config.read_text().replace("decoherence: null", "decoherence: nope"))
    with pytest.raises((ValueError, TypeError)):
        _cli(namd_cli, [str(config), "--no-progress"])


@pytest.mark.slow
def test_sigkill_and_restart_of_the_command(tmp_path: Path) -> None:
    """A real SIGKILL of `fusionpot namd` mid-run, then the same command again."""
    import os
    import signal
    import subprocess
    import sys
    import time

    text = textwrap.dedent(
        """
        provider: {factory: "fusionpot.namd.tully:tully_model", kwargs: {name: extended}}
        initial: {tully: {momentum: 10.0, n_traj: 400, x0: -10.0}}
        dynamics: {dt: 0.24, n_substeps: 10, decoherence: null}
        stop: {max_time: 100000.0, box: [-5.6, 5.6]}
        run: {seed: 5, batch_size: 100, output: OUT, checkpoint_every: 20}
        """
    )
    for name in ("whole", "killed"):
        (tmp_path / f"{name}.yaml").write_text(text.replace("OUT", name))
    command = [
        sys.executable,
        "-c",
        "from fusionpot.cli.namd import *; import argparse, sys; "
        "p = argparse.ArgumentParser(); add_arguments(p); sys.exit(run(p.parse_args()))",
    ]
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    proc = subprocess.Popen([*command, str(tmp_path / "killed.yaml"), "--no-progress"], env=env)
    checkpoint = tmp_path / "killed" / "checkpoint.pt"
    while not checkpoint.exists() and proc.poll() is None:
        time.sleep(0.2)
    time.sleep(1.0)
    assert proc.poll() is None, "the run finished before it could be killed"
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    for name in ("killed", "whole"):
        subprocess.run(
            [*command, str(tmp_path / f"{name}.yaml"), "--no-progress"], env=env, check=True
        )
    assert_same_files(tmp_path / "whole" / "run.h5", tmp_path / "killed" / "run.h5")
