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
          geometry_stride: 10, checkpoint_every: 200, sync_every: 10}
"""

from __future__ import annotations

import importlib
import os
from dataclasses import MISSING, dataclass, field, fields
from pathlib import Path
from typing import Any

import ase.io
import torch
import yaml
from ase import Atoms

from fusionpot._device import resolve_device
from fusionpot._fields import check_fields, check_value
from fusionpot.errors import ConfigError
from fusionpot.models.config import DTYPES
from fusionpot.namd.initial import InitialConditions, excite, read_initial_conditions, wigner_sample
from fusionpot.namd.integrator import DynamicsOptions
from fusionpot.namd.providers import Provider
from fusionpot.namd.stopping import StopCriteria
from fusionpot.namd.tully import tully_initial_conditions

__all__ = ["RunSettings", "SurfaceHoppingConfig", "load_config"]


@dataclass(frozen=True)
class RunSettings:
    """seed; batch_size (None: all at once); device; dtype "float64"/"float32";
    output: run directory; geometry_stride: steps; checkpoint_every: steps; sync_every:
    steps between the host's looks at the device (records copied, progress, finished
    trajectories swapped for waiting ones; results do not depend on it)."""

    seed: int = 0
    batch_size: int | None = None
    device: str = "cpu"
    dtype: str = "float64"
    output: str = "namd_run"
    geometry_stride: int = 10
    checkpoint_every: int = 200
    sync_every: int = 10

    def __post_init__(self) -> None:
        if self.sync_every < 1:
            raise ValueError(f"run.sync_every must be >= 1 step, got {self.sync_every}")
        if self.dtype not in DTYPES:
            raise ValueError(f"dtype must be one of {sorted(DTYPES)}, got {self.dtype!r}")
        try:
            resolve_device(self.device)
        except ValueError as error:
            raise ValueError(f"run.{error}") from None

    @property
    def torch_dtype(self) -> torch.dtype:
        return DTYPES[self.dtype]

    @property
    def torch_device(self) -> torch.device:
        """``device`` as torch reads it (``auto``: CUDA when available)."""
        return resolve_device(self.device)


def _build(cls: type, section: str, values: dict[str, Any] | None) -> Any:
    if not isinstance(values or {}, dict):
        raise ConfigError(f"'{section}' must be a mapping, got {values!r}")
    values = dict(values or {})
    known = {f.name for f in fields(cls)}
    unknown = set(values) - known
    if unknown:
        raise ConfigError(f"unknown keys {sorted(unknown)} in '{section}'; known: {sorted(known)}")
    required = [
        f.name
        for f in fields(cls)
        if f.default is MISSING and f.default_factory is MISSING and f.name not in values
    ]
    if required:
        raise ConfigError(f"'{section}' lacks {', '.join(required)}")
    return cls(**check_fields(cls, values, section))


#: keys of each kind of ``initial``: (type, required)
_INITIAL: dict[str, dict[str, tuple[Any, bool]]] = {
    "tully": {"momentum": (float, True), "n_traj": (int, True), "x0": (float, False)},
    "wigner": {
        "geometry": (str, True),
        "n_traj": (int, True),
        "temperature": (float, False),
        "state": (int, False),
        "energy_window": (tuple[float, float], False),
    },
    "file": {"path": (str, True), "state": (int, False)},
}


def _check_initial(initial: Any) -> dict[str, Any]:
    """The ``initial`` section, its keys checked by type; one of tully/wigner/file."""
    if not isinstance(initial, dict) or len(initial) != 1 or set(initial) - set(_INITIAL):
        got = sorted(initial) if isinstance(initial, dict) else initial
        raise ConfigError(f"initial must have exactly one of tully/wigner/file, got {got!r}")
    ((kind, spec),) = initial.items()
    if not isinstance(spec, dict):
        raise ConfigError(f"initial.{kind} must be a mapping, got {spec!r}")
    keys = _INITIAL[kind]
    unknown = set(spec) - set(keys)
    if unknown:
        raise ConfigError(
            f"unknown keys {sorted(unknown)} in 'initial.{kind}'; known: {sorted(keys)}"
        )
    missing = [key for key, (_, required) in keys.items() if required and key not in spec]
    if missing:
        raise ConfigError(f"'initial.{kind}' lacks {', '.join(missing)}")
    checked = {
        key: check_value(keys[key][0], v, f"initial.{kind}.{key}") for key, v in spec.items()
    }
    if checked.get("n_traj", 1) < 1:
        raise ConfigError(f"initial.{kind}.n_traj must be >= 1, got {checked['n_traj']}")
    if "state" in checked and "energy_window" in checked:
        raise ConfigError(f"initial.{kind}: give state or energy_window, not both")
    window = checked.get("energy_window")
    if window is not None and not window[0] < window[1]:
        raise ConfigError(
            f"initial.{kind}.energy_window must be [lo, hi] eV with lo < hi, got {list(window)}"
        )
    return {kind: checked}


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
    #: the YAML file, named in errors found when the run starts ("" when not from a file)
    source: str = ""

    def make_provider(self) -> Provider:
        """Import ``provider.factory`` ("module:callable") and call it with ``kwargs``."""
        spec = self.provider.get("factory")
        if not isinstance(spec, str) or ":" not in spec:
            raise ConfigError(
                f"provider.factory must be 'module:callable', got {spec!r}", self.source or None
            )
        module_name, attr = spec.split(":", 1)
        try:
            factory = getattr(importlib.import_module(module_name), attr)
        except (ImportError, AttributeError) as error:
            raise ConfigError(
                f"provider.factory {spec!r} cannot be imported: {error}", self.source or None
            ) from None
        provider = factory(**self.provider.get("kwargs", {}))
        if not isinstance(provider, Provider):
            raise TypeError(f"{spec} returned {type(provider).__name__}, not a Provider")
        return provider

    def make_initial(self, provider: Provider) -> InitialConditions:
        """Initial conditions of the whole ensemble (before sharding); a ``ValueError``
        (a geometry that is no minimum, a window selecting no state) names the file and
        the ``initial`` entry."""
        try:
            return self._make_initial(provider)
        except ConfigError:
            raise
        except ValueError as error:
            where = "/".join(sorted(self.initial)) if isinstance(self.initial, dict) else ""
            raise ConfigError(f"initial.{where}: {error}", self.source or None) from None

    def _make_initial(self, provider: Provider) -> InitialConditions:
        device, dtype = self.run.torch_device, self.run.torch_dtype
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
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as error:
        raise ConfigError(f"not valid YAML: {error}", path) from None
    if not isinstance(data, dict):
        raise ConfigError("not a YAML mapping", path)
    unknown = set(data) - {"provider", "initial", "dynamics", "stop", "run"}
    if unknown:
        raise ConfigError(f"unknown sections {sorted(unknown)}", path)
    for required in ("provider", "initial", "stop"):
        if required not in data:
            raise ConfigError(f"lacks the '{required}' section", path)
    try:
        if not isinstance(data["provider"], dict):
            raise ConfigError(f"'provider' must be a mapping, got {data['provider']!r}")
        return SurfaceHoppingConfig(
            provider=dict(data["provider"]),
            initial=_check_initial(data["initial"]),
            dynamics=_build(DynamicsOptions, "dynamics", data.get("dynamics")),
            stop=_build(StopCriteria, "stop", data["stop"]),
            run=_build(RunSettings, "run", data.get("run")),
            base_dir=path.parent,
            text=text,
            source=str(path),
        )
    except ValueError as error:
        raise ConfigError(str(error), path) from None
