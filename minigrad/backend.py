"""Array backends: NumPy for device "cpu", CuPy for device "cuda": array modules, devices, dtypes, random numbers.

This is the only module that names numpy or cupy. Everything else asks for the
array module of its data (`xp = array_module(x)`) so the same code runs on both.
CuPy is imported the first time a CUDA device is asked for, never before.
Numeric kernels live beside the ops that use them, not here.
"""
import contextlib
from typing import Any, ContextManager, Optional, Sequence, Tuple, Union

import numpy

Array = Any                       # a numpy.ndarray on "cpu", a cupy.ndarray on "cuda" (for type hints)
DType = numpy.dtype

float16 = numpy.dtype("float16")
float32 = numpy.dtype("float32")
float64 = numpy.dtype("float64")
int64 = numpy.dtype("int64")
bool_ = numpy.dtype("bool")

_cupy = None                      # the cupy module once imported
_default_dtype = float32
_generators = {}                  # device -> random generator
_seed = None                      # last value given to manual_seed (None: fresh entropy)

CUPY_HELP = ("CUDA device requested but CuPy is not available ({reason}). Install the GPU extra "
             "matching your CUDA toolkit: pip install -e '.[gpu]' (CUDA 12, cupy-cuda12x) or "
             "pip install cupy-cuda13x (CUDA 13).")


def _import_cupy() -> Any:
    global _cupy
    if _cupy is None:
        try:
            import cupy
            cupy.cuda.runtime.getDeviceCount()
        except Exception as e:  # ImportError, or CUDA present but no usable GPU
            raise RuntimeError(CUPY_HELP.format(reason=f"{type(e).__name__}: {e}")) from None
        _cupy = cupy
    return _cupy


def cuda_is_available() -> bool:
    """True when CuPy imports and sees at least one GPU."""
    try:
        _import_cupy()
        return True
    except RuntimeError:
        return False


# ----------------------------------------------------------------------------- devices

def normalize_device(device: Optional[str]) -> str:
    """'cpu' | 'cuda' | 'cuda:0' | None -> 'cpu' or 'cuda'."""
    if device is None:
        return "cpu"
    name = str(device)
    if name == "cpu":
        return "cpu"
    if name in ("cuda", "cuda:0", "gpu"):
        return "cuda"
    raise ValueError(f"device: expected 'cpu' or 'cuda', got {device!r}")


def to_arguments(device: Any, dtype: Any, op: str = "to") -> Tuple[Optional[str], Optional[DType]]:
    """The arguments of `x.to(...)` -> (device or None, dtype or None), normalized.

    `to('cuda')`, `to(mg.float64)` and `to('cuda', mg.float64)` all work, as in PyTorch."""
    if dtype is None and device is not None and not (
            isinstance(device, str) and (device in ("cpu", "gpu") or device.startswith("cuda"))):
        try:
            device, dtype = None, as_dtype(device)
        except TypeError:
            raise ValueError(f"{op}: expected a device ('cpu' or 'cuda') or a dtype, got {device!r}") from None
    return (None if device is None else normalize_device(device)), (None if dtype is None else as_dtype(dtype))


def xp_for(device: Optional[str]) -> Any:
    """The array module (numpy or cupy) that holds data for `device`."""
    return numpy if normalize_device(device) == "cpu" else _import_cupy()


def array_module(x: Any) -> Any:
    """The array module of array `x`: cupy for CuPy arrays, numpy otherwise."""
    if _cupy is not None and isinstance(x, _cupy.ndarray):
        return _cupy
    return numpy


def device_of(x: Any) -> str:
    """The device of array `x`: "cuda" for CuPy arrays, "cpu" otherwise."""
    return "cuda" if _cupy is not None and isinstance(x, _cupy.ndarray) else "cpu"


def is_array(x: Any) -> bool:
    """True for NumPy and CuPy arrays."""
    return isinstance(x, numpy.ndarray) or (_cupy is not None and isinstance(x, _cupy.ndarray))


def to_device(x: Array, device: str) -> Array:
    """Copy array `x` to `device` (returns `x` itself when it is already there)."""
    device = normalize_device(device)
    if device_of(x) == device:
        return x
    if device == "cpu":
        return _cupy.asnumpy(x)
    return _import_cupy().asarray(x)


def scalar_array(value: Any, dtype: DType, like: Array) -> Array:
    """A 0-d array holding Python number `value` on the device of `like`; on CUDA it is filled by a kernel,
    so no host-to-device copy (and no wait for it) per call."""
    if _cupy is not None and isinstance(like, _cupy.ndarray):
        return _cupy.full((), value, dtype=dtype)
    return numpy.asarray(value, dtype=dtype)


def host_array(data: Any, dtype: Any = None) -> Array:
    """A NumPy array from Python data: floats take the default dtype, ints int64, unless `dtype`."""
    if dtype is not None:
        return numpy.asarray(data, dtype=dtype)
    arr = numpy.asarray(data)
    if isinstance(data, numpy.generic):
        return arr
    if arr.dtype.kind == "f":
        return arr.astype(_default_dtype, copy=False)
    if arr.dtype.kind in "iu":
        return arr.astype(int64, copy=False)
    if arr.dtype.kind != "b":
        raise TypeError(f"tensor: cannot make a tensor from {type(data).__name__} "
                        f"(NumPy made dtype {arr.dtype}); expected numbers, nested lists or arrays")
    return arr


def to_numpy(x: Array) -> Array:
    """A NumPy array with the values of `x` (a host copy for CuPy arrays)."""
    return _cupy.asnumpy(x) if device_of(x) == "cuda" else numpy.asarray(x)


# ----------------------------------------------------------------------------- dtypes

def as_dtype(dtype: Any) -> DType:
    """Accept mg.float32, numpy dtypes, their names, or Python float/int/bool."""
    try:
        return numpy.dtype(dtype)
    except TypeError:
        raise TypeError(f"dtype: expected a NumPy dtype or its name, got {dtype!r}") from None


def default_dtype() -> DType:
    """The dtype of floating tensors made from Python numbers."""
    return _default_dtype


def set_default_dtype(dtype: Any) -> None:
    """Set the dtype of floating tensors made from Python numbers (float32 unless changed)."""
    global _default_dtype
    dtype = as_dtype(dtype)
    if dtype.kind != "f":
        raise TypeError(f"set_default_dtype: expected a floating dtype, got {dtype}")
    _default_dtype = dtype


def is_floating(dtype: DType) -> bool:
    """True for floating point dtypes."""
    return dtype.kind == "f"


# ----------------------------------------------------------------------------- random numbers

def manual_seed(seed: int) -> None:
    """Seed the generators of every device (CPU now, CUDA when first used)."""
    global _seed
    _seed = int(seed)
    _generators.clear()


def generator(device: str) -> Any:
    """The random generator of `device`, created from the last manual_seed."""
    device = normalize_device(device)
    gen = _generators.get(device)
    if gen is None:
        if device == "cpu":
            gen = numpy.random.default_rng(_seed)
        else:
            gen = _import_cupy().random.RandomState(_seed)
        _generators[device] = gen
    return gen


def _drawn_dtype(dtype: DType) -> DType:
    """The generators draw float32 and float64 only: half precision is drawn in float32 and rounded."""
    dtype = as_dtype(dtype)
    return float32 if dtype.itemsize < 4 else dtype


def random_normal(shape: Tuple[int, ...], dtype: DType, device: str) -> Array:
    """Standard normal samples from the generator of `device`."""
    return generator(device).standard_normal(shape, dtype=_drawn_dtype(dtype)).astype(dtype, copy=False)


def random_uniform(shape: Tuple[int, ...], dtype: DType, device: str, low: float = 0.0,
                   high: float = 1.0) -> Array:
    """Uniform samples in [low, high) from the generator of `device`."""
    gen = generator(device)
    if normalize_device(device) == "cpu":
        u = gen.random(shape, dtype=_drawn_dtype(dtype))
    else:
        u = gen.random_sample(shape, dtype=_drawn_dtype(dtype))
    if low != 0.0 or high != 1.0:
        u *= (high - low)
        u += low
    return u.astype(dtype, copy=False)


def random_integers(low: int, high: int, shape: Tuple[int, ...], device: str) -> Array:
    """int64 samples in [low, high) from the generator of `device`."""
    gen = generator(device)
    if normalize_device(device) == "cpu":
        return gen.integers(low, high, size=shape, dtype=numpy.int64)
    return gen.randint(low, high, size=shape, dtype=numpy.int64)


def fixed_normal(shape: Tuple[int, ...], dtype: DType, device: str, seed: int) -> Array:
    """Normal samples from a private generator seeded by `seed` (leaves the global generators alone)."""
    host = numpy.random.default_rng(seed).standard_normal(shape).astype(dtype)
    return to_device(host, device)


def get_rng_state(device: str = "cpu") -> dict:
    """The CPU generator's state as JSON-able data (for checkpoints)."""
    if normalize_device(device) != "cpu":
        raise NotImplementedError("get_rng_state: only the CPU generator's state can be saved")
    return generator("cpu").bit_generator.state


def set_rng_state(state: dict, device: str = "cpu") -> None:
    """Restore the CPU generator's state saved by get_rng_state()."""
    if normalize_device(device) != "cpu":
        raise NotImplementedError("set_rng_state: only the CPU generator's state can be restored")
    generator("cpu").bit_generator.state = state


# ----------------------------------------------------------------------------- for device-generic kernels

def cupy_module() -> Any:
    """The cupy module (for ops that bring their own CUDA kernels)."""
    return _import_cupy()


def errstate(x: Array, **kwargs: str) -> ContextManager:
    """numpy.errstate(**kwargs) for NumPy arrays (e.g. over="ignore" where an exp overflows on purpose);
    a null context for CuPy, which never warns."""
    return numpy.errstate(**kwargs) if array_module(x) is numpy else contextlib.nullcontext()


# ----------------------------------------------------------------------------- shapes and axes (pure helpers)

def broadcast_shapes(*shapes: Tuple[int, ...]) -> Tuple[int, ...]:
    """The broadcast shape, or ValueError (the caller names the op)."""
    return numpy.broadcast_shapes(*shapes)


def normalize_axis(axis: Union[None, int, Sequence[int]], ndim: int) -> Tuple[int, ...]:
    """An int or tuple of ints -> tuple of non-negative axes; AxisError subclass ValueError."""
    if axis is None:
        return tuple(range(ndim))
    try:
        axes = (axis,) if isinstance(axis, (int, numpy.integer)) else tuple(axis)
    except TypeError:
        raise TypeError(f"axis must be an int or a tuple of ints, got {axis!r}") from None
    out = []
    for a in axes:
        if not isinstance(a, (int, numpy.integer)):
            raise TypeError(f"axis must be an int or a tuple of ints, got {axis!r}")
        if not -ndim <= a < max(ndim, 1):
            raise ValueError(f"axis {a} is out of range for a tensor with {ndim} dimension(s)")
        out.append(int(a) % max(ndim, 1))
    if len(set(out)) != len(out):
        raise ValueError(f"axis {axis!r} repeats an axis")
    return tuple(out)
