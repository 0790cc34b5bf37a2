"""``ForceOutput``: forces (and stress) of every state by differentiating the energies."""

from __future__ import annotations

import torch

from fusionpot.data import keys
from fusionpot.models._mace import compile_mode
from fusionpot.models.embedding import edge_vectors

__all__ = ["ForceOutput"]


@compile_mode("script")
class ForceOutput(torch.nn.Module):
    """Wrap an energy model: adds forces, and virial and stress for periodic graphs.

    ``F_s = -∂E_s/∂positions`` ([n_atoms, n_states, 3] eV/Å). With ``compute_stress``, the
    positions and cells are displaced by a symmetric strain ε [n_graphs, 3, 3]
    (``x -> x (1 + ε)``, rows of the cell likewise) and ``W_s = -∂E_s/∂ε`` ([n_graphs,
    n_states, 3, 3] eV), ``σ_s = -W_s / V`` (eV/Å³, ASE's sign, zero for non-periodic
    graphs whose cell has no volume).

    With ``compute_atomic_virial``, the edge vectors r_ij are differentiated too and each
    edge's ``-sym(r_ij ⊗ ∂E_s/∂r_ij)`` is shared half/half by its two atoms (nequip's and
    mace-torch's split): ``atomic_virial`` [n_atoms, n_states, 3, 3] eV, whose sum over a
    graph's atoms is its ``W_s`` (E depends on positions and cell only through r_ij, and
    ``x -> x (1 + ε)`` maps r_ij to r_ij (1 + ε)). Under ``local_mask`` the derivatives
    are those of the counted energy, and every atom (ghosts too) gets its share.

    One backward pass per state (a loop, TorchScript-compatible). In training mode
    the graph is kept (``create_graph``) so losses on forces can be differentiated.
    :meth:`evaluate` chooses the state and what to differentiate (the exported model's
    interface); ``forward(data)`` is ``evaluate(data, -1, True, compute_stress, False)``.
    """

    def __init__(self, model: torch.nn.Module, compute_stress: bool = True) -> None:
        super().__init__()
        self.model = model
        self.compute_stress = compute_stress

    def forward(self, data: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        return self.evaluate(data, -1, True, self.compute_stress, False)

    @torch.jit.export
    def evaluate(
        self,
        data: dict[str, torch.Tensor],
        state: int,
        compute_forces: bool,
        compute_virial: bool,
        compute_atomic_virial: bool,
    ) -> dict[str, torch.Tensor]:
        """Energies of all states; forces/virial/stress/atomic virial of ``state`` (-1: of
        every state).

        With ``local_mask`` [n_atoms] bool in ``data``, only the masked atoms' energies
        count (``atomic_energy`` is zero elsewhere) and the derivatives are of that sum,
        taken with respect to every atom. Per-state outputs have ``S_f = n_states`` states
        when ``state == -1``, else 1.
        """
        positions = data[keys.POSITIONS]
        if compute_forces and not positions.requires_grad:
            positions = positions.detach().requires_grad_(True)
        cell = data[keys.CELL]
        batch = data[keys.BATCH]
        inputs = data.copy()
        wrt: list[torch.Tensor] = []
        if compute_forces:
            wrt.append(positions)
        if compute_virial:
            n_graphs = cell.shape[0]
            strain = positions.new_zeros(n_graphs, 3, 3).requires_grad_(True)
            symmetric = 0.5 * (strain + strain.transpose(1, 2))
            inputs[keys.POSITIONS] = positions + torch.einsum(
                "ni,nij->nj", positions, symmetric.index_select(0, batch)
            )
            inputs[keys.CELL] = cell + torch.bmm(cell, symmetric)
            wrt.append(strain)
        else:
            inputs[keys.POSITIONS] = positions
        vectors = positions.new_zeros(0, 3)
        if compute_atomic_virial:
            vectors = edge_vectors(
                inputs[keys.POSITIONS],
                inputs[keys.CELL],
                data[keys.EDGE_INDEX],
                data[keys.EDGE_CELL_SHIFT],
                batch,
            )
            if not vectors.requires_grad:
                vectors.requires_grad_(True)
            inputs[keys.EDGE_VECTORS] = vectors
            wrt.append(vectors)
        out = self.model(inputs)
        if compute_atomic_virial:
            del out[keys.EDGE_VECTORS]
        if keys.LOCAL_MASK in data:
            counted = data[keys.LOCAL_MASK].unsqueeze(1)
            atomic_energy = out[keys.ATOMIC_ENERGY]
            atomic_energy = torch.where(counted, atomic_energy, torch.zeros_like(atomic_energy))
            out[keys.ATOMIC_ENERGY] = atomic_energy
            out[keys.ENERGY] = torch.zeros_like(out[keys.ENERGY]).index_add(0, batch, atomic_energy)
        out[keys.POSITIONS] = data[keys.POSITIONS]
        out[keys.CELL] = cell
        if len(wrt) == 0:
            return out
        energy = out[keys.ENERGY]
        states = list(range(energy.shape[1])) if state < 0 else [state]
        forces: list[torch.Tensor] = []
        virials: list[torch.Tensor] = []
        atomic_virials: list[torch.Tensor] = []
        for k, s in enumerate(states):
            grads = torch.autograd.grad(
                [energy[:, s].sum()],
                wrt,
                retain_graph=self.training or k < len(states) - 1,
                create_graph=self.training,
            )
            if compute_forces:
                gradient = grads[0]
                assert gradient is not None
                forces.append(-gradient)
            if compute_virial:
                virial = grads[int(compute_forces)]
                assert virial is not None
                virials.append(-virial)
            if compute_atomic_virial:
                edge_gradient = grads[-1]
                assert edge_gradient is not None
                atomic_virials.append(
                    _atomic_virial(vectors, edge_gradient, data[keys.EDGE_INDEX], batch.shape[0])
                )
        if compute_forces:
            out[keys.FORCES] = torch.stack(forces, dim=1)
        if compute_virial:
            virial = torch.stack(virials, dim=1)
            volume = torch.linalg.det(cell).abs()
            inverse = torch.where(
                volume > 0, 1.0 / volume.clamp_min(1e-30), torch.zeros_like(volume)
            )
            out[keys.VIRIAL] = virial
            out[keys.STRESS] = -virial * inverse[:, None, None, None]
        if compute_atomic_virial:
            out[keys.ATOMIC_VIRIAL] = torch.stack(atomic_virials, dim=1)
        return out


def _atomic_virial(
    vectors: torch.Tensor, gradient: torch.Tensor, edge_index: torch.Tensor, n_atoms: int
) -> torch.Tensor:
    """Per-atom virials [n_atoms, 3, 3] eV from the edge vectors r_ij [n_edges, 3] Å and
    ∂E/∂r_ij [n_edges, 3] eV/Å: ``W_a = -½ Σ_{edges e at a} sym(r_e ⊗ ∂E/∂r_e)``, an
    edge counted once at its sender and once at its receiver."""
    edge_virial = torch.einsum("ea,eb->eab", vectors, gradient)
    edge_virial = -0.25 * (edge_virial + edge_virial.transpose(1, 2))
    return (
        edge_virial.new_zeros(n_atoms, 3, 3)
        .index_add(0, edge_index[0], edge_virial)
        .index_add(0, edge_index[1], edge_virial)
    )
