"""Ops that move values without changing them: reshape, permute, broadcast, dtype casts, device copies.

Every backward here is linear in the gradient and uses only operations Tensors also have, so it is
differentiated as it is when a graph of the gradient is wanted (create_graph=True).
"""
from typing import Sequence

from .. import backend
from ..autograd import Function, namespace, op_error, sum_to
from ..tensor import Tensor


def apply(op: Function, x: backend.Array | Tensor) -> backend.Array | Tensor:
    """`op` on x as x's kind asks: on an array its forward (no node), on a Tensor a graph node.
    A backward that needs an op NumPy has no function for (a cast, a scatter) calls it this way."""
    return op(x) if isinstance(x, Tensor) else op.forward(x)


class Reshape(Function):
    def __init__(self, shape: Sequence[int]) -> None:
        self.shape = shape

    def forward(self, x):
        self.in_shape = x.shape
        try:
            return x.reshape(self.shape)
        except ValueError:
            raise op_error(ValueError, "Reshape", f"cannot reshape a tensor of shape {x.shape} ({x.size} "
                                                  f"elements) into shape {tuple(self.shape)}") from None

    def backward(self, gy):
        # reshaping back routes every gradient to the element it came from
        return gy.reshape(self.in_shape)


class Permute(Function):
    def __init__(self, axes: Sequence[int]) -> None:
        self.axes = tuple(axes)

    def forward(self, x):
        if sorted(a % max(x.ndim, 1) for a in self.axes) != list(range(x.ndim)) or len(self.axes) != x.ndim:
            raise op_error(ValueError, "Permute", f"axes {self.axes} are not a permutation of the "
                                                  f"{x.ndim} axes of a tensor of shape {x.shape}")
        return x.transpose(self.axes)

    def backward(self, gy):
        # apply the inverse permutation
        inverse = [0] * len(self.axes)
        for i, a in enumerate(self.axes):
            inverse[a % len(self.axes)] = i
        return namespace(gy).transpose(gy, inverse)


class BroadcastTo(Function):
    def __init__(self, shape: Sequence[int]) -> None:
        self.shape = tuple(shape)

    def forward(self, x):
        self.in_shape = x.shape
        try:
            return backend.array_module(x).broadcast_to(x, self.shape)
        except ValueError:
            raise op_error(ValueError, "BroadcastTo", f"cannot broadcast shape {x.shape} to {self.shape}") from None

    def backward(self, gy):
        # copies of one element add their gradients
        return sum_to(gy, self.in_shape)


class Cast(Function):
    def __init__(self, dtype: backend.DType) -> None:
        self.dtype = dtype

    def forward(self, x):
        self.in_dtype = x.dtype
        return x.astype(self.dtype)

    def backward(self, gy):
        # the gradient goes back in the input's dtype
        return apply(Cast(self.in_dtype), gy)


class ToDevice(Function):
    def __init__(self, device: str) -> None:
        self.device = device

    def forward(self, x):
        self.in_device = backend.device_of(x)
        return backend.to_device(x, self.device)

    def backward(self, gy):
        # the gradient travels back to the input's device
        return apply(ToDevice(self.in_device), gy)
