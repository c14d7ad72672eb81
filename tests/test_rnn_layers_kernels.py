"""The speed path's CUDA kernels (minigrad/ops/rnn_layers/kernels.py), checked without a GPU.

A stand-in for cupy.ElementwiseKernel turns each kernel's parameter lists and body into a C++ loop over the
element index i (a non-raw parameter is element i of its array, a raw one the whole array, int32/bool are
values), compiles it with the system's C++ compiler and calls it through ctypes on NumPy arrays. With the
layer Functions told their arrays are on "cuda", whole layers then run every step through the kernels, and
outputs and gradients must equal the NumPy path's. CuPy itself (launch, dtype dispatch) needs a real GPU.
"""
import numpy as np
import pytest

from cpp_kernels import CXX, compiler, pretend_cuda
from minigrad.ops import cuda_kernels
from minigrad.ops.rnn_layers import common, kernels
from test_rnn_layers import make_inputs, mask_of, run, speed_path

pytestmark = pytest.mark.skipif(CXX is None, reason="no C++ compiler to build the kernel bodies for the CPU")


@pytest.fixture(scope="module")
def compiled(tmp_path_factory):
    """One C++ build per kernel, shared by the tests of this file."""
    return compiler(str(tmp_path_factory.mktemp("layer_kernels")))


@pytest.fixture
def kernels_on_cpu(compiled, monkeypatch):
    """The layers see 'cuda' arrays; the kernels get NumPy for CuPy and the C++ stand-in for ElementwiseKernel."""
    pretend_cuda(monkeypatch, compiled, common, kernels)


def layer_kernels():
    return [name for name in cuda_kernels._kernels if name.startswith("layer_")]


@pytest.mark.parametrize("kind", ["lstm", "gru", "rnn-tanh", "rnn-relu"])
@pytest.mark.parametrize("reverse", [False, True], ids=["forward", "reverse"])
@pytest.mark.parametrize("masked", [False, True], ids=["full", "masked"])
@pytest.mark.parametrize("state,bias", [(True, True), (False, False)], ids=["state,bias", "none"])
def test_layers_through_the_kernels_equal_the_numpy_path(request, kind, reverse, masked, state, bias):
    inputs = make_inputs(kind, 5, 3, 4, 6, bias=bias, h0=state, c0=state)
    mask = mask_of([5, 0, 3], 5) if masked else None
    want_outs, want_grads = run(speed_path, kind, inputs, reverse, mask)
    request.getfixturevalue("kernels_on_cpu")
    got_outs, got_grads = run(speed_path, kind, inputs, reverse, mask)
    assert len(layer_kernels()) == 2, "one kernel forward and one backward"
    for got, want in zip(got_outs, want_outs):
        np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12)
    for name, want in want_grads.items():
        np.testing.assert_allclose(got_grads[name], want, rtol=1e-11, atol=1e-12, err_msg=name)


@pytest.mark.parametrize("kind", ["lstm", "gru"])
def test_float32_through_the_kernels(request, kind):
    inputs = make_inputs(kind, 4, 2, 3, 5, dtype=np.float32)
    want, _ = run(speed_path, kind, inputs, True, mask_of([4, 2], 4))
    request.getfixturevalue("kernels_on_cpu")
    got, _ = run(speed_path, kind, inputs, True, mask_of([4, 2], 4))
    assert layer_kernels()
    for a, b in zip(got, want):
        assert a.dtype == np.float32
        np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-6)


def test_the_emulation_would_catch_a_wrong_kernel(kernels_on_cpu, monkeypatch):
    """The comparison above can fail: swapping two gates in the LSTM forward kernel changes the outputs."""
    inputs = make_inputs("lstm", 3, 2, 2, 3)
    good, _ = run(speed_path, "lstm", inputs, False, None)
    real = kernels._kernel
    monkeypatch.setattr(kernels, "_kernel", lambda name, i, o, body: real(
        name + "_broken", i, o, body.replace("c = gf * c_prev + gi * gg", "c = gi * c_prev + gf * gg")))
    bad, _ = run(speed_path, "lstm", inputs, False, None)
    assert not np.allclose(good[0], bad[0])
