"""The lower-case faces of the ops: `mg.tanh(x)` is `Tanh()(x)`. Each op's class holds its math."""
from typing import Any, Sequence

from .. import backend
from ..autograd import _lift_inputs, describe, op_error
from ..tensor import Tensor
from .arithmetic import Add, Div, Mul, Neg, Pow, Sub
from .index import Cat, GetItem, Stack, Where
from .mask import MaskedFill
from .matmul import MatMul
from .nn_ops import LogSoftmax, Softmax
from .reduce import Max, Mean, Min, Sum
from .split import Split, Unbind
from .shape import BroadcastTo, Cast, Permute, Reshape, ToDevice
from .unary import Abs, Clip, Exp, Log, ReLU, Sigmoid, Sqrt, Tanh


def add(a: Tensor | float, b: Tensor | float) -> Tensor: return Add()(a, b)
def sub(a: Tensor | float, b: Tensor | float) -> Tensor: return Sub()(a, b)
def mul(a: Tensor | float, b: Tensor | float) -> Tensor: return Mul()(a, b)
def div(a: Tensor | float, b: Tensor | float) -> Tensor: return Div()(a, b)
def pow(a: Tensor | float, b: Tensor | float) -> Tensor: return Pow()(a, b)
def neg(x: Tensor) -> Tensor: return Neg()(x)
def matmul(a: Tensor, b: Tensor) -> Tensor: return MatMul()(a, b)
def exp(x: Tensor) -> Tensor: return Exp()(x)
def log(x: Tensor) -> Tensor: return Log()(x)
def tanh(x: Tensor) -> Tensor: return Tanh()(x)
def sigmoid(x: Tensor) -> Tensor: return Sigmoid()(x)
def relu(x: Tensor) -> Tensor: return ReLU()(x)
def sqrt(x: Tensor) -> Tensor: return Sqrt()(x)
def abs(x: Tensor) -> Tensor: return Abs()(x)
def cast(x: Tensor, dtype: backend.DType) -> Tensor: return Cast(dtype)(x)
def to_device(x: Tensor, device: str) -> Tensor: return ToDevice(device)(x)


def clip(x: Tensor, lo: float | None = None, hi: float | None = None) -> Tensor:
    """Limit values to [lo, hi]; either bound may be None."""
    if lo is None and hi is None:
        raise ValueError("Clip: at least one of lo and hi must be given")
    return Clip(lo, hi)(x)


def _reduction(cls, x, axis, keepdims, dim, keepdim):
    axis = dim if dim is not None else axis
    keepdims = keepdim if keepdim is not None else keepdims
    if isinstance(axis, list):
        axis = tuple(axis)
    return cls(axis, keepdims)(x)


def sum(x: Tensor, axis: int | Sequence[int] | None = None, keepdims: bool = False, *,
        dim: int | Sequence[int] | None = None, keepdim: bool | None = None) -> Tensor:
    return _reduction(Sum, x, axis, keepdims, dim, keepdim)


def mean(x: Tensor, axis: int | Sequence[int] | None = None, keepdims: bool = False, *,
         dim: int | Sequence[int] | None = None, keepdim: bool | None = None) -> Tensor:
    return _reduction(Mean, x, axis, keepdims, dim, keepdim)


def max(x: Tensor, axis: int | Sequence[int] | None = None, keepdims: bool = False, *,
        dim: int | Sequence[int] | None = None, keepdim: bool | None = None) -> Tensor:
    """Largest values along `axis` (values only). Tied maxima share the gradient equally."""
    return _reduction(Max, x, axis, keepdims, dim, keepdim)


def min(x: Tensor, axis: int | Sequence[int] | None = None, keepdims: bool = False, *,
        dim: int | Sequence[int] | None = None, keepdim: bool | None = None) -> Tensor:
    """Smallest values along `axis` (values only). Tied minima share the gradient equally."""
    return _reduction(Min, x, axis, keepdims, dim, keepdim)


def reshape(x: Tensor, *shape: int | Sequence[int]) -> Tensor:
    """reshape(x, 2, 3) or reshape(x, (2, 3)); one entry may be -1."""
    if len(shape) == 1 and hasattr(shape[0], "__iter__"):
        shape = tuple(shape[0])
    return Reshape(shape)(x)


def permute(x: Tensor, axes: Sequence[int]) -> Tensor:
    return Permute(axes)(x)


def transpose(x: Tensor, a: int = 0, b: int = 1) -> Tensor:
    """Swap axes a and b (PyTorch's transpose); `x.T` reverses all axes."""
    a, b = (_axes_or_error("Transpose", axis, x.ndim)[0] for axis in (a, b))
    axes = list(range(x.ndim))
    axes[a], axes[b] = axes[b], axes[a]
    return Permute(axes)(x)


def squeeze(x: Tensor, axis: int | Sequence[int] | None = None) -> Tensor:
    """Remove size-1 axes (all of them, or the ones named)."""
    axes = [i for i, n in enumerate(x.shape) if n == 1] if axis is None else \
        _axes_or_error("Squeeze", axis, x.ndim)
    for a in axes:
        if x.shape[a] != 1:
            raise op_error(ValueError, "Squeeze", f"axis {a} has size {x.shape[a]}, expected 1 (shape {x.shape})")
    return Reshape(tuple(n for i, n in enumerate(x.shape) if i not in axes))(x)


def unsqueeze(x: Tensor, axis: int) -> Tensor:
    """Insert a size-1 axis at position `axis` (negative counts from the end of the result)."""
    a = _axes_or_error("Unsqueeze", axis, x.ndim + 1)[0]
    return Reshape(x.shape[:a] + (1,) + x.shape[a:])(x)


def broadcast_to(x: Tensor, shape: Sequence[int]) -> Tensor:
    return BroadcastTo(shape)(x)


def _axes_or_error(op, axis, ndim):
    try:
        return backend.normalize_axis(axis, ndim)
    except (ValueError, TypeError) as e:
        raise op_error(type(e), op, str(e)) from None


def getitem(x: Tensor, index: Any) -> Tensor:
    """x[index]: ints, slices, None, ..., boolean masks, integer arrays (repeats accumulate)."""
    return GetItem(_plain_index(index, x.data))(x)


def _plain_index(index, data):
    """Turn Tensors and lists inside an index into arrays on the data's device."""
    if isinstance(index, tuple):
        return tuple(_plain_index(i, data) for i in index)
    if isinstance(index, Tensor):
        index = index.data
    elif isinstance(index, list):
        index = backend.host_array(index)
    if backend.is_array(index):
        if index.dtype.kind not in "iub":
            raise op_error(IndexError, "GetItem", f"index arrays must be integers or booleans, got {index.dtype}")
        index = backend.to_device(index, backend.device_of(data))
    return index


def cat(tensors: Sequence[Tensor], axis: int = 0, *, dim: int | None = None) -> Tensor:
    """Join tensors along an existing axis."""
    return Cat(dim if dim is not None else axis)(*_sequence("Cat", tensors))


def stack(tensors: Sequence[Tensor], axis: int = 0, *, dim: int | None = None) -> Tensor:
    """Join tensors of equal shape along a new axis."""
    return Stack(dim if dim is not None else axis)(*_sequence("Stack", tensors))


def _sequence(op, tensors):
    tensors = list(tensors)
    if not tensors:
        raise op_error(ValueError, op, "expected a non-empty sequence of tensors")
    return tensors


def unbind(x: Tensor, axis: int = 0) -> tuple[Tensor, ...]:
    """The slices of x along `axis`, as a tuple of tensors (one graph node)."""
    return Unbind(axis)(x)


def split(x: Tensor, sizes: int | Sequence[int], axis: int = -1) -> tuple[Tensor, ...]:
    """Cut x along `axis` into pieces of the given sizes (an int: equal pieces of that size)."""
    if isinstance(sizes, int):
        length = x.shape[axis]
        if sizes <= 0:
            raise op_error(ValueError, "Split", f"piece size must be positive, got {sizes}")
        sizes = [sizes] * (length // sizes) + ([length % sizes] if length % sizes else [])
    return Split(sizes, axis)(x)


def chunk(x: Tensor, chunks: int, axis: int = -1) -> tuple[Tensor, ...]:
    """Cut x into `chunks` equal pieces along `axis` (its length must divide evenly)."""
    length = x.shape[axis]
    if chunks <= 0 or length % chunks:
        raise op_error(ValueError, "Chunk", f"cannot cut axis {axis} of length {length} (shape {x.shape}) "
                                           f"into {chunks} equal pieces")
    return Split([length // chunks] * chunks, axis)(x)


def where(cond: Tensor | backend.Array, a: Tensor | float, b: Tensor | float) -> Tensor:
    """Elementwise choice: a where cond is true, else b."""
    cond = cond.data if isinstance(cond, Tensor) else cond
    return Where()(cond, a, b)


_COMPARE = {"eq": "equal", "ne": "not_equal", "lt": "less", "le": "less_equal",
            "gt": "greater", "ge": "greater_equal"}


def compare(kind: str, a: Tensor | float, b: Tensor | float) -> Tensor:
    """Elementwise comparison -> boolean tensor (no gradient flows through it)."""
    x, y = _lift_inputs((a, b))
    if x.device != y.device:
        raise op_error(RuntimeError, f"compare({kind})", f"expected both inputs on one device, got "
                                                         f"{describe((x.data, y.data))}")
    xp = backend.array_module(x.data)
    try:
        return Tensor._make(getattr(xp, _COMPARE[kind])(x.data, y.data))
    except ValueError as e:
        raise op_error(ValueError, f"compare({kind})", f"{e} (inputs: {describe((x.data, y.data))})") from None


def masked_fill(x: Tensor, mask: Tensor | backend.Array, value: float | Tensor) -> Tensor:
    """x with `value` wherever the boolean `mask` (broadcastable with x) is true; no gradient flows there.
    `scores.masked_fill(~mask, float('-inf')).softmax(-1)`: a softmax over the unmasked positions only."""
    if isinstance(mask, Tensor):
        mask = mask.data
    elif not backend.is_array(mask):
        mask = backend.host_array(mask)
    if mask.dtype.kind != "b":
        raise op_error(TypeError, "masked_fill", f"mask must be a bool tensor, got a {mask.dtype} mask of shape "
                                                 f"{tuple(mask.shape)} (compare it first, e.g. mask != 0)")
    if backend.device_of(mask) != x.device:
        if backend.device_of(mask) != "cpu" or mask.ndim:
            raise op_error(RuntimeError, "masked_fill", f"expected the mask on the input's device ({x.device}), "
                                                        f"got {describe((mask,))}")
        mask = backend.to_device(mask, x.device)
    if isinstance(value, Tensor):
        if value.ndim:
            raise op_error(ValueError, "masked_fill", f"value must be a number or a 0-d tensor, got a tensor of "
                                                      f"shape {value.shape}")
        if value.requires_grad:
            raise op_error(NotImplementedError, "masked_fill", "a value tensor that requires grad is not supported "
                                                               "(no gradient would reach it); pass value.item()")
        value = value.item()
    elif not isinstance(value, (int, float)) and not (backend.is_array(value) or hasattr(value, "item")):
        raise op_error(TypeError, "masked_fill", f"value must be a number, got {type(value).__name__} {value!r}")
    elif not isinstance(value, (int, float)):
        value = value.item()
    return MaskedFill(mask, value)(x)


def softmax(x: Tensor, dim: int) -> Tensor:
    """exp(x) / sum exp(x) along `dim` (max-shifted, so large scores stay finite)."""
    return Softmax(dim)(x)


def log_softmax(x: Tensor, dim: int) -> Tensor:
    """x - logsumexp(x) along `dim`."""
    return LogSoftmax(dim)(x)


_LOGICAL = {"and": "bitwise_and", "or": "bitwise_or", "xor": "bitwise_xor"}


def logical(kind: str, a: Tensor | bool | int, b: Tensor | bool | int | None = None) -> Tensor:
    """~a, a & b, a | b, a ^ b on bool (or integer) tensors -> a tensor without gradient (masks)."""
    if b is None:
        x, = _lift_inputs((a,))
        arrays = (x.data,)
    else:
        x, y = _lift_inputs((a, b))
        arrays = (x.data, y.data)
    op = "~" if kind == "not" else kind
    if any(arr.dtype.kind not in "biu" for arr in arrays):
        raise op_error(TypeError, f"logical({op})", f"expected bool or integer tensors, got {describe(arrays)}")
    if len({backend.device_of(arr) for arr in arrays}) > 1:
        raise op_error(RuntimeError, f"logical({op})", f"expected both inputs on one device, got {describe(arrays)}")
    xp = backend.array_module(arrays[0])
    if kind == "not":
        return Tensor._make(xp.invert(arrays[0]))
    try:
        return Tensor._make(getattr(xp, _LOGICAL[kind])(*arrays))
    except ValueError as e:
        raise op_error(ValueError, f"logical({op})", f"{e} (inputs: {describe(arrays)})") from None
