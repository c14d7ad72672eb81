"""Indexing and joining: x[index], cat, stack, where.

Every backward is linear in the gradient and runs on arrays and on Tensors alike (create_graph=True):
x[index] and its scatter (IndexAdd) are each other's backward.
"""
from typing import Any

from .. import backend
from ..autograd import Function, namespace, op_error, sum_to
from .shape import apply


def _is_basic(index):
    """True for indices made of ints, slices, None and Ellipsis only (no repeated elements)."""
    parts = index if isinstance(index, tuple) else (index,)
    return all(p is None or p is Ellipsis or isinstance(p, (int, slice)) for p in parts)


def scatter_add(target: backend.Array, index: Any, values: backend.Array) -> None:
    """target[index] += values in place, repeated indices accumulating (plain `+=` would keep only one)."""
    backend.array_module(target).add.at(target, index, values)    # numpy.add.at / cupy.add.at


class GetItem(Function):
    """x[index] with ints, slices, None, ..., boolean masks and integer arrays."""

    def __init__(self, index: Any) -> None:
        self.index = index

    def forward(self, x):
        self.in_shape = x.shape
        return x[self.index]

    def backward(self, gy):
        # each selected element gets its gradient back; repeated integer indices accumulate
        return apply(IndexAdd(self.in_shape, self.index), gy)


class IndexAdd(Function):
    """zeros(shape) with `values` added at `index`, repeated indices accumulating: GetItem's backward."""

    def __init__(self, shape: tuple[int, ...], index: Any) -> None:
        self.shape, self.index = shape, index

    def forward(self, values):
        out = backend.array_module(values).zeros(self.shape, dtype=values.dtype)
        if _is_basic(self.index):
            out[self.index] = values
        else:
            scatter_add(out, self.index, values)
        return out

    def backward(self, gy):
        # each value was added at its index: it reads its gradient back from there
        return apply(GetItem(self.index), gy)


class Cat(Function):
    def __init__(self, axis: int = 0) -> None:
        self.axis = axis

    def forward(self, *xs):
        shapes = [x.shape for x in xs]
        ndim = xs[0].ndim
        if ndim == 0 or any(x.ndim != ndim for x in xs):
            raise op_error(ValueError, "Cat", f"expected inputs with the same number (>= 1) of dimensions, "
                                              f"got shapes {shapes}")
        axis = _axis(self, self.axis, ndim)
        rest = [s[:axis] + s[axis + 1:] for s in shapes]
        if any(r != rest[0] for r in rest):
            raise op_error(ValueError, "Cat", f"expected equal shapes except along axis {axis}, got shapes {shapes}")
        self.axis_, self.sizes = axis, [s[axis] for s in shapes]
        return backend.array_module(xs[0]).concatenate(xs, axis=axis)

    def backward(self, gy):
        # split the gradient back into the pieces that were joined
        out, start = [], 0
        for n in self.sizes:
            index = (slice(None),) * self.axis_ + (slice(start, start + n),)
            out.append(gy[index])
            start += n
        return tuple(out)


class Stack(Function):
    def __init__(self, axis: int = 0) -> None:
        self.axis = axis

    def forward(self, *xs):
        shapes = [x.shape for x in xs]
        if any(s != shapes[0] for s in shapes):
            raise op_error(ValueError, "Stack", f"expected inputs of equal shape, got shapes {shapes}")
        self.axis_ = _axis(self, self.axis, xs[0].ndim + 1)
        return backend.array_module(xs[0]).stack(xs, axis=self.axis_)

    def backward(self, gy):
        # take each input's slice of the gradient along the new axis
        return tuple(gy[(slice(None),) * self.axis_ + (i,)] for i in range(gy.shape[self.axis_]))


class Where(Function):
    """where(cond, a, b): a where cond is true, else b (cond gets no gradient)."""

    def forward(self, cond, a, b):
        self.cond, self.shapes = cond, (a.shape, b.shape)
        return backend.array_module(a).where(cond, a, b)

    def backward(self, gy):
        # the gradient goes to whichever input was picked at each position
        zero = gy.dtype.type(0)
        xp = namespace(gy)
        ga = sum_to(xp.where(self.cond, gy, zero), self.shapes[0]) if self.needs_grad[1] else None
        gb = sum_to(xp.where(self.cond, zero, gy), self.shapes[1]) if self.needs_grad[2] else None
        return None, ga, gb


def _axis(op, axis, ndim):
    try:
        return backend.normalize_axis(axis, ndim)[0]
    except (ValueError, TypeError) as e:
        raise op_error(type(e), op.name, str(e)) from None
