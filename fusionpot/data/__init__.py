"""The calling convention (``keys``), graphs built from ``ase.Atoms`` (host) or from
positions on the model's device (``batched_graph``), data-set readers."""

from fusionpot.data import keys
from fusionpot.data.device_graph import batched_graph
from fusionpot.data.formats import convert, read_dataset, read_pyrai2md, read_rmd17, read_spainn
from fusionpot.data.neighbors import atoms_to_graph, neighbor_list, species_index

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
