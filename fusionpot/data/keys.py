"""Every field of the one calling convention: ``Dict[str, Tensor]`` in, the same dict out.

The model, the force/stress wrapper, the ASE calculator, the LAMMPS pair style and the
surface-hopping driver all read and write these names and nothing else.

Layout rule, stated once: **the leading axis is the field's scope** (``n_atoms``,
``n_edges`` or ``n_graphs``), except ``edge_index`` (``[2, n_edges]``, as in nequip and
PyG); **per-state fields put the state axis second**. Hence energies are
``[n_graphs, n_states]``, per-atom energies ``[n_atoms, n_states]``, forces
``[n_atoms, n_states, 3]`` and stress ``[n_graphs, n_states, 3, 3]``; a ground-state
model has ``n_states = 1`` and still keeps the axis.

Edges: ``edge_index[0]`` is the *sender* ``j`` (the neighbour), ``edge_index[1]`` the
*receiver* ``i`` (the centre, where messages are summed). The edge vector, from the
centre to the neighbour's image, is
``r_ij = positions[j] + edge_cell_shift @ cell[batch[i]] - positions[i]``.

Units: Å, eV, eV/Å, eV/Å³ (stress) at every public interface.

>>> FIELDS[FORCES].shape, FIELDS[FORCES].scope, FIELDS[FORCES].per_state
('[n_atoms, n_states, 3]', 'atom', True)
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

SCOPES: Final[tuple[str, ...]] = ("atom", "edge", "graph")


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


def fields_of_scope(scope: str) -> tuple[str, ...]:
    """Keys whose leading axis runs over ``scope`` (``"atom"``, ``"edge"`` or ``"graph"``).

    >>> fields_of_scope("edge")
    ('edge_index', 'edge_cell_shift', 'edge_vectors')
    """
    if scope not in SCOPES:
        raise ValueError(f"scope must be one of {SCOPES}, got {scope!r}")
    return tuple(key for key, field in FIELDS.items() if field.scope == scope)
