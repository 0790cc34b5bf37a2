"""Export a model to one TorchScript file (with its metadata) and load it back: a pair.

The exported module's interface (fixed; the LAMMPS pair style and the ASE calculator
rely on it)::

    forward(data: Dict[str, Tensor], state: int = -1, compute_forces: bool = True,
            compute_virial: bool = False, compute_atomic_virial: bool = False)
        -> Dict[str, Tensor]

Inputs are the fields of :mod:`fusionpot.data.keys` (positions [N, 3] Å in the model's
dtype, species, edge_index, edge_cell_shift, cell [G, 3, 3] Å, batch, ptr and the
optional local_mask [N] bool). Outputs: ``energy`` [G, S] eV and ``atomic_energy``
[N, S] eV of all S states (counted atoms only); with ``compute_forces``, ``forces``
[N, S_f, 3] eV/Å on every atom; with ``compute_virial``, ``virial`` [G, S_f, 3, 3] eV and
``stress`` [G, S_f, 3, 3] eV/Å³; with ``compute_atomic_virial``, ``atomic_virial``
[N, S_f, 3, 3] eV on every atom (each edge's share, summing to ``virial``; see
:class:`~fusionpot.models.ForceOutput`); S_f = S for ``state == -1``, else 1. Files
exported before ``compute_atomic_virial`` existed take only the first four arguments
(:func:`accepts_atomic_virial`).
"""

from __future__ import annotations

import copy
import dataclasses
import json
import os
import pickle
from pathlib import Path
from typing import Any

import torch

from fusionpot._device import resolve_device
from fusionpot._e3nn import quiet_fx_scripting
from fusionpot._io import atomic_write
from fusionpot.data import keys
from fusionpot.export.metadata import (
    METADATA_FILE,
    dump_metadata,
    make_metadata,
    parse_metadata,
    read_metadata,
)
from fusionpot.models import ForceOutput, build_model, load_model
from fusionpot.models._mace import compile_mode
from fusionpot.models.base import EnergyModel
from fusionpot.models.config import DTYPES

__all__ = [
    "ExportedPotential",
    "SteadyScript",
    "accepts_atomic_virial",
    "convert_dtype",
    "export_model",
    "load_eager",
    "load_exported",
    "load_potential",
    "metadata_of",
]


@compile_mode("script")
class ExportedPotential(torch.nn.Module):
    """The exported module: an energy model with forces and virial by autograd.

    ``model``: FusionMACE or any module with the same calling convention and a
    ``.config`` (``elements``, ``r_max``, ``n_layers``, ``n_states``, ``dtype``, ``arch``).
    Attributes: ``metadata_json``, the text written as the file's ``metadata.json``
    (:mod:`fusionpot.export.metadata`; read it with :func:`metadata_of`), and
    ``n_states``, which ``forward`` checks ``state`` against.
    """

    def __init__(self, model: torch.nn.Module) -> None:
        super().__init__()
        config = _config_of(model)
        self.potential = ForceOutput(model, compute_stress=False)
        self.n_states = int(config.n_states)
        self.metadata_json = dump_metadata(
            make_metadata(
                config.elements,
                config.r_max,
                config.n_layers,
                config.n_states,
                config.dtype,
                config.arch,
                config.to_dict(),
            )
        )

    def forward(
        self,
        data: dict[str, torch.Tensor],
        state: int = -1,
        compute_forces: bool = True,
        compute_virial: bool = False,
        compute_atomic_virial: bool = False,
    ) -> dict[str, torch.Tensor]:
        if state < -1 or state >= self.n_states:
            raise ValueError(
                "state "
                + str(state)
                + " is out of range: this model has "
                + str(self.n_states)
                + " states (0 to "
                + str(self.n_states - 1)
                + "), or -1 for all"
            )
        if keys.LOCAL_MASK in data and data[keys.LOCAL_MASK].dtype != torch.bool:
            raise TypeError("local_mask must be a bool tensor [n_atoms]")
        return self.potential.evaluate(
            data, state, compute_forces, compute_virial, compute_atomic_virial
        )


def accepts_atomic_virial(module: torch.nn.Module) -> bool:
    """Whether ``module`` (from :func:`load_potential` or :func:`load_exported`) takes
    ``compute_atomic_virial``: eager modules do, and files exported since it exists."""
    if isinstance(module, SteadyScript):
        module = module.scripted
    if not isinstance(module, torch.jit.ScriptModule):
        return True
    schema = module.forward.schema  # type: ignore[attr-defined]  # a ScriptMethod's
    names = [argument.name for argument in schema.arguments]
    return "compute_atomic_virial" in names


def metadata_of(module: Any) -> dict[str, Any]:
    """The metadata an :class:`ExportedPotential` carries, eager, scripted or in a
    :class:`SteadyScript`: the text of its file's ``metadata.json``, versions of the
    exporting process included. Modules of files exported before ``metadata_json``
    existed give the same keys from their old attributes, with versions ``"unknown"``
    (and no ``config`` if they had no ``config_json``)."""
    if isinstance(module, SteadyScript):
        module = module.scripted
    text = getattr(module, "metadata_json", None)
    if text is not None:
        return parse_metadata(text, f"<{type(module).__name__} in memory>")
    config_json = getattr(module, "config_json", None)
    return make_metadata(
        list(module.elements),
        module.r_max,
        module.n_layers,
        module.n_states,
        module.dtype_name,
        module.arch,
        None if config_json is None else json.loads(config_json),
        versions=("unknown", "unknown"),
    )


def _config_of(model: torch.nn.Module) -> Any:
    config = getattr(model, "config", None)
    if config is None or not dataclasses.is_dataclass(config):
        raise TypeError(
            f"cannot export a {type(model).__name__}: expected an energy model with a "
            "dataclass .config (FusionMACE, or a model with the same calling convention)"
        )
    return config


def _dtype_name(dtype: str | torch.dtype) -> str:
    for name, value in DTYPES.items():
        if dtype in (name, value):
            return name
    raise ValueError(f"dtype must be one of {sorted(DTYPES)}, got {dtype!r}")


@quiet_fx_scripting()
def convert_dtype(model: torch.nn.Module, dtype: str | torch.dtype | None) -> torch.nn.Module:
    """A copy of the energy ``model`` in ``dtype`` (None: the model's own), on the CPU.

    Rebuilt from its config in the target dtype, then loaded with the state dict, so
    constants tabulated at build time (Clebsch–Gordan coefficients) are computed in the
    target dtype: a buffer that equals the rebuilt one to float32 precision is such a
    constant and keeps its rebuilt value; everything else (the weights) is cast.
    """
    config = _config_of(model)
    name = config.dtype if dtype is None else _dtype_name(dtype)
    if name == config.dtype:
        return copy.deepcopy(model).cpu()
    rebuilt = type(model)(dataclasses.replace(config, dtype=name))
    fresh = rebuilt.state_dict()
    state = {}
    for key, value in model.state_dict().items():
        value = value.detach().cpu()
        state[key] = fresh[key] if _same_constant(fresh[key], value) else value.to(fresh[key].dtype)
    rebuilt.load_state_dict(state)
    return rebuilt


def _same_constant(fresh: torch.Tensor, value: torch.Tensor) -> bool:
    if not value.is_floating_point() or fresh.shape != value.shape:
        return False
    tolerance = 8 * torch.finfo(torch.float32).eps
    return torch.allclose(fresh.double(), value.double(), rtol=tolerance, atol=tolerance)


@quiet_fx_scripting()
def export_model(
    model: torch.nn.Module,
    path: str | os.PathLike[str],
    dtype: str | torch.dtype | None = None,
    device: torch.device | str = "cpu",
) -> dict[str, Any]:
    """Write ``model`` as one TorchScript file at ``path``; returns its metadata.

    ``model``: an energy model (FusionMACE, or the same calling convention with a
    ``.config``) or a :class:`~fusionpot.models.ForceOutput` around one. ``dtype``:
    ``"float32"``/``"float64"`` (None: the model's). ``device``: where the saved tensors
    live (``torch.jit.load(map_location=...)`` moves them). The file is written to a
    temporary name and renamed, so ``path`` is never left half-written.
    """
    energy_model = model.model if isinstance(model, ForceOutput) else model
    converted = convert_dtype(energy_model, dtype).eval()
    for parameter in converted.parameters():
        parameter.requires_grad_(False)
    module = ExportedPotential(converted).to(resolve_device(device))
    from e3nn.util.jit import compile as jit_compile  # e3nn is imported by fusionpot.models

    scripted = jit_compile(module)
    extra = {METADATA_FILE: module.metadata_json}  # the one text, in the file and the module
    atomic_write(path, lambda tmp: torch.jit.save(scripted, str(tmp), _extra_files=extra))
    return metadata_of(module)


class SteadyScript(torch.nn.Module):
    """A TorchScript module run with the graph executor's optimisation off.

    TorchScript's profiling executor re-optimises a graph during a process's first calls,
    which on a CPU then take 10-25x a steady call, and later calls are no faster for it:
    26 atoms, 1 thread, ~355, 566, 304 ms and then 21 ms per call, against 45 ms and then
    18 ms unoptimised (``bench/first_calls.py``; a 1000-atom box run first in a process:
    up to 7 s per call, then 2.1 s either way). Calls and outputs are those of
    ``scripted``.
    """

    def __init__(self, scripted: torch.jit.ScriptModule) -> None:
        super().__init__()
        self.scripted = scripted

    def forward(self, *args: Any) -> Any:
        with torch.jit.optimized_execution(False):
            return self.scripted(*args)


def load_exported(
    path: str | os.PathLike[str], device: torch.device | str = "cpu"
) -> tuple[torch.jit.ScriptModule, dict[str, Any]]:
    """The module and metadata of a file written by :func:`export_model`.

    Raises ``FileNotFoundError`` for a missing file and ``ValueError`` for a file that is
    not an exported fusionpot model or has another ``format_version``.
    """
    if not Path(path).is_file():
        raise FileNotFoundError(f"no exported model at {os.fspath(path)!r}")
    metadata = read_metadata(path)
    if metadata is None:
        raise ValueError(f"{os.fspath(path)!r} is not a fusionpot exported model")
    module = torch.jit.load(str(path), map_location=device)
    return module.eval(), metadata


@quiet_fx_scripting()
def load_eager(path: str | os.PathLike[str]) -> EnergyModel:
    """The eager energy model (FusionMACE, MACEBaseline) of a checkpoint or of an exported
    file whose metadata records its ``config``: rebuilt from the config, weights loaded.

    Raises ``ValueError`` for an exported file without ``config`` (exported before it
    was recorded; re-export it from its checkpoint) or a file that is neither.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no model file at {os.fspath(path)!r}")
    metadata = read_metadata(path)
    if metadata is None:
        try:
            return load_model(path)
        except (OSError, RuntimeError, pickle.UnpicklingError, EOFError, ValueError) as error:
            reason = str(error).split(". ")[0].splitlines()[0][:120]  # torch's are pages long
            raise ValueError(
                f"{os.fspath(path)!r} is neither a fusionpot exported model nor a model "
                f"checkpoint ({reason})"
            ) from None
    if "config" not in metadata:
        raise ValueError(
            f"{os.fspath(path)!r} was exported without its model config, so it cannot be "
            "rebuilt (another dtype, another export): export it again from its checkpoint"
        )
    model = build_model({**metadata["config"], "arch": metadata["arch"]})
    prefix = "potential.model."
    scripted = torch.jit.load(str(path), map_location="cpu")
    state = {k.removeprefix(prefix): v for k, v in scripted.state_dict().items()}
    model.load_state_dict(state)
    return model


def load_potential(
    model: str | os.PathLike[str] | torch.nn.Module,
    device: torch.device | str = "cpu",
    dtype: str | torch.dtype | None = None,
) -> tuple[torch.nn.Module, dict[str, Any]]:
    """Any model as the exported interface: ``(module, metadata)``.

    ``model``: a file, recognised by its content (an exported model's ``metadata.json``,
    else a checkpoint of :func:`~fusionpot.models.save_model`, loaded with
    ``weights_only``); an exported module; or an energy model in memory (FusionMACE, a
    model with its calling convention, or a ForceOutput around one). Eager models are
    wrapped in :class:`ExportedPotential`, converted to ``dtype`` if given; an exported
    file in another ``dtype`` is rebuilt from the config in its metadata (a file without
    one, or an exported module, gives ``ValueError``). On a CPU
    an exported module comes wrapped in :class:`SteadyScript` (no slow first calls).
    ``metadata``: a file's own (:func:`~fusionpot.export.read_metadata`), else
    :func:`metadata_of` the module.
    """
    if isinstance(model, torch.jit.ScriptModule):
        module: torch.nn.Module = model.to(device)
        metadata = metadata_of(module)
    elif isinstance(model, torch.nn.Module):
        energy_model = model.model if isinstance(model, ForceOutput) else model
        converted = convert_dtype(energy_model, dtype).eval()
        for parameter in converted.parameters():
            parameter.requires_grad_(False)
        module = ExportedPotential(converted).to(resolve_device(device))
        metadata = metadata_of(module)
    else:
        path = Path(model)
        if not path.is_file():
            raise FileNotFoundError(f"no model file at {os.fspath(model)!r}")
        on_file = read_metadata(path)
        converting = dtype is not None and _dtype_name(dtype) != (on_file or {}).get("dtype")
        if on_file is None or (converting and "config" in on_file):
            return load_potential(load_eager(path), device, dtype)
        module, metadata = load_exported(path, device)
    if dtype is not None and _dtype_name(dtype) != metadata["dtype"]:
        raise ValueError(
            f"this exported model is {metadata['dtype']}, not {_dtype_name(dtype)}: "
            f"re-export it with --dtype {_dtype_name(dtype)}"
        )
    if isinstance(module, torch.jit.ScriptModule) and torch.device(device).type == "cpu":
        module = SteadyScript(module)  # elsewhere (CUDA) torch's default, unmeasured here
    return module.eval(), metadata
