"""A strict stand-in for CuPy (a test fixture, not a dependency): NumPy underneath, CuPy's rules on top.

Device arrays are `DeviceArray`, an ndarray subclass. As with CuPy, NumPy functions and operators given device
data reject plain (non-0-d) NumPy operands with TypeError, reductions and indexing give 0-d device arrays rather
than NumPy scalars, and the ways back to the host (`float()`, `int()`, `bool()`, `.item()`, `.tolist()`, `.get()`,
`asnumpy`) are allowed but counted in `stats` (each is a device->host wait on a GPU); `asarray` of host data counts
as a host->device copy. `ElementwiseKernel` is the C++ stand-in of tests/cpp_kernels.py.
Limits: `np.asarray(device_array)` cannot be refused by the array (NumPy never asks an ndarray subclass), so
install() gives minigrad.backend, the one module that names numpy, a numpy whose asarray/array refuse device data;
no launch, stream or memory-pool behaviour is modelled.

`install()` makes `import cupy` find this module and resets minigrad's cached CuPy; `uninstall()` undoes it.
"""
import atexit
import collections
import shutil
import sys
import tempfile
import types

import numpy as np

stats = collections.Counter()     # "sync": device->host reads, "to_device": host->device copies


class DeviceArray(np.ndarray):
    """An array "on the GPU": NumPy data, CuPy's rules."""

    def __array__(self, dtype=None, copy=None):
        raise TypeError("Implicit conversion to a NumPy array is not allowed. Please use `.get()` to construct "
                        "a NumPy array explicitly.")

    def __array_ufunc__(self, ufunc, method, *inputs, **kwargs):
        out = kwargs.get("out", ())
        _reject_host(ufunc.__name__, inputs + tuple(out))
        if out:
            kwargs["out"] = tuple(_unwrap(o) for o in out)
        with np.errstate(all="ignore"):             # CuPy never warns
            result = getattr(ufunc, method)(*_unwrap(inputs), **kwargs)
        if method == "at":
            return None
        if out:                                     # the out arrays themselves, as CuPy returns them
            return out[0] if len(out) == 1 else tuple(out)
        return _wrap(result)

    def __array_function__(self, func, types_, args, kwargs):
        _reject_host(func.__name__, args + tuple(kwargs.values()))
        with np.errstate(all="ignore"):
            return _wrap(func(*_unwrap(args), **_unwrap(kwargs)))

    def __getitem__(self, index):
        return _wrap(np.ndarray.__getitem__(self.view(np.ndarray), _unwrap(index)))

    def __setitem__(self, index, value):
        _reject_host("__setitem__", (value,))
        np.ndarray.__setitem__(self.view(np.ndarray), _unwrap(index), _unwrap(value))

    # the explicit ways back to the host: allowed, each a device->host wait
    def _host(self):
        stats["sync"] += 1
        return self.view(np.ndarray)

    def __float__(self):
        return float(self._host())

    def __int__(self):
        return int(self._host())

    def __bool__(self):
        return bool(self._host())

    def __index__(self):
        return self._host().__index__()

    def item(self, *args):
        return self._host().item(*args)

    def tolist(self):
        return self._host().tolist()

    def get(self):
        return self._host().copy()

    def __repr__(self):
        return "strict_cupy." + repr(self.view(np.ndarray))

    __str__ = __repr__

    def __reduce__(self):
        raise TypeError("strict_cupy: device arrays are not pickled here")


def _reject_host(name, args):
    for a in args:
        if isinstance(a, (list, tuple)):
            _reject_host(name, tuple(a))
        elif type(a) is np.ndarray and a.ndim > 0:
            raise TypeError(f"Unsupported type <class 'numpy.ndarray'> (strict_cupy: {name} got a host NumPy "
                            f"array of shape {a.shape} mixed with device arrays)")


def _unwrap(x):
    if isinstance(x, DeviceArray):
        return x.view(np.ndarray)
    if isinstance(x, (list, tuple)):
        return type(x)(_unwrap(v) for v in x)
    if isinstance(x, dict):
        return {k: _unwrap(v) for k, v in x.items()}
    return x


def _wrap(x):
    if type(x) is np.ndarray:
        return x.view(DeviceArray)
    if isinstance(x, np.generic):          # CuPy gives 0-d arrays, never NumPy scalars
        return np.asarray(x).view(DeviceArray)
    if isinstance(x, (list, tuple)):
        return type(x)(_wrap(v) for v in x)
    return x


# ----------------------------------------------------------------------------- the module's functions

ndarray = DeviceArray


def asarray(a, dtype=None, order=None):
    if isinstance(a, DeviceArray):
        return a if dtype is None or a.dtype == dtype else a.astype(dtype)
    stats["to_device"] += 1
    return np.array(_unwrap(a), dtype=dtype, order=order or "K").view(DeviceArray)


array = asarray


def asnumpy(a):
    return a.get() if isinstance(a, DeviceArray) else np.asarray(a)


def _creation(name):
    fn = getattr(np, name)

    def make(*args, **kwargs):
        _reject_host(name, args)
        return fn(*_unwrap(args), **kwargs).view(DeviceArray)
    make.__name__ = name
    return make


for _name in ("empty", "zeros", "ones", "full", "arange", "eye", "linspace", "identity", "tri"):
    globals()[_name] = _creation(_name)


def ascontiguousarray(a, dtype=None):
    if not isinstance(a, DeviceArray):
        raise TypeError("strict_cupy: ascontiguousarray expects a device array")
    return _wrap(np.ascontiguousarray(a.view(np.ndarray), dtype=dtype))


def __getattr__(name):
    """Everything else is NumPy's: ufuncs and functions dispatch to DeviceArray's rules, dtypes are dtypes."""
    try:
        return getattr(np, name)
    except AttributeError:
        raise AttributeError(f"strict_cupy has no attribute {name!r}") from None


class _RandomState:
    def __init__(self, seed=None):
        self._rs = np.random.RandomState(seed)

    def standard_normal(self, size=None, dtype=float):
        return np.asarray(self._rs.standard_normal(size)).astype(dtype).view(DeviceArray)

    def random_sample(self, size=None, dtype=float):
        return np.asarray(self._rs.random_sample(size)).astype(dtype).view(DeviceArray)

    def randint(self, low, high=None, size=None, dtype=int):
        return np.asarray(self._rs.randint(low, high, size=size, dtype=dtype)).view(DeviceArray)


random = types.SimpleNamespace(RandomState=_RandomState)


class _Device:
    def __init__(self, index=0):
        self.id = index

    def synchronize(self):
        pass


cuda = types.SimpleNamespace(runtime=types.SimpleNamespace(getDeviceCount=lambda: 1), Device=_Device)

_elementwise = None


def ElementwiseKernel(in_params, out_params, body, name="kernel", **kwargs):  # noqa: N802 (CuPy's name)
    """cupy.ElementwiseKernel, compiled as C++ by tests/cpp_kernels.py (one build per distinct kernel)."""
    global _elementwise
    if _elementwise is None:
        from cpp_kernels import compiler
        workdir = tempfile.mkdtemp(prefix="strict_cupy_")
        atexit.register(shutil.rmtree, workdir, ignore_errors=True)
        _elementwise = compiler(workdir)
    return _elementwise(in_params, out_params, body, name)


# ----------------------------------------------------------------------------- installing it

def _holds_device(data):
    if isinstance(data, DeviceArray):
        return True
    return isinstance(data, (list, tuple)) and any(_holds_device(d) for d in data)


def _host_only(fn):
    def convert(data, *args, **kwargs):
        if _holds_device(data):
            raise TypeError(f"Implicit conversion to a NumPy array is not allowed (strict_cupy: numpy.{fn.__name__} "
                            "got device data). Please use `.get()` to construct a NumPy array explicitly.")
        return fn(data, *args, **kwargs)
    return convert


class _StrictNumpy(types.ModuleType):
    """numpy for minigrad.backend while the stand-in is installed: asarray/array refuse device data, as with CuPy."""
    asarray = staticmethod(_host_only(np.asarray))
    array = staticmethod(_host_only(np.array))
    ascontiguousarray = staticmethod(_host_only(np.ascontiguousarray))

    def __getattr__(self, name):
        return getattr(np, name)


_strict_numpy = _StrictNumpy("numpy")
_saved = {}


def install():
    """`import cupy` finds this module; minigrad forgets any CuPy it had imported."""
    from minigrad import backend
    _saved.setdefault("cupy", sys.modules.get("cupy"))
    sys.modules["cupy"] = sys.modules[__name__]
    backend.numpy = _strict_numpy
    backend._cupy = None
    backend._generators.pop("cuda", None)


def uninstall():
    from minigrad import backend
    if "cupy" not in _saved:
        return
    previous = _saved.pop("cupy")
    if previous is None:
        sys.modules.pop("cupy", None)
    else:
        sys.modules["cupy"] = previous
    backend.numpy = np
    backend._cupy = None
    backend._generators.pop("cuda", None)
