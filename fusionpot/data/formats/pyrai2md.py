"""PyRAI2MD training data (JSON), read as is or straight from a ``.tar.xz``/``.tar.gz``.

The JSON is a list ``[natom, nstate, xyz, invr, energy, grad, nac, soc, extra]``:
``xyz[frame][atom] = [symbol, x, y, z]`` Å, ``energy[frame][state]`` Hartree,
``grad[frame][state][atom][xyz]`` Hartree/Bohr as dE/dx (forces = −grad),
``nac[frame][pair][atom][xyz]``. ``invr``, ``soc`` and ``extra`` are not read.
"""

from __future__ import annotations

import json
import tarfile
from pathlib import Path
from typing import Any

import numpy as np
from ase import Atoms

from fusionpot.data.formats._common import Indices, converted_frame, select_indices, unit_factor

__all__ = ["load_pyrai2md_json", "read_pyrai2md"]

_FIELDS = ("natom", "nstate", "xyz", "invr", "energy", "grad", "nac", "soc", "extra")


def load_pyrai2md_json(path: Path | str) -> list[Any]:
    """The raw JSON list of a PyRAI2MD file, or of the one ``.json`` inside a tar archive."""
    path = Path(path)
    if tarfile.is_tarfile(path):
        with tarfile.open(path) as archive:
            members = [m for m in archive.getmembers() if m.isfile() and m.name.endswith(".json")]
            if len(members) != 1:
                raise ValueError(
                    f"{path}: expected one .json file in the archive, found "
                    f"{[m.name for m in members]}"
                )
            member = archive.extractfile(members[0])
            assert member is not None  # a regular file member always has a handle
            data = json.load(member)
    else:
        with open(path) as handle:
            data = json.load(handle)
    if not isinstance(data, list) or len(data) != len(_FIELDS):
        raise ValueError(f"{path}: not PyRAI2MD data, expected a JSON list {list(_FIELDS)}")
    return data


def read_pyrai2md(
    path: Path | str, indices: Indices = None, ignore_nacs: bool = False
) -> list[Atoms]:
    """Frames of a PyRAI2MD data set as ``ase.Atoms`` in eV and eV/Å.

    One state gives ``energy``/``forces``, several give ``energy_s{k}``/``forces_s{k}``.
    NAC arrays that are all zero (PyRAI2MD's placeholder) are dropped; non-zero ones raise
    ``ValueError`` because the format does not state their units (``ignore_nacs=True``
    drops them).
    """
    path = Path(path)
    data = dict(zip(_FIELDS, load_pyrai2md_json(path), strict=True))
    n_states = int(data["nstate"])
    n_frames = len(data["xyz"])
    for key in ("energy", "grad"):
        if len(data[key]) != n_frames:
            raise ValueError(f"{path}: {key} has {len(data[key])} frames, xyz has {n_frames}")
    energy_factor = unit_factor("Hartree")
    force_factor = unit_factor("Hartree/Bohr")
    converted = (
        f"energy Hartree x {energy_factor!r} -> eV; "
        f"forces = -grad, Hartree/Bohr x {force_factor!r} -> eV/Å"
    )
    frames = []
    for index in select_indices(indices, n_frames, path):
        where = f"{path}: frame {index}"
        rows = data["xyz"][index]
        try:
            symbols = [str(row[0]) for row in rows]
            positions = np.array([[float(x) for x in row[1:4]] for row in rows])
        except (IndexError, TypeError, ValueError) as error:
            raise ValueError(f"{where}: xyz rows must be [symbol, x, y, z] ({error})") from None
        energies = np.asarray(data["energy"][index], dtype=np.float64)
        grad = np.asarray(data["grad"][index], dtype=np.float64)
        n_atoms = len(symbols)
        if energies.shape != (n_states,):
            raise ValueError(f"{where}: energy has shape {energies.shape}, nstate is {n_states}")
        if grad.shape != (n_states, n_atoms, 3):
            raise ValueError(
                f"{where}: grad has shape {grad.shape}, expected [nstate, natom, 3] = "
                f"{(n_states, n_atoms, 3)}"
            )
        nac = np.asarray(data["nac"][index], dtype=np.float64) if data["nac"] else np.zeros(0)
        if np.any(nac) and not ignore_nacs:
            raise ValueError(
                f"{where}: non-zero NACs, whose units PyRAI2MD files do not state; "
                "pass ignore_nacs=True (--ignore-nacs) to convert without them"
            )
        provenance: dict[str, str | int | float] = {
            "source": path.name,
            "source_index": index,
            "source_format": "pyrai2md",
            "units_converted": converted,
        }
        frames.append(
            converted_frame(
                symbols,
                positions,
                energies * energy_factor,
                -grad.transpose(1, 0, 2) * force_factor,
                provenance,
            )
        )
    return frames
