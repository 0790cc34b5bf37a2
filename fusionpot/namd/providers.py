"""Electronic-structure providers: energies, forces and (optionally) couplings for a batch.

A provider answers for ``n_traj`` geometries of one molecule at once, computing only
what is asked. Any model that maps positions to the energies of ``n_states`` states
becomes a provider by subclassing :class:`AutogradProvider` and writing
:meth:`AutogradProvider.energies`; forces (and Hessians for Wigner sampling) then come
from autograd.

Host reads in a step of :class:`ExportedModelProvider` and :class:`CommitteeProvider`:
none with ``fixed_edges`` (the default on CUDA); with the pruned graph (the default
elsewhere), one per block of receivers for the edge count (``nonzero``; one block while
B · n_atoms² ≤ 2²², e.g. up to B = 6200 stilbenes).
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

import torch

from fusionpot._device import resolve_device
from fusionpot.active.spread import committee_spread
from fusionpot.data import keys, species_index
from fusionpot.data.device_graph import batched_graph
from fusionpot.export import load_potential
from fusionpot.models.config import DTYPES
from fusionpot.namd.state import check_traj_fields

__all__ = [
    "EXACT_BEYOND_CUTOFF",
    "AutogradProvider",
    "CommitteeProvider",
    "ExportedModelProvider",
    "ModuleProvider",
    "Provider",
    "ProviderResult",
]


#: architectures (export metadata ``arch``) whose energies and forces are exactly those of
#: the pruned graph on a graph with every pair of atoms as an edge: the radial features
#: are Bessel functions × mace-torch's polynomial envelope times ``(r < r_max)`` (0, with
#: zero derivative, at and beyond r_max), the radial MLPs are e3nn's bias-free
#: ``FullyConnectedNet`` (0 → 0), every edge message is linear in them (Cormorant's edge
#: network ``radial(R) + cutoff · mix(...)``; Fusion-Cormorant's diagrams must use the
#: edge leaf Y), and the neighbour sums are divided by the config's fixed
#: ``avg_num_neighbors``, not by a count of edges
EXACT_BEYOND_CUTOFF = frozenset({"fusion-mace", "mace", "cormorant", "fusion-cormorant"})


@dataclass(frozen=True)
class ProviderResult:
    """What a provider returns for ``n_traj`` geometries.

    energies: [n_traj, n_states] eV (adiabatic, ascending)
    forces: [n_traj, n_atoms, n_states, 3] eV/Å, F_s = -∂E_s/∂R
    nac: [n_traj, n_atoms, n_states, n_states, 3] 1/Å, d_ij = <φ_i|∇φ_j>, or None
    spread: [n_traj, n_states, 3] a committee's disagreement (see
    :func:`fusionpot.active.committee_spread`: energy std eV, gap-to-S0 std eV, force
    RMS std eV/Å), or None for a single model

    The shapes are those of :data:`fusionpot.data.keys.TRAJ_FIELDS`, checked when a
    result is made.
    """

    energies: torch.Tensor
    forces: torch.Tensor
    nac: torch.Tensor | None = None
    spread: torch.Tensor | None = None

    def __post_init__(self) -> None:
        check_traj_fields("ProviderResult", dataclasses.asdict(self))


@runtime_checkable
class Provider(Protocol):
    """Anything that gives energies and forces of every state for a batch of geometries."""

    n_states: int
    has_nac: bool
    #: coupling vectors have continuous phases along a path (analytic models); if False
    #: the driver aligns the sign of each d_ij with the previous step's
    smooth_nac: bool

    def compute(
        self, positions: torch.Tensor, numbers: torch.Tensor, *, nac: bool = False
    ) -> ProviderResult:
        """positions: [n_traj, n_atoms, 3] Å; numbers: [n_atoms]; nac: also return couplings."""
        ...

    def energies(self, positions: torch.Tensor, numbers: torch.Tensor) -> torch.Tensor:
        """Differentiable energies [n_traj, n_states] eV (used for Hessians)."""
        ...


class AutogradProvider:
    """Base class: forces of every state by autograd of :meth:`energies`.

    Subclasses set ``n_states`` and implement ``energies``; those that can give coupling
    vectors set ``has_nac = True`` and override :meth:`couplings`.
    """

    n_states: int = 1
    has_nac: bool = False
    smooth_nac: bool = False

    def energies(self, positions: torch.Tensor, numbers: torch.Tensor) -> torch.Tensor:
        """Energies [n_traj, n_states] eV of positions [n_traj, n_atoms, 3] Å."""
        raise NotImplementedError

    def couplings(self, positions: torch.Tensor, numbers: torch.Tensor) -> torch.Tensor:
        """Coupling vectors [n_traj, n_atoms, n_states, n_states, 3] 1/Å."""
        raise NotImplementedError(f"{type(self).__name__} provides no coupling vectors")

    @staticmethod
    def _state_gradients(energies: torch.Tensor, pos: torch.Tensor) -> torch.Tensor:
        """∂E_s/∂R for every state, [n_traj, n_atoms, S, 3]: one backward pass per state
        (a vmapped pass over the states, ``is_grads_batched``, was not faster for MACE on
        CPU)."""
        n_states = energies.shape[1]
        per_state = [
            torch.autograd.grad(energies[:, s].sum(), pos, retain_graph=s < n_states - 1)[0]
            for s in range(n_states)
        ]
        return torch.stack(per_state, dim=2)

    def compute(
        self, positions: torch.Tensor, numbers: torch.Tensor, *, nac: bool = False
    ) -> ProviderResult:
        if nac and not self.has_nac:
            raise ValueError(f"nac=True but {type(self).__name__} has no coupling vectors")
        with torch.enable_grad():
            pos = positions.detach().requires_grad_(True)
            energies = self.energies(pos, numbers)
            forces = -self._state_gradients(energies, pos)
        couplings = self.couplings(positions, numbers) if nac else None
        return ProviderResult(energies.detach(), forces.detach(), couplings)


class ModuleProvider(AutogradProvider):
    """Any differentiable model as a provider.

    model: callable (e.g. a ``torch.nn.Module``, TorchScript included) mapping
    positions [n_traj, n_atoms, 3] Å and numbers [n_atoms] to energies
    [n_traj, n_states] eV; n_states: how many states it returns. Forces come from
    autograd, one backward pass per state.
    """

    def __init__(self, model: Callable[[torch.Tensor, torch.Tensor], torch.Tensor], n_states: int):
        if n_states < 1:
            raise ValueError(f"n_states must be ≥ 1, got {n_states}")
        self.model = model
        self.n_states = n_states

    def energies(self, positions: torch.Tensor, numbers: torch.Tensor) -> torch.Tensor:
        energies = self.model(positions, numbers)
        if energies.shape != (positions.shape[0], self.n_states):
            raise ValueError(
                f"model returned energies of shape {tuple(energies.shape)}, expected "
                f"[n_traj, n_states] = [{positions.shape[0]}, {self.n_states}]"
            )
        return energies


class ExportedModelProvider(AutogradProvider):
    """A fusionpot potential (exported file, checkpoint or module) as a provider.

    ``model``: anything :func:`fusionpot.export.load_potential` loads (an exported
    ``.pt``, a checkpoint, a module); ``device``: where the model runs. Each
    :meth:`compute` is one model call for all ``n_traj`` geometries (one graph of
    ``n_traj`` molecules built on the model's device by
    :func:`fusionpot.data.device_graph.batched_graph`) giving the energies and the forces
    of every state: tensors in, tensors out, no host copy of positions or results. Inputs
    and outputs keep the caller's dtype and device; the model runs in its own dtype.
    Isolated molecules only (the periodic graph is not used here).

    ``fixed_edges``: build the graph with every ordered pair of atoms as an edge
    (``batched_graph(..., fixed_edges=True)``), a shape known without reading the
    positions, so a step makes no device synchronisation; exact for the architectures of
    :data:`EXACT_BEYOND_CUTOFF` (True for another one is refused). None (default): on for
    CUDA, where a read-back stalls the queue, off elsewhere, where the extra edges only
    cost time (``bench/namd_throughput.py`` measures both).

    Host reads per :meth:`compute`: none with fixed edges; otherwise one per block of
    receivers for the edge count (``nonzero``), plus, the first time a ``numbers`` tensor
    is seen, its check against the model's elements.
    """

    def __init__(
        self,
        model: str | os.PathLike[str] | torch.nn.Module,
        device: torch.device | str = "cpu",
        fixed_edges: bool | None = None,
    ) -> None:
        if fixed_edges is not None and not isinstance(fixed_edges, bool):
            raise ValueError(f"fixed_edges must be true, false or null, got {fixed_edges!r}")
        self.device = resolve_device(device)
        self.model, self.metadata = load_potential(model, self.device)
        self.n_states = int(self.metadata["n_states"])
        self.elements: list[str] = list(self.metadata["elements"])
        self.r_max = float(self.metadata["r_max"])
        self.dtype = DTYPES[self.metadata["dtype"]]
        arch = self.metadata["arch"]
        if fixed_edges and arch not in EXACT_BEYOND_CUTOFF:
            raise ValueError(
                f"fixed_edges=True needs a model whose far edges contribute exactly zero "
                f"({sorted(EXACT_BEYOND_CUTOFF)}), got arch {arch!r}"
            )
        if fixed_edges is None:
            fixed_edges = self.device.type == "cuda" and arch in EXACT_BEYOND_CUTOFF
        self.fixed_edges: bool = fixed_edges
        self._species_of: tuple[torch.Tensor, torch.Tensor] | None = None

    def _species(self, numbers: torch.Tensor) -> torch.Tensor:
        """Species indices [n_atoms] on the model's device; checked on the host once per
        ``numbers`` tensor (a run passes the same one every step)."""
        if self._species_of is None or self._species_of[0] is not numbers:
            index = species_index(numbers.detach().cpu().numpy(), self.elements)
            self._species_of = (numbers, torch.from_numpy(index).to(self.device))
        return self._species_of[1]

    def _graph(self, positions: torch.Tensor, numbers: torch.Tensor) -> dict[str, torch.Tensor]:
        """The batched graph of [n_traj, n_atoms, 3] Å; its positions are ``positions``
        (in the model's dtype), so gradients flow back to them."""
        if positions.dim() != 3 or positions.shape[-1] != 3:
            raise ValueError(
                f"positions must be [n_traj, n_atoms, 3], got {tuple(positions.shape)}"
            )
        if numbers.shape != positions.shape[1:2]:
            raise ValueError(
                f"numbers must be [n_atoms] = [{positions.shape[1]}], got {tuple(numbers.shape)}"
            )
        species = self._species(numbers)
        return batched_graph(
            positions.to(self.device),
            species,
            self.r_max,
            dtype=self.dtype,
            fixed_edges=self.fixed_edges,
        )

    def energies(self, positions: torch.Tensor, numbers: torch.Tensor) -> torch.Tensor:
        out = self.model(self._graph(positions, numbers), -1, False, False)
        return out[keys.ENERGY].to(positions.device, positions.dtype)

    def compute(
        self, positions: torch.Tensor, numbers: torch.Tensor, *, nac: bool = False
    ) -> ProviderResult:
        if nac:
            raise ValueError("nac=True but an exported model has no coupling vectors")
        return self._evaluate(self._graph(positions.detach(), numbers), positions)

    def _evaluate(self, graph: dict[str, torch.Tensor], positions: torch.Tensor) -> ProviderResult:
        """Energies and forces of every state on ``graph`` (from :meth:`_graph` of
        ``positions`` [n_traj, n_atoms, 3] Å), in the dtype and on the device of ``positions``.

        A geometry with non-finite positions has no edges in a pruned graph, so the model
        would see free atoms; its energies and forces are made NaN instead (no read-back to
        raise)."""
        n_traj, n_atoms = positions.shape[:2]
        out = self.model(graph, -1, True, False)
        forces = out[keys.FORCES].detach().reshape(n_traj, n_atoms, self.n_states, 3)
        like = {"device": positions.device, "dtype": positions.dtype}
        poison = positions.detach().sum(dim=(1, 2)) * 0.0  # [n_traj]: 0, NaN if not finite
        energies = out[keys.ENERGY].detach().to(**like) + poison[:, None]
        return ProviderResult(energies, forces.to(**like) + poison[:, None, None, None])


class CommitteeProvider:
    """A committee of potentials as one provider: the mean energies and forces of its
    members, and their disagreement in :attr:`ProviderResult.spread`, which the driver
    records along every trajectory (``energy_spread``, ``gap_spread``, ``forces_spread``
    in ``run.h5``).

    models: two or more of anything :class:`ExportedModelProvider` takes (exported files,
    checkpoints, modules) with the same elements and states; device: where they run. Each
    :meth:`compute` calls every member once for all trajectories, on one graph built on
    the device for all members that share a cutoff, dtype and ``fixed_edges``
    (see :class:`ExportedModelProvider`, applied to every member).
    """

    has_nac = False
    smooth_nac = False

    def __init__(
        self,
        models: list[str | os.PathLike[str] | torch.nn.Module],
        device: torch.device | str = "cpu",
        fixed_edges: bool | None = None,
    ) -> None:
        if len(models) < 2:
            raise ValueError(f"a committee needs at least 2 models, got {len(models)}")
        self.members = [ExportedModelProvider(model, device, fixed_edges) for model in models]
        first = self.members[0]
        for k, member in enumerate(self.members[1:], start=1):
            if (member.n_states, member.elements) != (first.n_states, first.elements):
                raise ValueError(
                    f"committee model {k} has states {member.n_states} and elements "
                    f"{member.elements}, model 0 has {first.n_states} and {first.elements}"
                )
        self.n_states = first.n_states

    def energies(self, positions: torch.Tensor, numbers: torch.Tensor) -> torch.Tensor:
        """Differentiable mean energies [n_traj, n_states] eV."""
        return torch.stack([m.energies(positions, numbers) for m in self.members]).mean(0)

    def compute(
        self, positions: torch.Tensor, numbers: torch.Tensor, *, nac: bool = False
    ) -> ProviderResult:
        if nac:
            raise ValueError("nac=True but a committee of exported models has no couplings")
        graphs: dict[tuple[float, torch.dtype, bool], dict[str, torch.Tensor]] = {}
        results = []
        for member in self.members:
            kind = (member.r_max, member.dtype, member.fixed_edges)
            if kind not in graphs:
                graphs[kind] = member._graph(positions.detach(), numbers)
            results.append(member._evaluate(graphs[kind], positions))
        energies = torch.stack([r.energies for r in results])  # [K, n_traj, S]
        forces = torch.stack([r.forces for r in results])  # [K, n_traj, n_atoms, S, 3]
        spread = committee_spread(energies, forces)
        return ProviderResult(energies.mean(0), forces.mean(0), None, spread)
