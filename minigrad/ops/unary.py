"""Elementwise math functions of one tensor: exp, log, tanh, sigmoid, relu, sqrt, abs, clip."""
from ..autograd import Function
from .. import backend
from ..backend import array_module


class Exp(Function):
    def forward(self, x):
        self.y = array_module(x).exp(x)
        return self.y

    def backward(self, gy):
        # d exp(x)/dx = exp(x)
        return gy * self.y


class Log(Function):
    def forward(self, x):
        self.x = x
        return array_module(x).log(x)

    def backward(self, gy):
        # d ln(x)/dx = 1/x
        return gy / self.x


class Tanh(Function):
    def forward(self, x):
        self.y = array_module(x).tanh(x)
        return self.y

    def backward(self, gy):
        # d tanh(x)/dx = 1 - tanh(x)^2
        return gy * (1 - self.y * self.y)


class Sigmoid(Function):
    def forward(self, x):
        # 1/(1+e^-x), full relative precision in both tails (sigmoid(-20) is 2e-9, not 0), no overflow
        self.y = backend.sigmoid(x)
        return self.y

    def backward(self, gy):
        # d sigmoid(x)/dx = sigmoid(x) (1 - sigmoid(x))
        return gy * self.y * (1 - self.y)


class ReLU(Function):
    def forward(self, x):
        self.mask = x > 0
        return x * self.mask

    def backward(self, gy):
        # d relu(x)/dx = 1 where x > 0, else 0
        return gy * self.mask


class Sqrt(Function):
    def forward(self, x):
        self.y = array_module(x).sqrt(x)
        return self.y

    def backward(self, gy):
        # d sqrt(x)/dx = 1 / (2 sqrt(x))
        return gy / (2 * self.y)


class Abs(Function):
    def forward(self, x):
        xp = array_module(x)
        self.sign = xp.sign(x)
        return xp.abs(x)

    def backward(self, gy):
        # d|x|/dx = sign(x) (0 at x = 0)
        return gy * self.sign


class Clip(Function):
    def __init__(self, lo, hi):
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
