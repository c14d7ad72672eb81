"""Hooks, higher derivatives and mg.autograd.functional against PyTorch's numbers.

The numbers come from tests/data/torch_autograd_golden.npz, written by tests/data/make_torch_autograd_golden.py
(run by hand in a scratch environment); PyTorch itself is never imported here. Each case below rebuilds,
with minigrad, exactly what the generator built with PyTorch (same expressions, same hooks, same weights).
"""
import json
import os

import numpy as np
import pytest

import minigrad as mg
import minigrad.nn.functional as F
from minigrad import nn

F64 = mg.float64
GOLDEN = os.path.join(os.path.dirname(__file__), "data", "torch_autograd_golden.npz")
_golden = np.load(GOLDEN, allow_pickle=False)


def get(key):
    return _golden[key]


def under(prefix):
    """{rest of the key: array} for every entry under `prefix`."""
    return {k[len(prefix):]: _golden[k] for k in _golden.files if k.startswith(prefix)}


def t64(array, requires_grad=False):
    return mg.tensor(np.asarray(array, dtype=np.float64), dtype=F64, requires_grad=requires_grad)


def close(actual, expected, what):
    actual = actual.numpy() if isinstance(actual, mg.Tensor) else actual
    assert actual is not None, f"{what}: no gradient"
    assert tuple(np.shape(actual)) == tuple(np.shape(expected)), f"{what}: shape {np.shape(actual)}"
    np.testing.assert_allclose(actual, expected, rtol=0, atol=1e-10, err_msg=what)


def loaded(module, prefix):
    """`module` with the PyTorch weights stored under `prefix` (PyTorch's state_dict names)."""
    module.load_state_dict(under(prefix), strict=True)
    return module


def test_golden_file_is_small_and_complete():
    assert os.path.getsize(GOLDEN) < 200_000
    assert sorted(EXPRESSIONS) == json.loads(str(get("expr_names")))


# ----------------------------------------------------------------------------- 1. hooks

def test_tensor_hooks_scale_and_see_the_gradients_pytorch_does():
    """A hook on x @ w multiplies its gradient by 3, one on the leaf x by 2 (before .grad is filled), and one
    returning None records the gradient of sigmoid(h) (after both of its consumers have sent theirs)."""
    p = "hooks/tensor/"
    x, w, c = t64(get(p + "x"), True), t64(get(p + "w"), True), t64(get(p + "c"))
    seen = []
    h = x @ w
    h.register_hook(lambda g: g * 3)
    x.register_hook(lambda g: g * 2)
    s = h.sigmoid()
    s.register_hook(lambda g: seen.append(g.numpy().copy()))
    loss = (s.tanh() * c).sum() + (h * h).sum()
    loss.backward()
    assert len(seen) == 1
    close(seen[0], get(p + "seen"), "gradient seen by the hook on sigmoid(h)")
    close(x.grad, get(p + "grad_x"), "x.grad")
    close(w.grad, get(p + "grad_w"), "w.grad")


class TwoInputs(nn.Module):
    """y = tanh(a * w) * b: a module of two positional inputs, for full backward hooks."""

    def __init__(self):
        super().__init__()
        self.w = nn.Parameter(mg.zeros(4, dtype=F64))

    def forward(self, a, b):
        return (a * self.w).tanh() * b


def test_full_backward_hooks_see_and_replace_what_pytorch_does():
    p = "hooks/full_backward/"
    lin = loaded(nn.Linear(4, 3, dtype=F64), p + "param/lin.")
    two = loaded(TwoInputs(), p + "param/two.")
    lin2 = loaded(nn.Linear(3, 2, dtype=F64), p + "param/lin2.")
    x, b, c = t64(get(p + "x"), True), t64(get(p + "b"), True), t64(get(p + "c"))
    seen = {}
    copy = lambda g: g.numpy().copy()                                      # noqa: E731
    lin.register_full_backward_hook(lambda m, gi, go: seen.update(lin_in=copy(gi[0]), lin_out=copy(go[0])))
    two.register_full_backward_hook(lambda m, gi, go: seen.update(two_in_a=copy(gi[0]), two_in_b=copy(gi[1]),
                                                                 two_out=copy(go[0])))
    lin2.register_full_backward_hook(lambda m, gi, go: (gi[0] * 2,))     # doubles the gradient lin2 sends back
    out = lin2(lin(two(x, b)).tanh())
    (out * c).sum().backward()
    expected_seen = under(p + "seen/")
    assert sorted(seen) == sorted(expected_seen)
    for k, v in expected_seen.items():
        close(seen[k], v, f"full backward hook saw {k}")
    close(x.grad, get(p + "grad_x"), "x.grad")
    close(b.grad, get(p + "grad_b"), "b.grad")
    for prefix, m in (("lin", lin), ("two", two), ("lin2", lin2)):
        for k, param in m.named_parameters():
            close(param.grad, get(p + f"grad/{prefix}.{k}"), f"{prefix}.{k}.grad")


def test_forward_hooks_that_replace_input_and_output_give_pytorch_gradients():
    p = "hooks/forward/"
    lin = loaded(nn.Linear(4, 3, dtype=F64), p + "param/lin.")
    lin2 = loaded(nn.Linear(3, 2, dtype=F64), p + "param/lin2.")
    lin.register_forward_pre_hook(lambda m, inp: (inp[0] * 0.5,))
    lin2.register_forward_hook(lambda m, inp, out: out * 2)
    x, c = t64(get(p + "x"), True), t64(get(p + "c"))
    out = lin2(lin(x).tanh())
    close(out, get(p + "out"), "output")
    (out * c).sum().backward()
    close(x.grad, get(p + "grad_x"), "x.grad")
    for prefix, m in (("lin", lin), ("lin2", lin2)):
        for k, param in m.named_parameters():
            close(param.grad, get(p + f"grad/{prefix}.{k}"), f"{prefix}.{k}.grad")


def test_hooks_inside_a_differentiated_gradient_match_pytorch():
    """A tensor hook (x3 on x @ w) and a full backward hook (x2 on a Linear's grad_input) under
    grad(create_graph=True), then the gradient penalty d ||dL/dx||^2 / d(x, w, Linear's parameters): the hooks
    also run in the second pass, wherever its gradient flows through the forward graph again, as in PyTorch."""
    p = "hooks/create_graph/"
    lin = loaded(nn.Linear(2, 3, dtype=F64), p + "param/lin.")
    x, w, c = t64(get(p + "x"), True), t64(get(p + "w"), True), t64(get(p + "c"))
    lin.register_full_backward_hook(lambda m, gi, go: (gi[0] * 2,))
    h = x @ w
    h.register_hook(lambda g: g * 3)
    loss = (lin(h.tanh()).sigmoid() * c).sum()
    (gx,) = mg.autograd.grad(loss, x, create_graph=True)
    close(gx, get(p + "grad_x"), "dL/dx")
    d = mg.autograd.grad((gx * gx).sum(), [x, w, lin.weight, lin.bias])
    for k, dk in zip(("x", "w", "lin.weight", "lin.bias"), d):
        close(dk, get(p + "penalty/" + k), f"d||dL/dx||^2/d{k}")


# ----------------------------------------------------------------------------- 2. first and second derivatives
# The same losses as the generator's expressions(): i = inputs (requiring grad), c = constants.

EXPRESSIONS = {
    "tanh_matmul": lambda i, c: (i["x"] @ i["w"]).tanh().sum(),
    "sigmoid_exp_bcast_mul": lambda i, c: ((i["x"] * i["b"]).sigmoid() * (i["x"] / 2).exp()).mean(),
    "log_sqrt_bcast_div": lambda i, c: ((i["x"] / i["y"]).log() + (i["x"] * i["x"] + i["y"]).sqrt()).sum(),
    "pow": lambda i, c: (i["x"] ** 3).sum() + (i["x"] ** 2.5 * i["y"]).mean() + (i["x"] ** i["y"]).sum(),
    "sum_mean_axes": lambda i, c: (i["x"].sum(0) ** 2).sum() * i["x"].mean(1).exp().sum(),
    "softmax": lambda i, c: (F.softmax(i["x"], dim=1) * c["c"]).sum(),
    "log_softmax_matmul": lambda i, c: (F.log_softmax(i["x"] @ i["w"], dim=-1) * c["c"]).sum(),
    "cross_entropy": lambda i, c: F.cross_entropy(i["x"] @ i["w"], c["targets"]),
    "mse_loss_tanh": lambda i, c: F.mse_loss((i["x"] @ i["w"]).tanh(), c["target"]),
    "linear_sigmoid": lambda i, c: (F.linear(i["x"], i["weight"], i["bias"]).sigmoid() * c["c"]).sum(),
}


def expression_case(name):
    """(sorted input names, input Tensors requiring grad, constants) of one stored expression."""
    p = f"expr/{name}/"
    inputs = {k: t64(v, True) for k, v in under(p + "in/").items()}
    consts = {k: (v if v.dtype.kind == "i" else t64(v)) for k, v in under(p + "const/").items()}
    keys = sorted(inputs)
    return keys, inputs, consts


@pytest.mark.parametrize("name", sorted(EXPRESSIONS))
def test_gradient_penalty_matches_pytorch(name):
    """grad(L, create_graph=True), then the gradient of P = sum ||dL/dx||^2 (a gradient penalty)."""
    p = f"expr/{name}/"
    keys, inputs, consts = expression_case(name)
    xs = [inputs[k] for k in keys]
    grads = mg.autograd.grad(EXPRESSIONS[name](inputs, consts), xs, create_graph=True)
    for k, g in zip(keys, grads):
        assert g.requires_grad, f"{name}: dL/d{k} carries no graph"
        close(g, get(p + "grad/" + k), f"{name}: dL/d{k}")
    penalty = sum((g * g).sum() for g in grads)
    for k, d in zip(keys, mg.autograd.grad(penalty, xs)):
        close(d, get(p + "penalty/" + k), f"{name}: dP/d{k}")


@pytest.mark.parametrize("name", sorted(EXPRESSIONS))
def test_backward_create_graph_then_differentiating_grad_matches_pytorch(name):
    """L.backward(create_graph=True) fills .grad with Tensors that have a graph; d/dx of sum <x.grad, v> is
    the Hessian-vector product."""
    p = f"expr/{name}/"
    keys, inputs, consts = expression_case(name)
    xs = [inputs[k] for k in keys]
    EXPRESSIONS[name](inputs, consts).backward(create_graph=True)
    for k, x in zip(keys, xs):
        close(x.grad, get(p + "grad/" + k), f"{name}: {k}.grad")
    directional = sum((x.grad * t64(get(p + "v/" + k))).sum() for k, x in zip(keys, xs))
    for k, d in zip(keys, mg.autograd.grad(directional, xs)):
        close(d, get(p + "hvp/" + k), f"{name}: d<grad, v>/d{k}")


RNN_CLASSES = {"rnn": nn.RNN, "lstm": nn.LSTM, "gru": nn.GRU}


@pytest.mark.parametrize("mode", sorted(RNN_CLASSES))
@pytest.mark.parametrize("fused", [True, False])
def test_recurrent_layer_gradient_penalty_matches_pytorch(mode, fused):
    """d ||dL/dx||^2 / dW through a 1-layer recurrent layer loaded with PyTorch's state_dict."""
    p = f"rnn/{mode}/"
    x = t64(get(p + "x"), True)
    params = under(p + "param/")
    m = RNN_CLASSES[mode](x.shape[-1], params["weight_hh_l0"].shape[1], fused=fused, dtype=F64)
    loaded(m, p + "param/")
    out, hn = m(x)
    results = {"w_out": out, "w_h": hn[0], "w_c": hn[1]} if mode == "lstm" else {"w_out": out, "w_h": hn}
    loss = sum((t * t64(get(p + k))).sum() for k, t in results.items())
    (gx,) = mg.autograd.grad(loss, x, create_graph=True)
    close(gx, get(p + "grad_x"), f"{mode}: dL/dx")
    names, weights = zip(*m.named_parameters())
    for k, d in zip(names, mg.autograd.grad((gx * gx).sum(), list(weights))):
        close(d, get(p + "penalty/" + k), f"{mode} fused={fused}: d||dL/dx||^2/d{k}")


# ----------------------------------------------------------------------------- 3. mg.autograd.functional

def functions():
    """The generator's functions, written with minigrad."""
    A = t64(get("functional/A"))

    def vec(x):                            # (3,) -> (2,)
        return (x @ A).tanh() * x.sum().exp()

    def scalar(x):                         # (3,) -> ()
        return (x.tanh() ** 2).sum() + (x.sigmoid() * x).sum() * x.exp().sum()

    def pair(x, y):                        # (3,), (2, 3) -> ((2,), (3,))
        return (y @ x).tanh(), (y * x).exp().sum(0)

    def pair_scalar(x, y):                 # (3,), (2, 3) -> ()
        return ((y @ x).tanh() ** 2).sum() + (y * x.sigmoid()).exp().sum()

    return vec, scalar, pair, pair_scalar


def functional_cases():
    vec, scalar, pair, pair_scalar = functions()
    x, y, vx, vy, v2, v3 = (t64(get("functional/" + k)) for k in ("x", "y", "vx", "vy", "v2", "v3"))
    return {
        "jacobian_vec": ("jacobian", vec, x, None),
        "jacobian_pair": ("jacobian", pair, (x, y), None),
        "hessian_scalar": ("hessian", scalar, x, None),
        "hessian_pair": ("hessian", pair_scalar, (x, y), None),
        "vjp_vec": ("vjp", vec, x, v2),
        "vjp_pair": ("vjp", pair, (x, y), (v2, v3)),
        "vjp_scalar": ("vjp", scalar, x, None),
        "jvp_vec": ("jvp", vec, x, vx),
        "jvp_pair": ("jvp", pair, (x, y), (vx, vy)),
        "hvp_scalar": ("hvp", scalar, x, vx),
        "hvp_pair": ("hvp", pair_scalar, (x, y), (vx, vy)),
        "vhp_scalar": ("vhp", scalar, x, vx),
        "vhp_pair": ("vhp", pair_scalar, (x, y), (vx, vy)),
    }


FUNCTIONAL_CASES = sorted({k.split("/")[1] for k in _golden.files if k.count("/") >= 2
                           and k.startswith("functional/")})


def check_result(actual, key, what):
    """Compare a Tensor / tuple / tuple of tuples with the entries the generator stored for it."""
    if key in _golden.files:
        assert isinstance(actual, mg.Tensor), f"{what}: a {type(actual).__name__}, expected a Tensor"
        close(actual, get(key), what)
        return
    stored = under(key + "/")
    assert isinstance(actual, tuple), f"{what}: a {type(actual).__name__}, expected a tuple"
    found = {}
    for i, ai in enumerate(actual):
        if isinstance(ai, tuple):
            found.update({f"{i}_{j}": aij for j, aij in enumerate(ai)})
        else:
            found[str(i)] = ai
    assert sorted(found) == sorted(stored), f"{what}: entries {sorted(found)}, expected {sorted(stored)}"
    for k, v in stored.items():
        close(found[k], v, f"{what}[{k}]")


def test_functional_cases_cover_every_function():
    assert sorted(functional_cases()) == FUNCTIONAL_CASES
    assert {c.split("_")[0] for c in FUNCTIONAL_CASES} == {"jacobian", "hessian", "vjp", "jvp", "hvp", "vhp"}


@pytest.mark.parametrize("case", FUNCTIONAL_CASES)
def test_autograd_functional_matches_pytorch(case):
    kind, fn, inputs, v = functional_cases()[case]
    p = f"functional/{case}/"
    f = getattr(mg.autograd.functional, kind)
    if kind in ("jacobian", "hessian"):
        check_result(f(fn, inputs), p + "result", f"{kind}({case})")
        return
    out, result = f(fn, inputs) if v is None else f(fn, inputs, v)
    check_result(out, p + "out", f"{kind}({case}) outputs")
    check_result(result, p + "result", f"{kind}({case})")
