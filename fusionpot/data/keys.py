"""Every field of the one calling convention: ``Dict[str, Tensor]`` in, the same dict out.

The model, the force/stress wrapper, the ASE calculator, the LAMMPS pair style and the
surface-hopping driver all read and write these names and nothing else.

Layout rule, stated once: **the leading axis is the field's scope** (``n_atoms``,
``n_edges`` or ``n_graphs``), except ``edge_index`` (``[2, n_edges]``, as in nequip and
PyG); **per-state fields put the state axis (or axes) right after the scope's axes,
Cartesian components last**. Hence energies are ``[n_graphs, n_states]``, per-atom
energies ``[n_atoms, n_states]``, forces ``[n_atoms, n_states, 3]`` and stress
``[n_graphs, n_states, 3, 3]``; a ground-state model has ``n_states = 1`` and still
keeps the axis.

Trajectories (scope ``"traj"``, :data:`TRAJ_FIELDS`): a batch of surface-hopping
trajectories of one molecule (``fusionpot.namd``'s state and providers) holds ``n_traj``
copies of it, so its fields lead with ``n_traj``, then follow the same rule: forces
``[n_traj, n_atoms, n_states, 3]``, coupling vectors ``[n_traj, n_atoms, n_states,
n_states, 3]``, energies ``[n_traj, n_states]``. Their names are attribute names of
:class:`fusionpot.namd.SurfaceHoppingState` and :class:`fusionpot.namd.ProviderResult`
(the molecule's ``masses`` and ``numbers``, shared by the batch, are ``[n_atoms]``).

Edges: ``edge_index[0]`` is the *sender* ``j`` (the neighbour), ``edge_index[1]`` the
*receiver* ``i`` (the centre, where messages are summed). The edge vector, from the
centre to the neighbour's image, is
``r_ij = positions[j] + edge_cell_shift @ cell[batch[i]] - positions[i]``.

Units: Å, eV, eV/Å, eV/Å³ (stress), fs at every public interface.

>>> FIELDS[FORCES].shape, FIELDS[FORCES].scope, FIELDS[FORCES].per_state
('[n_atoms, n_states, 3]', 'atom', True)
>>> TRAJ_FIELDS["forces"].dims
('n_traj', 'n_atoms', 'n_states', 3)
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

__all__ = [
    "ATOMIC_ENERGY",
    "ATOMIC_NUMBERS",
    "ATOMIC_VIRIAL",
    "BATCH",
    "CELL",
    "EDGE_CELL_SHIFT",
    "EDGE_INDEX",
    "EDGE_VECTORS",
    "ENERGY",
    "FIELDS",
    "FORCES",
    "LOCAL_MASK",
    "PBC",
    "POSITIONS",
    "PTR",
    "SCOPES",
    "SPECIES",
    "STRESS",
    "TRAJ_FIELDS",
    "VIRIAL",
    "Field",
    "fields_of_scope",
]

# ---------------------------------------------------------------- inputs
POSITIONS: Final[str] = "positions"
SPECIES: Final[str] = "species"
ATOMIC_NUMBERS: Final[str] = "atomic_numbers"
EDGE_INDEX: Final[str] = "edge_index"
EDGE_CELL_SHIFT: Final[str] = "edge_cell_shift"
CELL: Final[str] = "cell"
PBC: Final[str] = "pbc"
BATCH: Final[str] = "batch"
PTR: Final[str] = "ptr"
LOCAL_MASK: Final[str] = "local_mask"
EDGE_VECTORS: Final[str] = "edge_vectors"
# ---------------------------------------------------------------- outputs
ENERGY: Final[str] = "energy"
ATOMIC_ENERGY: Final[str] = "atomic_energy"
FORCES: Final[str] = "forces"
VIRIAL: Final[str] = "virial"
STRESS: Final[str] = "stress"
ATOMIC_VIRIAL: Final[str] = "atomic_virial"

SCOPES: Final[tuple[str, ...]] = ("atom", "edge", "graph", "traj")


@dataclass(frozen=True)
class Field:
    """One named field: scope of its leading axis, shape, units, dtype and meaning."""

    key: str
    scope: str
    shape: str
    units: str
    dtype: str
    per_state: bool
    doc: str

    @property
    def dims(self) -> tuple[str | int, ...]:
        """The axes of :attr:`shape`: size names (``"n_atoms"``) and fixed sizes (``3``)."""
        names = (d.strip() for d in self.shape.strip("[]").split(","))
        return tuple(int(d) if d.isdigit() else d for d in names if d)


FIELDS: Final[dict[str, Field]] = {
    f.key: f
    for f in (
        Field(POSITIONS, "atom", "[n_atoms, 3]", "Å", "float", False, "Cartesian positions"),
        Field(
            SPECIES,
            "atom",
            "[n_atoms]",
            "-",
            "int64",
            False,
            "index of each atom's element in the model's element list",
        ),
        Field(ATOMIC_NUMBERS, "atom", "[n_atoms]", "-", "int64", False, "atomic numbers Z"),
        Field(
            EDGE_INDEX,
            "edge",
            "[2, n_edges]",
            "-",
            "int64",
            False,
            "(sender j = neighbour, receiver i = centre) of each directed edge",
        ),
        Field(
            EDGE_CELL_SHIFT,
            "edge",
            "[n_edges, 3]",
            "cell vectors",
            "int64",
            False,
            "integer lattice offset of the sender's image",
        ),
        Field(
            CELL,
            "graph",
            "[n_graphs, 3, 3]",
            "Å",
            "float",
            False,
            "lattice vectors as rows; zeros for a non-periodic structure",
        ),
        Field(PBC, "graph", "[n_graphs, 3]", "-", "bool", False, "periodic along each vector"),
        Field(BATCH, "atom", "[n_atoms]", "-", "int64", False, "graph index of each atom"),
        Field(
            PTR,
            "graph",
            "[n_graphs + 1]",
            "-",
            "int64",
            False,
            "atoms of graph g are ptr[g]:ptr[g + 1]; n_graphs = len(ptr) - 1",
        ),
        Field(
            LOCAL_MASK,
            "atom",
            "[n_atoms]",
            "-",
            "bool",
            False,
            "optional: atoms whose energies count (LAMMPS local atoms; absent = all)",
        ),
        Field(
            EDGE_VECTORS,
            "edge",
            "[n_edges, 3]",
            "Å",
            "float",
            False,
            "optional: r_ij of each edge, used instead of computing it from the positions "
            "(ForceOutput passes them to differentiate with respect to each edge)",
        ),
        Field(
            ENERGY,
            "graph",
            "[n_graphs, n_states]",
            "eV",
            "float64",
            True,
            "total energy (float64 in every model dtype: absolute sums need it)",
        ),
        Field(
            ATOMIC_ENERGY,
            "atom",
            "[n_atoms, n_states]",
            "eV",
            "float64",
            True,
            "per-atom energy; sums to the total energy of its graph",
        ),
        Field(
            FORCES,
            "atom",
            "[n_atoms, n_states, 3]",
            "eV/Å",
            "float",
            True,
            "F_s = -∂E_s/∂positions",
        ),
        Field(
            VIRIAL,
            "graph",
            "[n_graphs, n_states, 3, 3]",
            "eV",
            "float",
            True,
            "W_s = -∂E_s/∂ε for a symmetric strain ε (periodic graphs; zeros otherwise)",
        ),
        Field(
            STRESS,
            "graph",
            "[n_graphs, n_states, 3, 3]",
            "eV/Å³",
            "float",
            True,
            "σ_s = (1/V) ∂E_s/∂ε = -W_s/V, ASE's sign (periodic graphs; zeros otherwise)",
        ),
        Field(
            ATOMIC_VIRIAL,
            "atom",
            "[n_atoms, n_states, 3, 3]",
            "eV",
            "float",
            True,
            "per-atom virial: each edge's -sym(r_ij ⊗ ∂E_s/∂r_ij) shared half/half by its two "
            "atoms; sums to the virial of its graph",
        ),
    )
}


def _traj(key: str, shape: str, units: str, dtype: str, doc: str) -> Field:
    scope = "traj" if shape.startswith("[n_traj") else "atom"
    return Field(key, scope, shape, units, dtype, "n_states" in shape, doc)


TRAJ_FIELDS: Final[dict[str, Field]] = {
    f.key: f
    for f in (
        _traj("positions", "[n_traj, n_atoms, 3]", "Å", "float", "positions R"),
        _traj("velocities", "[n_traj, n_atoms, 3]", "Å/fs", "float", "velocities v"),
        _traj("masses", "[n_atoms]", "amu", "float", "masses m of the molecule's atoms"),
        _traj("numbers", "[n_atoms]", "-", "int64", "atomic numbers of the molecule"),
        _traj("energies", "[n_traj, n_states]", "eV", "float", "adiabatic energies E_s"),
        _traj("forces", "[n_traj, n_atoms, n_states, 3]", "eV/Å", "float", "F_s = -∂E_s/∂R"),
        _traj(
            "nac",
            "[n_traj, n_atoms, n_states, n_states, 3]",
            "1/Å",
            "float",
            "coupling vectors d_ij = <φ_i|∇φ_j> (optional)",
        ),
        _traj(
            "tdc",
            "[n_traj, n_states, n_states]",
            "1/fs",
            "float",
            "time-derivative couplings σ_ij = <φ_i|∂φ_j/∂t>",
        ),
        _traj(
            "energy_history",
            "[n_traj, 3, n_states]",
            "eV",
            "float",
            "energies one, two and three steps ago (row 0 = newest)",
        ),
        _traj("n_history", "[n_traj]", "-", "int64", "valid rows of energy_history (0..3)"),
        _traj("amplitudes", "[n_traj, n_states]", "-", "complex", "electronic amplitudes c_k"),
        _traj("active", "[n_traj]", "-", "int64", "active state a"),
        _traj("time", "[n_traj]", "fs", "float", "simulated time"),
        _traj("step", "[n_traj]", "-", "int64", "steps taken"),
        _traj(
            "traj_id",
            "[n_traj]",
            "-",
            "int64",
            "index in the ensemble (stable across batch changes; key of the random stream)",
        ),
        _traj("total_energy0", "[n_traj]", "eV", "float", "total energy E_a + K at t = 0"),
        _traj("max_drift", "[n_traj]", "eV", "float", "largest |E_a + K - total_energy0|"),
        _traj("n_hops", "[n_traj]", "-", "int64", "accepted hops"),
        _traj(
            "ground_time", "[n_traj]", "fs", "float", "time spent continuously in the lowest state"
        ),
        _traj(
            "spread",
            "[n_traj, n_states, 3]",
            "eV, eV, eV/Å",
            "float64",
            "a committee's energy, gap-to-S0 and force std (optional; fusionpot.active.spread)",
        ),
    )
}


def fields_of_scope(scope: str) -> tuple[str, ...]:
    """Keys whose leading axis runs over ``scope`` (``"atom"``, ``"edge"``, ``"graph"``:
    :data:`FIELDS`; ``"traj"``: :data:`TRAJ_FIELDS`).

    >>> fields_of_scope("edge")
    ('edge_index', 'edge_cell_shift', 'edge_vectors')
    """
    if scope not in SCOPES:
        raise ValueError(f"scope must be one of {SCOPES}, got {scope!r}")
    registry = TRAJ_FIELDS if scope == "traj" else FIELDS
    return tuple(key for key, field in registry.items() if field.scope == scope)
