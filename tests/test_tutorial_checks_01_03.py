"""The exercise checks of notebooks 1-3 fail a wrong answer with their hint and pass the model answer."""
import math

import numpy as np

import minigrad as mg

from tutorial_modules import checks


def _said(capsys):
    return capsys.readouterr().out.strip()


# ----------------------------------------------------------------------------- notebook 1
class Value:
    """The notebook's scalar engine, cut down to what the checks use."""

    def __init__(self, data, parents=()):
        self.data, self.grad, self._parents, self._backward = float(data), 0.0, parents, lambda: None

    def _op(self, other, data, da, db):
        other = other if isinstance(other, Value) else Value(other)
        out = Value(data(self.data, other.data), (self, other))

        def _backward():
            self.grad += da(self.data, other.data) * out.grad
            other.grad += db(self.data, other.data) * out.grad
        out._backward = _backward
        return out

    def __add__(self, other):
        return self._op(other, lambda a, b: a + b, lambda a, b: 1.0, lambda a, b: 1.0)

    def __mul__(self, other):
        return self._op(other, lambda a, b: a * b, lambda a, b: b, lambda a, b: a)

    def tanh(self):
        return self._op(0.0, lambda a, b: math.tanh(a), lambda a, b: 1 - math.tanh(a) ** 2, lambda a, b: 0.0)

    def backward(self):
        order, seen, stack = [], set(), [(self, False)]
        while stack:
            v, done = stack.pop()
            if done:
                order.append(v)
            elif v not in seen:
                seen.add(v)
                stack.append((v, True))
                stack.extend((p, False) for p in v._parents)
        self.grad = 1.0
        for v in reversed(order):
            v._backward()


def _pow(assign):
    def value_pow(self, k):
        out = Value(self.data ** k, (self,))

        def _backward():
            if assign:
                self.grad = k * self.data ** (k - 1) * out.grad      # wrong: overwrites the other use's share
            else:
                self.grad += k * self.data ** (k - 1) * out.grad
        out._backward = _backward
        return out
    return value_pow


def test_value_pow(capsys):
    Value.__pow__ = _pow(assign=False)
    checks.nb01_value_pow(Value, _pow(assign=False))
    assert _said(capsys).startswith(f"{checks.PASS} 1.1 ")
    Value.__pow__ = _pow(assign=True)
    checks.nb01_value_pow(Value, _pow(assign=True))
    out = _said(capsys)
    assert out.startswith(f"{checks.FAIL} 1.1 ") and "add into self.grad (+=)" in out
    Value.__pow__ = lambda self, k: None
    checks.nb01_value_pow(Value, lambda self, k: None)
    assert checks.NOT_ANSWERED in _said(capsys)


def _softplus(backward):
    class Softplus(mg.Function):
        def forward(self, x):
            self.x = x
            return np.logaddexp(0, x)
    Softplus.backward = backward
    return Softplus


def test_softplus(capsys):
    checks.nb01_softplus(_softplus(lambda self, gy: gy * np.exp(-np.logaddexp(0, -self.x))))
    assert _said(capsys).startswith(f"{checks.PASS} 1.2 ")
    checks.nb01_softplus(_softplus(lambda self, gy: gy * self.x))
    out = _said(capsys)
    assert out.startswith(f"{checks.FAIL} 1.2 ") and "gradcheck failed" in out and "sigmoid" in out
    with np.errstate(over="ignore", invalid="ignore"):
        checks.nb01_softplus(_softplus(lambda self, gy: gy * np.exp(self.x) / (1 + np.exp(self.x))))
    out = _said(capsys)
    assert out.startswith(f"{checks.FAIL} 1.2 ") and "not finite" in out


# ----------------------------------------------------------------------------- notebook 2
MEASURED = {1: 6, 7: 36, 40: 201}       # what viz.capture counts for run(x, h0).sum() in notebook 2


def test_graph_size(capsys):
    checks.nb02_graph_size(lambda T: 5 * T + 1, MEASURED)
    assert _said(capsys).startswith(f"{checks.PASS} 2.1 ")
    checks.nb02_graph_size(lambda T: 6 * T + 1, MEASURED)
    out = _said(capsys)
    assert out.startswith(f"{checks.FAIL} 2.1 ") and "GetItem appears only when x requires grad" in out
    checks.nb02_graph_size(lambda T: 5 * T, MEASURED)
    assert "off by a constant" in _said(capsys)
    checks.nb02_graph_size(lambda T: 2 * T, MEASURED)
    assert "grows by 2 per step" in _said(capsys)


def _dhT_da(weighted=True, only_last=False):
    def dhT_da(xs, a):
        T, h_prev, total = len(xs), 0.0, 0.0
        for t, x in enumerate(xs, start=1):
            share = h_prev - x
            total = share if only_last else total + (a ** (T - t) if weighted else 1.0) * share
            h_prev = a * h_prev + (1 - a) * x
        return total
    return dhT_da


def test_running_average_grad(capsys):
    checks.nb02_running_average_grad(_dhT_da())
    assert _said(capsys).startswith(f"{checks.PASS} 2.2 ")
    checks.nb02_running_average_grad(_dhT_da(weighted=False))
    out = _said(capsys)
    assert out.startswith(f"{checks.FAIL} 2.2 ") and "multiply it by a ** (T - t)" in out
    checks.nb02_running_average_grad(_dhT_da(only_last=True))
    assert "the last step's use of a only" in _said(capsys)
    checks.nb02_running_average_grad(lambda xs, a: None)
    assert checks.NOT_ANSWERED in _said(capsys)


# ----------------------------------------------------------------------------- notebook 3
def _hidden_states(shift=False, act=True):
    def hidden_states(x, W_ih, W_hh, b):
        h, hs = mg.zeros(W_hh.shape[0], dtype=x.dtype), []
        for t in range(x.shape[0]):
            a = W_ih @ x[t] + W_hh @ h + b
            if shift:
                hs.append(h)                     # wrong: collects h_{t-1}
            h = a.tanh() if act else a
            if not shift:
                hs.append(h)
        return mg.stack(hs)
    return hidden_states


def test_hidden_states(capsys):
    checks.nb03_hidden_states(_hidden_states())
    assert _said(capsys).startswith(f"{checks.PASS} 3.1 ")
    checks.nb03_hidden_states(_hidden_states(shift=True))
    out = _said(capsys)
    assert out.startswith(f"{checks.FAIL} 3.1 ") and "h_0..h_{T-1}" in out
    checks.nb03_hidden_states(_hidden_states(act=False))
    assert "differ from nn.RNN's" in _said(capsys)


def _nll(scores, targets):
    m = scores.max(axis=1, keepdims=True)
    return (m[:, 0] + np.log(np.exp(scores - m).sum(axis=1)) - scores[np.arange(len(targets)), targets]).sum()


def test_nll(capsys):
    checks.nb03_nll(_nll)
    assert _said(capsys).startswith(f"{checks.PASS} 3.2 ")
    checks.nb03_nll(lambda o, y: -np.log(np.exp(o[np.arange(len(y)), y]) / np.exp(o).sum(axis=1)).sum())
    out = _said(capsys)
    assert out.startswith(f"{checks.FAIL} 3.2 ") and "subtract m = max_j o_j" in out
    checks.nb03_nll(lambda o, y: _nll(o, y) / len(y))
    assert "the mean over time" in _said(capsys)
    checks.nb03_nll(lambda o, y: -_nll(o, y))
    assert "sign is flipped" in _said(capsys)
    checks.nb03_nll(lambda o, y: None)
    assert checks.NOT_ANSWERED in _said(capsys)
