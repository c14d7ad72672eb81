"""The CUDA kernels of the fused cells, checked without a GPU: their bodies compiled as C++ and run on the CPU.

minigrad/ops/cuda_kernels.py gives each fused cell one CuPy ElementwiseKernel forward and one backward. Where
no GPU is at hand they would never run, so this test builds a stand-in for cupy.ElementwiseKernel: it turns the
kernel's parameter lists and body into a C++ loop over the element index i with the same meaning (a non-raw
parameter is element i of its array, a raw one the whole array, scalars are values), compiles it with the
system's C++ compiler and calls it through ctypes on NumPy arrays. With rnn_cells told that the arrays are on
"cuda", whole LSTM and GRU layers then run their fused steps through the kernels, and every output and gradient
must equal the NumPy path's. What it cannot check is CuPy itself (launch, dtype dispatch): that needs a GPU.
Skipped where no C++ compiler is installed.
"""
import numpy as np
import pytest

import minigrad as mg
from cpp_kernels import CXX, compiler, pretend_cuda
from minigrad import nn
from minigrad.ops import cuda_kernels, rnn_cells

pytestmark = pytest.mark.skipif(CXX is None, reason="no C++ compiler to build the CUDA kernel bodies for the CPU")


@pytest.fixture
def kernels_on_cpu(tmp_path, monkeypatch):
    """rnn_cells sees 'cuda' arrays; cuda_kernels gets NumPy for CuPy and the C++ stand-in for its kernels."""
    pretend_cuda(monkeypatch, compiler(str(tmp_path)), rnn_cells)


def _run(layer, x, h0, lengths):
    """Outputs, final states and every gradient of a fixed weighted sum of them."""
    for p in list(layer.parameters()) + [x] + list(h0):
        p.grad = None
    out, state = layer(x, tuple(h0) if len(h0) == 2 else h0[0], lengths=lengths)
    states = state if isinstance(state, tuple) else (state,)
    r = np.random.default_rng(1)
    loss = (out * mg.tensor(r.normal(size=out.shape))).sum()
    for s in states:
        loss = loss + (s * mg.tensor(r.normal(size=s.shape))).sum()
    loss.backward()
    grads = {n: p.grad.numpy() for n, p in layer.named_parameters()}
    grads.update(x=x.grad.numpy(), **{f"state{i}": s.grad.numpy() for i, s in enumerate(h0)})
    return [out.numpy()] + [s.numpy() for s in states], grads


@pytest.mark.parametrize("mode", ["lstm", "gru"])
@pytest.mark.parametrize("bidirectional", [False, True])
@pytest.mark.parametrize("padded", [False, True])
def test_fused_layers_through_the_cuda_kernels_equal_the_numpy_path(request, mode, bidirectional, padded):
    T, B, I, H = 6, 3, 4, 5
    D = 2 if bidirectional else 1
    layer = (nn.LSTM if mode == "lstm" else nn.GRU)(I, H, num_layers=2, bidirectional=bidirectional,
                                                    dtype=mg.float64)
    r = np.random.default_rng(0)
    x = mg.tensor(r.normal(size=(T, B, I)), requires_grad=True)
    h0 = [mg.tensor(r.normal(size=(2 * D, B, H)), requires_grad=True) for _ in range(2 if mode == "lstm" else 1)]
    lengths = [6, 4, 1] if padded else None
    want_values, want_grads = _run(layer, x, h0, lengths)
    request.getfixturevalue("kernels_on_cpu")
    got_values, got_grads = _run(layer, x, h0, lengths)
    assert cuda_kernels._kernels, "the kernels were not used"
    for got, want in zip(got_values, want_values):
        np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12)
    for name in want_grads:
        np.testing.assert_allclose(got_grads[name], want_grads[name], rtol=1e-10, atol=1e-12, err_msg=name)


def test_the_emulation_would_catch_a_wrong_kernel(kernels_on_cpu, monkeypatch):
    """The check above can fail: one sign flipped in the LSTM forward kernel's g gate changes the outputs."""
    source = open(cuda_kernels.__file__).read()
    assert "const T ag = tanh(gates[base + 2 * H])" in source
    real = cuda_kernels.elementwise_kernel

    def broken(name, in_params, out_params, body):
        return real(name + "_broken", in_params, out_params,
                    body.replace("tanh(gates[base + 2 * H])", "-tanh(gates[base + 2 * H])"))
    cell = nn.LSTMCell(3, 4, dtype=mg.float64)
    x = mg.tensor(np.random.default_rng(0).normal(size=(2, 3)))
    good = cell(x)[0].numpy()
    monkeypatch.setattr(cuda_kernels, "elementwise_kernel", broken)
    bad = cell(x)[0].numpy()
    assert not np.allclose(good, bad)
