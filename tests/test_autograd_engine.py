"""The backward walk's public behaviour: tensor hooks, mg.autograd.grad, create_graph, several roots, decompose."""
import numpy as np
import pytest

import minigrad as mg
from minigrad.autograd import Function


def leaf(values):
    return mg.tensor(np.asarray(values, dtype=np.float64), requires_grad=True)


# ----------------------------------------------------------------------------- tensor hooks

def test_a_hook_on_an_intermediate_tensor_sees_its_gradient_and_can_replace_it():
    x = leaf([1.0, 2.0, 3.0])
    y = x * x
    seen = []
    y.register_hook(lambda g: seen.append(g.numpy().copy()))
    y.register_hook(lambda g: g * 10)
    (y * leaf([1.0, 1.0, 2.0]).detach()).sum().backward()
    np.testing.assert_array_equal(seen[0], [1.0, 1.0, 2.0])           # d sum(y*w)/dy = w
    np.testing.assert_array_equal(x.grad.numpy(), 10 * 2 * np.array([1.0, 2.0, 3.0]) * [1, 1, 2])


def test_a_leaf_hook_runs_once_on_the_total_gradient_before_accumulation():
    x = leaf([1.0, -2.0])
    calls = []

    def hook(g):
        calls.append(g.numpy().copy())
        return g * 2

    x.register_hook(hook)
    (x * 3 + x * x).sum().backward()                  # two edges into x: one call with their sum
    assert len(calls) == 1
    np.testing.assert_array_equal(calls[0], 3 + 2 * np.array([1.0, -2.0]))
    np.testing.assert_array_equal(x.grad.numpy(), 2 * calls[0])


def test_a_removed_hook_no_longer_runs_and_removing_twice_is_harmless():
    x = leaf([1.0])
    calls = []
    handle = x.register_hook(lambda g: calls.append(1))
    (x * 2).sum().backward()
    handle.remove()
    handle.remove()
    (x * 2).sum().backward()
    assert calls == [1]
    np.testing.assert_array_equal(x.grad.numpy(), [4.0])


def test_hooks_run_in_registration_order_and_retain_grad_sees_the_replaced_gradient():
    x = leaf([1.0, 2.0])
    y = x * 1.0
    y.retain_grad()
    order = []
    y.register_hook(lambda g: order.append("a") or g + 1)
    y.register_hook(lambda g: order.append("b") or g * 2)
    y.sum().backward()
    assert order == ["a", "b"]
    np.testing.assert_array_equal(y.grad.numpy(), [4.0, 4.0])          # (1 + 1) * 2
    np.testing.assert_array_equal(x.grad.numpy(), [4.0, 4.0])


def test_hook_errors_are_clear():
    with pytest.raises(RuntimeError, match="does not require grad"):
        mg.tensor([1.0]).register_hook(lambda g: g)
    with pytest.raises(TypeError, match="expected a callable"):
        leaf([1.0]).register_hook(3)
    x = leaf([1.0, 2.0])
    x.register_hook(lambda g: mg.tensor([1.0, 2.0, 3.0]))
    with pytest.raises(RuntimeError, match=r"shape \(3,\), expected \(2,\)"):
        (x * 2).sum().backward()
    z = leaf([1.0])
    z.register_hook(lambda g: "nope")
    with pytest.raises(TypeError, match="returned a str"):
        (z * 2).sum().backward()


# ----------------------------------------------------------------------------- mg.autograd.grad

def test_grad_returns_gradients_and_touches_no_grad():
    x, w = leaf([1.0, 2.0]), leaf([3.0, 4.0])
    gx, gw = mg.autograd.grad((x * w).sum(), (x, w))
    np.testing.assert_array_equal(gx.numpy(), [3.0, 4.0])
    np.testing.assert_array_equal(gw.numpy(), [1.0, 2.0])
    assert x.grad is None and w.grad is None
    assert not gx.requires_grad


def test_grad_with_respect_to_intermediate_tensors_counts_every_path():
    x = leaf([0.5, -1.0])
    h1 = mg.tanh(x)
    h2 = mg.tanh(h1) * h1                             # h2 depends on h1 directly and through tanh
    out = (h2 * h1).sum()
    g_h1, g_x = mg.autograd.grad(out, (h1, x))
    a = np.tanh([0.5, -1.0])
    t = np.tanh(a)
    dh1 = (1 - t ** 2) * a * a + t * a + t * a       # d/dh1 of tanh(h1)*h1*h1
    np.testing.assert_allclose(g_h1.numpy(), dh1, rtol=1e-12)
    np.testing.assert_allclose(g_x.numpy(), dh1 * (1 - a ** 2), rtol=1e-12)


def test_grad_of_an_unused_input_is_an_error_or_none():
    x, unused = leaf([1.0]), leaf([2.0])
    with pytest.raises(RuntimeError, match=r"inputs\[1\].*not used.*allow_unused=True"):
        mg.autograd.grad((x * 2).sum(), (x, unused))
    gx, gu = mg.autograd.grad((x * 2).sum(), (x, unused), allow_unused=True)
    assert gu is None and gx.numpy()[0] == 2.0


def test_grad_outputs_weight_several_outputs():
    x = leaf([1.0, 2.0])
    a, b = x * 2, x * x
    gx, = mg.autograd.grad((a, b), x, grad_outputs=(mg.tensor([1.0, 0.0], dtype=mg.float64),
                                                    mg.tensor([0.0, 1.0], dtype=mg.float64)))
    np.testing.assert_array_equal(gx.numpy(), [2.0, 4.0])


def test_grad_argument_errors_are_clear():
    x = leaf([1.0, 2.0])
    with pytest.raises(RuntimeError, match="implied only for a single-element output"):
        mg.autograd.grad(x * 2, x)
    with pytest.raises(RuntimeError, match="1 outputs but 2 gradients"):
        mg.autograd.grad((x * 2).sum(), x, grad_outputs=[None, None])
    with pytest.raises(RuntimeError, match=r"inputs\[0\].*does not require grad"):
        mg.autograd.grad((x * 2).sum(), mg.tensor([1.0]))
    with pytest.raises(RuntimeError, match=r"gradient has shape \(3,\)"):
        mg.autograd.grad(x * 2, x, grad_outputs=mg.tensor([1.0, 2.0, 3.0], dtype=mg.float64))


def test_grad_releases_the_graph_unless_retained():
    x = leaf([1.0])
    y = mg.tanh(x).sum()
    mg.autograd.grad(y, x, retain_graph=True)
    mg.autograd.grad(y, x)
    with pytest.raises(RuntimeError, match="second time"):
        mg.autograd.grad(y, x)


# ----------------------------------------------------------------------------- create_graph

def test_create_graph_gives_gradients_that_can_be_differentiated_again():
    x = leaf([0.3, -1.2])
    y = mg.tanh(x * x).sum()
    g, = mg.autograd.grad(y, x, create_graph=True)
    assert g.requires_grad and g.grad_fn is not None
    h, = mg.autograd.grad(g.sum(), x)
    v = np.array([0.3, -1.2])
    t = np.tanh(v ** 2)
    np.testing.assert_allclose(g.numpy(), 2 * v * (1 - t ** 2), rtol=1e-12)
    np.testing.assert_allclose(h.numpy(), 2 * (1 - t ** 2) - 8 * v ** 2 * t * (1 - t ** 2), rtol=1e-12)


def test_third_derivative_of_x_cubed():
    x = leaf([2.0])
    y = (x * x * x).sum()
    d1, = mg.autograd.grad(y, x, create_graph=True)
    d2, = mg.autograd.grad(d1.sum(), x, create_graph=True)
    d3, = mg.autograd.grad(d2.sum(), x)
    assert (d1.item(), d2.item(), d3.item()) == (12.0, 12.0, 6.0)


def test_backward_with_create_graph_leaves_a_differentiable_grad():
    x = leaf([1.5])
    (x * x * x).sum().backward(create_graph=True)
    assert x.grad.grad_fn is not None
    g = x.grad
    x.grad = None
    g.sum().backward()
    assert x.grad.item() == pytest.approx(6 * 1.5)


def test_a_hook_under_create_graph_receives_a_tensor_in_the_graph():
    x = leaf([0.7])
    y = x * x
    y.register_hook(lambda g: g * x)                  # the replaced gradient depends on x
    g, = mg.autograd.grad((y * 1.0).sum(), x, create_graph=True)   # g = 2x * x
    h, = mg.autograd.grad(g.sum(), x)
    assert g.item() == pytest.approx(2 * 0.7 * 0.7)
    assert h.item() == pytest.approx(4 * 0.7)


def test_several_roots_backward_at_once():
    x = leaf([1.0, 2.0])
    a, b = (x * 3).sum(), (x * x).sum()
    mg.autograd.backward([a, b])
    np.testing.assert_array_equal(x.grad.numpy(), [3 + 2, 3 + 4])


# ----------------------------------------------------------------------------- decompose and custom backward

class CubeWithArrayBackward(Function):
    """x**3 with a backward in array code; decompose gives the engine something to differentiate."""

    def forward(self, x):
        self.x = x
        return x ** 3

    def backward(self, gy):
        return gy * 3 * self.x ** 2

    def decompose(self, x):
        return x * x * x


class CubeWithoutDecompose(CubeWithArrayBackward):
    decompose = None

    def backward(self, gy):
        return np.multiply(gy, 3 * self.x ** 2)      # array-only: cannot run on Tensors


def test_decompose_gives_an_array_backward_a_second_derivative():
    x = leaf([0.5, -2.0])
    g, = mg.autograd.grad(CubeWithArrayBackward()(x).sum(), x, create_graph=True)
    h, = mg.autograd.grad(g.sum(), x)
    np.testing.assert_allclose(g.numpy(), 3 * np.array([0.5, -2.0]) ** 2)
    np.testing.assert_allclose(h.numpy(), 6 * np.array([0.5, -2.0]))


def test_an_array_only_backward_under_create_graph_names_the_op():
    x = leaf([0.5])
    with pytest.raises(TypeError, match="CubeWithoutDecompose.backward cannot run on Tensors.*decompose"):
        mg.autograd.grad(CubeWithoutDecompose()(x).sum(), x, create_graph=True)
    y = leaf([0.5])
    mg.autograd.grad(CubeWithoutDecompose()(y).sum(), y)    # first order is fine


def test_the_backward_graph_carries_the_forward_nodes_facts():
    x = leaf([0.1, 0.2])
    with mg.annotate(t=3, layer=0):
        y = mg.tanh(x)
    g, = mg.autograd.grad(y.sum(), x, create_graph=True)
    meta = g.grad_fn.meta
    assert meta["t"] == 3 and meta["layer"] == 0 and meta["backward_of"] == y.grad_fn.id
