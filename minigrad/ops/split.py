"""Ops with several outputs that cut a tensor into pieces: unbind (one piece per index) and split (chunks).

An RNN layer unbinds its input projection into one tensor per time step with ONE node, so that backward
stacks the T step gradients once instead of allocating a full-size zero gradient per step.
Both backwards join the pieces' gradients with `namespace(gy)`, so they also run on Tensors.
"""
from typing import Sequence

from .. import backend
from ..autograd import Function, namespace, op_error


class Unbind(Function):
    """x -> (x[0], x[1], ...) along `axis` (the axis disappears)."""

    def __init__(self, axis: int = 0) -> None:
        self.axis = axis

    def forward(self, x):
        if x.ndim == 0:
            raise op_error(ValueError, "Unbind", "cannot unbind a 0-d tensor (expected at least 1 dimension, "
                                                 "got shape ())")
        try:
            self.axis_ = backend.normalize_axis(self.axis, x.ndim)[0]
        except (ValueError, TypeError) as e:
            raise op_error(type(e), "Unbind", f"{e} (input shape {x.shape})") from None
        self.shape = x.shape
        return tuple(x[(slice(None),) * self.axis_ + (i,)] for i in range(x.shape[self.axis_]))

    def backward(self, *gys):
        # stack the pieces' gradients back; a piece nobody used contributes zeros
        g0 = next(g for g in gys if g is not None)
        xp = namespace(g0)
        return xp.stack([xp.zeros(g0.shape, g0.dtype) if g is None else g for g in gys], axis=self.axis_)


class Split(Function):
    """x -> pieces of the given sizes along `axis` (the axis stays)."""

    def __init__(self, sizes: Sequence[int], axis: int = -1) -> None:
        self.sizes, self.axis = tuple(sizes), axis

    def forward(self, x):
        if x.ndim == 0:
            raise op_error(ValueError, "Split", "cannot split a 0-d tensor (expected at least 1 dimension, "
                                                "got shape ())")
        try:
            self.axis_ = backend.normalize_axis(self.axis, x.ndim)[0]
        except (ValueError, TypeError) as e:
            raise op_error(type(e), "Split", f"{e} (input shape {x.shape})") from None
        if sum(self.sizes) != x.shape[self.axis_]:
            raise op_error(ValueError, "Split", f"sizes {self.sizes} do not add up to {x.shape[self.axis_]}, "
                                                f"the length of axis {self.axis_} of shape {x.shape}")
        self.shape = x.shape
        out, start = [], 0
        for n in self.sizes:
            out.append(x[(slice(None),) * self.axis_ + (slice(start, start + n),)])
            start += n
        return tuple(out)

    def backward(self, *gys):
        # join the pieces' gradients back where the pieces were cut from; an unused piece contributes zeros
        g0 = next(g for g in gys if g is not None)
        xp = namespace(g0)
        pieces = []
        for n, g in zip(self.sizes, gys):
            pieces.append(xp.zeros(self.shape[:self.axis_] + (n,) + self.shape[self.axis_ + 1:], g0.dtype)
                          if g is None else g)
        return xp.concatenate(pieces, axis=self.axis_)
