"""Layer normalisation: each sample normalised over its last axes, then scaled and shifted.

    mu = mean(x), var = mean((x - mu)^2) over the normalised axes (the biased variance, as PyTorch)
    x_hat = (x - mu) / sqrt(var + eps),   y = x_hat * weight + bias

Forward and the hand-derived backward sit side by side; `decompose` writes the same function in plain ops,
which the engine differentiates when a gradient must itself be differentiated (create_graph=True).
"""
from .. import backend
from ..autograd import Function, describe, op_error


class LayerNorm(Function):
    """y = (x - mean) / sqrt(var + eps) * weight + bias over the last `n_axes` axes of x.

    Inputs: x, then weight if `has_weight`, then bias if `has_bias` (each of the normalised shape).
    """

    def __init__(self, n_axes: int, eps: float = 1e-5, has_weight: bool = True, has_bias: bool = True) -> None:
        self.n_axes, self.eps = n_axes, eps
        self.has_weight, self.has_bias = has_weight, has_bias

    def _split(self, params):
        """(weight or None, bias or None) from the inputs after x."""
        params = list(params)
        w = params.pop(0) if self.has_weight else None
        b = params.pop(0) if self.has_bias else None
        return w, b

    def forward(self, x, *params):
        if x.dtype.kind != "f":
            raise op_error(TypeError, "layer_norm", f"expected a floating point input, got {describe((x,))}")
        w, b = self._split(params)
        self.axes = tuple(range(x.ndim - self.n_axes, x.ndim))
        self.lead = tuple(range(x.ndim - self.n_axes))          # the axes every sample is spread over
        xp = backend.array_module(x)
        mu = x.mean(axis=self.axes, keepdims=True)
        centred = x - mu
        var = (centred * centred).mean(axis=self.axes, keepdims=True)
        rstd = 1 / xp.sqrt(var + self.eps)
        x_hat = centred * rstd
        self.x_hat, self.rstd, self.w = x_hat, rstd, w          # what backward reads (array code)
        y = x_hat if w is None else x_hat * w
        return y if b is None else y + b

    def backward(self, gy):
        # y = x_hat w + b:  gb = sum of gy, gw = sum of gy x_hat over the samples (the leading axes).
        # x_hat = (x - mu) rstd, mu and rstd depend on every x_i of a sample; with g = gy w and means over
        # the normalised axes:  gx = rstd (g - mean(g) - x_hat mean(g x_hat))
        x_hat, rstd, w = self.x_hat, self.rstd, self.w
        g = gy if w is None else gy * w
        gx = None
        if self.needs_grad[0]:
            gx = rstd * (g - g.mean(axis=self.axes, keepdims=True)
                         - x_hat * (g * x_hat).mean(axis=self.axes, keepdims=True))
        grads = [gx]
        if self.has_weight:
            grads.append((gy * x_hat).sum(axis=self.lead) if self.needs_grad[len(grads)] else None)
        if self.has_bias:
            grads.append(gy.sum(axis=self.lead) if self.needs_grad[len(grads)] else None)
        return tuple(grads)

    def decompose(self, x, *params):
        """The same function in plain ops (means, a square root, a division), for higher derivatives."""
        w, b = self._split(params)
        centred = x - x.mean(axis=self.axes, keepdims=True)
        y = centred / ((centred * centred).mean(axis=self.axes, keepdims=True) + self.eps).sqrt()
        if w is not None:
            y = y * w
        return y if b is None else y + b
