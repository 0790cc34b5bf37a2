"""Run an ensemble: batches that shrink as trajectories stop, output, checkpoints, restarts."""

from __future__ import annotations

import dataclasses
import math
import os
from pathlib import Path
from typing import Any

import torch
from tqdm import tqdm

from fusionpot._io import atomic_torch_save
from fusionpot.namd.initial import InitialConditions
from fusionpot.namd.integrator import DynamicsOptions, StepEvents, init, step
from fusionpot.namd.io import SegmentWriter
from fusionpot.namd.providers import Provider
from fusionpot.namd.state import SurfaceHoppingState, concat_states, per_traj
from fusionpot.namd.stopping import StopCriteria

__all__ = ["CHECKPOINT_NAME", "run_ensemble"]

CHECKPOINT_NAME = "checkpoint.pt"
#: 2: forces [n_traj, n_atoms, S, 3] and nac [n_traj, n_atoms, S, S, 3] (the layout of
#: ``fusionpot.data.keys``); 1: states first, forces [n_traj, S, n_atoms, 3], nac
#: [n_traj, S, S, n_atoms, 3] (read by moving the atom axis)
_CHECKPOINT_VERSION = 2


def _maybe_concat(states: list[SurfaceHoppingState]) -> SurfaceHoppingState | None:
    return concat_states(states) if states else None


def _hold(
    stopped: torch.Tensor, old: SurfaceHoppingState, new: SurfaceHoppingState
) -> SurfaceHoppingState:
    """``new`` with the trajectories marked ``stopped`` [n_traj] bool kept as in ``old``."""
    values: dict[str, Any] = {}
    for f in dataclasses.fields(new):
        a, b = getattr(old, f.name), getattr(new, f.name)
        if per_traj(f.name) and b is not None:
            mask = stopped.reshape(-1, *([1] * (b.dim() - 1)))
            b = torch.where(mask, a, b)
        values[f.name] = b
    return SurfaceHoppingState(**values)


def _state_from_checkpoint(
    data: dict[str, Any], version: int, device: torch.device
) -> SurfaceHoppingState:
    """A state of a version-1 or -2 checkpoint in the current layout."""
    if version == 1:
        data = dict(data, forces=data["forces"].movedim(2, 1))
        if data["nac"] is not None:
            data["nac"] = data["nac"].movedim(3, 1)
    return SurfaceHoppingState.from_dict(data, device)


def _without(stopped: torch.Tensor, events: StepEvents) -> StepEvents:
    """``events`` with no attempts by trajectories marked ``stopped`` [n_traj] bool."""
    return StepEvents(
        events.attempted & ~stopped, events.accepted & ~stopped, events.source, events.target
    )


def _steps_to_look(
    running: SurfaceHoppingState, stop: StopCriteria, dt: float, sync_every: int
) -> int:
    """Steps until the host looks again: ``sync_every``, or fewer when the most advanced
    trajectory reaches ``stop.max_time`` sooner (erring early), so that no trajectory is
    held past its maximum time."""
    remaining = (stop.max_time - float(running.time.max())) / dt
    return max(1, min(sync_every, math.ceil(remaining - 1e-6)))


class _Progress:
    """tqdm bar over finished trajectories: time, running, hops so far, worst drift."""

    def __init__(self, total: int, done: int, enabled: bool):
        self.bar = tqdm(total=total, initial=done, disable=not enabled, unit="traj")

    def update(self, n_done: int, running: SurfaceHoppingState | None, hops: int, drift: float):
        self.bar.update(n_done)
        t = float(running.time.max()) if running is not None and running.n_traj else 0.0
        n_run = running.n_traj if running is not None else 0
        self.bar.set_postfix(t_fs=f"{t:.1f}", running=n_run, hops=hops, drift_eV=f"{drift:.2e}")

    def close(self) -> None:
        self.bar.close()


def run_ensemble(
    provider: Provider,
    initial: InitialConditions,
    options: DynamicsOptions,
    stop: StopCriteria,
    *,
    seed: int = 0,
    batch_size: int | None = None,
    directory: str | os.PathLike[str] | None = None,
    geometry_stride: int = 10,
    checkpoint_every: int = 200,
    sync_every: int = 10,
    progress: bool = False,
    attrs: dict[str, Any] | None = None,
) -> SurfaceHoppingState:
    """Run every trajectory of ``initial`` until ``stop``; return their final states.

    Up to ``batch_size`` trajectories (default: all) advance together with one provider
    call per step; stopped ones leave the batch, and waiting ones are admitted once a
    quarter of the batch is free. With ``directory``, records go to HDF5 segments there
    (see ``io.py``) and a checkpoint is written atomically every ``checkpoint_every`` steps;
    if a checkpoint is present the run continues from it and gives the same result as an
    uninterrupted run. Final states are returned sorted by ``traj_id``.

    The host looks at the device once every ``sync_every`` steps (sooner when the first
    trajectory reaches ``stop.max_time``): then stopped trajectories leave the batch,
    waiting ones join, records are copied to the host and the progress bar moves. In
    between, a trajectory that met ``stop`` is held at its final state (computed, not
    advanced, not recorded), so results do not depend on ``sync_every``.
    """
    size = len(initial) if batch_size is None else batch_size
    if size < 1:
        raise ValueError(f"batch_size must be ≥ 1, got {batch_size}")
    if checkpoint_every < 1:
        raise ValueError(f"checkpoint_every must be ≥ 1 step, got {checkpoint_every}")
    if sync_every < 1:
        raise ValueError(f"sync_every must be ≥ 1 step, got {sync_every}")
    writer = SegmentWriter(directory, geometry_stride) if directory is not None else None
    meta = {"dt": options.dt, "n_states": provider.n_states, "seed": seed, **(attrs or {})}
    pending = initial
    running: SurfaceHoppingState | None = None
    finished: list[SurfaceHoppingState] = []
    device = initial.positions.device
    checkpoint = Path(directory) / CHECKPOINT_NAME if directory is not None else None
    if checkpoint is not None and checkpoint.exists():
        data = torch.load(checkpoint, weights_only=True)
        if data["version"] not in (1, _CHECKPOINT_VERSION):
            raise ValueError(f"checkpoint {checkpoint} has unknown version {data['version']}")
        if data["meta"] != meta or data["options"] != repr(options) or data["stop"] != repr(stop):
            raise ValueError(
                f"checkpoint {checkpoint} was written by a different run (settings, seed or "
                "stop criteria differ); use a new output folder or the original configuration"
            )
        pending = InitialConditions.from_dict(data["pending"]).to(device, initial.positions.dtype)
        if data["running"] is not None:
            running = _state_from_checkpoint(data["running"], data["version"], device)
        if data["finished"] is not None:
            finished = [_state_from_checkpoint(data["finished"], data["version"], device)]
        assert writer is not None
        writer.truncate(data["n_segments"])
    elif writer is not None:
        writer.truncate(0)

    def save_checkpoint() -> None:
        if writer is None or checkpoint is None:
            return
        writer.flush(meta)
        done = _maybe_concat(finished)
        atomic_torch_save(
            {
                "version": _CHECKPOINT_VERSION,
                "pending": pending.to_dict(),
                "running": None if running is None else running.to_dict(),
                "finished": None if done is None else done.to_dict(),
                "n_segments": writer.n_segments,
                "meta": meta,
                "options": repr(options),
                "stop": repr(stop),
            },
            checkpoint,
        )

    n_done = sum(s.n_traj for s in finished)
    bar = _Progress(len(initial), n_done, progress)
    hops = sum(int(s.n_hops.sum()) for s in finished)
    drift = max((float(s.max_drift.max()) for s in finished if s.n_traj), default=0.0)
    new_hops = torch.zeros((), dtype=torch.long, device=device)  # since the last look
    stopped = torch.zeros(0, dtype=torch.bool, device=device)  # [n_traj]
    n_steps = look_at = 0
    while True:
        if n_steps == look_at:  # the host looks: retire, admit, copy, report
            n_new_done = 0
            if running is not None and running.n_traj:
                done = stop.done(running)
                n_new_done = int(done.sum())
                drift = max(drift, float(running.max_drift.max()))
                hops += int(new_hops)
                if n_new_done:
                    retired = running.select(done)
                    if writer is not None:
                        writer.record_final(retired)
                    finished.append(retired)
                    running = running.select(~done)
            new_hops = torch.zeros_like(new_hops)
            n_running = 0 if running is None else running.n_traj
            if len(pending) and (n_running == 0 or size - n_running >= max(1, size // 4)):
                take = min(size - n_running, len(pending))
                admitted = pending.select(slice(0, take))
                pending = pending.select(slice(take, None))
                new = init(
                    provider,
                    admitted.positions,
                    admitted.velocities,
                    admitted.masses,
                    admitted.numbers,
                    admitted.active,
                    options,
                    seed,
                    admitted.traj_id,
                )
                if writer is not None:
                    writer.record(new)
                running = (
                    new if running is None or n_running == 0 else concat_states([running, new])
                )
            if writer is not None:
                writer.gather()
            bar.update(n_new_done, running, hops, drift)
            if running is None or running.n_traj == 0:
                break
            stopped = torch.zeros(running.n_traj, dtype=torch.bool, device=device)
            look_at = n_steps + _steps_to_look(running, stop, options.dt, sync_every)
        assert running is not None
        advanced, events = step(running, provider, options)
        running, events = _hold(stopped, running, advanced), _without(stopped, events)
        if writer is not None:
            writer.record(running, ~stopped)
            writer.record_hops(running, events)
        new_hops = new_hops + events.accepted.sum()
        stopped = stopped | stop.done(running)
        n_steps += 1
        if n_steps % checkpoint_every == 0:
            save_checkpoint()
    save_checkpoint()
    bar.close()
    final = concat_states(finished)
    return final.select(torch.argsort(final.traj_id))
