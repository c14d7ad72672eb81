"""Elementwise arithmetic with NumPy broadcasting: +, -, *, /, **, unary minus.

Each backward sums its gradient back to its input's shape with `sum_to` (broadcasting's reverse).
Backward reads what it differentiates through from `self.saved` and uses only operations Tensors also
have, so the same code gives the gradient (arrays) and a graph of it (create_graph=True).
"""
from ..autograd import Function, namespace, sum_to


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
        self.saved = (x, y)
        return x * y

    def backward(self, gy):
        # d(xy)/dx = y, d(xy)/dy = x
        x, y = self.saved
        gx = sum_to(gy * y, x.shape) if self.needs_grad[0] else None
        gy_ = sum_to(gy * x, y.shape) if self.needs_grad[1] else None
        return gx, gy_


class Div(Function):
    def forward(self, x, y):
        self.saved = (x, y)
        return x / y

    def backward(self, gy):
        # d(x/y)/dx = 1/y, d(x/y)/dy = -x/y^2
        x, y = self.saved
        g = gy / y
        gx = sum_to(g, x.shape) if self.needs_grad[0] else None
        gy_ = sum_to(-g * x / y, y.shape) if self.needs_grad[1] else None
        return gx, gy_


class Neg(Function):
    def forward(self, x):
        return -x

    def backward(self, gy):
        # d(-x)/dx = -1
        return -gy


class Pow(Function):
    def forward(self, x, y):
        out = x ** y
        self.saved = (x, y, out)
        return out

    def backward(self, gy):
        # d(x^y)/dx = y x^(y-1),  d(x^y)/dy = x^y ln x
        x, y, out = self.saved
        gx = sum_to(gy * y * x ** (y - 1), x.shape) if self.needs_grad[0] else None
        gy_ = None
        if self.needs_grad[1]:
            gy_ = sum_to(gy * out * namespace(gy).log(x), y.shape)
        return gx, gy_
