"""Batched trajectory surface hopping (``fusionpot.namd``).

B trajectories of one molecule advance together with one provider call per step:
velocity Verlet on the active state, electronic amplitudes with substeps, fewest-switches
(or Landau–Zener) hops, energy-based decoherence, restartable HDF5 output.
Units at every public interface: eV, Å, fs, amu.
"""

from fusionpot.namd.driver import run_ensemble
from fusionpot.namd.initial import (
    InitialConditions,
    excite,
    normal_modes,
    read_initial_conditions,
    wigner_sample,
)
from fusionpot.namd.integrator import DynamicsOptions, init, step
from fusionpot.namd.io import merge
from fusionpot.namd.minimum import ProviderCalculator, find_minimum
from fusionpot.namd.providers import (
    AutogradProvider,
    CommitteeProvider,
    ExportedModelProvider,
    ModuleProvider,
    Provider,
    ProviderResult,
)
from fusionpot.namd.state import SurfaceHoppingState
from fusionpot.namd.stopping import StopCriteria

__all__ = [
    "AutogradProvider",
    "CommitteeProvider",
    "DynamicsOptions",
    "ExportedModelProvider",
    "InitialConditions",
    "ModuleProvider",
    "Provider",
    "ProviderCalculator",
    "ProviderResult",
    "StopCriteria",
    "SurfaceHoppingState",
    "excite",
    "find_minimum",
    "init",
    "merge",
    "normal_modes",
    "read_initial_conditions",
    "run_ensemble",
    "step",
    "wigner_sample",
]
