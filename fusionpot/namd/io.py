"""HDF5 output: append-only segment files, atomic checkpoints, and the merge into ``run.h5``.

While running, every flush writes one new segment file ``segments/seg_NNNNNN.h5`` in the
run directory (temp file + ``os.replace``, so a kill never leaves half a file), holding
rows (one per trajectory and recorded step) of: ``traj_id``, ``step``, ``active``,
``amplitudes`` [S] complex, ``energies`` [S] eV, ``kinetic`` eV; geometry rows
(``positions`` [n_atoms, 3] Å) every ``geometry_stride`` steps; hop events; and final
rows for trajectories that stopped. A checkpoint records how many segments belong to it,
so a restart drops later ones and rewrites them identically.

:func:`merge` joins the segments of one or more run directories (shards) into one file:

* ``time [n_frames] fs``, ``traj_id [n_traj]``, ``n_frames [n_traj]`` (valid frames)
* ``active [n_traj, n_frames]`` (−1 after a trajectory stopped)
* ``amplitudes [n_traj, n_frames, S]`` complex, ``populations [n_traj, n_frames, S]``,
  ``energies [n_traj, n_frames, S] eV``, ``kinetic [n_traj, n_frames] eV``,
  ``total_energy [n_traj, n_frames] eV`` (NaN after a trajectory stopped)
* ``geometry_step [n_geom]``, ``positions [n_traj, n_geom, n_atoms, 3] Å`` (NaN padded)
* ``hops/{traj_id, time, source, target, accepted}`` (every attempt, by trajectory and time)
  and ``hops/positions [n_attempts, n_atoms, 3] Å``, the geometry of each attempt
* ``final/{positions, velocities, active, time, n_hops, max_drift}`` per trajectory
* ``numbers [n_atoms]`` atomic numbers (files written since 2026-12-03)
* with a committee provider: ``energy_spread``, ``gap_spread`` (eV) and ``forces_spread``
  (eV/Å) ``[n_traj, n_frames, S]``, the members' disagreement along every trajectory
* attributes: ``dt`` fs, ``n_states``, ``seed``, ``config`` (YAML text), units
"""

from __future__ import annotations

import os
from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import h5py
import numpy as np
import torch

from fusionpot._io import atomic_write
from fusionpot.active.spread import SPREAD_COLUMNS
from fusionpot.namd.integrator import StepEvents, kinetic_energy
from fusionpot.namd.state import SurfaceHoppingState

__all__ = ["SegmentWriter", "merge"]


class SegmentWriter:
    """Buffers records of running trajectories and writes them as segments.

    Records stay on the trajectories' device, each with a mask of the rows that count
    (trajectories that stopped since the driver last looked, geometry steps, hop
    attempts), until :meth:`gather` copies them to the host in one go and drops the
    masked rows; :meth:`flush` gathers and writes a segment. Recording never waits on
    the device.

    directory: run directory; geometry_stride: record positions every this many steps.
    """

    def __init__(self, directory: str | os.PathLike[str], geometry_stride: int = 10):
        if geometry_stride < 1:
            raise ValueError(f"geometry_stride must be ≥ 1, got {geometry_stride}")
        self.directory = Path(directory)
        self.geometry_stride = geometry_stride
        self.n_segments = 0
        self._rows: dict[str, list[np.ndarray]] = defaultdict(list)
        self._on_device: list[tuple[torch.Tensor | None, dict[str, torch.Tensor]]] = []

    @property
    def segment_dir(self) -> Path:
        return self.directory / "segments"

    def truncate(self, n_segments: int) -> None:
        """Forget segments with index ≥ ``n_segments`` (written after the checkpoint)."""
        self.n_segments = n_segments
        self._rows.clear()
        self._on_device.clear()
        if self.segment_dir.exists():
            for path in self.segment_dir.glob("seg_*.h5"):
                if int(path.stem.split("_")[1]) >= n_segments:
                    path.unlink()

    def _add(self, keep: torch.Tensor | None, fields: dict[str, torch.Tensor]) -> None:
        """Rows ``fields`` (each [n_rows, ...]) of which those with ``keep`` [n_rows]
        (all if None) are written."""
        self._on_device.append((keep, {k: v.detach() for k, v in fields.items()}))

    def gather(self) -> None:
        """Copy the buffered records to the host (the only wait on the device): one copy
        per field of all records of the same kind, then the masked rows are dropped."""
        kinds: dict[tuple[str, ...], list[tuple[torch.Tensor | None, dict[str, torch.Tensor]]]]
        kinds = defaultdict(list)
        for keep, fields in self._on_device:
            kinds[tuple(fields)].append((keep, fields))
        for names, records in kinds.items():
            masks = [
                torch.ones(len(f[names[0]]), dtype=torch.bool, device=f[names[0]].device)
                if k is None
                else k
                for k, f in records
            ]
            kept = torch.cat(masks).cpu().numpy()
            for name in names:
                rows = torch.cat([f[name] for _, f in records]).cpu().numpy()
                self._rows[name].append(rows[kept])
        self._on_device.clear()

    def record(self, state: SurfaceHoppingState, keep: torch.Tensor | None = None) -> None:
        """One row per trajectory of ``state`` at its current step (only those with
        ``keep`` [n_traj] bool, if given)."""
        rows = {
            "traj_id": state.traj_id,
            "step": state.step,
            "active": state.active,
            "amplitudes": state.amplitudes,
            "energies": state.energies,
            "kinetic": kinetic_energy(state.velocities, state.masses),
        }
        if state.spread is not None:
            rows["spread"] = state.spread
        self._add(keep, rows)
        geometry = state.step % self.geometry_stride == 0
        geometry = geometry if keep is None else geometry & keep
        geom = {"geom_traj_id": state.traj_id, "geom_step": state.step}
        self._add(geometry, {**geom, "positions": state.positions})

    def record_hops(self, state: SurfaceHoppingState, events: StepEvents) -> None:
        """Hop attempts of the step that produced ``state``."""
        hops = {
            "hop_traj_id": state.traj_id,
            "hop_time": state.time,
            "hop_source": events.source,
            "hop_target": events.target,
            "hop_accepted": events.accepted,
            "hop_positions": state.positions,
        }
        self._add(events.attempted, hops)

    def record_final(self, state: SurfaceHoppingState) -> None:
        """Final rows of trajectories that stopped."""
        final = {
            "final_traj_id": state.traj_id,
            "final_positions": state.positions,
            "final_velocities": state.velocities,
            "final_active": state.active,
            "final_time": state.time,
            "final_n_hops": state.n_hops,
            "final_max_drift": state.max_drift,
            "final_numbers": state.numbers.expand(state.n_traj, -1),
        }
        self._add(None, final)

    def flush(self, attrs: dict[str, Any]) -> None:
        """Write buffered rows as the next segment (nothing if the buffer is empty)."""
        self.gather()
        if not self._rows:
            return
        rows = {k: np.concatenate(v) for k, v in self._rows.items()}

        def write(tmp: Path) -> None:
            with h5py.File(tmp, "w") as f:
                for name, value in rows.items():
                    f.create_dataset(name, data=value)
                f.attrs.update(attrs)

        atomic_write(self.segment_dir / f"seg_{self.n_segments:06d}.h5", write)
        self.n_segments += 1
        self._rows.clear()


def _read_segments(directories: list[Path]) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    parts: dict[str, list[np.ndarray]] = defaultdict(list)
    attrs: dict[str, Any] = {}
    paths = [p for d in directories for p in sorted((d / "segments").glob("seg_*.h5"))]
    if not paths:
        raise ValueError(f"no output segments found in {[str(d) for d in directories]}")
    for path in paths:
        with h5py.File(path, "r") as f:
            for name in f:
                parts[name].append(f[name][()])
            attrs.update(f.attrs)
    return {k: np.concatenate(v) for k, v in parts.items()}, attrs


def merge(directories: Sequence[str | os.PathLike[str]], output: str | os.PathLike[str]) -> Path:
    """Join the segments of run directories (one per shard) into one HDF5 file ``output``."""
    dirs = [Path(d) for d in directories]
    rows, attrs = _read_segments(dirs)
    traj_ids = np.unique(rows["traj_id"])
    row_of = {int(t): i for i, t in enumerate(traj_ids)}
    t_index = np.array([row_of[int(t)] for t in rows["traj_id"]])
    n_traj, n_frames = len(traj_ids), int(rows["step"].max()) + 1
    n_states = rows["energies"].shape[1]

    def grid(index: np.ndarray, cols: np.ndarray, values: np.ndarray, n: int, fill: Any):
        out = np.full((n_traj, n, *values.shape[1:]), fill, dtype=values.dtype)
        out[index, cols] = values
        return out

    step = rows["step"]
    amplitudes = grid(t_index, step, rows["amplitudes"], n_frames, np.nan)
    energies = grid(t_index, step, rows["energies"], n_frames, np.nan)
    kinetic = grid(t_index, step, rows["kinetic"], n_frames, np.nan)
    active = grid(t_index, step, rows["active"].astype(np.int8), n_frames, -1)
    safe_active = np.clip(active, 0, None)[..., None].astype(np.int64)
    potential = np.take_along_axis(energies, safe_active, axis=2)[..., 0]
    n_valid = np.bincount(t_index, minlength=n_traj)

    def write(tmp: Path) -> None:
        with h5py.File(tmp, "w") as f:
            f.attrs.update(attrs)
            f.create_dataset("time", data=np.arange(n_frames) * float(attrs["dt"]))
            f.create_dataset("traj_id", data=traj_ids)
            f.create_dataset("n_frames", data=n_valid)
            chunks = (1, n_frames, n_states)
            f.create_dataset("active", data=active, compression="gzip")
            f.create_dataset("amplitudes", data=amplitudes, chunks=chunks, compression="gzip")
            f.create_dataset(
                "populations", data=np.abs(amplitudes) ** 2, chunks=chunks, compression="gzip"
            )
            f.create_dataset("energies", data=energies, chunks=chunks, compression="gzip")
            f.create_dataset("kinetic", data=kinetic, compression="gzip")
            f.create_dataset("total_energy", data=potential + kinetic, compression="gzip")
            if "spread" in rows:
                spread = grid(t_index, step, rows["spread"], n_frames, np.nan)
                for k, name in enumerate(SPREAD_COLUMNS):
                    f.create_dataset(
                        f"{name}_spread", data=spread[..., k], chunks=chunks, compression="gzip"
                    )
            if "final_numbers" in rows:
                f.create_dataset("numbers", data=rows["final_numbers"][0])
            if "geom_step" in rows:
                g_steps = np.unique(rows["geom_step"])
                col = np.searchsorted(g_steps, rows["geom_step"])
                g_index = np.array([row_of[int(t)] for t in rows["geom_traj_id"]])
                positions = grid(g_index, col, rows["positions"], len(g_steps), np.nan)
                f.create_dataset("geometry_step", data=g_steps)
                f.create_dataset("positions", data=positions, compression="gzip")
            hops = f.create_group("hops")
            hop_order = np.lexsort((rows.get("hop_time", []), rows.get("hop_traj_id", [])))
            for name in ("traj_id", "time", "source", "target", "accepted"):
                column = rows.get(f"hop_{name}", np.zeros(0))
                hops.create_dataset(name, data=column[hop_order])
            n_atoms = rows["final_numbers"].shape[1] if "final_numbers" in rows else 0
            hop_positions = rows.get("hop_positions", np.zeros((0, n_atoms, 3)))
            hops.create_dataset("positions", data=hop_positions[hop_order])
            final = f.create_group("final")
            if "final_traj_id" in rows:
                order = np.argsort(rows["final_traj_id"])
                for name in ("positions", "velocities", "active", "time", "n_hops", "max_drift"):
                    final.create_dataset(name, data=rows[f"final_{name}"][order])
                final.create_dataset("traj_id", data=rows["final_traj_id"][order])

    out = Path(output)
    atomic_write(out, write)
    return out
