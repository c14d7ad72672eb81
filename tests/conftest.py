"""Shared fixtures: the `device` parameter, seeding, and the Hypothesis profile for the whole suite."""
import os

import numpy as np
import pytest
from hypothesis import settings

import minigrad as mg
import strict_cupy

SEED = 0

# Property tests stay fast and reproducible: few examples, no per-example deadline (the first call of an
# op can be slow), and derandomized so every run draws the same examples.
settings.register_profile("minigrad", max_examples=25, deadline=None, derandomize=True, print_blob=True)
settings.load_profile("minigrad")


def _real_cuda():
    """True when real CuPy sees a GPU (asked once, before any stand-in is installed)."""
    global _REAL_CUDA
    if _REAL_CUDA is None:
        _REAL_CUDA = mg.cuda_is_available()
    return _REAL_CUDA


_REAL_CUDA = None
STRICT_CUPY = os.environ.get("MINIGRAD_STRICT_CUPY", "1") != "0"   # 0: skip the "cuda" tests without a GPU


@pytest.fixture(scope="session", params=["cpu", "cuda"])
def device(request):
    """Every op test runs once per device. Without CuPy or a GPU, "cuda" runs on tests/strict_cupy.py (a NumPy
    stand-in with CuPy's rules, installed per test by _strict_cupy below); MINIGRAD_STRICT_CUPY=0 skips it."""
    if request.param == "cuda" and not _real_cuda() and not STRICT_CUPY:
        try:
            mg.zeros(1, device="cuda")
            reason = "cuda_is_available() is False"
        except RuntimeError as e:
            reason = str(e).split(". Install")[0]
        pytest.skip(f"CuPy/GPU not available: {reason}")
    return request.param


@pytest.fixture(autouse=True)
def _strict_cupy(request):
    """For a test on device "cuda" without a real GPU: `import cupy` gives the strict stand-in for this test."""
    callspec = getattr(request.node, "callspec", None)
    if callspec is None or callspec.params.get("device") != "cuda" or _real_cuda() or not STRICT_CUPY:
        yield
        return
    strict_cupy.install()
    try:
        yield
    finally:
        strict_cupy.uninstall()


@pytest.fixture(autouse=True)
def _seed_everything():
    """Each test starts from the same random state, and from the default dtype and grad mode."""
    mg.manual_seed(SEED)
    dtype = mg.get_default_dtype()
    yield
    mg.set_default_dtype(dtype)
    assert mg.is_grad_enabled(), "a test left gradient recording switched off"
    assert mg.current_scope() == (), "a test left a name scope open"


@pytest.fixture
def rng():
    """A seeded NumPy generator for test data."""
    return np.random.default_rng(SEED)
