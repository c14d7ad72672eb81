"""Module hooks (PyTorch's names): forward pre-hooks, forward hooks and full backward hooks: order,
replacement, removal, nested modules, state_dict untouched, and backward-hook gradients equal to grad()."""
import numpy as np
import pytest

import minigrad as mg
from minigrad import nn


def leaf(shape, seed=0, requires_grad=True):
    values = np.random.default_rng(seed).standard_normal(shape)
    return mg.tensor(values, dtype=mg.float64, requires_grad=requires_grad)


def linear(n_in=3, n_out=2, seed=0):
    mg.manual_seed(seed)
    return nn.Linear(n_in, n_out).double()


class Scale(nn.Module):
    """forward(x, s, k) = x * s * k: two Tensor arguments and a number, for grad_input layouts."""

    def forward(self, x, s, k=1.0):
        return x * s * k


class TwoOut(nn.Module):
    def forward(self, x):
        return x.tanh(), x * x, "not a tensor"


# ----------------------------------------------------------------------------- forward hooks

def test_hooks_run_in_registration_order_and_stop_after_remove():
    m, calls = linear(), []
    handles = [m.register_forward_pre_hook(lambda mod, args: calls.append("pre1")),
               m.register_forward_hook(lambda mod, args, out: calls.append("fwd1")),
               m.register_forward_pre_hook(lambda mod, args: calls.append("pre2")),
               m.register_forward_hook(lambda mod, args, out: calls.append("fwd2"))]
    m(leaf((4, 3)))
    assert calls == ["pre1", "pre2", "fwd1", "fwd2"]
    handles[0].remove()
    handles[3].remove()
    handles[3].remove()                                  # twice is harmless
    calls.clear()
    m(leaf((4, 3)))
    assert calls == ["pre2", "fwd1"]


def test_handle_as_context_manager():
    m, calls = linear(), []
    with m.register_forward_hook(lambda mod, args, out: calls.append(out.shape)):
        m(leaf((4, 3)))
    m(leaf((4, 3)))
    assert calls == [(4, 2)]


def test_hooks_see_the_module_args_and_output():
    m, seen = linear(), {}
    x = leaf((4, 3))
    m.register_forward_pre_hook(lambda mod, args: seen.update(pre=(mod, args)))
    m.register_forward_hook(lambda mod, args, out: seen.update(fwd=(mod, args, out)))
    y = m(x)
    assert seen["pre"][0] is m and seen["pre"][1][0] is x and len(seen["pre"][1]) == 1
    assert seen["fwd"][2] is y and seen["fwd"][1][0] is x


def test_pre_hook_replaces_args_and_a_single_value_is_wrapped():
    m = Scale()
    x, s = leaf((3,)), leaf((3,), seed=1)
    m.register_forward_pre_hook(lambda mod, args: args[0] * 2)          # a single value: becomes (x * 2,)
    m.register_forward_pre_hook(lambda mod, args: (args[0], s, 3.0))   # the next hook sees the new args
    np.testing.assert_allclose(m(x, leaf((3,), seed=5)).numpy(), x.numpy() * 2 * s.numpy() * 3.0)


def test_pre_hook_returning_none_keeps_args():
    m = linear()
    x = leaf((4, 3))
    expected = m(x).numpy()
    m.register_forward_pre_hook(lambda mod, args: None)
    np.testing.assert_array_equal(m(x).numpy(), expected)


def test_forward_hook_replaces_output_and_changes_the_gradient():
    m = linear()
    x = leaf((4, 3))
    m(x).sum().backward()
    plain = x.grad.numpy().copy()
    x.grad = None
    m.register_forward_hook(lambda mod, args, out: out * 3.0)
    m.register_forward_hook(lambda mod, args, out: None)               # None keeps the (replaced) output
    y = m(x)
    y.sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), 3.0 * plain, rtol=1e-12)


def test_hooks_on_nested_modules_see_their_own_calls():
    mg.manual_seed(0)
    net = nn.Sequential(nn.Linear(3, 4), nn.Linear(4, 2)).double()
    order = []
    for name, mod in net.named_modules():
        mod.register_forward_pre_hook(lambda m, a, name=name: order.append(("pre", name or "net")))
        mod.register_forward_hook(lambda m, a, o, name=name: order.append(("fwd", name or "net", o.shape)))
    net(leaf((5, 3)))
    assert order == [("pre", "net"), ("pre", "0"), ("fwd", "0", (5, 4)), ("pre", "1"), ("fwd", "1", (5, 2)),
                     ("fwd", "net", (5, 2))]


def test_hooks_are_not_state():
    m = linear()
    calls = []
    m.register_forward_hook(lambda mod, args, out: calls.append(1))
    m.register_full_backward_hook(lambda mod, gi, go: calls.append(2))
    state = m.state_dict()
    assert sorted(state) == ["bias", "weight"]
    other = linear(seed=3)
    m.load_state_dict(other.state_dict())
    np.testing.assert_array_equal(m.weight.numpy(), other.weight.numpy())
    m(leaf((2, 3))).sum().backward()
    assert calls == [1, 2]                               # the hooks survived the round trip


def test_call_without_hooks_takes_one_check():
    m = linear()
    assert m._module_hooks is None                       # no hook container until one is registered
    m.register_forward_hook(lambda mod, args, out: None).remove()
    assert m._module_hooks is not None and not m._module_hooks.forward
    assert nn.Linear(2, 2)._module_hooks is None         # per instance, never shared


def test_register_rejects_non_callables():
    with pytest.raises(TypeError, match="callable"):
        linear().register_forward_hook(3)


# ----------------------------------------------------------------------------- full backward hooks

def test_backward_hook_gradients_equal_grad_of_the_same_thing():
    m, seen = linear(), []
    m.register_full_backward_hook(lambda mod, gi, go: seen.append((mod, gi, go)))
    x = leaf((4, 3))
    y = m(x)
    w = leaf((4, 2), seed=7, requires_grad=False)
    loss = (y * y * w).sum()
    gx, gy = mg.autograd.grad(loss, (x, y), retain_graph=True)
    assert len(seen) == 1                                # grad() runs the hooks too (as PyTorch)
    seen.clear()
    loss.backward()
    (mod, grad_input, grad_output), = seen
    assert mod is m and len(grad_input) == 1 and len(grad_output) == 1
    assert isinstance(grad_input[0], mg.Tensor) and isinstance(grad_output[0], mg.Tensor)
    np.testing.assert_allclose(grad_input[0].numpy(), gx.numpy(), rtol=1e-12)
    np.testing.assert_allclose(grad_output[0].numpy(), gy.numpy(), rtol=1e-12)
    np.testing.assert_allclose(grad_output[0].numpy(), 2 * y.numpy() * w.numpy(), rtol=1e-12)


def test_backward_hook_grad_input_layout_follows_positional_args():
    m, seen = Scale(), []
    m.register_full_backward_hook(lambda mod, gi, go: seen.append(gi))
    x, s = leaf((3,)), leaf((3,), seed=1, requires_grad=False)
    m(x, s, 2.0).sum().backward()
    gi, = seen
    assert len(gi) == 3 and gi[1] is None and gi[2] is None          # s needs no grad; 2.0 is not a Tensor
    np.testing.assert_allclose(gi[0].numpy(), 2.0 * s.numpy(), rtol=1e-12)


def test_backward_hook_grad_output_for_tuple_outputs():
    m, seen = TwoOut(), []
    m.register_full_backward_hook(lambda mod, gi, go: seen.append(go))
    x = leaf((3,))
    a, b, label = m(x)
    assert label == "not a tensor"
    (a * 2.0).sum().backward()                           # b unused: no gradient for it
    go, = seen
    assert len(go) == 3 and go[1] is None and go[2] is None
    np.testing.assert_allclose(go[0].numpy(), np.full(3, 2.0))


def test_backward_hook_replaces_grad_input():
    m = linear()
    x = leaf((4, 3))
    m(x).sum().backward()
    plain = x.grad.numpy().copy()
    x.grad = None
    m.register_full_backward_hook(lambda mod, gi, go: (gi[0] * 10.0,))
    m.register_full_backward_hook(lambda mod, gi, go: None)
    seen = []
    m.register_full_backward_hook(lambda mod, gi, go: seen.append(gi[0].numpy()))   # sees the replacement
    m(x).sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), 10.0 * plain, rtol=1e-12)
    np.testing.assert_allclose(seen[0], 10.0 * plain, rtol=1e-12)
    assert m.weight.grad is not None                     # parameter gradients are untouched by grad_input


def test_backward_hook_bad_replacements_are_clear_errors():
    m = linear()
    m.register_full_backward_hook(lambda mod, gi, go: (gi[0], gi[0]))
    with pytest.raises(RuntimeError, match="returned 2 gradients, expected 1"):
        m(leaf((4, 3))).sum().backward()
    m = linear()
    m.register_full_backward_hook(lambda mod, gi, go: (mg.zeros(2, 2),))
    with pytest.raises(RuntimeError, match=r"grad_input\[0\] has shape \(2, 2\), expected the input's shape"):
        m(leaf((4, 3))).sum().backward()


def test_backward_hook_when_no_input_requires_grad():
    m, seen = linear(), []
    m.register_full_backward_hook(lambda mod, gi, go: seen.append((gi, go)))
    x = leaf((4, 3), requires_grad=False)
    y = m(x)
    (y * 3.0).sum().backward()
    (gi, go), = seen
    assert gi == (None,)
    np.testing.assert_allclose(go[0].numpy(), np.full((4, 2), 3.0))
    m2 = linear()
    m2.register_full_backward_hook(lambda mod, gi, go: (mg.zeros(4, 3),))
    with pytest.raises(RuntimeError, match="no input of this call requires grad"):
        m2(x).sum().backward()


def test_backward_hooks_on_nested_modules_run_inner_last():
    mg.manual_seed(0)
    net = nn.Sequential(nn.Linear(3, 4), nn.Linear(4, 2)).double()
    order = []
    for name, mod in net.named_modules():
        mod.register_full_backward_hook(lambda m, gi, go, name=name: order.append((name or "net", gi[0].shape,
                                                                                   go[0].shape)))
    net(leaf((5, 3))).sum().backward()
    assert order == [("1", (5, 4), (5, 2)), ("0", (5, 3), (5, 4)), ("net", (5, 3), (5, 2))]


def test_no_backward_hook_nodes_under_no_grad():
    m, seen = linear(), []
    m.register_full_backward_hook(lambda mod, gi, go: seen.append(1))
    with mg.no_grad():
        y = m(leaf((4, 3)))
    assert y.grad_fn is None and not y.requires_grad


def test_backward_hook_in_create_graph_mode_gets_differentiable_tensors():
    # y = x^2 elementwise through a module; the hook sees gradients that carry a graph
    class Square(nn.Module):
        def forward(self, x):
            return x * x

    m, seen = Square(), []
    m.register_full_backward_hook(lambda mod, gi, go: seen.append(gi[0]))
    x = leaf((3,))
    gx, = mg.autograd.grad((m(x) * x).sum(), x, create_graph=True)   # d(x^3)/dx = 3x^2
    np.testing.assert_allclose(gx.numpy(), 3 * x.numpy() ** 2, rtol=1e-12)
    assert seen[0].requires_grad                         # d(x^2 * c)/dx at c = x: 2x * x, itself a graph
    g2, = mg.autograd.grad(gx.sum(), x)
    np.testing.assert_allclose(g2.numpy(), 6 * x.numpy(), rtol=1e-12)


def test_backward_hook_replacement_in_create_graph_mode_is_differentiated():
    class Square(nn.Module):
        def forward(self, x):
            return x * x

    m = Square()
    m.register_full_backward_hook(lambda mod, gi, go: (gi[0] * 2.0,))
    x = leaf((3,))
    gx, = mg.autograd.grad(m(x).sum(), x, create_graph=True)         # 2 * 2x
    np.testing.assert_allclose(gx.numpy(), 4 * x.numpy(), rtol=1e-12)
    # the second pass goes back through the same module call, so the hook doubles its gradient again (as in
    # PyTorch, where the hooks belong to the call's graph node): d(4x)/dx = 4, times 2
    g2, = mg.autograd.grad(gx.sum(), x)
    np.testing.assert_allclose(g2.numpy(), np.full(3, 8.0))
