"""Energy models of S states: Fusion-MACE and MACE, Cormorant and Fusion-Cormorant.

``model.arch`` (:data:`ARCHITECTURES`) names them: ``fusion-mace``, ``mace``,
``cormorant``, ``fusion-cormorant``; :func:`build_model` builds any from its config.

>>> import torch
>>> from ase.build import molecule
>>> from fusionpot.data import atoms_to_graph
>>> config = FusionMACEConfig(elements=("H", "O"), channels=4, l_max=1, n_states=2)
>>> model = ForceOutput(build_model(config))
>>> out = model(atoms_to_graph([molecule("H2O")], config.elements, config.r_max,
...                            dtype=torch.float64))
>>> out["energy"].shape, out["forces"].shape
(torch.Size([1, 2]), torch.Size([3, 2, 3]))
"""

from fusionpot.models.build import (
    ARCHITECTURES,
    FORMAT_VERSION,
    build_model,
    load_model,
    save_model,
)
from fusionpot.models.config import CormorantConfig, FusionCormorantConfig, FusionMACEConfig
from fusionpot.models.cormorant import Cormorant, FusionCormorant
from fusionpot.models.forces import ForceOutput
from fusionpot.models.fusion_mace import FusionMACE
from fusionpot.models.mace_baseline import MACEBaseline, MACEConfig
from fusionpot.models.reference import fit_reference_energies, species_counts

__all__ = [
    "ARCHITECTURES",
    "FORMAT_VERSION",
    "Cormorant",
    "CormorantConfig",
    "ForceOutput",
    "FusionCormorant",
    "FusionCormorantConfig",
    "FusionMACE",
    "FusionMACEConfig",
    "MACEBaseline",
    "MACEConfig",
    "build_model",
    "fit_reference_energies",
    "load_model",
    "save_model",
    "species_counts",
]
