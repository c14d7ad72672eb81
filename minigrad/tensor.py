"""Tensor: an array (NumPy or CuPy) plus what autograd needs to differentiate through it.

A tensor made by an op remembers that op's node (`grad_fn`); a tensor made by the user is a
leaf. `loss.backward()` walks the nodes back to the leaves and fills their `.grad`.
The arithmetic methods below only forward to the op functions in `minigrad.ops`.
"""
from __future__ import annotations

from typing import Any, Sequence

from . import backend

# A Python number where a Tensor also works (`x * 2`); a name of its own because Tensor.float hides `float`.
Scalar = int | float


class Tensor:
    __slots__ = ("data", "grad", "_requires_grad", "grad_fn", "_index", "_retains_grad", "_hooks", "__weakref__")
    __array_ufunc__ = None        # `ndarray + Tensor` defers to Tensor.__radd__ instead of unwrapping

    def __init__(self, data: Any, dtype: backend.DType | str | None = None, device: str | None = None,
                 requires_grad: bool = False) -> None:
        """A leaf tensor holding a copy of `data` (list, number, NumPy/CuPy array or Tensor)."""
        self.data = as_array(data, dtype, device)
        self.grad = None
        self.grad_fn = None       # the Function node that produced this tensor (None for leaves)
        self._index = 0           # which output of grad_fn this tensor is
        self._retains_grad = False
        self._hooks = None        # a leaf's gradient hooks (a computed tensor's live on its grad_fn)
        self._requires_grad = False
        self.requires_grad = requires_grad

    @classmethod
    def _make(cls, data, requires_grad=False, grad_fn=None, index=0):
        """Fast internal constructor used by ops: no checks."""
        t = cls.__new__(cls)
        t.data = data
        t.grad = None
        t._requires_grad = requires_grad
        t.grad_fn = grad_fn
        t._index = index
        t._retains_grad = False
        t._hooks = None
        return t

    # ------------------------------------------------------------------ attributes
    @property
    def requires_grad(self) -> bool:
        return self._requires_grad

    @requires_grad.setter
    def requires_grad(self, flag: bool) -> None:
        flag = bool(flag)
        if flag and not backend.is_floating(self.data.dtype):
            raise TypeError(f"requires_grad: only floating point tensors can require gradients, "
                            f"got dtype {self.data.dtype} (shape {self.shape})")
        if not flag and self.grad_fn is not None:
            raise RuntimeError("requires_grad: cannot switch off gradients of a non-leaf tensor; "
                               "use .detach() instead")
        self._requires_grad = flag

    def requires_grad_(self, flag: bool = True) -> Tensor:
        self.requires_grad = flag
        return self

    @property
    def shape(self) -> tuple[int, ...]:
        return self.data.shape

    @property
    def dtype(self) -> backend.DType:
        return self.data.dtype

    @property
    def ndim(self) -> int:
        return self.data.ndim

    @property
    def device(self) -> str:
        return backend.device_of(self.data)

    @property
    def output_index(self) -> int:
        """Which output of `grad_fn` this tensor is (0 for single-output ops and leaves)."""
        return self._index

    @property
    def is_leaf(self) -> bool:
        return self.grad_fn is None

    @property
    def T(self) -> Tensor:
        """All axes reversed (as NumPy's .T)."""
        return _ops.permute(self, tuple(reversed(range(self.ndim))))

    def numel(self) -> int:
        return int(self.data.size)

    def size(self, dim: int | None = None) -> tuple[int, ...] | int:
        """PyTorch's spelling of the shape: size() is the shape, size(d) its entry d (negative d counts back)."""
        if dim is None:
            return self.shape
        if isinstance(dim, bool) or not isinstance(dim, int) or not -self.ndim <= dim < self.ndim:
            raise IndexError(f"size: dim must be an int in [{-self.ndim}, {self.ndim - 1}] for a tensor of shape "
                             f"{self.shape}, got {dim!r}")
        return self.shape[dim]

    def dim(self) -> int:
        """PyTorch's spelling of ndim."""
        return self.ndim

    def __len__(self) -> int:
        if self.ndim == 0:
            raise TypeError("len() of a 0-d tensor")
        return self.shape[0]

    # ------------------------------------------------------------------ autograd
    def backward(self, gradient: Tensor | backend.Array | None = None, retain_graph: bool | None = None,
                 create_graph: bool = False) -> None:
        """Accumulate d(self)/d(leaf) into every leaf's .grad (backpropagation). With create_graph=True the
        .grad tensors carry a graph of their own, so they can be differentiated again."""
        _autograd.backward(self, gradient, retain_graph, create_graph)

    def register_hook(self, hook: Any) -> Any:
        """Call `hook(grad)` each time this tensor's gradient is computed; a tensor it returns replaces the
        gradient. On a leaf it runs before .grad is accumulated. Returns a handle: `handle.remove()`."""
        if not self._requires_grad:
            raise RuntimeError(f"register_hook: the tensor (shape {self.shape}) does not require grad, so its "
                               "gradient is never computed")
        registry = self.grad_fn.output_hooks(self._index) if self.grad_fn is not None else self._leaf_hooks()
        return _hooks.add_hook(registry, hook)

    def _leaf_hooks(self) -> dict:
        if self._hooks is None:
            self._hooks = {}
        return self._hooks

    def retain_grad(self) -> None:
        """Keep .grad on this non-leaf tensor after backward (as PyTorch's retain_grad)."""
        if not self._requires_grad:
            raise RuntimeError("retain_grad: tensor does not require grad")
        if self.grad_fn is not None:
            self._retains_grad = True
            self.grad_fn.retain_output(self)

    def detach(self) -> Tensor:
        """The same data, cut from the graph (no grad_fn, requires_grad False)."""
        return Tensor._make(self.data)

    def zero_grad(self) -> None:
        self.grad = None

    # ------------------------------------------------------------------ conversion
    def numpy(self) -> backend.Array:
        """The values as a NumPy array (shared on CPU, a host copy for CUDA tensors)."""
        return backend.to_numpy(self.data)

    def __array__(self, dtype=None, copy=None):
        out = backend.to_numpy(self.data)
        return out.astype(dtype) if dtype is not None else out

    def item(self) -> Scalar:
        if self.data.size != 1:
            raise ValueError(f"item: only one-element tensors can be converted to a Python number, "
                             f"got shape {self.shape}")
        return self.data.item()

    def tolist(self) -> Any:
        return self.numpy().tolist()

    def to(self, device: str | backend.DType | None = None, dtype: backend.DType | str | None = None) -> Tensor:
        """Move to a device and/or cast to a dtype; differentiable. `t.to('cuda')`, `t.to(mg.float64)`."""
        device, dtype = backend.to_arguments(device, dtype)
        out = self
        if dtype is not None and dtype != self.dtype:
            out = _ops.cast(out, dtype)
        if device is not None and device != out.device:
            out = _ops.to_device(out, device)
        return out

    def cpu(self) -> Tensor:
        return self.to("cpu")

    def cuda(self) -> Tensor:
        return self.to("cuda")

    def float(self) -> Tensor:
        return self.to(dtype=backend.float32)

    def double(self) -> Tensor:
        return self.to(dtype=backend.float64)

    def __repr__(self):
        body = repr(self.numpy()).replace("array(", "tensor(", 1)
        extras = []
        if self.device != "cpu":
            extras.append(f"device='{self.device}'")
        if self.grad_fn is not None:
            extras.append(f"grad_fn=<{type(self.grad_fn).__name__}>")
        elif self._requires_grad:
            extras.append("requires_grad=True")
        return body[:-1] + (", " + ", ".join(extras) if extras else "") + ")"

    def __bool__(self):
        return bool(self.item())

    __hash__ = object.__hash__    # tensors are dict keys (optimizer state); == is elementwise

    # ------------------------------------------------------------------ arithmetic (ops.py)
    def __add__(self, other: Tensor | Scalar) -> Tensor: return _ops.add(self, other)
    def __radd__(self, other: Tensor | Scalar) -> Tensor: return _ops.add(other, self)
    def __sub__(self, other: Tensor | Scalar) -> Tensor: return _ops.sub(self, other)
    def __rsub__(self, other: Tensor | Scalar) -> Tensor: return _ops.sub(other, self)
    def __mul__(self, other: Tensor | Scalar) -> Tensor: return _ops.mul(self, other)
    def __rmul__(self, other: Tensor | Scalar) -> Tensor: return _ops.mul(other, self)
    def __truediv__(self, other: Tensor | Scalar) -> Tensor: return _ops.div(self, other)
    def __rtruediv__(self, other: Tensor | Scalar) -> Tensor: return _ops.div(other, self)
    def __pow__(self, other: Tensor | Scalar) -> Tensor: return _ops.pow(self, other)
    def __rpow__(self, other: Tensor | Scalar) -> Tensor: return _ops.pow(other, self)
    def __matmul__(self, other: Tensor) -> Tensor: return _ops.matmul(self, other)
    def __rmatmul__(self, other: Tensor) -> Tensor: return _ops.matmul(other, self)
    def __neg__(self) -> Tensor: return _ops.neg(self)
    def __pos__(self) -> Tensor: return self
    def __getitem__(self, index: Any) -> Tensor: return _ops.getitem(self, index)

    # comparisons give boolean tensors and never carry gradients
    def __eq__(self, other: Tensor | Scalar) -> Tensor: return _ops.compare("eq", self, other)
    def __ne__(self, other: Tensor | Scalar) -> Tensor: return _ops.compare("ne", self, other)
    def __lt__(self, other: Tensor | Scalar) -> Tensor: return _ops.compare("lt", self, other)
    def __le__(self, other: Tensor | Scalar) -> Tensor: return _ops.compare("le", self, other)
    def __gt__(self, other: Tensor | Scalar) -> Tensor: return _ops.compare("gt", self, other)
    def __ge__(self, other: Tensor | Scalar) -> Tensor: return _ops.compare("ge", self, other)

    # logic on bool (or integer) tensors, for masks: ~mask, a & b, a | b, a ^ b (no gradient)
    def __invert__(self) -> Tensor: return _ops.logical("not", self)
    def __and__(self, other: Tensor | Scalar) -> Tensor: return _ops.logical("and", self, other)
    def __rand__(self, other: Tensor | Scalar) -> Tensor: return _ops.logical("and", other, self)
    def __or__(self, other: Tensor | Scalar) -> Tensor: return _ops.logical("or", self, other)
    def __ror__(self, other: Tensor | Scalar) -> Tensor: return _ops.logical("or", other, self)
    def __xor__(self, other: Tensor | Scalar) -> Tensor: return _ops.logical("xor", self, other)
    def __rxor__(self, other: Tensor | Scalar) -> Tensor: return _ops.logical("xor", other, self)

    def masked_fill(self, mask: Tensor | backend.Array, value: Scalar | Tensor) -> Tensor:
        """A copy with `value` wherever the bool `mask` (broadcastable) is true; no gradient flows there."""
        return _ops.masked_fill(self, mask, value)

    # ------------------------------------------------------------------ math and reductions
    def exp(self) -> Tensor: return _ops.exp(self)
    def log(self) -> Tensor: return _ops.log(self)
    def tanh(self) -> Tensor: return _ops.tanh(self)
    def sigmoid(self) -> Tensor: return _ops.sigmoid(self)
    def relu(self) -> Tensor: return _ops.relu(self)
    def sqrt(self) -> Tensor: return _ops.sqrt(self)
    def abs(self) -> Tensor: return _ops.abs(self)
    def clip(self, lo: Scalar | None = None, hi: Scalar | None = None) -> Tensor: return _ops.clip(self, lo, hi)
    clamp = clip

    def sum(self, axis: int | Sequence[int] | None = None, keepdims: bool = False, *,
            dim: int | Sequence[int] | None = None, keepdim: bool | None = None) -> Tensor:
        return _ops.sum(self, axis, keepdims, dim=dim, keepdim=keepdim)

    def mean(self, axis: int | Sequence[int] | None = None, keepdims: bool = False, *,
             dim: int | Sequence[int] | None = None, keepdim: bool | None = None) -> Tensor:
        return _ops.mean(self, axis, keepdims, dim=dim, keepdim=keepdim)

    def max(self, axis: int | Sequence[int] | None = None, keepdims: bool = False, *,
            dim: int | Sequence[int] | None = None, keepdim: bool | None = None) -> Tensor:
        return _ops.max(self, axis, keepdims, dim=dim, keepdim=keepdim)

    def min(self, axis: int | Sequence[int] | None = None, keepdims: bool = False, *,
            dim: int | Sequence[int] | None = None, keepdim: bool | None = None) -> Tensor:
        return _ops.min(self, axis, keepdims, dim=dim, keepdim=keepdim)

    def softmax(self, dim: int) -> Tensor:
        """exp(x) / sum exp(x) along `dim` (as F.softmax)."""
        return _ops.softmax(self, dim)

    def log_softmax(self, dim: int) -> Tensor:
        """x - logsumexp(x) along `dim` (as F.log_softmax)."""
        return _ops.log_softmax(self, dim)

    def argmax(self, axis: int | None = None) -> Tensor:
        return Tensor._make(self.data.argmax(axis=axis))

    # ------------------------------------------------------------------ shape
    def reshape(self, *shape: int | Sequence[int]) -> Tensor: return _ops.reshape(self, *shape)
    view = reshape
    def transpose(self, a: int = 0, b: int = 1) -> Tensor: return _ops.transpose(self, a, b)
    def permute(self, *axes: int | Sequence[int]) -> Tensor:
        return _ops.permute(self, axes[0] if len(axes) == 1 and not isinstance(axes[0], int) else axes)
    def squeeze(self, axis: int | Sequence[int] | None = None) -> Tensor: return _ops.squeeze(self, axis)
    def unsqueeze(self, axis: int) -> Tensor: return _ops.unsqueeze(self, axis)
    def flatten(self) -> Tensor: return _ops.reshape(self, -1)
    def unbind(self, axis: int = 0) -> tuple[Tensor, ...]: return _ops.unbind(self, axis)
    def split(self, sizes: int | Sequence[int], axis: int = -1) -> tuple[Tensor, ...]:
        return _ops.split(self, sizes, axis)
    def chunk(self, chunks: int, axis: int = -1) -> tuple[Tensor, ...]: return _ops.chunk(self, chunks, axis)


def as_array(data: Any, dtype: backend.DType | str | None = None, device: str | None = None,
             copy: bool = True) -> backend.Array:
    """Backend array from user data. Python floats get the default dtype; arrays keep theirs."""
    if isinstance(data, Tensor):
        data = data.data
    dtype = None if dtype is None else backend.as_dtype(dtype)
    if dtype is not None and dtype.kind not in _NUMERIC:
        raise TypeError(f"tensor: dtype must be a number or bool dtype (float, int, bool), got {dtype}")
    if isinstance(data, (list, tuple)) and _holds_tensors(data):
        dtypes = set()
        data = _unwrap(data, dtypes)                # [mg.tensor(1.0), mg.tensor(2.0)] -> their values
        if dtype is None and len(dtypes) == 1:      # all tensors of one dtype: keep it (as PyTorch)
            dtype = dtypes.pop()
    if backend.is_array(data):
        if data.dtype.kind not in _NUMERIC:
            raise TypeError(f"tensor: cannot make a tensor from an array of dtype {data.dtype}; "
                            f"expected float, int or bool")
        device = backend.device_of(data) if device is None else device
        arr = backend.to_device(data, device)
        if dtype is not None and arr.dtype != dtype:
            return arr.astype(dtype)
        return arr.copy() if copy and arr is data else arr
    try:
        host = backend.host_array(data, dtype)
    except ValueError as e:
        if "inhomogeneous" not in str(e) and "sequence" not in str(e):
            raise
        raise ValueError(f"tensor: nested lists must be rectangular (every row of one length, tensors of one "
                         f"shape), got {type(data).__name__} of ragged rows") from None
    return backend.to_device(host, "cpu" if device is None else device)


_NUMERIC = "fiub"       # dtype kinds a tensor can hold: float, signed and unsigned int, bool


def _holds_tensors(seq) -> bool:
    return any(isinstance(v, Tensor) or (isinstance(v, (list, tuple)) and _holds_tensors(v)) for v in seq)


def _unwrap(seq, dtypes):
    """Nested lists with tensors in them -> nested lists of host arrays/numbers NumPy can stack; `dtypes`
    collects the tensors' dtypes (None for a plain number, which takes the default rules)."""
    out = []
    for v in seq:
        if isinstance(v, Tensor):
            dtypes.add(v.dtype)
            out.append(backend.to_numpy(v.data))
        elif isinstance(v, (list, tuple)):
            out.append(_unwrap(v, dtypes))
        else:
            dtypes.add(None)
            out.append(v)
    return out


# Imported last: the ops and the engine both build on the Tensor class above.
from . import autograd as _autograd  # noqa: E402
from .autograd import hooks as _hooks  # noqa: E402
from . import ops as _ops  # noqa: E402
