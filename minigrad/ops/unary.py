"""Elementwise math functions of one tensor: exp, log, tanh, sigmoid, relu, sqrt, abs, clip.

Backward reads the input or output it differentiates through from `self.saved`; the masks of the kinked
functions (relu, abs, clip) are constants, as their second derivative is zero wherever it exists.
"""
import math

from ..autograd import Function
from .. import backend
from ..backend import Array, array_module


class Exp(Function):
    def forward(self, x):
        y = array_module(x).exp(x)
        self.saved = (y,)
        return y

    def backward(self, gy):
        # d exp(x)/dx = exp(x)
        y, = self.saved
        return gy * y


class Log(Function):
    def forward(self, x):
        self.saved = (x,)
        return array_module(x).log(x)

    def backward(self, gy):
        # d ln(x)/dx = 1/x
        x, = self.saved
        return gy / x


class Tanh(Function):
    def forward(self, x):
        y = array_module(x).tanh(x)
        self.saved = (y,)
        return y

    def backward(self, gy):
        # d tanh(x)/dx = 1 - tanh(x)^2
        y, = self.saved
        return gy * (1 - y * y)


def sigmoid(x: Array) -> Array:
    """1 / (1 + exp(-x)) as a new array, in four array passes and without overflow: x is first raised to
    1 - log(largest float), below which the true value is under the smallest normal float (float16 is
    computed in float32; integers give float64)."""
    xp = array_module(x)
    if x.dtype.kind != "f":
        work = out = backend.float64                     # integers and bools: float64, as NumPy's exp
    else:
        work, out = (backend.float32 if x.dtype.itemsize < 4 else x.dtype), x.dtype
    floor = _EXP_FLOOR.get(work)
    if floor is None:
        floor = _EXP_FLOOR[work] = 1 - math.log(float(xp.finfo(work).max))
    a = xp.maximum(x, floor, out=xp.empty(x.shape, dtype=work))
    xp.negative(a, out=a)
    return sigmoid_of_negated_(a).astype(out, copy=False)


_EXP_FLOOR = {}       # dtype -> 1 - log(largest float): sigmoid's lower clamp


def sigmoid_(a: Array) -> Array:
    """a <- 1 / (1 + exp(-a)) in place."""
    return sigmoid_of_negated_(array_module(a).negative(a, out=a))


def sigmoid_of_negated_(a: Array) -> Array:
    """a <- 1 / (1 + exp(a)) = sigmoid(-a) in place. Where a >> 0, exp(a) overflows to inf and the result is
    exactly 0, which is right: that overflow is expected, so its warning is silenced here."""
    xp = array_module(a)
    with backend.errstate(a, over="ignore"):
        xp.exp(a, out=a)
    a += 1
    xp.reciprocal(a, out=a)
    return a


class Sigmoid(Function):
    def forward(self, x):
        # 1/(1+e^-x), full relative precision in both tails (sigmoid(-20) is 2e-9, not 0), no overflow
        y = sigmoid(x)
        self.saved = (y,)
        return y

    def backward(self, gy):
        # d sigmoid(x)/dx = sigmoid(x) (1 - sigmoid(x))
        y, = self.saved
        return gy * y * (1 - y)


class ReLU(Function):
    def forward(self, x):
        self.mask = x > 0
        return x * self.mask

    def backward(self, gy):
        # d relu(x)/dx = 1 where x > 0, else 0
        return gy * self.mask


class Sqrt(Function):
    def forward(self, x):
        y = array_module(x).sqrt(x)
        self.saved = (y,)
        return y

    def backward(self, gy):
        # d sqrt(x)/dx = 1 / (2 sqrt(x))
        y, = self.saved
        return gy / (2 * y)


class Abs(Function):
    def forward(self, x):
        xp = array_module(x)
        self.sign = xp.sign(x)
        return xp.abs(x)

    def backward(self, gy):
        # d|x|/dx = sign(x) (0 at x = 0)
        return gy * self.sign


class Clip(Function):
    def __init__(self, lo: float | None, hi: float | None) -> None:
        self.lo, self.hi = lo, hi

    def forward(self, x):
        xp = array_module(x)
        self.inside = xp.ones(x.shape, dtype=bool)
        if self.lo is not None:
            self.inside &= x >= self.lo
        if self.hi is not None:
            self.inside &= x <= self.hi
        return xp.clip(x, self.lo, self.hi)

    def backward(self, gy):
        # gradient passes where lo <= x <= hi, is zero where the value was clipped
        return gy * self.inside
