"""CUDA kernels checked without a GPU: a stand-in for cupy.ElementwiseKernel compiled as C++ for NumPy arrays.

Each kernel's parameter lists and body become a C++ loop over the element index i (a non-raw parameter is element
i of its array, a raw one the whole array, int32/bool are values), compiled with the system's C++ compiler and
called through ctypes. `pretend_cuda` then makes minigrad's code see its arrays as "cuda" and build its kernels
with this stand-in, so whole layers run through the kernel bodies on the CPU. CuPy itself (launch, dtype
dispatch) needs a real GPU.
"""
import ctypes
import hashlib
import shutil
import subprocess
import types

import numpy as np

from minigrad import backend
from minigrad.ops import cuda_kernels

CXX = shutil.which("g++") or shutil.which("c++") or shutil.which("clang++")
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
        assert len(args) == len(self.params), f"{self.name}: {len(args)} arguments for {len(self.params)} parameters"
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
            else:
                a = np.ascontiguousarray(a)      # CuPy indexes a strided input by its logical (C-order) index
                keep.append(a)
            c_args.append(ctypes.c_void_p(a.ctypes.data))
        ctype = "double" if dtype == np.float64 else "float"
        if ctype not in self.lib:
            self.lib[ctype] = self._compile(ctype)
        self.lib[ctype](*c_args)


def compiler(workdir):
    """ElementwiseKernel(i, o, body, name) building each distinct kernel once (C++ builds take a while)."""
    built = {}

    def elementwise(i, o, body, name):
        if (i, o, body) not in built:
            built[i, o, body] = CppKernel(i, o, body, name, workdir)
        return built[i, o, body]
    return elementwise


def pretend_cuda(monkeypatch, elementwise, *modules):
    """The `modules` (and cuda_kernels) see every array as on "cuda" and get NumPy for CuPy, `elementwise`
    for its ElementwiseKernel; the kernel cache starts empty."""
    fake_cupy = types.SimpleNamespace(empty=np.empty, empty_like=np.empty_like, int32=np.int32,
                                      ascontiguousarray=np.ascontiguousarray, broadcast_to=np.broadcast_to,
                                      ElementwiseKernel=elementwise)
    fake_backend = types.SimpleNamespace(**{k: getattr(backend, k) for k in dir(backend) if not k.startswith("__")})
    fake_backend.device_of = lambda x: "cuda"
    fake_backend.cupy_module = lambda: fake_cupy
    for module in (cuda_kernels,) + modules:
        monkeypatch.setattr(module, "backend", fake_backend)
    monkeypatch.setattr(cuda_kernels, "_kernels", {})
