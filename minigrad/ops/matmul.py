"""Matrix product x @ y: 2-D, batched (broadcast leading axes), and 1-D vectors as NumPy treats them."""
from ..autograd import Function, describe, namespace, op_error, sum_to
from ..backend import broadcast_shapes


class MatMul(Function):
    def forward(self, x, y):
        if x.ndim == 0 or y.ndim == 0:
            raise op_error(ValueError, "MatMul", f"both operands need at least 1 dimension, got shapes "
                                                 f"{x.shape} @ {y.shape}")
        if x.shape[-1] != y.shape[-2 if y.ndim > 1 else 0]:
            raise op_error(ValueError, "MatMul", f"shapes {x.shape} @ {y.shape} do not align: expected "
                                                 f"x.shape[-1] == y.shape[-2] (inputs: {describe((x, y))})")
        self.saved = (x, y)
        return x @ y

    def backward(self, gy):
        # d(XY) = dX Y + X dY  =>  gX = gY Y^T,  gY = X^T gY  (summed over broadcast batch axes)
        x_in, y_in = self.saved
        # treat vectors as a row (x) or a column (y), as NumPy does, and undo it at the end
        x = x_in if x_in.ndim > 1 else x_in.reshape(1, -1)
        y = y_in if y_in.ndim > 1 else y_in.reshape(-1, 1)
        if x_in.ndim == 1 or y_in.ndim == 1:
            batch = broadcast_shapes(x.shape[:-2], y.shape[:-2])
            gy = gy.reshape(batch + (x.shape[-2], y.shape[-1]))
        xp = namespace(gy)
        gx = gw = None
        if self.needs_grad[0]:
            gx = gy @ xp.swapaxes(y, -1, -2)
            gx = sum_to(gx, x.shape).reshape(x_in.shape)
        if self.needs_grad[1]:
            gw = xp.swapaxes(x, -1, -2) @ gy
            gw = sum_to(gw, y.shape).reshape(y_in.shape)
        return gx, gw
