"""Every frame's graph built once, and batches gathered from them on the device.

A training frame's geometry never changes, so its neighbour list, shifts and species are
built once (:func:`fusionpot.data.atoms_to_graph` over all frames) and kept, with the
labels, as one packed graph on the training device. A batch of frames is then a gather
of their atoms and edges (edge indices moved by the batch's atom offsets): no host
work, no host-to-device copy, and the same graph dict as building the batch directly.

>>> from fusionpot.testing import two_state_frames
>>> from fusionpot.train.dataset import labelled_frames
>>> graphs = FrameGraphs.build(labelled_frames(two_state_frames(3, seed=0)), ["Cu", "Ag"], 4.0)
>>> batch = graphs.batch([2, 0])
>>> batch.graph["ptr"].tolist() == [0, graphs.n_atoms[2], graphs.n_atoms[2] + graphs.n_atoms[0]]
True
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch

from fusionpot.data import atoms_to_graph, keys
from fusionpot.train.dataset import Batch, LabelledFrames

__all__ = ["FrameGraphs"]


@dataclass(frozen=True)
class FrameGraphs:
    """Labelled frames as one packed graph on ``device``, batched by :meth:`batch`.

    graph: the graph dict (``fusionpot.data.keys``) of all frames, in order;
    edge_ptr [n_frames + 1]: edges of frame f are ``edge_ptr[f]:edge_ptr[f + 1]``;
    energy [n_frames, S] eV (float64), energy_mask [n_frames, S]; forces [n_atoms, S, 3]
    eV/Å, forces_mask [n_atoms, S]; stress of S0 [n_frames, 3, 3] eV/Å³, stress_mask
    [n_frames]; n_atoms: atoms per frame; elements, r_max (Å) and dtype: what the graph
    was built for.
    """

    graph: dict[str, torch.Tensor]
    edge_ptr: torch.Tensor
    energy: torch.Tensor
    energy_mask: torch.Tensor
    forces: torch.Tensor
    forces_mask: torch.Tensor
    stress: torch.Tensor
    stress_mask: torch.Tensor
    n_atoms: tuple[int, ...]
    elements: tuple[str, ...]
    r_max: float
    dtype: torch.dtype

    @classmethod
    def build(
        cls,
        data: LabelledFrames,
        elements: Sequence[str],
        r_max: float,
        dtype: torch.dtype = torch.float64,
        device: torch.device | str = "cpu",
    ) -> FrameGraphs:
        """Neighbour lists within ``r_max`` Å of every frame of ``data`` (host, once), with
        positions and cells in ``dtype`` and the labels, on ``device``."""
        data.check_elements(elements)
        graph = atoms_to_graph(data.frames, elements, r_max, dtype=dtype, device=device)
        sizes = np.array([len(atoms) for atoms in data.frames])
        receiver_frame = graph[keys.BATCH][graph[keys.EDGE_INDEX][1]]
        edges_per_frame = torch.bincount(receiver_frame, minlength=len(data))
        edge_ptr = torch.cat([edges_per_frame.new_zeros(1), edges_per_frame.cumsum(0)])

        def tensor(x: np.ndarray, kind: torch.dtype) -> torch.Tensor:
            return torch.from_numpy(np.ascontiguousarray(x)).to(device=device, dtype=kind)

        return cls(
            graph=graph,
            edge_ptr=edge_ptr,
            energy=tensor(data.energy, torch.float64),  # absolute: float32 spacing ~1 meV
            energy_mask=tensor(data.energy_mask, torch.bool),
            forces=tensor(np.concatenate(data.forces), dtype),
            forces_mask=tensor(np.repeat(data.forces_mask, sizes, axis=0), torch.bool),
            stress=tensor(data.stress, dtype),
            stress_mask=tensor(data.stress_mask, torch.bool),
            n_atoms=tuple(int(n) for n in sizes),
            elements=tuple(elements),
            r_max=float(r_max),
            dtype=dtype,
        )

    def __len__(self) -> int:
        return len(self.n_atoms)

    @property
    def device(self) -> torch.device:
        return self.energy.device

    @property
    def has_stress(self) -> bool:
        """Whether any frame has a stress label (its errors are then worth computing)."""
        return bool(self.stress_mask.any())

    def batch(self, indices: Sequence[int] | np.ndarray, labelled: bool = True) -> Batch:
        """Frames ``indices`` (in that order) as one graph with their labels: the same
        tensors as :func:`fusionpot.data.atoms_to_graph` of those frames gives.

        ``labelled=False`` masks every label out: a batch that takes part in a step
        (another rank's collective) and adds nothing to its errors."""
        frames = torch.as_tensor(np.asarray(indices, dtype=np.int64), device=self.device)
        if frames.numel() == 0:
            raise ValueError("a batch needs at least one frame")
        atoms, sizes, atom_shift = _gather_ranges(self.graph[keys.PTR], frames)
        edges, edge_sizes, _ = _gather_ranges(self.edge_ptr, frames)
        edge_atom_shift = atom_shift.repeat_interleave(edge_sizes)  # an edge moves with its frame
        g = self.graph
        graph = {
            keys.POSITIONS: g[keys.POSITIONS][atoms],
            keys.ATOMIC_NUMBERS: g[keys.ATOMIC_NUMBERS][atoms],
            keys.SPECIES: g[keys.SPECIES][atoms],
            keys.EDGE_INDEX: g[keys.EDGE_INDEX][:, edges] - edge_atom_shift,
            keys.EDGE_CELL_SHIFT: g[keys.EDGE_CELL_SHIFT][edges],
            keys.CELL: g[keys.CELL][frames],
            keys.PBC: g[keys.PBC][frames],
            keys.BATCH: torch.arange(len(frames), device=self.device).repeat_interleave(sizes),
            keys.PTR: torch.cat([sizes.new_zeros(1), sizes.cumsum(0)]),
        }
        return Batch(
            graph=graph,
            energy=self.energy[frames],
            energy_mask=self.energy_mask[frames] & labelled,
            forces=self.forces[atoms],
            forces_mask=self.forces_mask[atoms] & labelled,
            stress=self.stress[frames],
            stress_mask=self.stress_mask[frames] & labelled,
            n_atoms=sizes.to(self.dtype),
        )


def _gather_ranges(
    ptr: torch.Tensor, frames: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Items of ``frames`` where frame f owns ``ptr[f]:ptr[f + 1]``, concatenated in order.

    Returns the item indices [n_items], the item count of each frame [len(frames)], and
    per frame its first item's old index minus its new one [len(frames)].
    """
    starts = ptr[frames]
    sizes = ptr[frames + 1] - starts
    shift = starts - (sizes.cumsum(0) - sizes)
    items = torch.arange(int(sizes.sum()), device=ptr.device) + shift.repeat_interleave(sizes)
    return items, sizes, shift
