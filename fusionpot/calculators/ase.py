"""``FusionCalculator``: an ASE calculator for fusionpot models, one or many states.

>>> from pathlib import Path
>>> from ase.build import molecule
>>> tiny = Path(__file__).parents[2] / "tests" / "data" / "tiny_model.pt"
>>> atoms = molecule("H2O")
>>> atoms.calc = FusionCalculator(tiny, device="cpu", state=1)
>>> atoms.get_forces().shape, atoms.calc.get_property("energies").shape
((3, 3), (2,))
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any, ClassVar

import ase
import torch
from ase.calculators.calculator import Calculator, PropertyNotImplementedError, all_changes
from ase.stress import full_3x3_to_voigt_6_stress

from fusionpot.calculators import _malloc
from fusionpot.data import atoms_to_graph, keys
from fusionpot.export import load_potential
from fusionpot.models.config import DTYPES

__all__ = ["FusionCalculator"]


def _device(device: torch.device | str) -> torch.device:
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(device)


class FusionCalculator(Calculator):
    """ASE calculator for an exported model, a checkpoint or a model in memory.

    ``model``: path of an exported model (``fusionpot export``) or of a checkpoint
    (told apart by content), or a module. ``device``: ``"auto"`` (CUDA if available),
    ``"cpu"``, ``"cuda:0"``, ... ``state``: the electronic state whose energy, forces
    and stress ``energy``/``forces``/``stress`` return. ``dtype``: convert a checkpoint
    (an exported model keeps its own). ``tune_malloc``: on CPU, raise glibc's malloc
    thresholds once per process (faster; see ``fusionpot.calculators._malloc``, also
    off with ``FUSIONPOT_MALLOC_TUNING=0``).

    Results (ASE units): ``energy``, ``free_energy`` (eV), ``forces`` [n_atoms, 3] eV/Å,
    ``stress`` (6 Voigt components, eV/Å³; periodic cells only), and for every state
    ``energies`` [n_states] eV and ``forces_all`` [n_states, n_atoms, 3] eV/Å (note:
    ``energies`` here are per state, not ASE's usual per-atom energies).
    """

    implemented_properties: ClassVar[list[str]] = [  # type: ignore[misc]
        "energy",
        "free_energy",
        "forces",
        "stress",
        "energies",
        "forces_all",
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
        super().__init__(**kwargs)
        self.device = _device(device)
        if tune_malloc and self.device.type == "cpu":
            _malloc.tune_malloc()
        self.model, self.metadata = load_potential(model, self.device, dtype)
        self.elements: list[str] = list(self.metadata["elements"])
        self.r_max = float(self.metadata["r_max"])
        self.n_states = int(self.metadata["n_states"])
        self.dtype = DTYPES[self.metadata["dtype"]]
        self.state = state

    @property
    def state(self) -> int:
        """The state that ``energy``, ``forces`` and ``stress`` refer to."""
        return self._state

    @state.setter
    def state(self, state: int) -> None:
        if not 0 <= state < self.n_states:
            raise ValueError(
                f"state {state} is out of range: this model has {self.n_states} states "
                f"(0 to {self.n_states - 1})"
            )
        self._state = int(state)
        self.reset()

    def calculate(
        self,
        atoms: ase.Atoms | None = None,
        properties: Sequence[str] = ("energy",),
        system_changes: Sequence[str] = tuple(all_changes),
    ) -> None:
        super().calculate(atoms, properties, system_changes)
        assert self.atoms is not None
        self.results = self.calculate_batch([self.atoms], properties)[0]

    def calculate_batch(
        self, structures: Sequence[ase.Atoms], properties: Sequence[str] = ("energy", "forces")
    ) -> list[dict[str, Any]]:
        """Results of many structures from one model call, one dict per structure.

        The dicts hold ASE's names and units, as ``calc.results`` would; the
        structures may differ in size, elements and periodicity.
        """
        unknown = sorted(set(properties) - set(self.implemented_properties))
        if unknown:
            raise PropertyNotImplementedError(f"FusionCalculator does not compute {unknown}")
        all_states = "forces_all" in properties
        forces = all_states or "forces" in properties
        stress = "stress" in properties
        if stress:
            for g, atoms in enumerate(structures):
                if not atoms.pbc.any() or atoms.cell.volume <= 0:
                    raise PropertyNotImplementedError(
                        f"stress needs a periodic cell; structure {g} has none"
                    )
        graph = atoms_to_graph(structures, self.elements, self.r_max, self.dtype, self.device)
        out = self.model(graph, -1 if all_states else self.state, forces, stress)
        energies = out[keys.ENERGY].detach().cpu().double().numpy()
        ptr = graph[keys.PTR].tolist()
        chosen = self.state if all_states else 0  # the state's index on the S_f axis
        results = []
        for g in range(len(structures)):
            result: dict[str, Any] = {
                "energy": float(energies[g, self.state]),
                "free_energy": float(energies[g, self.state]),
            }
            if "energies" in properties:
                result["energies"] = energies[g].copy()
            if forces:
                force = out[keys.FORCES][ptr[g] : ptr[g + 1]].detach().cpu().double().numpy()
                result["forces"] = force[:, chosen].copy()
                if all_states:
                    result["forces_all"] = force.transpose(1, 0, 2).copy()
            if stress:
                sigma = out[keys.STRESS][g, chosen].detach().cpu().double().numpy()
                result["stress"] = full_3x3_to_voigt_6_stress(sigma)
            results.append(result)
        return results
