"""The calling convention (``keys``), graphs built from ``ase.Atoms`` (host) or from
positions on the model's device (``batched_graph``), data-set readers.

The graph builders import torch; they are loaded on first use (:func:`__getattr__`), so
that ``fusionpot convert`` and the command line start without torch.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from fusionpot.data import keys
from fusionpot.data.formats import convert, read_dataset, read_pyrai2md, read_rmd17, read_spainn

if TYPE_CHECKING:
    from fusionpot.data.device_graph import batched_graph
    from fusionpot.data.neighbors import atoms_to_graph, neighbor_list, species_index

#: names served by :func:`__getattr__`, and the module each lives in
_GRAPH_BUILDERS = {
    "atoms_to_graph": "fusionpot.data.neighbors",
    "batched_graph": "fusionpot.data.device_graph",
    "neighbor_list": "fusionpot.data.neighbors",
    "species_index": "fusionpot.data.neighbors",
}

__all__ = [
    "atoms_to_graph",
    "batched_graph",
    "convert",
    "keys",
    "neighbor_list",
    "read_dataset",
    "read_pyrai2md",
    "read_rmd17",
    "read_spainn",
    "species_index",
]


def __getattr__(name: str) -> Any:
    """The graph builders, imported (with torch) when first asked for."""
    if name in _GRAPH_BUILDERS:
        return getattr(importlib.import_module(_GRAPH_BUILDERS[name]), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
