"""The autograd engine: ordering, accumulation, graph lifetime, grad modes, scopes, anomaly detection
and the gradcheck tool itself."""
import gc
import re
import sys
import weakref

import numpy as np
import pytest

import minigrad as mg
from minigrad import Function


def leaf(values, device="cpu"):
    return mg.tensor(np.asarray(values, dtype=np.float64), dtype=mg.float64, device=device, requires_grad=True)


# ----------------------------------------------------------------------------- long chains and wide graphs

def test_chain_of_200k_ops_backward_without_recursion():
    n_steps = 100_000                                   # two ops per step: 200,000 nodes in one chain
    x = leaf(1.0)
    c, b = mg.tensor(1.000001, dtype=mg.float64), mg.tensor(0.001, dtype=mg.float64)
    y = x
    for _ in range(n_steps):
        y = y * c
        y = y + b
    limit = sys.getrecursionlimit()
    sys.setrecursionlimit(1000)                         # a recursive walk would need 200,000 frames
    try:
        y.backward()
    finally:
        sys.setrecursionlimit(limit)
    # y = c^n x + b (c^n - 1)/(c - 1)  =>  dy/dx = c^n
    np.testing.assert_allclose(x.grad.item(), 1.000001 ** n_steps, rtol=1e-9)
    np.testing.assert_allclose(y.item(), 1.000001 ** n_steps + 0.001 * (1.000001 ** n_steps - 1) / 1e-6, rtol=1e-6)


def test_one_tensor_used_1000_times(device):
    x_np = np.array([0.3, -0.7, 1.1])
    x = leaf(x_np, device)
    h = x.tanh()                                        # an intermediate with 1,000 consumers
    calls = []
    original = type(h.grad_fn).backward

    def counting_backward(self, gy):
        calls.append(1)
        return original(self, gy)

    h.grad_fn.backward = counting_backward.__get__(h.grad_fn)
    total = mg.stack([h * float(i) + x for i in range(1000)]).sum()
    total.backward()
    assert len(calls) == 1, "a node must run its backward once, after all its consumers"
    s = sum(range(1000))
    np.testing.assert_allclose(x.grad.numpy(), s * (1 - np.tanh(x_np) ** 2) + 1000, rtol=1e-12)


def test_fan_in_through_a_sum_chain():
    x = leaf([1.0, 2.0])
    acc = x * 0.0
    for i in range(1000):
        acc = acc + x * (i % 7)
    acc.sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), [sum(i % 7 for i in range(1000))] * 2)


def test_x_times_x_is_two_x(device):
    x = leaf([1.5, -2.0, 3.0], device)
    (x * x).sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), [3.0, -4.0, 6.0])
    x.grad = None
    (x * x * x).sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), 3 * np.array([1.5, -2.0, 3.0]) ** 2)


def test_diamonds_gradcheck(device):
    def diamonds(x):
        h = x
        for _ in range(30):
            left, right = h.tanh(), h * 0.5
            h = left * right + h.sigmoid()
        return h
    assert mg.gradcheck(diamonds, [leaf([0.3, -0.4, 0.9], device)])


def test_diamond_with_unequal_branches():
    """The short branch reaches `a` first; `a` must still wait for the 100-node branch."""
    x = leaf(0.5)
    a = x * 2.0
    long = a
    for _ in range(100):
        long = long * 1.01
    (long + a).backward()
    np.testing.assert_allclose(x.grad.item(), 2 * (1.01 ** 100 + 1), rtol=1e-12)


# ----------------------------------------------------------------------------- backward() semantics

def test_leaf_grad_accumulates_across_backward_calls():
    x_np = np.array([1.0, -2.0])
    x = leaf(x_np)
    (x * 3.0).sum().backward()
    (x * x).sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), 3 + 2 * x_np)


def test_retain_graph_allows_a_second_backward():
    x = leaf([1.0, 2.0])
    y = (x * x).sum()
    y.backward(retain_graph=True)
    y.backward()
    np.testing.assert_allclose(x.grad.numpy(), [4.0, 8.0])
    with pytest.raises(RuntimeError, match="retain_graph"):
        y.backward()


def test_second_backward_without_retain_graph_raises():
    x = leaf([1.0, 2.0])
    y = (x.exp() * 2).sum()
    y.backward()
    with pytest.raises(RuntimeError, match="retain_graph=True") as info:
        y.backward()
    assert "second time" in str(info.value)


def test_backward_through_a_released_part_of_a_shared_graph_raises():
    x = leaf([1.0, 2.0])
    h = x.exp()
    h.sum().backward()
    with pytest.raises(RuntimeError, match="retain_graph"):
        (h * 2).sum().backward()


def test_non_scalar_backward_needs_grad():
    x = leaf([[1.0, 2.0]])
    y = x * 2
    with pytest.raises(RuntimeError, match=r"single-element.*\(1, 2\)"):
        y.backward()


def test_backward_with_explicit_grad(device):
    x = leaf([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]], device)
    g = np.arange(6.0).reshape(2, 3)
    (x * 3.0).backward(gradient=mg.tensor(g, dtype=mg.float64, device=device), retain_graph=True)
    np.testing.assert_allclose(x.grad.numpy(), 3 * g)
    x.grad = None
    y = x.exp()
    y.backward(mg.tensor(g, device=device).data)        # a raw array works too
    np.testing.assert_allclose(x.grad.numpy(), g * np.exp(x.numpy()))
    with pytest.raises(RuntimeError, match=r"shape \(3,\).*\(2, 3\)"):
        (x * 1.0).backward(gradient=mg.tensor([1.0, 2.0, 3.0], device=device))


def test_user_grad_array_is_never_aliased_into_dot_grad():
    x = leaf([1.0, 2.0])
    g = mg.tensor([1.0, 1.0], dtype=mg.float64)
    (x + 0.0).backward(g)
    (x + 0.0).backward(g)
    np.testing.assert_array_equal(g.numpy(), [1.0, 1.0])
    np.testing.assert_array_equal(x.grad.numpy(), [2.0, 2.0])


def test_backward_on_a_leaf_and_constants_get_no_grad():
    x = leaf(2.0)
    x.backward()
    assert x.grad.item() == 1.0
    w = leaf([1.0, 2.0])
    c = mg.tensor([3.0, 4.0], dtype=mg.float64)
    (w * c).sum().backward()
    assert c.grad is None
    np.testing.assert_array_equal(w.grad.numpy(), [3.0, 4.0])


class TwoOutputs(Function):
    """(2x, x^2): a node with two outputs."""

    def forward(self, x):
        self.x = x
        return 2 * x, x * x

    def backward(self, g_double, g_square):
        # d(2x)/dx = 2, d(x^2)/dx = 2x; an unused output sends None
        gx = 0
        if g_double is not None:
            gx = gx + 2 * g_double
        if g_square is not None:
            gx = gx + 2 * self.x * g_square
        return gx


def test_multi_output_node():
    x = leaf([1.0, 3.0])
    double, square = TwoOutputs()(x)
    assert double.grad_fn is square.grad_fn
    square.sum().backward()                             # only the second output is used
    np.testing.assert_allclose(x.grad.numpy(), [2.0, 6.0])
    x.grad = None
    double, square = TwoOutputs()(x)
    (double * 5.0 + square).sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), [12.0, 16.0])
    assert mg.gradcheck(lambda t: TwoOutputs()(t), [leaf([0.5, -1.5])])


class WrongShape(Function):
    def forward(self, x):
        return x * 2

    def backward(self, gy):
        return gy.sum()                                 # a bug: the gradient lost its shape


def test_backward_of_the_wrong_shape_names_the_op():
    x = leaf([1.0, 2.0])
    with pytest.raises(RuntimeError, match=r"WrongShape.*shape \(\).*\(2,\)"):
        WrongShape()(x).sum().backward()


# ----------------------------------------------------------------------------- grad modes, detach, retain_grad

def test_no_grad_and_enable_grad_as_context_managers():
    x = leaf([1.0])
    with mg.no_grad():
        assert not mg.is_grad_enabled()
        y = x * 2
        with mg.enable_grad():
            assert mg.is_grad_enabled()
            z = x * 2
        assert not mg.is_grad_enabled()
    assert mg.is_grad_enabled()
    assert y.grad_fn is None and not y.requires_grad
    assert z.grad_fn is not None and z.requires_grad
    with pytest.raises(ZeroDivisionError):
        with mg.no_grad():
            1 / 0
    assert mg.is_grad_enabled()                         # restored after an exception


def test_no_grad_and_enable_grad_as_decorators():
    x = leaf([1.0])

    @mg.no_grad()
    def infer(t):
        assert not mg.is_grad_enabled()
        return inner(t), t * 3

    @mg.enable_grad()
    def inner(t):
        assert mg.is_grad_enabled()
        return t * 2

    assert infer.__name__ == "infer"
    recorded, plain = infer(x)
    assert recorded.requires_grad and recorded.grad_fn is not None
    assert not plain.requires_grad and plain.grad_fn is None
    assert mg.is_grad_enabled()


def test_detach():
    x = leaf([1.0, 2.0])
    y = x * 3.0
    d = y.detach()
    assert d.grad_fn is None and not d.requires_grad and d.is_leaf
    np.testing.assert_array_equal(d.numpy(), y.numpy())
    (d * x).sum().backward()                            # d is a constant: grad = d
    np.testing.assert_array_equal(x.grad.numpy(), [3.0, 6.0])


def test_retain_grad_on_a_non_leaf():
    x = leaf([1.0, -2.0])
    h = x * 3.0
    h.retain_grad()
    k = h * 2.0                                         # not retained
    (k * h).sum().backward()                            # d/dh 2h^2 = 4h
    np.testing.assert_allclose(h.grad.numpy(), 4 * h.numpy())
    assert k.grad is None
    np.testing.assert_allclose(x.grad.numpy(), 12 * h.numpy())
    with pytest.raises(RuntimeError, match="does not require grad"):
        mg.tensor([1.0]).retain_grad()


# ----------------------------------------------------------------------------- graph lifetime

def _build(x):
    h = x * 2.0
    y = h.relu()
    loss = (y * y).sum()
    return h, y, loss


@pytest.mark.parametrize("run_backward", [False, True])
def test_graph_is_freed_by_reference_counting_alone(run_backward):
    gc.collect()
    gc.disable()
    try:
        x = leaf([1.0, -2.0, 3.0])
        h, y, loss = _build(x)
        refs = [weakref.ref(h), weakref.ref(y), weakref.ref(h.grad_fn), weakref.ref(y.grad_fn),
                weakref.ref(loss.grad_fn)]
        if run_backward:
            loss.backward()
        del h, y
        assert any(r() is not None for r in refs), "the loss keeps its graph alive"
        del loss
        assert [r() for r in refs] == [None] * len(refs), "graph not freed without the garbage collector"
        assert x.grad is None or x.grad.shape == (3,)
    finally:
        gc.enable()


def test_saved_arrays_are_released_after_backward():
    x = leaf([1.0, -2.0, 3.0])
    y = x.relu()
    node = y.grad_fn
    mask = weakref.ref(node.mask)                       # an array that only the node holds
    loss = (y * 2.0).sum()
    loss.backward(retain_graph=True)
    assert mask() is not None and node.inputs, "retain_graph=True must keep saved arrays"
    loss.backward()
    assert mask() is None, "the saved mask outlived backward"
    assert vars(node) == {} and node.inputs == ()
    np.testing.assert_array_equal(x.grad.numpy(), [4.0, 0.0, 4.0])


# ----------------------------------------------------------------------------- scopes

def test_nested_scopes_are_recorded_on_nodes():
    x = leaf([1.0])
    a = x * 2
    with mg.scope("encoder"):
        b = a.exp()
        with mg.scope("t=3") as s:
            assert s.name == "t=3" and mg.current_scope() == ("encoder", "t=3")
            c = b.tanh()
        d = c + 1
    e = d * 3
    assert a.grad_fn.scope == ()
    assert b.grad_fn.scope == ("encoder",)
    assert c.grad_fn.scope == ("encoder", "t=3")
    assert d.grad_fn.scope == ("encoder",)
    assert e.grad_fn.scope == ()
    assert a.grad_fn.id < b.grad_fn.id < c.grad_fn.id < d.grad_fn.id < e.grad_fn.id
    with pytest.raises(KeyError):
        with mg.scope("broken"):
            raise KeyError("x")
    assert mg.current_scope() == ()


# ----------------------------------------------------------------------------- detect_anomaly

def test_detect_anomaly_names_the_op_and_scope_of_a_forward_nan():
    x = leaf([1.0, -1.0])
    with np.errstate(invalid="ignore"):
        y = x.log()                                     # without the mode, NaN flows on silently
        assert np.isnan(y.numpy()[1])
        with mg.detect_anomaly(), mg.scope("decoder"), mg.scope("t=7"):
            h = x * 2.0                                 # finite: no complaint
            with pytest.raises(RuntimeError, match=r"Log.*decoder/t=7.*NaN or Inf.*output"):
                h.log()
    assert mg.current_scope() == ()


def test_detect_anomaly_catches_an_inf_that_appears_first_in_backward():
    x = leaf([0.0, 4.0])
    with np.errstate(divide="ignore"):
        with mg.detect_anomaly():
            with mg.scope("cell"):
                y = x.sqrt()                            # forward is finite: sqrt(0) = 0
            loss = (y * 2.0).sum()
            with pytest.raises(RuntimeError, match=r"Sqrt.*'cell'.*gradient"):
                loss.backward()
        x.grad = None
        z = (x.sqrt() * 2.0).sum()
        z.backward()                                    # outside the mode: inf, no error
    assert np.isinf(x.grad.numpy()[0])


# ----------------------------------------------------------------------------- gradcheck, the tool

class SquareWithBug(Function):
    """x^2 whose backward is wrong at two elements (by 0.5 at (1, 2), by 0.1 at (0, 1)) when `buggy`."""

    def __init__(self, buggy=True):
        self.buggy = buggy

    def forward(self, x):
        self.x = x
        return x * x

    def backward(self, gy):
        # d x^2 / dx = 2x (plus the planted error)
        gx = 2 * self.x * gy
        if self.buggy:
            bump = np.zeros(self.x.shape)
            bump[1, 2], bump[0, 1] = 0.5, 0.1
            gx = gx + bump * gy
        return gx


X_BUG = np.array([[0.5, -1.0, 1.5], [2.0, -0.5, 1.25]])


def test_gradcheck_passes_a_correct_op():
    assert mg.gradcheck(lambda x: SquareWithBug(buggy=False)(x), [leaf(X_BUG)])
    assert mg.gradcheck(lambda x: SquareWithBug(buggy=False)(x), [leaf(X_BUG)], directions=3)


def test_gradcheck_reports_the_worst_element():
    with pytest.raises(mg.GradcheckError) as info:
        mg.gradcheck(lambda x: SquareWithBug()(x).sum(), [leaf(X_BUG)])
    message = str(info.value)
    assert isinstance(info.value, RuntimeError)
    assert "input 0" in message and "(2, 3)" in message and "element (1, 2)" in message, message
    analytic = float(re.search(r"analytic (\S+)", message).group(1))
    numeric = float(re.search(r"numeric (\S+)", message).group(1))
    # the output is weighted by some w: analytic = w (2x + 0.5), numeric = w 2x at x = X_BUG[1, 2]
    w = numeric / (2 * X_BUG[1, 2])
    np.testing.assert_allclose(analytic, w * (2 * X_BUG[1, 2] + 0.5), rtol=1e-6)
    assert not mg.gradcheck(lambda x: SquareWithBug()(x).sum(), [leaf(X_BUG)], raise_exception=False)


def test_gradcheck_directions_mode_catches_the_bug():
    with pytest.raises(mg.GradcheckError, match=r"direction \d+: analytic .* vs numeric"):
        mg.gradcheck(lambda x: SquareWithBug()(x), [leaf(X_BUG)], directions=4)


def test_gradcheck_leaves_inputs_and_their_grads_unchanged():
    x = leaf(X_BUG)
    x.grad = mg.tensor(np.full((2, 3), 7.0))
    mg.gradcheck(lambda t: (t * t).tanh(), [x])
    mg.gradcheck(lambda t: (t * t).tanh(), [x], directions=2)
    np.testing.assert_array_equal(x.numpy(), X_BUG)
    np.testing.assert_array_equal(x.grad.numpy(), np.full((2, 3), 7.0))


# ----------------------------------------------------------------------------- structured facts for pictures

def test_annotate_records_facts_on_the_nodes_made_inside_and_nests():
    x = mg.randn(3, requires_grad=True)
    with mg.annotate(layer=1, cell="LSTM"):
        a = x.tanh()
        with mg.annotate(t=4, layer=2):
            b = a.exp()
        assert mg.current_meta() == {"layer": 1, "cell": "LSTM"}
    c = b.sum()
    assert a.grad_fn.meta == {"layer": 1, "cell": "LSTM"}
    assert b.grad_fn.meta == {"layer": 2, "cell": "LSTM", "t": 4}
    assert c.grad_fn.meta is None and mg.current_meta() == {}


def test_function_label_attributes_and_released_are_public():
    x = mg.randn(2, 3, requires_grad=True)
    y = x.sum(axis=1)
    node = y.grad_fn
    assert node.label() == node.name == "Sum"
    attrs = node.attributes()
    assert all(not k.startswith("_") for k in attrs) and not any(hasattr(v, "shape") for v in attrs.values())
    a, b = mg.split(x, [1, 2], axis=1)
    assert (a.output_index, b.output_index) == (0, 1)
    assert not node.released
    y.sum().backward()
    assert node.released
