"""The speed path's CUDA kernels (minigrad/ops/rnn_layers/kernels.py), checked without a GPU.

A stand-in for cupy.ElementwiseKernel turns each kernel's parameter lists and body into a C++ loop over the
element index i (a non-raw parameter is element i of its array, a raw one the whole array, int32/bool are
values), compiles it with the system's C++ compiler and calls it through ctypes on NumPy arrays. With the
layer Functions told their arrays are on "cuda", whole layers then run every step through the kernels, and
outputs and gradients must equal the NumPy path's. CuPy itself (launch, dtype dispatch) needs a real GPU.
"""
import ctypes
import hashlib
import shutil
import subprocess
import types

import numpy as np
import pytest

from minigrad import backend
from minigrad.ops.rnn_layers import common, kernels
from test_rnn_layers import make_inputs, mask_of, run, speed_path

CXX = shutil.which("g++") or shutil.which("c++") or shutil.which("clang++")
pytestmark = pytest.mark.skipif(CXX is None, reason="no C++ compiler to build the kernel bodies for the CPU")
SCALARS = {"int32": ("int", ctypes.c_int32), "bool": ("bool", ctypes.c_bool)}


class CppKernel:
    """cupy.ElementwiseKernel(in_params, out_params, body, name) for NumPy arrays, compiled as C++."""

    def __init__(self, in_params, out_params, body, name, workdir):
        parse = lambda ps: [(w[0] == "raw", w[-2], w[-1]) for w in (p.split() for p in ps.split(","))]  # noqa: E731
        self.params = [p + (False,) for p in parse(in_params)] + [p + (True,) for p in parse(out_params)]
        self.body, self.name, self.workdir, self.lib = body, name, workdir, {}

    def _compile(self, ctype):
        args, binds = ["long n_"], []
        for raw, typ, name, out in self.params:
            if typ in SCALARS:
                args.append(f"{SCALARS[typ][0]} {name}")
            elif raw:
                args.append(f"T* {name}")
            else:
                args.append(f"T* p_{name}")
                binds.append(f"T& {name} = p_{name}[i];" if out else f"const T {name} = p_{name}[i];")
        src = (f"#include <cmath>\nusing namespace std;\ntypedef {ctype} T;\n"
               f'extern "C" void run({", ".join(args)}) {{\n for (long i = 0; i < n_; ++i) {{\n'
               + "\n".join(binds) + self.body + "\n }\n}\n")
        path = f"{self.workdir}/{hashlib.sha1(src.encode()).hexdigest()[:16]}"
        with open(path + ".cpp", "w") as f:
            f.write(src)
        subprocess.run([CXX, "-O1", "-shared", "-fPIC", "-o", path + ".so", path + ".cpp"], check=True,
                       capture_output=True)
        return ctypes.CDLL(path + ".so").run

    def __call__(self, *args):
        assert len(args) == len(self.params), self.name
        arrays = [a for (_, typ, _, _), a in zip(self.params, args) if typ not in SCALARS]
        dtype = arrays[0].dtype
        assert all(a.dtype == dtype for a in arrays), f"{self.name}: mixed dtypes"
        n = next(a.size for (raw, typ, _, _), a in zip(self.params, args) if not raw and typ not in SCALARS)
        c_args, keep = [ctypes.c_long(n)], []
        for (raw, typ, name, out), a in zip(self.params, args):
            if typ in SCALARS:
                assert isinstance(a, (bool, np.integer)), f"{self.name}: {name} must be bool or int32"
                c_args.append(SCALARS[typ][1](int(a)))
                continue
            assert raw or a.size == n, f"{self.name}: {name} has {a.size} elements, the loop {n}"
            if out:
                assert a.flags.c_contiguous, f"{self.name}: output {name} is not contiguous"
            elif raw and not a.flags.c_contiguous:
                raise AssertionError(f"{self.name}: raw input {name} is not contiguous")
            else:
                a = np.ascontiguousarray(a)
                keep.append(a)
            c_args.append(ctypes.c_void_p(a.ctypes.data))
        ctype = "double" if dtype == np.float64 else "float"
        if ctype not in self.lib:
            self.lib[ctype] = self._compile(ctype)
        self.lib[ctype](*c_args)


@pytest.fixture(scope="module")
def compiled(tmp_path_factory):
    """CppKernels by their parameters and body, shared by the tests of this file (each compiles once)."""
    workdir, built = str(tmp_path_factory.mktemp("layer_kernels")), {}

    def elementwise(i, o, body, name):
        if (i, o, body) not in built:
            built[i, o, body] = CppKernel(i, o, body, name, workdir)
        return built[i, o, body]
    return elementwise


@pytest.fixture
def kernels_on_cpu(compiled, monkeypatch):
    """The layers see 'cuda' arrays; the kernels get NumPy for CuPy and CppKernel for ElementwiseKernel."""
    elementwise = compiled
    fake_cupy = types.SimpleNamespace(int32=np.int32, ElementwiseKernel=elementwise)
    fake_backend = types.SimpleNamespace(**{k: getattr(backend, k) for k in dir(backend) if not k.startswith("__")})
    fake_backend.device_of = lambda x: "cuda"
    fake_backend.cupy_module = lambda: fake_cupy
    monkeypatch.setattr(common, "backend", fake_backend)
    monkeypatch.setattr(kernels, "backend", fake_backend)
    monkeypatch.setattr(kernels, "_kernels", {})


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
    assert len(kernels._kernels) == 2, "one kernel forward and one backward"
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
    assert kernels._kernels
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
