"""mg.autograd.functional: jacobian, hessian, vjp, jvp, vhp, hvp and jacobian_of, against closed forms and
float64 central differences; PyTorch's return conventions; strict mode; create_graph; product consistency."""
import numpy as np
import pytest
from hypothesis import given, strategies as st

import minigrad as mg
from minigrad import nn
from minigrad.autograd.functional import hessian, hvp, jacobian, jacobian_of, jvp, vhp, vjp

EPS = 1e-6


def t64(values, requires_grad=False):
    return mg.tensor(np.asarray(values, dtype=np.float64), dtype=mg.float64, requires_grad=requires_grad)


def rand(shape, seed, requires_grad=False):
    return t64(np.random.default_rng(seed).standard_normal(shape), requires_grad)


def numeric_jacobian(func, inputs):
    """J[i][j] by central differences on func's values (func of NumPy arrays -> tuple of arrays)."""
    arrays = [x.numpy().astype(np.float64) for x in inputs]
    outs = func(*arrays)
    result = [[np.zeros(o.shape + a.shape) for a in arrays] for o in outs]
    for j, a in enumerate(arrays):
        for idx in np.ndindex(a.shape):
            plus = [b.copy() for b in arrays]
            minus = [b.copy() for b in arrays]
            plus[j][idx] += EPS
            minus[j][idx] -= EPS
            for i, (p, m) in enumerate(zip(func(*plus), func(*minus))):
                result[i][j][(...,) + idx] = (p - m) / (2 * EPS)
    return result


def values(func):
    """A minigrad function of tensors as a function of arrays returning a tuple of arrays (for numeric_jacobian)."""
    def run(*arrays):
        with mg.no_grad():
            out = func(*[t64(a) for a in arrays])
        return tuple(o.numpy() for o in (out if isinstance(out, tuple) else (out,)))
    return run


def gradient_of(func):
    """The first derivative of a single-element func through first-order backward only (no create_graph)."""
    def run(*arrays):
        xs = [t64(a, requires_grad=True) for a in arrays]
        return tuple(g.numpy() for g in mg.autograd.grad(func(*xs), xs, allow_unused=True))
    return run


def close(a, b, **kw):
    np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=kw.get("rtol", 1e-7), atol=kw.get("atol", 1e-9))


# the functions under test use ops whose backward is itself differentiable (Mul, Tanh, Add, Sub, Sum, MatMul,
# indexing), so their second derivatives are exact
def f_tanh_affine(x):                      # (3,) -> (2,): tanh(A x + b)
    return (A @ x + B).tanh()


A = rand((2, 3), seed=1)
B = rand((2,), seed=2)


def f_two_in_two_out(x, y):                # (3,), (2, 3) -> (2, 3), ()
    return x * y, (x * x * y[0]).sum() + y[1, 2]


def f_scalar(x, y):                        # (3,), (2,) -> (): smooth, with cross terms
    return (x * x * x).sum() * y[0] + ((A @ x) * y).tanh().sum() - y[1] * y[1]


# ----------------------------------------------------------------------------- jacobian

def test_jacobian_single_input_single_output_matches_closed_form_and_differences():
    x = rand((3,), seed=0)
    J = jacobian(f_tanh_affine, x)
    assert isinstance(J, mg.Tensor) and J.shape == (2, 3) and not J.requires_grad
    y = np.tanh(A.numpy() @ x.numpy() + B.numpy())
    close(J.numpy(), (1 - y * y)[:, None] * A.numpy(), rtol=1e-12, atol=0)
    close(J.numpy(), numeric_jacobian(values(f_tanh_affine), [x])[0][0])


def test_jacobian_tuples_are_nested_out_then_in_with_concatenated_shapes():
    x, y = rand((3,), seed=3), rand((2, 3), seed=4)
    J = jacobian(f_two_in_two_out, (x, y))
    assert isinstance(J, tuple) and len(J) == 2 and all(isinstance(row, tuple) and len(row) == 2 for row in J)
    assert [[j.shape for j in row] for row in J] == [[(2, 3, 3), (2, 3, 2, 3)], [(3,), (2, 3)]]
    expected = numeric_jacobian(values(f_two_in_two_out), [x, y])
    for i in range(2):
        for j in range(2):
            close(J[i][j].numpy(), expected[i][j])


def test_jacobian_one_level_less_for_each_single_tensor():
    x, y = rand((3,), seed=3), rand((2, 3), seed=4)
    by_input = jacobian(lambda x, y: (x * y).sum(axis=0), (x, y))            # single output, tuple inputs
    assert isinstance(by_input, tuple) and [j.shape for j in by_input] == [(3, 3), (3, 2, 3)]
    by_output = jacobian(lambda x: (x * x, x.sum()), x)                      # tuple outputs, single input
    assert isinstance(by_output, tuple) and [j.shape for j in by_output] == [(3, 3), (3,)]
    close(by_output[0].numpy(), np.diag(2 * x.numpy()), rtol=1e-12, atol=0)
    close(by_output[1].numpy(), np.ones(3), rtol=0, atol=0)
    one = jacobian(lambda x: x * x, (x,))                                    # a 1-tuple stays a tuple
    assert isinstance(one, tuple) and len(one) == 1 and one[0].shape == (3, 3)
    one = jacobian(lambda x: (x * x,), (x,))
    assert isinstance(one, tuple) and isinstance(one[0], tuple) and one[0][0].shape == (3, 3)


def test_jacobian_of_scalars_and_lists():
    x = t64(0.5)
    J = jacobian(lambda x: x * x * x, x)
    assert J.shape == () and J.item() == pytest.approx(3 * 0.25, rel=1e-12)
    J = jacobian(lambda x, y: x * y, [t64([1.0, 2.0]), t64([3.0, 4.0])])      # a list counts as a tuple
    close(J[1].numpy(), np.diag([1.0, 2.0]), rtol=0, atol=0)


def test_jacobian_leaves_the_inputs_alone_and_works_under_no_grad():
    x = rand((3,), seed=0, requires_grad=True)
    with mg.no_grad():
        J = jacobian(f_tanh_affine, x)
    assert x.grad is None and J.shape == (2, 3) and not J.requires_grad
    seen = []
    jacobian(lambda z: seen.append(z) or z * 2.0, x)
    assert seen[0] is not x and seen[0].requires_grad and seen[0].grad_fn is None   # a fresh leaf copy


def test_jacobian_independent_input_is_zeros_or_a_strict_error():
    x, y = rand((3,), seed=0), rand((2,), seed=1)
    J = jacobian(lambda x, y: x * 2.0, (x, y))
    close(J[1].numpy(), np.zeros((3, 2)), rtol=0, atol=0)
    with pytest.raises(RuntimeError, match=r"jacobian: output 0 is independent of input 1; not allowed with "
                                           r"strict=True"):
        jacobian(lambda x, y: x * 2.0, (x, y), strict=True)
    constant = jacobian(lambda x: mg.ones(2, dtype=mg.float64), x)          # an output computed without x
    close(constant.numpy(), np.zeros((2, 3)), rtol=0, atol=0)
    with pytest.raises(RuntimeError, match="output 0 is independent of input 0"):
        jacobian(lambda x: mg.ones(2, dtype=mg.float64), x, strict=True)


def test_bad_arguments_are_clear_errors():
    x = rand((3,), seed=0)
    with pytest.raises(TypeError, match=r"jacobian: inputs must be a Tensor or a tuple of Tensors \(item 0 is a list"):
        jacobian(f_tanh_affine, [[1.0, 2.0]])
    with pytest.raises(TypeError, match="jvp: inputs must be a Tensor or a tuple of Tensors, got a ndarray"):
        jvp(f_tanh_affine, np.ones(3))
    with pytest.raises(TypeError, match=r"jacobian: the outputs of func must be a Tensor .*got a float"):
        jacobian(lambda x: 1.0, x)
    with pytest.raises(TypeError, match="hessian: inputs\\[0\\] has dtype int64"):
        hessian(lambda x: x.sum(), mg.tensor([1, 2]))
    with pytest.raises(RuntimeError, match=r"hessian: func must return a single Tensor with a single element, "
                                           r"got shape \(3,\)"):
        hessian(lambda x: x * x, x)
    with pytest.raises(RuntimeError, match="vjp: v can be None only when the outputs are a single Tensor"):
        vjp(lambda x: x * x, x)
    with pytest.raises(RuntimeError, match=r"jvp: v\[0\] has shape \(2,\), expected the shape \(3,\) of inputs"):
        jvp(lambda x: x * x, x, t64([1.0, 2.0]))
    with pytest.raises(RuntimeError, match="hvp: v has 1 tensors, expected 2"):
        hvp(f_scalar, (x, rand((2,), seed=1)), (x,))
    with pytest.raises(RuntimeError, match="jacobian_of: inputs\\[0\\] .* does not require grad"):
        jacobian_of(x * 2.0, x)


def test_create_graph_jacobian_is_differentiable_with_respect_to_the_inputs():
    x = rand((3,), seed=0, requires_grad=True)
    J = jacobian(lambda x: x * x * x, x, create_graph=True)                  # diag(3 x^2)
    assert J.requires_grad
    J.sum().backward()
    close(x.grad.numpy(), 6 * x.numpy(), rtol=1e-12, atol=0)


# ----------------------------------------------------------------------------- hessian

def test_hessian_matches_closed_form():
    x = rand((4,), seed=5)
    H = hessian(lambda x: (x * x * x).sum() + (x.tanh() * x[0]).sum(), x)
    a = x.numpy()
    t = np.tanh(a)
    expected = np.diag(6 * a - 2 * t * (1 - t * t) * a[0])                  # d2/dx_k^2 of x_k^3 + tanh(x_k) x_0
    expected[0, :] += 1 - t * t                                              # the x_0 cross terms
    expected[:, 0] += 1 - t * t
    close(H.numpy(), expected, rtol=1e-12, atol=1e-15)
    assert H.shape == (4, 4) and not H.requires_grad


def test_hessian_tuple_inputs_match_differences_of_the_gradient():
    x, y = rand((3,), seed=6), rand((2,), seed=7)
    H = hessian(f_scalar, (x, y))
    assert [[h.shape for h in row] for row in H] == [[(3, 3), (3, 2)], [(2, 3), (2, 2)]]
    expected = numeric_jacobian(gradient_of(f_scalar), [x, y])
    for i in range(2):
        for j in range(2):
            close(H[i][j].numpy(), expected[i][j])
    close(H[0][1].numpy(), H[1][0].numpy().T, rtol=1e-12, atol=1e-15)       # symmetric


def test_hessian_of_a_matrix_input_and_one_element_outputs():
    x = rand((2, 2), seed=8)
    H = hessian(lambda x: (x * x).sum().reshape(1, 1), x)                    # (1, 1) output: fine
    close(H.numpy(), 2 * np.eye(4).reshape(2, 2, 2, 2), rtol=0, atol=0)


def test_hessian_strict_and_linear_functions():
    x, y = rand((3,), seed=0), rand((2,), seed=1)
    H = hessian(lambda x: (x * 3.0).sum(), x)                               # linear: zero Hessian
    close(H.numpy(), np.zeros((3, 3)), rtol=0, atol=0)
    with pytest.raises(RuntimeError, match="hessian: the gradient w.r.t. input 0 is independent of input 0"):
        hessian(lambda x: (x * 3.0).sum(), x, strict=True)
    with pytest.raises(RuntimeError, match="hessian: the outputs are independent of input 1"):
        hessian(lambda x, y: (x * x).sum(), (x, y), strict=True)
    H = hessian(lambda x, y: (x * x).sum(), (x, y))
    close(H[1][1].numpy(), np.zeros((2, 2)), rtol=0, atol=0)


def test_hessian_create_graph_gives_third_derivatives():
    x = rand((3,), seed=9, requires_grad=True)
    H = hessian(lambda x: (x.tanh() * x * x).sum(), x, create_graph=True)
    assert H.requires_grad
    w = rand((3, 3), seed=10)
    (H * w).sum().backward()
    # H = diag(h(x)) with h = d2/dx2 [x^2 tanh x]; the backward gives w_kk h'(x_k), checked by differences
    def h(a):
        t = np.tanh(a)
        s = 1 - t * t
        return 2 * t + 4 * a * s - 2 * a * a * t * s
    a = x.numpy()
    close(x.grad.numpy(), np.diag(w.numpy()) * (h(a + EPS) - h(a - EPS)) / (2 * EPS))


# ----------------------------------------------------------------------------- products

def test_vjp_and_jvp_are_products_with_the_jacobian():
    x, y = rand((3,), seed=3), rand((2, 3), seed=4)
    J = jacobian(f_two_in_two_out, (x, y))
    u = (rand((2, 3), seed=11), t64(0.7))                                    # one per output
    v = (rand((3,), seed=12), rand((2, 3), seed=13))                        # one per input
    outputs, back = vjp(f_two_in_two_out, (x, y), u)
    with mg.no_grad():
        expected_out = f_two_in_two_out(x, y)
    for o, e in zip(outputs, expected_out):
        close(o.numpy(), e.numpy(), rtol=0, atol=0)
        assert not o.requires_grad
    for j in range(2):
        n_in = v[j].numpy().size
        expected = sum(u[i].numpy().reshape(-1) @ J[i][j].numpy().reshape(-1, n_in) for i in range(2))
        close(back[j].numpy().reshape(-1), expected, rtol=1e-12, atol=1e-14)
    outputs, forward = jvp(f_two_in_two_out, (x, y), v)
    assert isinstance(forward, tuple) and [f.shape for f in forward] == [(2, 3), ()]
    for i in range(2):
        n_out = u[i].numpy().size
        expected = sum(J[i][j].numpy().reshape(n_out, -1) @ v[j].numpy().reshape(-1) for j in range(2))
        close(forward[i].numpy().reshape(-1), expected, rtol=1e-12, atol=1e-14)


def test_single_tensor_products_are_unnested():
    x = rand((3,), seed=0)
    J = jacobian(f_tanh_affine, x).numpy()
    v, u = rand((3,), seed=1), rand((2,), seed=2)
    out, jv = jvp(f_tanh_affine, x, v)
    assert isinstance(out, mg.Tensor) and isinstance(jv, mg.Tensor)
    close(jv.numpy(), J @ v.numpy(), rtol=1e-12, atol=1e-15)
    out, uj = vjp(f_tanh_affine, x, u)
    close(uj.numpy(), u.numpy() @ J, rtol=1e-12, atol=1e-15)
    out, g = vjp(lambda x: (x * x).sum(), t64([1.0, 2.0]))                  # v=None: single-element output
    close(g.numpy(), [2.0, 4.0], rtol=0, atol=0)
    out, d = jvp(lambda x: x * x, t64(3.0))                                  # v=None: single-element input
    assert d.item() == 6.0


def test_hvp_and_vhp_are_products_with_the_hessian():
    x, y = rand((3,), seed=6), rand((2,), seed=7)
    H = hessian(f_scalar, (x, y))
    v = (rand((3,), seed=14), rand((2,), seed=15))
    full = np.block([[H[0][0].numpy(), H[0][1].numpy()], [H[1][0].numpy(), H[1][1].numpy()]])
    flat_v = np.concatenate([v[0].numpy(), v[1].numpy()])
    value, hv = hvp(f_scalar, (x, y), v)
    with mg.no_grad():
        close(value.numpy(), f_scalar(x, y).numpy(), rtol=0, atol=0)
    close(np.concatenate([hv[0].numpy(), hv[1].numpy()]), full @ flat_v, rtol=1e-12, atol=1e-14)
    value, vh = vhp(f_scalar, (x, y), v)
    close(np.concatenate([vh[0].numpy(), vh[1].numpy()]), flat_v @ full, rtol=1e-12, atol=1e-14)
    value, hv = hvp(lambda x: (x * x * x).sum(), x, v[0])                   # single tensor: un-nested
    close(hv.numpy(), 6 * x.numpy() * v[0].numpy(), rtol=1e-12, atol=0)


def test_products_strict_mode_and_zeros():
    x, y = rand((3,), seed=0), rand((2,), seed=1)
    _, back = vjp(lambda x, y: x * 2.0, (x, y), rand((3,), seed=2))
    close(back[1].numpy(), np.zeros(2), rtol=0, atol=0)
    with pytest.raises(RuntimeError, match="vjp: the outputs are independent of input 1"):
        vjp(lambda x, y: x * 2.0, (x, y), rand((3,), seed=2), strict=True)
    _, forward = jvp(lambda x, y: (x * 2.0, mg.ones(2, dtype=mg.float64)), (x, y), (x, y))
    close(forward[1].numpy(), np.zeros(2), rtol=0, atol=0)
    with pytest.raises(RuntimeError, match="jvp: output 1 does not require grad"):
        jvp(lambda x, y: (x * y.sum(), mg.ones(2, dtype=mg.float64)), (x, y), (x, y), strict=True)
    with pytest.raises(RuntimeError, match="vhp: the gradient w.r.t. input 0 does not depend on the inputs"):
        vhp(lambda x: (x * 3.0).sum(), x, x, strict=True)
    _, hv = hvp(lambda x: (x * 3.0).sum(), x, x)
    close(hv.numpy(), np.zeros(3), rtol=0, atol=0)


def test_products_with_create_graph_are_differentiable():
    x = rand((3,), seed=0, requires_grad=True)
    v = rand((3,), seed=1)
    _, hv = hvp(lambda x: (x * x * x).sum(), x, v, create_graph=True)       # 6 x v
    assert hv.requires_grad
    hv.sum().backward()
    close(x.grad.numpy(), 6 * v.numpy(), rtol=1e-12, atol=0)
    x.grad = None
    out, jv = jvp(lambda x: x.tanh(), x, v, create_graph=True)              # (1 - tanh^2) v
    assert out.requires_grad and jv.requires_grad
    jv.sum().backward()
    t = np.tanh(x.numpy())
    close(x.grad.numpy(), -2 * t * (1 - t * t) * v.numpy(), rtol=1e-12, atol=1e-15)


@given(shape=st.lists(st.integers(1, 3), min_size=0, max_size=3), seed=st.integers(0, 2**16))
def test_vjp_and_jvp_are_adjoint(shape, seed):
    """<u, J v> == <u^T J, v> for f(x) = tanh(x) * sum(x * x), any shape."""
    shape = tuple(shape)
    x, u, v = rand(shape, seed), rand(shape, seed + 1), rand(shape, seed + 2)
    f = lambda x: x.tanh() * (x * x).sum()                                   # noqa: E731
    _, jv = jvp(f, x, v)
    _, uj = vjp(f, x, u)
    close(np.sum(u.numpy() * jv.numpy()), np.sum(uj.numpy() * v.numpy()), rtol=1e-12, atol=1e-13)


# ----------------------------------------------------------------------------- jacobian_of

def test_jacobian_of_hidden_states_of_a_recurrence_matches_the_chain_rule():
    # h_{t+1} = tanh(W h_t + x_t): dh_T/dh_t = prod_s diag(1 - h_{s+1}^2) W, each (H, H)
    n, steps = 4, 6
    W = rand((n, n), seed=20) * 0.8
    xs = [rand((n,), seed=30 + t) for t in range(steps)]
    h = rand((n,), seed=21, requires_grad=True)
    hs = [h]
    for x in xs:
        hs.append((W @ hs[-1] + x).tanh())
    J = jacobian_of(hs[-1], tuple(hs))
    assert len(J) == steps + 1 and all(j.shape == (n, n) and not j.requires_grad for j in J)
    expected = np.eye(n)
    for t in range(steps, 0, -1):
        close(J[t].numpy(), expected, rtol=1e-12, atol=1e-15)
        expected = expected @ (np.diag(1 - hs[t].numpy() ** 2) @ W.numpy())
    close(J[0].numpy(), expected, rtol=1e-12, atol=1e-15)
    again = jacobian_of(hs[-1], hs[2])                                       # the graph was kept
    close(again.numpy(), J[2].numpy(), rtol=0, atol=0)
    assert h.grad is None


def test_jacobian_of_tuples_and_strict():
    x = rand((3,), seed=0, requires_grad=True)
    y = rand((2,), seed=1, requires_grad=True)
    a, b = x * x, y.tanh()
    J = jacobian_of((a, b), (x, y))
    close(J[0][1].numpy(), np.zeros((3, 2)), rtol=0, atol=0)
    close(J[1][1].numpy(), np.diag(1 - np.tanh(y.numpy()) ** 2), rtol=1e-12, atol=0)
    with pytest.raises(RuntimeError, match="jacobian_of: output 0 is independent of input 1"):
        jacobian_of((a, b), (x, y), strict=True)


def test_hvp_through_an_lstm_cell_matches_differences_of_its_gradient():
    mg.manual_seed(0)
    cell = nn.LSTMCell(3, 4).double()
    h, c, w = rand((2, 4), seed=40), rand((2, 4), seed=41), rand((2, 4), seed=42)

    def f(x):
        h1, c1 = cell(x, (h, c))
        return (h1 * w).sum() + (c1 * c1).sum()
    x, v = rand((2, 3), seed=43), rand((2, 3), seed=44)
    _, hv = hvp(f, x, v)
    grad = gradient_of(f)
    a = x.numpy()
    expected = (grad(a + EPS * v.numpy())[0] - grad(a - EPS * v.numpy())[0]) / (2 * EPS)
    close(hv.numpy(), expected)
