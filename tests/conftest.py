"""Shared fixtures: the `device` parameter, seeding, and the Hypothesis profile for the whole suite."""
import numpy as np
import pytest
from hypothesis import settings

import minigrad as mg

SEED = 0

# Property tests stay fast and reproducible: few examples, no per-example deadline (the first call of an
# op can be slow), and derandomized so every run draws the same examples.
settings.register_profile("minigrad", max_examples=25, deadline=None, derandomize=True, print_blob=True)
settings.load_profile("minigrad")


@pytest.fixture(scope="session", params=["cpu", "cuda"])
def device(request):
    """Every op test runs once per device; "cuda" is skipped where CuPy or a GPU is missing."""
    if request.param == "cuda" and not mg.cuda_is_available():
        try:
            mg.zeros(1, device="cuda")
            reason = "cuda_is_available() is False"
        except RuntimeError as e:
            reason = str(e).split(". Install")[0]
        pytest.skip(f"CuPy/GPU not available: {reason}")
    return request.param


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
