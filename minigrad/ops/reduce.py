"""Reductions over axes: sum, mean, max, min (NumPy's `axis`/`keepdims`).

Each backward is linear in the gradient (max/min's tie mask is a constant), written with operations
Tensors also have, so it serves create_graph=True as it is.
"""
from typing import Sequence

from .. import backend
from ..autograd import Function, namespace, op_error


def _expand(gy, in_shape, axes, keepdims):
    """Put back the reduced axes of `gy` (as size 1) and broadcast to the input's shape."""
    if not keepdims:
        gy = gy.reshape(tuple(1 if i in axes else n for i, n in enumerate(in_shape)))
    return namespace(gy).broadcast_to(gy, in_shape)


class _Reduction(Function):
    def __init__(self, axis: int | Sequence[int] | None = None, keepdims: bool = False) -> None:
        self.axis, self.keepdims = axis, keepdims

    def _axes(self, x):
        try:
            return backend.normalize_axis(self.axis, x.ndim)
        except (ValueError, TypeError) as e:
            raise op_error(type(e), self.name, f"{e} (input shape {x.shape})") from None


class Sum(_Reduction):
    def forward(self, x):
        self.axes, self.in_shape = self._axes(x), x.shape
        return x.sum(axis=self.axes, keepdims=self.keepdims)

    def backward(self, gy):
        # every summed element receives the gradient of the sum
        return _expand(gy, self.in_shape, self.axes, self.keepdims)


class Mean(_Reduction):
    def forward(self, x):
        self.axes, self.in_shape = self._axes(x), x.shape
        return x.mean(axis=self.axes, keepdims=self.keepdims)

    def backward(self, gy):
        # each of the n averaged elements receives gy / n
        n = 1
        for a in self.axes:
            n *= self.in_shape[a]
        return _expand(gy / n, self.in_shape, self.axes, self.keepdims)


class Max(_Reduction):
    """Largest value along axes. Gradient: split evenly between tied maxima."""
    pick = "max"

    def forward(self, x):
        self.axes, self.in_shape = self._axes(x), x.shape
        if x.size == 0:
            raise op_error(ValueError, self.name, f"cannot reduce an empty tensor of shape {x.shape}")
        y = getattr(x, self.pick)(axis=self.axes, keepdims=True)
        self.mask = x == y
        return y if self.keepdims else y.reshape(tuple(n for i, n in enumerate(x.shape) if i not in self.axes))

    def backward(self, gy):
        # d max/dx_i = 1/k for each of the k elements equal to the max, else 0
        count = self.mask.sum(axis=self.axes, keepdims=True)
        share = _expand(gy, self.in_shape, self.axes, self.keepdims) / count
        return share * self.mask


class Min(Max):
    """Smallest value along axes. Gradient: split evenly between tied minima."""
    pick = "min"
