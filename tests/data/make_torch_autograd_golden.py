"""Regenerate tests/data/torch_autograd_golden.npz: PyTorch's numbers for hooks, higher derivatives and
torch.autograd.functional, for tests/test_autograd_vs_torch.py.

Run by hand only, with PyTorch installed in a scratch environment OUTSIDE the project (PyTorch is never a
dependency of minigrad, not even of its tests):

    python3 -m venv /tmp/torchvenv && /tmp/torchvenv/bin/pip install numpy torch
    /tmp/torchvenv/bin/python tests/data/make_torch_autograd_golden.py

Everything is float64 from a fixed seed. Entries, each under its case's prefix:

    hooks/<case>/...        inputs, weights, what the hooks saw and the resulting .grad of leaves and parameters
    expr/<name>/in/<k>      the inputs of expression <name> (written the same way in the test), all requiring grad
    expr/<name>/const/<k>   constants of the expression (targets, fixed weights)
    expr/<name>/grad/<k>    dL/d(input k), from autograd.grad(create_graph=True)
    expr/<name>/penalty/<k> d/d(input k) of the gradient penalty  P = sum over k of ||dL/d(input k)||^2
    expr/<name>/v/<k>       a fixed direction; expr/<name>/hvp/<k>: d/d(input k) of sum over j of <x_j.grad, v_j>,
                            x_j.grad coming from L.backward(create_graph=True)
    rnn/<mode>/...          a 1-layer nn.RNN/LSTM/GRU: param/<state_dict name>, x, w_out, w_h, w_c, the loss
                            L = sum(out*w_out) + sum(h_n*w_h) (+ sum(c_n*w_c)), grad_x = dL/dx, and
                            penalty/<name> = d ||dL/dx||^2 / d(parameter)
    functional/<case>/...   torch.autograd.functional results; a tuple result is stored entry by entry
                            (out/<i>, result/<i> or result/<i>_<j> for a nested one), each with its shape

Loaded with np.load(allow_pickle=False): every entry is a plain numeric or unicode (JSON) array.
"""
import json
import os

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from golden_file import write_golden  # tests/data/golden_file.py, beside this script
from torch.autograd import functional as AF

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "torch_autograd_golden.npz")


def randn(*shape):
    return torch.randn(*shape, dtype=torch.float64)


def positive(*shape):
    """Values in [0.5, 1.5): safe for log, sqrt and fractional powers."""
    return torch.rand(*shape, dtype=torch.float64) + 0.5


def put(store, key, t):
    store[key] = t.detach().numpy().copy() if isinstance(t, torch.Tensor) else np.asarray(t)


# ----------------------------------------------------------------------------- 1. hooks

def hooks_tensor(store):
    """A hook scaling the gradient of an intermediate (x @ w, times 3) and of a leaf (x, times 2), and a hook
    returning None that records the gradient of sigmoid(h) it saw."""
    p = "hooks/tensor/"
    x, w, c = randn(3, 4).requires_grad_(), randn(4, 2).requires_grad_(), randn(3, 2)
    seen = []
    h = x @ w
    h.register_hook(lambda g: g * 3)
    x.register_hook(lambda g: g * 2)
    s = h.sigmoid()
    s.register_hook(lambda g: seen.append(g.clone()))
    loss = (s.tanh() * c).sum() + (h * h).sum()
    loss.backward()
    for k, t in (("x", x), ("w", w), ("c", c), ("seen", seen[0]), ("grad_x", x.grad), ("grad_w", w.grad)):
        put(store, p + k, t)


class TwoInputs(nn.Module):
    """y = tanh(a * w) * b: a module of two positional inputs, for full backward hooks."""

    def __init__(self):
        super().__init__()
        self.w = nn.Parameter(randn(4))

    def forward(self, a, b):
        return (a * self.w).tanh() * b


def hooks_full_backward(store):
    """register_full_backward_hook on nn.Linear and on a two-input module: the grad_input and grad_output the
    hooks see, and the leaves' .grad; a second Linear's hook replaces grad_input (doubles it)."""
    p = "hooks/full_backward/"
    lin = nn.Linear(4, 3).double()
    two = TwoInputs()
    lin2 = nn.Linear(3, 2).double()
    x, b, c = randn(2, 4).requires_grad_(), randn(2, 4).requires_grad_(), randn(2, 2)
    seen = {}
    lin.register_full_backward_hook(lambda m, gi, go: seen.update(lin_in=gi[0].clone(), lin_out=go[0].clone()))
    two.register_full_backward_hook(lambda m, gi, go: seen.update(two_in_a=gi[0].clone(), two_in_b=gi[1].clone(),
                                                                 two_out=go[0].clone()))
    lin2.register_full_backward_hook(lambda m, gi, go: (gi[0] * 2,))
    y = two(x, b)                      # (2, 4)
    z = lin(y)                         # (2, 3)
    out = lin2(z.tanh())               # (2, 2)
    loss = (out * c).sum()
    loss.backward()
    for k, t in (("x", x), ("b", b), ("c", c), ("grad_x", x.grad), ("grad_b", b.grad)):
        put(store, p + k, t)
    for k, t in seen.items():
        put(store, p + "seen/" + k, t)
    for prefix, m in (("lin", lin), ("two", two), ("lin2", lin2)):
        for k, v in m.state_dict().items():
            put(store, p + f"param/{prefix}.{k}", v)
        for k, v in m.named_parameters():
            put(store, p + f"grad/{prefix}.{k}", v.grad)


def hooks_forward(store):
    """A forward pre-hook halving the input of one Linear and a forward hook doubling the output of another:
    the outputs and the parameters' and input's gradients."""
    p = "hooks/forward/"
    lin, lin2 = nn.Linear(4, 3).double(), nn.Linear(3, 2).double()
    lin.register_forward_pre_hook(lambda m, inp: (inp[0] * 0.5,))
    lin2.register_forward_hook(lambda m, inp, out: out * 2)
    x, c = randn(2, 4).requires_grad_(), randn(2, 2)
    out = lin2(lin(x).tanh())
    (out * c).sum().backward()
    for k, t in (("x", x), ("c", c), ("out", out), ("grad_x", x.grad)):
        put(store, p + k, t)
    for prefix, m in (("lin", lin), ("lin2", lin2)):
        for k, v in m.state_dict().items():
            put(store, p + f"param/{prefix}.{k}", v)
        for k, v in m.named_parameters():
            put(store, p + f"grad/{prefix}.{k}", v.grad)


def hooks_create_graph(store):
    """Hooks inside a differentiated gradient: a tensor hook tripling the gradient of x @ w and a full backward
    hook doubling a Linear's grad_input, under grad(create_graph=True); then the gradient penalty
    d ||dL/dx||^2 / d(w, x, Linear's parameters)."""
    p = "hooks/create_graph/"
    lin = nn.Linear(2, 3).double()
    x, w, c = randn(3, 4).requires_grad_(), randn(4, 2).requires_grad_(), randn(3, 3)
    lin.register_full_backward_hook(lambda m, gi, go: (gi[0] * 2,))
    h = x @ w
    h.register_hook(lambda g: g * 3)
    loss = (lin(h.tanh()).sigmoid() * c).sum()
    (gx,) = torch.autograd.grad(loss, x, create_graph=True)
    wrt = [x, w, lin.weight, lin.bias]
    d = torch.autograd.grad((gx * gx).sum(), wrt)
    for k, t in (("x", x), ("w", w), ("c", c), ("grad_x", gx), ("penalty/x", d[0]), ("penalty/w", d[1]),
                 ("penalty/lin.weight", d[2]), ("penalty/lin.bias", d[3])):
        put(store, p + k, t)
    for k, v in lin.state_dict().items():
        put(store, p + "param/lin." + k, v)


# ----------------------------------------------------------------------------- 2. first and second derivatives
# name -> (inputs {k: tensor}, constants {k: tensor}, loss(inputs, constants)); the test writes each loss again
# with minigrad, in the same words.

def expressions():
    targets = torch.tensor([2, 0, 4], dtype=torch.int64)
    return {
        "tanh_matmul": (dict(x=randn(3, 4), w=randn(4, 2)), dict(),
                        lambda i, c: (i["x"] @ i["w"]).tanh().sum()),
        "sigmoid_exp_bcast_mul": (dict(x=randn(3, 4), b=randn(4)), dict(),
                                  lambda i, c: ((i["x"] * i["b"]).sigmoid() * (i["x"] / 2).exp()).mean()),
        "log_sqrt_bcast_div": (dict(x=positive(3, 4), y=positive(1, 4)), dict(),
                               lambda i, c: ((i["x"] / i["y"]).log() + (i["x"] * i["x"] + i["y"]).sqrt()).sum()),
        "pow": (dict(x=positive(3, 4), y=positive(4)), dict(),
                lambda i, c: (i["x"] ** 3).sum() + (i["x"] ** 2.5 * i["y"]).mean() + (i["x"] ** i["y"]).sum()),
        "sum_mean_axes": (dict(x=randn(3, 4)), dict(),
                          lambda i, c: (i["x"].sum(0) ** 2).sum() * i["x"].mean(1).exp().sum()),
        "softmax": (dict(x=randn(3, 5)), dict(c=randn(3, 5)),
                    lambda i, c: (F.softmax(i["x"], dim=1) * c["c"]).sum()),
        "log_softmax_matmul": (dict(x=randn(3, 4), w=randn(4, 5)), dict(c=randn(3, 5)),
                               lambda i, c: (F.log_softmax(i["x"] @ i["w"], dim=-1) * c["c"]).sum()),
        "cross_entropy": (dict(x=randn(3, 4), w=randn(4, 5)), dict(targets=targets),
                          lambda i, c: F.cross_entropy(i["x"] @ i["w"], c["targets"])),
        "mse_loss_tanh": (dict(x=randn(3, 4), w=randn(4, 2)), dict(target=randn(3, 2)),
                          lambda i, c: F.mse_loss((i["x"] @ i["w"]).tanh(), c["target"])),
        "linear_sigmoid": (dict(x=randn(3, 4), weight=randn(2, 4), bias=randn(2)), dict(c=randn(3, 2)),
                           lambda i, c: (F.linear(i["x"], i["weight"], i["bias"]).sigmoid() * c["c"]).sum()),
    }


def second_derivatives(store):
    for name, (inputs, consts, loss_fn) in expressions().items():
        p = f"expr/{name}/"
        keys = sorted(inputs)
        xs = [inputs[k].requires_grad_() for k in keys]
        for k in keys:
            put(store, p + "in/" + k, inputs[k])
        for k, t in consts.items():
            put(store, p + "const/" + k, t)
        # gradient, then the gradient of the gradient penalty
        grads = torch.autograd.grad(loss_fn(inputs, consts), xs, create_graph=True)
        penalty = sum((g * g).sum() for g in grads)
        for k, g, d in zip(keys, grads, torch.autograd.grad(penalty, xs)):
            put(store, p + "grad/" + k, g)
            put(store, p + "penalty/" + k, d)
        # backward(create_graph=True), then differentiate the leaves' .grad along fixed directions
        vs = [randn(*x.shape) for x in xs]
        loss_fn(inputs, consts).backward(create_graph=True)
        hv = torch.autograd.grad(sum((x.grad * v).sum() for x, v in zip(xs, vs)), xs)
        for k, v, d in zip(keys, vs, hv):
            put(store, p + "v/" + k, v)
            put(store, p + "hvp/" + k, d)


def rnn_penalty(store):
    """d ||dL/dx||^2 / dW for tiny 1-layer recurrent layers (a gradient penalty through time)."""
    T, B, IN, H = 3, 2, 3, 4
    for mode, cls in (("rnn", nn.RNN), ("lstm", nn.LSTM), ("gru", nn.GRU)):
        p = f"rnn/{mode}/"
        m = cls(IN, H).double()
        x = randn(T, B, IN).requires_grad_()
        out, hn = m(x)
        h_n, c_n = hn if mode == "lstm" else (hn, None)
        loss = 0
        for key, t in (("w_out", out), ("w_h", h_n), ("w_c", c_n)):
            if t is not None:
                w = randn(*t.shape)
                put(store, p + key, w)
                loss = loss + (t * w).sum()
        (gx,) = torch.autograd.grad(loss, x, create_graph=True)
        names, params = zip(*m.named_parameters())
        for k, d in zip(names, torch.autograd.grad((gx * gx).sum(), params)):
            put(store, p + "penalty/" + k, d)
        for k, v in m.state_dict().items():
            put(store, p + "param/" + k, v)
        put(store, p + "x", x)
        put(store, p + "grad_x", gx)


# ----------------------------------------------------------------------------- 3. torch.autograd.functional

def put_result(store, key, r):
    """A tensor, a tuple of tensors or a tuple of tuples, entry by entry: key, key/<i> or key/<i>_<j>."""
    if isinstance(r, torch.Tensor):
        put(store, key, r)
        return
    for i, ri in enumerate(r):
        if isinstance(ri, torch.Tensor):
            put(store, f"{key}/{i}", ri)
        else:
            for j, rij in enumerate(ri):
                put(store, f"{key}/{i}_{j}", rij)


def functional(store):
    A = randn(3, 2)
    x, y = randn(3), randn(2, 3)

    def vec(x):                            # (3,) -> (2,)
        return (x @ A).tanh() * x.sum().exp()

    def scalar(x):                         # (3,) -> ()
        return (x.tanh() ** 2).sum() + (x.sigmoid() * x).sum() * x.exp().sum()

    def pair(x, y):                        # (3,), (2, 3) -> ((2,), (3,))
        return (y @ x).tanh(), (y * x).exp().sum(0)

    def pair_scalar(x, y):                 # (3,), (2, 3) -> ()
        return ((y @ x).tanh() ** 2).sum() + (y * x.sigmoid()).exp().sum()

    vx, vy, v2, v3 = randn(3), randn(2, 3), randn(2), randn(3)
    put(store, "functional/A", A)
    for k, t in (("x", x), ("y", y), ("vx", vx), ("vy", vy), ("v2", v2), ("v3", v3)):
        put(store, "functional/" + k, t)
    cases = {
        "jacobian_vec": AF.jacobian(vec, x),
        "jacobian_pair": AF.jacobian(pair, (x, y)),
        "hessian_scalar": AF.hessian(scalar, x),
        "hessian_pair": AF.hessian(pair_scalar, (x, y)),
        "vjp_vec": AF.vjp(vec, x, v2),
        "vjp_pair": AF.vjp(pair, (x, y), (v2, v3)),
        "vjp_scalar": AF.vjp(scalar, x),
        "jvp_vec": AF.jvp(vec, x, vx),
        "jvp_pair": AF.jvp(pair, (x, y), (vx, vy)),
        "hvp_scalar": AF.hvp(scalar, x, vx),
        "hvp_pair": AF.hvp(pair_scalar, (x, y), (vx, vy)),
        "vhp_scalar": AF.vhp(scalar, x, vx),
        "vhp_pair": AF.vhp(pair_scalar, (x, y), (vx, vy)),
    }
    for name, r in cases.items():
        if name.startswith(("vjp", "jvp", "hvp", "vhp")):       # (outputs, products)
            put_result(store, f"functional/{name}/out", r[0])
            put_result(store, f"functional/{name}/result", r[1])
        else:
            put_result(store, f"functional/{name}/result", r)


def main():
    torch.manual_seed(0)
    store = {}
    hooks_tensor(store)
    hooks_full_backward(store)
    hooks_forward(store)
    second_derivatives(store)
    rnn_penalty(store)
    functional(store)
    hooks_create_graph(store)           # last, so the earlier cases keep their random numbers
    store["expr_names"] = np.array(json.dumps(sorted(expressions())))
    write_golden(OUT, store, torch.__version__)


if __name__ == "__main__":
    main()
