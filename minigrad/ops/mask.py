"""masked_fill: x with `value` written wherever a boolean mask is true (attention masks, padding).

The filled positions no longer depend on x, so their gradient is zero; the others pass it on unchanged.
The backward is a `where` on the gradient, which runs on arrays and on Tensors alike (create_graph=True).
"""
from .. import backend
from ..autograd import Function, describe, namespace, op_error, sum_to


class MaskedFill(Function):
    """y = where(mask, value, x); mask (booleans) broadcastable with x, value a number."""

    def __init__(self, mask: backend.Array, value: float) -> None:
        self.mask, self.value = mask, value

    def forward(self, x):
        xp = backend.array_module(x)
        try:
            shape = backend.broadcast_shapes(x.shape, self.mask.shape)    # shapes only: NumPy's rule
        except ValueError:
            raise op_error(ValueError, "masked_fill", f"mask of shape {self.mask.shape} does not broadcast with "
                                                      f"the input's shape {x.shape}") from None
        self.x_shape = x.shape
        try:
            value = xp.asarray(self.value, dtype=x.dtype)
        except (OverflowError, ValueError):
            value = None
        if value is None or (x.dtype.kind in "iub" and value != self.value):
            raise op_error(TypeError, "masked_fill", f"value {self.value!r} does not fit the input's dtype "
                                                     f"{x.dtype} ({describe((x,))})")
        return xp.where(self.mask, value, xp.broadcast_to(x, shape))

    def backward(self, gy):
        # filled positions: constant, gradient 0; the rest: identity (summed back over broadcast axes)
        return sum_to(namespace(gy).where(self.mask, gy.dtype.type(0), gy), self.x_shape)
