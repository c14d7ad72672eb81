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
import ctypes
import hashlib
import os
import shutil
import subprocess
import types

import numpy as np
import pytest

import minigrad as mg
from minigrad import backend, nn
from minigrad.ops import cuda_kernels, rnn_cells

CXX = shutil.which("g++") or shutil.which("c++") or shutil.which("clang++")
pytestmark = pytest.mark.skipif(CXX is None, reason="no C++ compiler to build the CUDA kernel bodies for the CPU")

_C_TYPES = {"int32": ("int", ctypes.c_int32), "bool": ("bool", ctypes.c_bool)}


def _parse(params):
    """'raw T a, T b, int32 H' -> [(raw, type, name), ...]"""
    out = []
    for p in params.split(","):
        words = p.split()
        out.append((words[0] == "raw", words[-2], words[-1]))
    return out


class EmulatedKernel:
    """cupy.ElementwiseKernel(in_params, out_params, body, name), compiled as C++ for NumPy arrays."""

    def __init__(self, in_params, out_params, body, name, workdir):
        self.inputs, self.outputs = _parse(in_params), _parse(out_params)
        self.body, self.name, self.workdir, self._libs = body, name, workdir, {}

    def _library(self, ctype):
        if ctype in self._libs:
            return self._libs[ctype]
        args, bind = ["long n_"], []
        for raw, typ, name in self.inputs + self.outputs:
            is_out = (raw, typ, name) in self.outputs
            if typ in _C_TYPES:
                args.append(f"{_C_TYPES[typ][0]} {name}")
            elif raw:
                args.append(f"T* {name}")
            else:
                args.append(f"T* {name}_ptr_")
                bind.append(f"T& {name} = {name}_ptr_[i];" if is_out else f"const T {name} = {name}_ptr_[i];")
        source = ("#include <cmath>\nusing namespace std;\n"
                  f"typedef {ctype} T;\n"
                  f'extern "C" void kernel({", ".join(args)}) {{\n'
                  "  for (long i_ = 0; i_ < n_; ++i_) {\n    const long i = i_;\n    "
                  + "\n    ".join(bind) + "\n" + self.body + "\n  }\n}\n")
        tag = hashlib.sha1(source.encode()).hexdigest()[:12]
        src, lib = os.path.join(self.workdir, f"{tag}.cpp"), os.path.join(self.workdir, f"{tag}.so")
        with open(src, "w") as f:
            f.write(source)
        subprocess.run([CXX, "-O1", "-shared", "-fPIC", "-o", lib, src], check=True, capture_output=True, text=True)
        self._libs[ctype] = ctypes.CDLL(lib).kernel
        return self._libs[ctype]

    def __call__(self, *args):
        params = self.inputs + self.outputs
        assert len(args) == len(params), f"{self.name}: {len(args)} arguments for {len(params)} parameters"
        arrays = [a for (raw, typ, _), a in zip(params, args) if typ not in _C_TYPES]
        dtype = arrays[0].dtype
        assert all(a.dtype == dtype for a in arrays), f"{self.name}: mixed dtypes"
        n = next(a.size for (raw, typ, _), a in zip(params, args) if not raw and typ not in _C_TYPES)
        c_args, keep = [ctypes.c_long(n)], []
        for (raw, typ, name), a in zip(params, args):
            if typ in _C_TYPES:
                c_args.append(_C_TYPES[typ][1](int(a)))
                continue
            assert raw or a.size == n, f"{self.name}: {name} has {a.size} elements, the loop {n}"
            if (raw, typ, name) in self.outputs:
                assert a.flags.c_contiguous, f"{self.name}: output {name} is not contiguous"
            else:
                a = np.ascontiguousarray(a)     # CuPy indexes strided inputs by their logical (C-order) index
                keep.append(a)
            c_args.append(ctypes.c_void_p(a.ctypes.data))
        self._library("double" if dtype == np.float64 else "float")(*c_args)


@pytest.fixture
def kernels_on_cpu(tmp_path, monkeypatch):
    """rnn_cells sees 'cuda' arrays; cuda_kernels gets NumPy for CuPy and the C++ stand-in for its kernels."""
    fake_cupy = types.SimpleNamespace(empty=np.empty, empty_like=np.empty_like, int32=np.int32,
                                      ascontiguousarray=np.ascontiguousarray, broadcast_to=np.broadcast_to,
                                      ElementwiseKernel=lambda i, o, body, name: EmulatedKernel(i, o, body, name,
                                                                                                str(tmp_path)))
    fake_backend = types.SimpleNamespace(**{k: getattr(backend, k) for k in dir(backend) if not k.startswith("__")})
    fake_backend.device_of = lambda x: "cuda"
    fake_backend.cupy_module = lambda: fake_cupy
    monkeypatch.setattr(rnn_cells, "backend", fake_backend)
    monkeypatch.setattr(cuda_kernels, "backend", fake_backend)
    monkeypatch.setattr(cuda_kernels, "_kernels", {})


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
    real = cuda_kernels._kernel

    def broken(name, in_params, out_params, body):
        return real(name + "_broken", in_params, out_params,
                    body.replace("tanh(gates[base + 2 * H])", "-tanh(gates[base + 2 * H])"))
    cell = nn.LSTMCell(3, 4, dtype=mg.float64)
    x = mg.tensor(np.random.default_rng(0).normal(size=(2, 3)))
    good = cell(x)[0].numpy()
    monkeypatch.setattr(cuda_kernels, "_kernel", broken)
    bad = cell(x)[0].numpy()
    assert not np.allclose(good, bad)
