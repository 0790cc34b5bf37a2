"""The calling convention (``keys``) and graphs built from ``ase.Atoms``."""

from fusionpot.data import keys
from fusionpot.data.neighbors import atoms_to_graph, neighbor_list, species_index

__all__ = ["atoms_to_graph", "keys", "neighbor_list", "species_index"]
