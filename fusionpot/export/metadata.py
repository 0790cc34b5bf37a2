"""The metadata of an exported model: one schema, read by the same keys everywhere.

The exported file is a TorchScript archive with one extra file, ``metadata.json``
(``torch.jit.save(..., _extra_files={"metadata.json": ...})``), holding:
``format`` (``"fusionpot-torchscript"``), ``format_version``, ``elements`` (symbols in
species-index order), ``atomic_numbers``, ``r_max`` (Å), ``n_layers``, ``n_states``,
``dtype`` (``"float32"``/``"float64"``), ``units`` (``{"energy": "eV", "length": "Å"}``),
``fusionpot_version`` and ``torch_version`` (of the exporting process), ``arch``
(``"fusion-mace"``/``"mace"``) and, in files exported since 2026-12-03, ``config`` (the
model's full config). The exported module carries the same text as its attribute
``metadata_json`` (files exported since 2026-12-03), so that a module in memory (moved,
pickled) still has its file's metadata.

Readers: Python through :func:`read_metadata` (a file) and :func:`parse_metadata` (the
text); the LAMMPS plugin through ``lammps_plugin/src/fusion_metadata.h``, which reads the
same keys and checks ``format`` and ``format_version`` the same way (the constants are
tested equal). A file of another ``format_version`` is refused on both sides with one
line naming the file, the version found and the version read.

>>> meta = make_metadata(["H", "O"], r_max=4.0, n_layers=2, n_states=1, dtype="float64",
...                      arch="fusion-mace")
>>> check_metadata(json.loads(json.dumps(meta)), "model.pt")["atomic_numbers"]
[1, 8]
"""

from __future__ import annotations

import json
import os
import zipfile
from collections.abc import Sequence
from typing import Any

import torch
from ase.data import atomic_numbers

from fusionpot._version import __version__

__all__ = [
    "FORMAT",
    "FORMAT_VERSION",
    "METADATA_FILE",
    "check_metadata",
    "dump_metadata",
    "make_metadata",
    "parse_metadata",
    "read_metadata",
]

FORMAT = "fusionpot-torchscript"
FORMAT_VERSION = 1
METADATA_FILE = "metadata.json"
UNITS = {"energy": "eV", "length": "Å"}
_REQUIRED = ("elements", "atomic_numbers", "r_max", "n_layers", "n_states", "dtype", "arch")


def make_metadata(
    elements: Sequence[str],
    r_max: float,
    n_layers: int,
    n_states: int,
    dtype: str,
    arch: str,
    config: dict[str, Any] | None = None,
    versions: tuple[str, str] = (__version__, torch.__version__),
) -> dict[str, Any]:
    """The metadata dict of an exported model (plain JSON types). ``config``: the model's
    full config (``ConfigDict.to_dict()``), written when known, so that an exported file
    can be rebuilt as an eager model (another dtype, another export). ``versions``:
    (fusionpot, torch) of the exporting process (default: this one)."""
    metadata = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "elements": list(elements),
        "atomic_numbers": [atomic_numbers[symbol] for symbol in elements],
        "r_max": float(r_max),
        "n_layers": int(n_layers),
        "n_states": int(n_states),
        "dtype": dtype,
        "units": dict(UNITS),
        "fusionpot_version": versions[0],
        "torch_version": versions[1],
        "arch": arch,
    }
    if config is not None:
        metadata["config"] = config
    return metadata


def check_metadata(metadata: Any, path: str | os.PathLike[str]) -> dict[str, Any]:
    """``metadata`` if it is a readable exported-model metadata dict, else ``ValueError``."""
    name = os.fspath(path)
    if not isinstance(metadata, dict) or metadata.get("format") != FORMAT:
        raise ValueError(f"{name!r} is not a fusionpot exported model (no {FORMAT} metadata)")
    version = metadata.get("format_version")
    if version != FORMAT_VERSION:
        raise ValueError(
            f"{name!r} is an exported model of format_version {version}; this fusionpot "
            f"({__version__}) reads format_version {FORMAT_VERSION}: re-export it"
        )
    missing = [key for key in _REQUIRED if key not in metadata]
    if missing:
        raise ValueError(f"{name!r}: exported-model metadata lacks {missing}")
    return metadata


def dump_metadata(metadata: dict[str, Any]) -> str:
    """The text of ``metadata.json`` (and of the module's ``metadata_json``)."""
    return json.dumps(metadata, ensure_ascii=False, indent=1)


def parse_metadata(text: str, path: str | os.PathLike[str]) -> dict[str, Any]:
    """The checked metadata (:func:`check_metadata`) of the ``metadata.json`` ``text`` of
    ``path`` (a file, or a description of a module in memory)."""
    try:
        metadata = json.loads(text)
    except json.JSONDecodeError as error:
        raise ValueError(f"{os.fspath(path)!r}: corrupt {METADATA_FILE}: {error}") from None
    return check_metadata(metadata, path)


def read_metadata(path: str | os.PathLike[str]) -> dict[str, Any] | None:
    """The checked metadata of an exported model file, or None if ``path`` is not one.

    Reads only the zip directory and ``metadata.json`` (cheap; loads no code). A file
    that has the metadata but an unknown ``format_version`` raises ``ValueError``.
    """
    try:
        with zipfile.ZipFile(path) as archive:
            names = [n for n in archive.namelist() if n.endswith(f"/extra/{METADATA_FILE}")]
            if not names:
                return None
            text = archive.read(names[0]).decode("utf-8")
    except zipfile.BadZipFile:
        return None
    return parse_metadata(text, path)
