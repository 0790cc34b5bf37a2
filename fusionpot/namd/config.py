"""YAML configuration of a surface-hopping run, and building the run's objects from it.

Example (every key of ``dynamics``, ``stop`` and ``run`` is optional except max_time)::

    provider:
      factory: fusionpot.namd.tully:tully_model   # "module:callable" returning a Provider
      kwargs: {name: dual}
    initial:                                      # exactly one of tully / wigner / file
      tully: {momentum: 20.0, n_traj: 500, x0: -10.0}        # a.u., Bohr
      # wigner: {geometry: min.xyz, n_traj: 256, temperature: 0.0, state: 1}
      #         (or energy_window: [4.0, 5.0] eV instead of state)
      # file: {path: initial.extxyz, state: 1}
    dynamics: {dt: 0.5, n_substeps: 20, coupling: auto, hopping: fssh, decoherence: 0.1,
               decoherence_damping: amplitude, rescale: auto, frustrated: keep}
    stop: {max_time: 500.0, ground_dwell: 50.0, box: null}  # fs, fs, [lo, hi] Å
    run: {seed: 0, batch_size: 256, device: cpu, dtype: float64, output: namd_run,
          geometry_stride: 10, checkpoint_every: 200}
"""

from __future__ import annotations

import importlib
import os
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

import ase.io
import torch
import yaml
from ase import Atoms

from fusionpot.namd.initial import InitialConditions
from fusionpot.namd.integrator import DynamicsOptions
from fusionpot.namd.providers import Provider
from fusionpot.namd.sampling import excite, read_initial_conditions, wigner_sample
from fusionpot.namd.stopping import StopCriteria
from fusionpot.namd.tully import tully_initial_conditions

__all__ = ["RunSettings", "SurfaceHoppingConfig", "load_config"]

_DTYPES = {"float64": torch.float64, "float32": torch.float32}


@dataclass(frozen=True)
class RunSettings:
    """seed; batch_size (None: all at once); device; dtype "float64"/"float32";
    output: run directory; geometry_stride: steps; checkpoint_every: steps."""

    seed: int = 0
    batch_size: int | None = None
    device: str = "cpu"
    dtype: str = "float64"
    output: str = "namd_run"
    geometry_stride: int = 10
    checkpoint_every: int = 200

    def __post_init__(self) -> None:
        if self.dtype not in _DTYPES:
            raise ValueError(f"dtype must be one of {sorted(_DTYPES)}, got {self.dtype!r}")

    @property
    def torch_dtype(self) -> torch.dtype:
        return _DTYPES[self.dtype]


def _build(cls: type, section: str, values: dict[str, Any] | None) -> Any:
    values = dict(values or {})
    known = {f.name for f in fields(cls)}
    unknown = set(values) - known
    if unknown:
        raise ValueError(f"unknown keys {sorted(unknown)} in '{section}'; known: {sorted(known)}")
    if "box" in values and values["box"] is not None:
        values["box"] = tuple(values["box"])
    return cls(**values)


@dataclass(frozen=True)
class SurfaceHoppingConfig:
    """A parsed configuration: see the module docstring for the YAML layout."""

    provider: dict[str, Any]
    initial: dict[str, Any]
    dynamics: DynamicsOptions
    stop: StopCriteria
    run: RunSettings
    base_dir: Path = field(default=Path("."))
    text: str = ""

    def make_provider(self) -> Provider:
        """Import ``provider.factory`` ("module:callable") and call it with ``kwargs``."""
        spec = self.provider.get("factory")
        if not isinstance(spec, str) or ":" not in spec:
            raise ValueError(f"provider.factory must be 'module:callable', got {spec!r}")
        module_name, attr = spec.split(":", 1)
        factory = getattr(importlib.import_module(module_name), attr)
        provider = factory(**self.provider.get("kwargs", {}))
        if not isinstance(provider, Provider):
            raise TypeError(f"{spec} returned {type(provider).__name__}, not a Provider")
        return provider

    def make_initial(self, provider: Provider) -> InitialConditions:
        """Initial conditions of the whole ensemble (before sharding)."""
        device, dtype = self.run.device, self.run.torch_dtype
        kinds = set(self.initial) & {"tully", "wigner", "file"}
        if len(kinds) != 1 or len(self.initial) != 1:
            raise ValueError(
                f"initial must have exactly one of tully/wigner/file, got {sorted(self.initial)}"
            )
        kind = kinds.pop()
        spec = dict(self.initial[kind])
        if kind == "tully":
            return tully_initial_conditions(
                float(spec["momentum"]),
                int(spec["n_traj"]),
                float(spec.get("x0", -10.0)),
                dtype,
                device,
            )
        if kind == "file":
            ic = read_initial_conditions(
                self.base_dir / spec["path"], int(spec.get("state", 0)), device
            )
            return ic.to(device, dtype)
        atoms = ase.io.read(os.fspath(self.base_dir / spec["geometry"]), index=0)
        if not isinstance(atoms, Atoms):
            raise ValueError(f"{spec['geometry']} does not hold one structure")
        positions = torch.tensor(atoms.get_positions(), dtype=dtype, device=device)
        numbers = torch.tensor(atoms.get_atomic_numbers(), device=device)
        masses = torch.tensor(atoms.get_masses(), dtype=dtype, device=device)
        ic = wigner_sample(
            provider,
            positions,
            numbers,
            masses,
            int(spec["n_traj"]),
            self.run.seed,
            float(spec.get("temperature", 0.0)),
        )
        window = spec.get("energy_window")
        return excite(
            ic,
            provider,
            state=None if window is not None else int(spec.get("state", 1)),
            energy_window=None if window is None else (float(window[0]), float(window[1])),
        )


def load_config(path: str | os.PathLike[str]) -> SurfaceHoppingConfig:
    """Read and validate a YAML configuration (paths in it are relative to its folder)."""
    path = Path(path)
    text = path.read_text()
    data = yaml.safe_load(text)
    if not isinstance(data, dict):
        raise ValueError(f"{path} is not a YAML mapping")
    unknown = set(data) - {"provider", "initial", "dynamics", "stop", "run"}
    if unknown:
        raise ValueError(f"unknown sections {sorted(unknown)} in {path}")
    for required in ("provider", "initial", "stop"):
        if required not in data:
            raise ValueError(f"{path} lacks the '{required}' section")
    return SurfaceHoppingConfig(
        provider=dict(data["provider"]),
        initial=dict(data["initial"]),
        dynamics=_build(DynamicsOptions, "dynamics", data.get("dynamics")),
        stop=_build(StopCriteria, "stop", data["stop"]),
        run=_build(RunSettings, "run", data.get("run")),
        base_dir=path.parent,
        text=text,
    )
