"""Array backends: NumPy for device "cpu", CuPy for device "cuda".

This is the only module that names numpy or cupy. Everything else asks for the
array module of its data (`xp = array_module(x)`) so the same code runs on both.
CuPy is imported the first time a CUDA device is asked for, never before.
"""
import warnings

import numpy

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


def _import_cupy():
    global _cupy
    if _cupy is None:
        try:
            import cupy
            cupy.cuda.runtime.getDeviceCount()
        except Exception as e:  # ImportError, or CUDA present but no usable GPU
            raise RuntimeError(CUPY_HELP.format(reason=f"{type(e).__name__}: {e}")) from None
        _cupy = cupy
    return _cupy


def cuda_is_available():
    """True when CuPy imports and sees at least one GPU."""
    try:
        _import_cupy()
        return True
    except RuntimeError:
        return False


# ----------------------------------------------------------------------------- devices

def normalize_device(device):
    """'cpu' | 'cuda' | 'cuda:0' | None -> 'cpu' or 'cuda'."""
    if device is None:
        return "cpu"
    name = str(device)
    if name == "cpu":
        return "cpu"
    if name in ("cuda", "cuda:0", "gpu"):
        return "cuda"
    raise ValueError(f"device: expected 'cpu' or 'cuda', got {device!r}")


def to_arguments(device, dtype, op="to"):
    """The arguments of `x.to(...)` -> (device or None, dtype or None), normalized.

    `to('cuda')`, `to(mg.float64)` and `to('cuda', mg.float64)` all work, as in PyTorch."""
    if dtype is None and device is not None and not (
            isinstance(device, str) and (device in ("cpu", "gpu") or device.startswith("cuda"))):
        try:
            device, dtype = None, as_dtype(device)
        except TypeError:
            raise ValueError(f"{op}: expected a device ('cpu' or 'cuda') or a dtype, got {device!r}") from None
    return (None if device is None else normalize_device(device)), (None if dtype is None else as_dtype(dtype))


def xp_for(device):
    """The array module (numpy or cupy) that holds data for `device`."""
    return numpy if normalize_device(device) == "cpu" else _import_cupy()


def array_module(x):
    """The array module of array `x`: cupy for CuPy arrays, numpy otherwise."""
    if _cupy is not None and isinstance(x, _cupy.ndarray):
        return _cupy
    return numpy


def device_of(x):
    return "cuda" if _cupy is not None and isinstance(x, _cupy.ndarray) else "cpu"


def is_array(x):
    return isinstance(x, numpy.ndarray) or (_cupy is not None and isinstance(x, _cupy.ndarray))


def to_device(x, device):
    """Copy array `x` to `device` (returns `x` itself when it is already there)."""
    device = normalize_device(device)
    if device_of(x) == device:
        return x
    if device == "cpu":
        return _cupy.asnumpy(x)
    return _import_cupy().asarray(x)


def host_array(data, dtype=None):
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


def to_numpy(x):
    """A NumPy array with the values of `x` (a host copy for CuPy arrays)."""
    return _cupy.asnumpy(x) if device_of(x) == "cuda" else numpy.asarray(x)


# ----------------------------------------------------------------------------- dtypes

def as_dtype(dtype):
    """Accept mg.float32, numpy dtypes, their names, or Python float/int/bool."""
    try:
        return numpy.dtype(dtype)
    except TypeError:
        raise TypeError(f"dtype: expected a NumPy dtype or its name, got {dtype!r}") from None


def default_dtype():
    return _default_dtype


def set_default_dtype(dtype):
    """Set the dtype of floating tensors made from Python numbers (float32 unless changed)."""
    global _default_dtype
    dtype = as_dtype(dtype)
    if dtype.kind != "f":
        raise TypeError(f"set_default_dtype: expected a floating dtype, got {dtype}")
    _default_dtype = dtype


def is_floating(dtype):
    return dtype.kind == "f"


# ----------------------------------------------------------------------------- random numbers

def manual_seed(seed):
    """Seed the generators of every device (CPU now, CUDA when first used)."""
    global _seed
    _seed = int(seed)
    _generators.clear()


def generator(device):
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


def random_normal(shape, dtype, device):
    return generator(device).standard_normal(shape, dtype=dtype)


def random_uniform(shape, dtype, device, low=0.0, high=1.0):
    gen = generator(device)
    if normalize_device(device) == "cpu":
        u = gen.random(shape, dtype=dtype)
    else:
        u = gen.random_sample(shape, dtype=dtype)
    if low != 0.0 or high != 1.0:
        u *= (high - low)
        u += low
    return u


def random_integers(low, high, shape, device):
    gen = generator(device)
    if normalize_device(device) == "cpu":
        return gen.integers(low, high, size=shape, dtype=numpy.int64)
    return gen.randint(low, high, size=shape, dtype=numpy.int64)


def fixed_normal(shape, dtype, device, seed):
    """Normal samples from a private generator seeded by `seed` (leaves the global generators alone)."""
    host = numpy.random.default_rng(seed).standard_normal(shape).astype(dtype)
    return to_device(host, device)


def get_rng_state(device="cpu"):
    """The CPU generator's state as JSON-able data (for checkpoints)."""
    if normalize_device(device) != "cpu":
        raise NotImplementedError("get_rng_state: only the CPU generator's state can be saved")
    return generator("cpu").bit_generator.state


def set_rng_state(state, device="cpu"):
    if normalize_device(device) != "cpu":
        raise NotImplementedError("set_rng_state: only the CPU generator's state can be restored")
    generator("cpu").bit_generator.state = state


# ----------------------------------------------------------------------------- helpers for ops

def scatter_add(target, index, values):
    """target[index] += values, with repeated indices accumulating (in place)."""
    if device_of(target) == "cuda":
        import cupyx
        cupyx.scatter_add(target, index, values)
    else:
        numpy.add.at(target, index, values)


def add_rows(target, rows, values):
    """target[rows[k]] += values[k] for every k, repeated rows accumulating (in place).

    `rows` is a 1-D integer array into axis 0 of `target`; `values` is (len(rows),) + target.shape[1:].
    On the CPU np.add.at is slow (~10x), so: for small tables, one matrix product with the one-hot matrix
    of the rows (a character vocabulary: one BLAS call); otherwise sort the rows and sum each run of equal
    ones with add.reduceat.
    """
    if device_of(target) == "cuda":
        import cupyx
        cupyx.scatter_add(target, rows, values)
        return
    if rows.size == 0:
        return
    n_rows = target.shape[0]
    if n_rows * rows.size <= _ONE_HOT_LIMIT:
        one_hot = numpy.zeros((n_rows, rows.size), dtype=target.dtype)
        one_hot[rows, numpy.arange(rows.size)] = 1
        target += (one_hot @ values.reshape(rows.size, -1)).reshape(target.shape)
        return
    rows = numpy.where(rows < 0, rows + n_rows, rows)
    order = numpy.argsort(rows, kind="stable")
    rows = rows[order]
    starts = numpy.flatnonzero(numpy.concatenate(([True], rows[1:] != rows[:-1])))
    target[rows[starts]] += numpy.add.reduceat(values[order], starts, axis=0)


_ONE_HOT_LIMIT = 1 << 18      # entries of the one-hot matrix (1 MB in float32) up to which add_rows uses it


def sigmoid_(a):
    """a <- 1 / (1 + exp(-a)) in place."""
    return sigmoid_of_negated_(array_module(a).negative(a, out=a))


def sigmoid(x):
    """1 / (1 + exp(-x)) as a new array, in four array passes and without overflow: x is first raised to
    -log(largest float) + 1, below which the true value is under the smallest normal float (float16 is
    computed in float32; integers give float64)."""
    xp = array_module(x)
    if x.dtype.kind != "f":
        work = out = numpy.dtype(numpy.float64)                 # integers and bools: float64, as NumPy's exp
    else:
        work, out = (numpy.dtype(numpy.float32) if x.dtype.itemsize < 4 else x.dtype), x.dtype
    floor = _EXP_FLOOR.get(work)
    if floor is None:
        floor = _EXP_FLOOR[work] = float(1 - numpy.log(numpy.finfo(work).max))
    a = xp.maximum(x, floor, out=xp.empty(x.shape, dtype=work))
    xp.negative(a, out=a)
    return sigmoid_of_negated_(a).astype(out, copy=False)


_EXP_FLOOR = {}


def sigmoid_of_negated_(a):
    """a <- 1 / (1 + exp(a)) = sigmoid(-a) in place. Where a >> 0, exp(a) overflows to inf and the result is
    exactly 0, which is right: the overflow warning for that line is silenced below."""
    xp = array_module(a)
    xp.exp(a, out=a)
    a += 1
    xp.reciprocal(a, out=a)
    return a


# sigmoid_of_negated_'s exp may overflow to inf on purpose (see above); only that warning, only from this module
warnings.filterwarnings("ignore", message="overflow encountered in exp", category=RuntimeWarning,
                        module=__name__)


def cupy_module():
    """The cupy module (for ops that bring their own CUDA kernels)."""
    return _import_cupy()


def broadcast_shapes(*shapes):
    """The broadcast shape, or ValueError (the caller names the op)."""
    return numpy.broadcast_shapes(*shapes)


def normalize_axis(axis, ndim):
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
