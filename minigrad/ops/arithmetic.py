"""Elementwise arithmetic with NumPy broadcasting: +, -, *, /, **, unary minus.

Each backward sums its gradient back to its input's shape with `sum_to` (broadcasting's reverse).
"""
from ..autograd import Function, sum_to
from ..backend import array_module


class Add(Function):
    def forward(self, x, y):
        self.shapes = x.shape, y.shape
        return x + y

    def backward(self, gy):
        # d(x+y)/dx = 1, d(x+y)/dy = 1
        return sum_to(gy, self.shapes[0]), sum_to(gy, self.shapes[1])


class Sub(Function):
    def forward(self, x, y):
        self.shapes = x.shape, y.shape
        return x - y

    def backward(self, gy):
        # d(x-y)/dx = 1, d(x-y)/dy = -1
        gx = sum_to(gy, self.shapes[0]) if self.needs_grad[0] else None
        gy_ = -sum_to(gy, self.shapes[1]) if self.needs_grad[1] else None
        return gx, gy_


class Mul(Function):
    def forward(self, x, y):
        self.save_for_backward(x, y)
        return x * y

    def backward(self, gy):
        # d(xy)/dx = y, d(xy)/dy = x
        x, y = self.saved
        gx = sum_to(gy * y, x.shape) if self.needs_grad[0] else None
        gy_ = sum_to(gy * x, y.shape) if self.needs_grad[1] else None
        return gx, gy_


class Div(Function):
    def forward(self, x, y):
        self.x, self.y = x, y
        return x / y

    def backward(self, gy):
        # d(x/y)/dx = 1/y, d(x/y)/dy = -x/y^2
        g = gy / self.y
        gx = sum_to(g, self.x.shape) if self.needs_grad[0] else None
        gy_ = sum_to(-g * self.x / self.y, self.y.shape) if self.needs_grad[1] else None
        return gx, gy_


class Neg(Function):
    def forward(self, x):
        return -x

    def backward(self, gy):
        # d(-x)/dx = -1
        return -gy


class Pow(Function):
    def forward(self, x, y):
        self.x, self.y = x, y
        self.out = x ** y
        return self.out

    def backward(self, gy):
        # d(x^y)/dx = y x^(y-1),  d(x^y)/dy = x^y ln x
        x, y = self.x, self.y
        gx = sum_to(gy * y * x ** (y - 1), x.shape) if self.needs_grad[0] else None
        gy_ = None
        if self.needs_grad[1]:
            gy_ = sum_to(gy * self.out * array_module(x).log(x), y.shape)
        return gx, gy_
