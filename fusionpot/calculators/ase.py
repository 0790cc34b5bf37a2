"""``FusionCalculator``: an ASE calculator for fusionpot models, one or many states.

>>> from pathlib import Path
>>> from ase.build import molecule
>>> tiny = Path(__file__).parents[2] / "tests" / "data" / "tiny_model.pt"
>>> atoms = molecule("H2O")
>>> atoms.calc = FusionCalculator(tiny, device="cpu", state=1)
>>> atoms.get_forces().shape, atoms.get_potential_energies().shape
((3, 3), (3,))
>>> atoms.calc.get_property("state_energies").shape, sorted(atoms.calc.todict())
((2,), ['device', 'dtype', 'model', 'state'])
"""

from __future__ import annotations

import io
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any, ClassVar

import ase
import numpy as np
import torch
from ase.calculators.calculator import Calculator, PropertyNotImplementedError, all_changes
from ase.stress import full_3x3_to_voigt_6_stress

from fusionpot._device import resolve_device
from fusionpot.calculators import _malloc
from fusionpot.data import atoms_to_graph, keys
from fusionpot.export import ExportedPotential, SteadyScript, load_potential
from fusionpot.export.torchscript import accepts_atomic_virial
from fusionpot.models import load_model, save_model
from fusionpot.models.config import DTYPES
from fusionpot.models.embedding import edge_vectors

__all__ = ["FusionCalculator"]

#: the calculator's parameters (``set``/``todict``), in this order
PARAMETERS = ("model", "state", "device", "dtype")

#: atoms closer than this (Å, in the model's dtype) are "at the same position": the edge
#: between them has no direction, and the model's energy is NaN there
COINCIDENT = 1e-8


def _model_parameter(
    model: str | os.PathLike[str] | torch.nn.Module,
) -> tuple[str | None, str | torch.nn.Module]:
    """(the ``model`` parameter as recorded, what to load): an absolute path twice, or
    None and the module."""
    if isinstance(model, torch.nn.Module):
        return None, model
    if isinstance(model, (str, os.PathLike)):
        path = str(Path(model).resolve())
        return path, path
    raise TypeError(
        f"model must be a file path or a torch module, got {model!r} (a calculator of a "
        "model in memory records model=None: pickle it, or export the model and give the "
        "file's path)"
    )


def _dtype_name(dtype: str | torch.dtype | None) -> str | None:
    if dtype is None:
        return None
    for name, value in DTYPES.items():
        if dtype in (name, value):
            return name
    raise ValueError(f"dtype {dtype!r} is not one of {sorted(DTYPES)} (or None: the model's)")


def _state_index(state: Any) -> int:
    if isinstance(state, bool) or not isinstance(state, (int, np.integer)):
        raise TypeError(f"state must be an integer, got {state!r}")
    return int(state)


def _check_structures(structures: Sequence[ase.Atoms], needs_cell: str | None) -> None:
    """Each structure has atoms, and a periodic cell with a volume if the property named
    ``needs_cell`` (``"stress"``, ``"stresses"`` or None) needs one."""
    for g, atoms in enumerate(structures):
        if not isinstance(atoms, ase.Atoms):
            continue  # atoms_to_graph names it
        if len(atoms) == 0:
            which = "the structure" if len(structures) == 1 else f"structure {g}"
            raise ValueError(f"{which} has no atoms: nothing to compute")
        if needs_cell is not None and (not atoms.pbc.any() or atoms.cell.volume <= 0):
            raise PropertyNotImplementedError(
                f"{needs_cell} needs a periodic cell; structure {g} has none"
            )


def _check_distinct_positions(graph: dict[str, torch.Tensor]) -> None:
    """Raise ``ValueError`` naming two atoms (of one structure) that an edge joins at a
    distance under :data:`COINCIDENT` Å, instead of the model's NaN."""
    vectors = edge_vectors(
        graph[keys.POSITIONS],
        graph[keys.CELL],
        graph[keys.EDGE_INDEX],
        graph[keys.EDGE_CELL_SHIFT],
        graph[keys.BATCH],
    )
    close = torch.linalg.norm(vectors, dim=1) < COINCIDENT
    if not bool(close.any()):
        return
    e = int(torch.nonzero(close)[0, 0])
    sender, receiver = (int(k) for k in graph[keys.EDGE_INDEX][:, e])
    g = int(graph[keys.BATCH][receiver])
    first = int(graph[keys.PTR][g])
    image = "" if not bool(graph[keys.EDGE_CELL_SHIFT][e].any()) else " (a periodic image)"
    i, j = sorted((receiver - first, sender - first))
    where = "" if graph[keys.PTR].shape[0] == 2 else f" of structure {g}"
    raise ValueError(
        f"atoms {i} and {j}{image}{where} are at the same position (closer than "
        f"{COINCIDENT:g} Å): the model is undefined there"
    )


def _source_of(module: torch.nn.Module) -> torch.nn.Module:
    """The module :func:`load_potential` was given, back from what it returned: the
    scripted module, or the eager energy model inside :class:`ExportedPotential`."""
    if isinstance(module, SteadyScript):
        return module.scripted
    if isinstance(module, ExportedPotential):
        return module.potential.model
    return module


def _model_bytes(module: torch.nn.Module) -> tuple[str, bytes]:
    """``(kind, bytes)`` of a model held in memory: a TorchScript archive
    (``"torchscript"``) or a checkpoint, config + state dict (``"checkpoint"``)."""
    source, buffer = _source_of(module), io.BytesIO()
    if isinstance(source, torch.jit.ScriptModule):
        torch.jit.save(source, buffer)
        return "torchscript", buffer.getvalue()
    try:
        save_model(source, buffer)  # type: ignore[arg-type]  # torch.save takes files
    except TypeError:
        raise TypeError(
            f"cannot pickle a FusionCalculator of a {type(source).__name__} in memory: "
            "export the model to a file (fusionpot export) and give its path"
        ) from None
    return "checkpoint", buffer.getvalue()


def _model_from_bytes(kind: str, data: bytes) -> torch.nn.Module:
    if kind == "torchscript":
        return torch.jit.load(io.BytesIO(data), map_location="cpu")
    return load_model(io.BytesIO(data))  # type: ignore[arg-type]  # torch.load takes files


class FusionCalculator(Calculator):
    """ASE calculator for an exported model, a checkpoint or a model in memory.

    Parameters (``calc.parameters``; ``set()`` changes them and drops stale results,
    ``todict()`` returns them, ``FusionCalculator(**calc.todict())`` rebuilds it):

    - ``model``: path of an exported model (``fusionpot export``) or of a checkpoint (told
      apart by content), or a module (FusionMACE, an exported ``ScriptModule``). Recorded
      as an absolute path, or None for a module.
    - ``state``: the electronic state whose ``energy``/``energies``/``forces``/``stress``
      these are.
    - ``device``: ``"auto"`` (CUDA if available), ``"cpu"``, ``"cuda:0"``, ... Recorded
      resolved (``"auto"`` becomes ``"cpu"`` or ``"cuda"``).
    - ``dtype``: ``"float32"``/``"float64"`` to convert a checkpoint or an exported file
      that records its config; None keeps the model's own. Recorded resolved. Setting a
      new ``model`` without ``dtype`` takes the new model's own.

    ``tune_malloc``: on CPU, raise glibc's malloc thresholds once per process (faster;
    see ``fusionpot.calculators._malloc``, also off with ``FUSIONPOT_MALLOC_TUNING=0``).

    Results (ASE's names and units), of ``state``: ``energy``, ``free_energy`` (eV),
    ``energies`` [n_atoms] eV (ASE's per-atom energies, the model's atomic energies; they
    sum to ``energy``), ``forces`` [n_atoms, 3] eV/Å, ``stress`` (6 Voigt components,
    eV/Å³; periodic cells only), ``stresses`` [n_atoms, 6] eV/Å³ (ASE's per-atom stress, as
    ``ase.calculators.lj`` gives it: each atom's virial share ``W_a`` from the model's
    edge split, ``-W_a / V`` in Voigt order; they sum to ``stress``; periodic cells only,
    and models exported since per-atom virials exist). Of every state: ``state_energies``
    [n_states] eV and ``state_forces`` [n_states, n_atoms, 3] eV/Å (names of their own:
    ASE's writers store only its own names, so extxyz and ``ase.db`` keep the per-atom and
    chosen-state results and skip these). Energies are float64 in every model dtype.

    Pickling keeps the parameters (and the model's bytes when it was given a module),
    the last atoms and results; unpickling loads the model again, in any process.
    """

    implemented_properties: ClassVar[list[str]] = [  # type: ignore[misc]
        "energy",
        "free_energy",
        "energies",
        "forces",
        "stress",
        "stresses",
        "state_energies",
        "state_forces",
    ]

    def __init__(
        self,
        model: str | os.PathLike[str] | torch.nn.Module,
        device: torch.device | str = "auto",
        state: int = 0,
        dtype: str | torch.dtype | None = None,
        tune_malloc: bool = True,
        **kwargs: Any,
    ) -> None:
        self.tune_malloc = tune_malloc
        self.model: torch.nn.Module | None = None
        self.metadata: dict[str, Any] = {}
        self.elements: list[str] = []
        self.device = torch.device("cpu")
        super().__init__(**kwargs)  # label, directory, atoms; other keywords go to set()
        self.set(model=model, device=device, state=state, dtype=dtype)

    # ------------------------------------------------------------------ parameters
    @property
    def state(self) -> int:
        """The state that ``energy``, ``energies``, ``forces`` and ``stress`` refer to."""
        return int(self.parameters["state"])

    @state.setter
    def state(self, state: int) -> None:
        self.set(state=state)

    def set(self, **kwargs: Any) -> dict[str, Any]:
        """Change parameters (``model``, ``state``, ``device``, ``dtype``); returns those
        that changed, as recorded, and drops the results if any did. A wrong value
        raises ``ValueError``/``TypeError`` naming it and changes nothing."""
        if not kwargs:
            return {}
        unknown = sorted(set(kwargs) - set(PARAMETERS))
        if unknown:
            raise ValueError(
                f"FusionCalculator has no parameter {unknown}; its parameters are "
                f"{list(PARAMETERS)}"
            )
        old = dict(self.parameters)
        new = dict(old)
        source: str | torch.nn.Module | None = None  # a model to load, if any
        if "model" in kwargs:
            new["model"], source = _model_parameter(kwargs["model"])
            if isinstance(source, str) and source == old.get("model"):
                source = None  # the same file
        if "device" in kwargs:
            new["device"] = str(resolve_device(kwargs["device"]))
        if "dtype" in kwargs:
            new["dtype"] = _dtype_name(kwargs["dtype"])
        elif source is not None:
            new["dtype"] = None  # a new model comes in its own dtype
        if "state" in kwargs:
            new["state"] = _state_index(kwargs["state"])
        model, metadata = self.model, self.metadata
        if source is not None or any(new[k] != old.get(k) for k in ("device", "dtype")):
            if source is None:  # the same model on another device or in another dtype
                assert self.model is not None
                source = new["model"] if new["model"] is not None else _source_of(self.model)
            if self.tune_malloc and torch.device(new["device"]).type == "cpu":
                _malloc.tune_malloc()
            model, metadata = load_potential(source, new["device"], new["dtype"])
        n_states = int(metadata["n_states"])
        if not 0 <= new["state"] < n_states:
            raise ValueError(
                f"state {new['state']} is out of range: this model has {n_states} states "
                f"(0 to {n_states - 1})"
            )
        self.model, self.metadata = model, metadata
        self.device = torch.device(new["device"])
        self.elements = list(metadata["elements"])
        self.r_max = float(metadata["r_max"])
        self.n_states = n_states
        self.dtype = DTYPES[metadata["dtype"]]
        new["dtype"] = metadata["dtype"]
        changed = {k: new[k] for k in PARAMETERS if k not in old or new[k] != old[k]}
        if isinstance(source, torch.nn.Module):
            changed["model"] = None  # a module in memory, new even if the last was too
        self.parameters.update(new)
        if changed:
            self.reset()
        return changed

    # ------------------------------------------------------------------ pickling
    def __getstate__(self) -> dict[str, Any]:
        parameters = dict(self.parameters)
        state: dict[str, Any] = {
            "parameters": parameters,
            "tune_malloc": self.tune_malloc,
            "directory": self.directory,
            "prefix": self.prefix,
            "atoms": self.atoms,
            "results": self.results,
        }
        if parameters["model"] is None:
            assert self.model is not None
            state["model_bytes"] = _model_bytes(self.model)
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        parameters = dict(state["parameters"])
        if parameters["model"] is None:
            parameters["model"] = _model_from_bytes(*state["model_bytes"])
        self.__init__(  # type: ignore[misc]
            tune_malloc=state["tune_malloc"], directory=state["directory"], **parameters
        )
        self.prefix = state["prefix"]
        self.atoms, self.results = state["atoms"], state["results"]

    # ------------------------------------------------------------------ results
    def calculate(
        self,
        atoms: ase.Atoms | None = None,
        properties: Sequence[str] = ("energy",),
        system_changes: Sequence[str] = tuple(all_changes),
    ) -> None:
        """Fill ``results`` with ``properties`` (plus the energies, which come free);
        results of the same atoms computed before are kept. Forces of a fully periodic
        cell come with its stress (one backward pass gives both, so NPT, which asks for
        the forces and then the stress of every step, calls the model once per step)."""
        super().calculate(atoms, properties, system_changes)
        assert self.atoms is not None
        wanted = list(properties)
        periodic = bool(self.atoms.pbc.all()) and self.atoms.cell.rank == 3
        if "forces" in wanted and "stress" not in wanted and periodic:
            wanted.append("stress")
        results = self.calculate_batch([self.atoms], wanted)[0]
        if system_changes:
            self.results = results
        else:
            self.results.update(results)

    def calculate_batch(
        self, structures: Sequence[ase.Atoms], properties: Sequence[str] = ("energy", "forces")
    ) -> list[dict[str, Any]]:
        """Results of many structures from one model call, one dict per structure.

        The dicts hold ASE's names and units, as ``calc.results`` would: always
        ``energy``, ``free_energy``, ``energies`` and ``state_energies``, and those of
        ``properties`` that cost a derivative (``forces``, ``state_forces``,
        ``stress``, ``stresses``). The structures may differ in size, elements and
        periodicity. An empty structure, or two atoms at the same position, raise
        ``ValueError`` naming them.
        """
        unknown = sorted(set(properties) - set(self.implemented_properties))
        if unknown:
            raise PropertyNotImplementedError(f"FusionCalculator does not compute {unknown}")
        assert self.model is not None
        all_states = "state_forces" in properties
        forces = all_states or "forces" in properties
        stress = "stress" in properties
        stresses = "stresses" in properties
        _check_structures(structures, "stress" if stress else "stresses" if stresses else None)
        if stresses and not accepts_atomic_virial(self.model):
            raise PropertyNotImplementedError(
                "this exported model predates per-atom virials (ASE's stresses): export it "
                "again with `fusionpot export`"
            )
        state = self.state
        graph = atoms_to_graph(structures, self.elements, self.r_max, self.dtype, self.device)
        _check_distinct_positions(graph)
        chosen_state = -1 if all_states else state
        if stresses:
            out = self.model(graph, chosen_state, forces, stress, True)
        else:  # four arguments: files exported before per-atom virials take no fifth
            out = self.model(graph, chosen_state, forces, stress)
        energies = out[keys.ENERGY].detach().cpu().double().numpy()
        atomic = out[keys.ATOMIC_ENERGY][:, state].detach().cpu().double().numpy()
        ptr = graph[keys.PTR].tolist()
        chosen = state if all_states else 0  # the state's index on the S_f axis
        results = []
        for g in range(len(structures)):
            atoms_g = slice(ptr[g], ptr[g + 1])
            result: dict[str, Any] = {
                "energy": float(energies[g, state]),
                "free_energy": float(energies[g, state]),
                "energies": atomic[atoms_g].copy(),
                "state_energies": energies[g].copy(),
            }
            if forces:
                force = out[keys.FORCES][atoms_g].detach().cpu().double().numpy()
                result["forces"] = force[:, chosen].copy()
                if all_states:
                    result["state_forces"] = force.transpose(1, 0, 2).copy()
            if stress:
                sigma = out[keys.STRESS][g, chosen].detach().cpu().double().numpy()
                result["stress"] = full_3x3_to_voigt_6_stress(sigma)
            if stresses:
                w = out[keys.ATOMIC_VIRIAL][atoms_g, chosen].detach().cpu().double().numpy()
                volume = structures[g].cell.volume
                result["stresses"] = full_3x3_to_voigt_6_stress(-w / volume)
            results.append(result)
        return results
