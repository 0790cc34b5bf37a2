"""SchNarc / SPaiNN ASE databases of excited states (energies, forces, NAC vectors).

``db.metadata`` gives ``_distance_unit`` (positions) and ``_property_unit_dict`` (units
of ``energy`` and ``forces``), ``n_singlets`` and ``n_triplets``. Each row's ``data``
holds ``energy [1, n_states]``, ``forces [n_atoms, n_states, 3]`` and optionally
``nacs [n_atoms, n_pairs, 3]`` with pairs (0,1), (0,2), …, (1,2), … : derivative
couplings ⟨ψ_i|∇ψ_j⟩ per distance unit (the metadata's unit ``"1"`` means "not
converted"), converted here to 1/Å. Other data (dipoles, smooth_nacs) are not read.
"""

from __future__ import annotations

from itertools import combinations
from pathlib import Path

import numpy as np
from ase import Atoms
from ase.db import connect

from fusionpot.data.formats._common import Indices, converted_frame, select_indices, unit_factor

__all__ = ["read_spainn"]


def read_spainn(path: Path | str, indices: Indices = None) -> list[Atoms]:
    """Frames of a SchNarc/SPaiNN database in Å, eV, eV/Å; NACs as ``nac_s{i}{j}`` in 1/Å."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"{path}: no such database")
    db = connect(path, type="db")
    metadata = db.metadata
    if "_property_unit_dict" not in metadata or "_distance_unit" not in metadata:
        raise ValueError(
            f"{path}: metadata lacks _distance_unit/_property_unit_dict, not a SchNarc/SPaiNN "
            f"database (metadata keys: {sorted(metadata)})"
        )
    if metadata.get("n_triplets", 0):
        raise ValueError(f"{path}: triplet states are not supported (n_triplets > 0)")
    property_units = metadata["_property_unit_dict"]
    length = unit_factor(metadata["_distance_unit"])
    energy_factor = unit_factor(property_units["energy"])
    force_factor = unit_factor(property_units["forces"])
    converted = (
        f"positions {metadata['_distance_unit']} x {length!r} -> Å; "
        f"energy {property_units['energy']} x {energy_factor!r} -> eV; "
        f"forces {property_units['forces']} x {force_factor!r} -> eV/Å; "
        f"nacs 1/{metadata['_distance_unit']} x {1 / length!r} -> 1/Å"
    )
    rows = list(db.select(sort="id"))
    frames = []
    for index in select_indices(indices, len(rows), path):
        row = rows[index]
        where = f"{path}: row id {row.id} (frame {index})"
        missing = [key for key in ("energy", "forces") if key not in row.data]
        if missing:
            raise ValueError(f"{where}: data lacks {missing} (has {sorted(row.data)})")
        energies = np.asarray(row.data["energy"], dtype=np.float64).reshape(-1)
        forces = np.asarray(row.data["forces"], dtype=np.float64)
        n_states, n_atoms = len(energies), len(row.numbers)
        if forces.shape != (n_atoms, n_states, 3):
            raise ValueError(
                f"{where}: forces have shape {forces.shape}, expected [n_atoms, n_states, 3] = "
                f"{(n_atoms, n_states, 3)}"
            )
        nacs = {}
        if "nacs" in row.data:
            pairs = list(combinations(range(n_states), 2))
            vectors = np.asarray(row.data["nacs"], dtype=np.float64)
            if vectors.shape != (n_atoms, len(pairs), 3):
                raise ValueError(
                    f"{where}: nacs have shape {vectors.shape}, expected [n_atoms, n_pairs, 3] = "
                    f"{(n_atoms, len(pairs), 3)}"
                )
            nacs = {pair: vectors[:, k] / length for k, pair in enumerate(pairs)}
        provenance: dict[str, str | int | float] = {
            "source": path.name,
            "source_index": index,
            "source_format": "spainn",
            "db_id": row.id,
            "units_converted": converted,
        }
        if nacs:
            provenance["nac_units"] = "1/Å"
            provenance["nac_phase_corrected"] = bool(metadata.get("phasecorrected", False))
        frames.append(
            converted_frame(
                row.numbers,
                row.positions * length,
                energies * energy_factor,
                forces * force_factor,
                provenance,
                nacs,
            )
        )
    return frames
