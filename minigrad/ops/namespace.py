"""NumPy's function names over Tensors, for backward methods that must also run on Tensors.

`namespace(gy)` (in minigrad.autograd) returns NumPy or CuPy for arrays and this for Tensors, so
`xp.where(mask, gy, 0)` in a backward is an array operation normally and a graph node when the gradient
must itself be differentiated (create_graph=True).
"""
from typing import Sequence

from .. import backend
from ..tensor import Tensor
from . import index, shape, unary


class TensorNamespace:
    """The functions backward methods use, with NumPy's signatures, recording graph nodes."""

    def __init__(self, like: Tensor) -> None:
        self.device = like.device

    def where(self, cond, a, b) -> Tensor:
        return index.Where()(cond.data if isinstance(cond, Tensor) else cond, a, b)

    def exp(self, x: Tensor) -> Tensor: return unary.Exp()(x)
    def log(self, x: Tensor) -> Tensor: return unary.Log()(x)
    def tanh(self, x: Tensor) -> Tensor: return unary.Tanh()(x)
    def sqrt(self, x: Tensor) -> Tensor: return unary.Sqrt()(x)

    def transpose(self, x: Tensor, axes: Sequence[int]) -> Tensor:
        return shape.Permute(axes)(x)

    def swapaxes(self, x: Tensor, a: int, b: int) -> Tensor:
        axes = list(range(x.ndim))
        axes[a], axes[b] = axes[b], axes[a]
        return shape.Permute(axes)(x)

    def broadcast_to(self, x: Tensor, to: Sequence[int]) -> Tensor:
        return shape.BroadcastTo(to)(x)

    def expand_dims(self, x: Tensor, axis: int) -> Tensor:
        a = backend.normalize_axis(axis, x.ndim + 1)[0]
        return shape.Reshape(x.shape[:a] + (1,) + x.shape[a:])(x)

    def concatenate(self, xs: Sequence[Tensor], axis: int = 0) -> Tensor:
        return index.Cat(axis)(*xs)

    def stack(self, xs: Sequence[Tensor], axis: int = 0) -> Tensor:
        return index.Stack(axis)(*xs)

    def zeros(self, shape: Sequence[int], dtype=None) -> Tensor:
        return Tensor._make(backend.xp_for(self.device).zeros(tuple(shape), dtype=dtype or backend.default_dtype()))

    def zeros_like(self, x: Tensor) -> Tensor:
        return self.zeros(x.shape, x.dtype)


def tensor_namespace(like: Tensor) -> TensorNamespace:
    return TensorNamespace(like)
