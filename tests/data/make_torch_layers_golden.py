"""Regenerate tests/data/torch_layers_golden.npz: PyTorch's numbers for layer_norm, Embedding(padding_idx),
masked softmax and the module forms of activations and losses, for tests/test_porting_layers.py.

Run by hand only, with PyTorch installed in a scratch environment OUTSIDE the project (PyTorch is never a
dependency of minigrad, not even of its tests):

    python3 -m venv /tmp/torchvenv && /tmp/torchvenv/bin/pip install numpy torch
    /tmp/torchvenv/bin/python tests/data/make_torch_layers_golden.py

Everything is float64 from a fixed seed. Entries, each under its case's prefix:

    layer_norm/<case>/{x, weight, bias, gy, y, grad_x, grad_weight, grad_bias, normalized_shape}
        (weight/bias absent when the case has none); loss = sum(y * gy)
    embedding/{weight, ids, gy, padding_idx, out, grad_weight}   nn.Embedding(6, 3, padding_idx=-2)
    masked_softmax/{scores, mask, gy, out, grad}   scores.masked_fill(~mask, -inf).softmax(-1)
    module/<name>/{x, gy, out, grad}               nn.<Module> on x (target/... for the losses)

Loaded with np.load(allow_pickle=False): every entry is a plain numeric array.
"""
import os

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "torch_layers_golden.npz")

LAYER_NORM_CASES = {          # name: (input shape, normalized_shape, weight?, bias?)
    "vector": ((4, 5), (5,), True, True),
    "matrix": ((2, 3, 4), (3, 4), True, True),
    "plain": ((3, 6), (6,), False, False),
    "weight_only": ((2, 2, 5), (5,), True, False),
    "whole": ((2, 3), (2, 3), True, True),
}


def randn(*shape):
    return torch.randn(shape, dtype=torch.float64)


def put(store, key, t):
    store[key] = t.detach().numpy().copy() if isinstance(t, torch.Tensor) else np.asarray(t)


def layer_norm(store):
    for name, (shape, ns, has_w, has_b) in LAYER_NORM_CASES.items():
        p = f"layer_norm/{name}/"
        x = (randn(*shape) * 3 + 1).requires_grad_()
        w = randn(*ns).requires_grad_() if has_w else None
        b = randn(*ns).requires_grad_() if has_b else None
        gy = randn(*shape)
        y = F.layer_norm(x, ns, w, b, eps=1e-5)
        (y * gy).sum().backward()
        put(store, p + "normalized_shape", np.array(ns, dtype=np.int64))
        for k, t in (("x", x), ("gy", gy), ("y", y), ("grad_x", x.grad)):
            put(store, p + k, t)
        for k, t in (("weight", w), ("bias", b)):
            if t is not None:
                put(store, p + k, t)
                put(store, p + "grad_" + k, t.grad)


def embedding(store):
    p = "embedding/"
    emb = nn.Embedding(6, 3, padding_idx=-2).double()
    ids = torch.tensor([[0, 4, 2, 4, 5], [4, 1, 1, 3, 0]])
    out = emb(ids)
    gy = randn(*out.shape)
    (out * gy).sum().backward()
    for k, t in (("weight", emb.weight), ("ids", ids), ("gy", gy), ("out", out), ("grad_weight", emb.weight.grad),
                 ("padding_idx", np.array(emb.padding_idx))):
        put(store, p + k, t)


def masked_softmax(store):
    p = "masked_softmax/"
    scores = randn(2, 3, 5).requires_grad_()
    mask = torch.tensor([[[True, True, False, True, False]], [[True, False, False, False, False]]])
    out = scores.masked_fill(~mask, float("-inf")).softmax(-1)
    gy = randn(*out.shape)
    (out * gy).sum().backward()
    for k, t in (("scores", scores), ("mask", mask), ("gy", gy), ("out", out), ("grad", scores.grad)):
        put(store, p + k, t)


def modules(store):
    cases = {"Tanh": nn.Tanh(), "Sigmoid": nn.Sigmoid(), "ReLU": nn.ReLU(), "Softmax_dim1": nn.Softmax(dim=1),
             "LogSoftmax_dim0": nn.LogSoftmax(dim=0), "Identity": nn.Identity()}
    for name, m in cases.items():
        x = randn(3, 4).requires_grad_()
        out = m(x)
        gy = randn(*out.shape)
        (out * gy).sum().backward()
        for k, t in (("x", x), ("gy", gy), ("out", out), ("grad", x.grad)):
            put(store, f"module/{name}/" + k, t)
    losses = {
        "CrossEntropyLoss_mean": (nn.CrossEntropyLoss(ignore_index=1), lambda: randn(5, 4), [0, 1, 3, 2, 1]),
        "CrossEntropyLoss_sum": (nn.CrossEntropyLoss(reduction="sum"), lambda: randn(2, 4, 3), [[0, 3, 2], [1, 1, 0]]),
        "CrossEntropyLoss_none": (nn.CrossEntropyLoss(reduction="none", ignore_index=0), lambda: randn(5, 4),
                                  [0, 1, 3, 2, 1]),
        "NLLLoss_mean": (nn.NLLLoss(), lambda: randn(5, 4).log_softmax(1), [0, 1, 3, 2, 1]),
        "NLLLoss_none": (nn.NLLLoss(reduction="none", ignore_index=2), lambda: randn(5, 4).log_softmax(1),
                         [0, 1, 3, 2, 1]),
    }
    for name, (m, make, target) in losses.items():
        x = make().detach().requires_grad_()
        t = torch.tensor(target)
        out = m(x, t)
        gy = randn(*out.shape)
        (out * gy).sum().backward()
        for k, v in (("x", x), ("target", t), ("gy", gy), ("out", out), ("grad", x.grad)):
            put(store, f"module/{name}/" + k, v)
    for reduction in ("mean", "sum", "none"):
        x, t = randn(3, 4).requires_grad_(), randn(3, 4)
        out = nn.MSELoss(reduction=reduction)(x, t)
        gy = randn(*out.shape)
        (out * gy).sum().backward()
        for k, v in (("x", x), ("target", t), ("gy", gy), ("out", out), ("grad", x.grad)):
            put(store, f"module/MSELoss_{reduction}/" + k, v)


def main():
    torch.manual_seed(0)
    store = {}
    layer_norm(store)
    embedding(store)
    masked_softmax(store)
    modules(store)
    np.savez(OUT, **store)
    print(f"wrote {len(store)} arrays to {OUT}")


if __name__ == "__main__":
    main()
