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
