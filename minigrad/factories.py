"""Ways to make tensors: from data, filled with a constant, or random (seeded by mg.manual_seed)."""
import operator
from typing import Any, Sequence

from . import backend
from .tensor import Tensor


def tensor(data: Any, dtype: backend.DType | str | None = None, device: str | None = None,
           requires_grad: bool = False) -> Tensor:
    """A new leaf tensor holding a copy of `data`. Python floats become the default dtype (float32)."""
    return Tensor(data, dtype=dtype, device=device, requires_grad=requires_grad)


def _shape(shape):
    """(2, 3) from zeros(2, 3) or zeros((2, 3)); NumPy integers count as ints."""
    if len(shape) == 1 and hasattr(shape[0], "__iter__"):
        shape = tuple(shape[0])
    try:
        sizes = tuple(operator.index(n) for n in shape)
    except TypeError:
        sizes = (-1,)
    if any(n < 0 for n in sizes):
        raise ValueError(f"shape: expected non-negative ints, got {tuple(shape)}")
    return sizes


def _leaf(data, requires_grad):
    t = Tensor._make(data)
    t.requires_grad = requires_grad
    return t


def _float_dtype(dtype):
    return backend.default_dtype() if dtype is None else backend.as_dtype(dtype)


def zeros(*shape: int | Sequence[int], dtype: backend.DType | str | None = None, device: str | None = None,
          requires_grad: bool = False) -> Tensor:
    xp = backend.xp_for(device)
    return _leaf(xp.zeros(_shape(shape), dtype=_float_dtype(dtype)), requires_grad)


def ones(*shape: int | Sequence[int], dtype: backend.DType | str | None = None, device: str | None = None,
         requires_grad: bool = False) -> Tensor:
    xp = backend.xp_for(device)
    return _leaf(xp.ones(_shape(shape), dtype=_float_dtype(dtype)), requires_grad)


def full(shape: int | Sequence[int], value: float, dtype: backend.DType | str | None = None,
         device: str | None = None, requires_grad: bool = False) -> Tensor:
    xp = backend.xp_for(device)
    if dtype is None:
        dtype = backend.host_array(value).dtype
    shape = (shape,) if isinstance(shape, int) else tuple(shape)
    return _leaf(xp.full(_shape(shape), value, dtype=backend.as_dtype(dtype)), requires_grad)


def zeros_like(t: Tensor, dtype: backend.DType | str | None = None, requires_grad: bool = False) -> Tensor:
    return zeros(t.shape, dtype=dtype or t.dtype, device=t.device, requires_grad=requires_grad)


def ones_like(t: Tensor, dtype: backend.DType | str | None = None, requires_grad: bool = False) -> Tensor:
    return ones(t.shape, dtype=dtype or t.dtype, device=t.device, requires_grad=requires_grad)


def arange(start: float, stop: float | None = None, step: float = 1, dtype: backend.DType | str | None = None,
           device: str | None = None, requires_grad: bool = False) -> Tensor:
    """Evenly spaced values in [start, stop): int64 for int arguments, else the default float dtype."""
    if stop is None:
        start, stop = 0, start
    if dtype is None:
        ints = all(isinstance(v, int) for v in (start, stop, step))
        dtype = backend.int64 if ints else backend.default_dtype()
    xp = backend.xp_for(device)
    return _leaf(xp.arange(start, stop, step, dtype=backend.as_dtype(dtype)), requires_grad)


def randn(*shape: int | Sequence[int], dtype: backend.DType | str | None = None, device: str | None = None,
          requires_grad: bool = False) -> Tensor:
    """Standard normal samples from the device's generator."""
    data = backend.random_normal(_shape(shape), _float_dtype(dtype), backend.normalize_device(device))
    return _leaf(data, requires_grad)


def rand(*shape: int | Sequence[int], dtype: backend.DType | str | None = None, device: str | None = None,
         requires_grad: bool = False) -> Tensor:
    """Uniform samples in [0, 1) from the device's generator."""
    data = backend.random_uniform(_shape(shape), _float_dtype(dtype), backend.normalize_device(device))
    return _leaf(data, requires_grad)


def randint(low: int, high: int, shape: int | Sequence[int], device: str | None = None) -> Tensor:
    """Integers in [low, high) (int64)."""
    shape = (shape,) if isinstance(shape, int) else tuple(shape)
    return _leaf(backend.random_integers(low, high, shape, backend.normalize_device(device)), False)
