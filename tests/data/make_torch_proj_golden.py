"""Regenerate tests/data/torch_proj_golden.npz: PyTorch's nn.LSTM(..., proj_size=P) numbers, for
tests/test_lstm_proj.py.

Run by hand only, with PyTorch installed in a scratch environment OUTSIDE the project (PyTorch is never a
dependency of minigrad, not even of its tests):

    python3 -m venv /tmp/torchvenv && /tmp/torchvenv/bin/pip install numpy torch
    /tmp/torchvenv/bin/python tests/data/make_torch_proj_golden.py

Stored per case (every entry a plain numeric or unicode array; np.load(allow_pickle=False)):

    <case>/config                  JSON text: constructor arguments, input kind ("plain", "lengths": padded with
                                   per-sequence lengths, "packed": a PackedSequence, unsorted), initial state used
    <case>/keys                    state_dict() names in PyTorch's order; <case>/param/<name> its arrays
    <case>/x, lengths, h0, c0      the input (junk in the padding), lengths, initial states
    <case>/out, h_n, c_n           the output (padded with zeros for "lengths"; the packed data for "packed")
    <case>/w_out, w_h, w_c         weights of the loss L = sum(out*w_out) + sum(h_n*w_h) + sum(c_n*w_c)
    <case>/grad_x, grad_h0, grad_c0, grad/<name>   dL/d(input, initial states, parameters)

A "lengths" case runs PyTorch as pack -> LSTM -> pad (total_length=T), which is what minigrad's lengths= means.
"""
import json
import os

import numpy as np
import torch
from torch import nn

from golden_file import write_golden  # tests/data/golden_file.py, beside this script
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

T, B, IN, H = 5, 3, 3, 4
OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "torch_proj_golden.npz")
LENGTHS = [3, 5, 1]                         # unsorted

CASES = {   # name: (constructor arguments, input kind, initial state)
    "uni_l1": (dict(proj_size=2), "plain", True),
    "uni_l2_nobias": (dict(proj_size=1, num_layers=2, bias=False), "plain", False),
    "bi_l1_batch_first": (dict(proj_size=3, bidirectional=True, batch_first=True), "plain", True),
    "bi_l2": (dict(proj_size=2, num_layers=2, bidirectional=True), "plain", True),
    "bi_l2_lengths": (dict(proj_size=2, num_layers=2, bidirectional=True), "lengths", True),
    "uni_l2_lengths_batch_first": (dict(proj_size=3, num_layers=2, batch_first=True), "lengths", False),
    "bi_l2_packed": (dict(proj_size=2, num_layers=2, bidirectional=True, batch_first=True), "packed", True),
}


def randn(*shape):
    return torch.randn(*shape, dtype=torch.float64)


def run_case(store, name, kwargs, kind, with_state):
    p = name + "/"
    module = nn.LSTM(IN, H, **kwargs).double()
    D = 2 if kwargs.get("bidirectional") else 1
    L, P = kwargs.get("num_layers", 1), kwargs["proj_size"]
    batch_first = kwargs.get("batch_first", False)
    x = randn(*((B, T, IN) if batch_first else (T, B, IN)))
    if kind != "plain":
        for b, n in enumerate(LENGTHS):                              # large junk in the padding
            pad = (slice(b, b + 1), slice(n, None)) if batch_first else (slice(n, None), slice(b, b + 1))
            x[pad] = 50 * randn(*x[pad].shape)
    inputs = {"x": x}
    state = None
    if with_state:
        inputs["h0"], inputs["c0"] = randn(L * D, B, P), randn(L * D, B, H)
        state = (inputs["h0"], inputs["c0"])
    for t in inputs.values():
        t.requires_grad_(True)

    if kind == "plain":
        out, (h_n, c_n) = module(x, state)
    else:
        packed = pack_padded_sequence(x, torch.tensor(LENGTHS), batch_first=batch_first, enforce_sorted=False)
        out, (h_n, c_n) = module(packed, state)
        if kind == "lengths":
            out, _ = pad_packed_sequence(out, batch_first=batch_first, total_length=T)
        else:
            out = out.data
    loss = 0
    for key, t in (("w_out", out), ("w_h", h_n), ("w_c", c_n)):
        w = randn(*t.shape)
        store[p + key] = w.numpy()
        loss = loss + (t * w).sum()
    loss.backward()

    store[p + "config"] = np.array(json.dumps(dict(kwargs=kwargs, kind=kind, state=with_state)))
    store[p + "lengths"] = np.array(LENGTHS, dtype=np.int64)
    store[p + "keys"] = np.array(list(module.state_dict()))
    for k, v in module.state_dict().items():
        store[p + "param/" + k] = v.detach().numpy().copy()
    for k, v in module.named_parameters():
        store[p + "grad/" + k] = v.grad.numpy().copy()
    for key, t in inputs.items():
        store[p + key] = t.detach().numpy().copy()
        store[p + "grad_" + key] = t.grad.numpy().copy()
    for key, t in (("out", out), ("h_n", h_n), ("c_n", c_n)):
        store[p + key] = t.detach().numpy().copy()


def main():
    torch.manual_seed(0)
    store = {}
    for name, (kwargs, kind, with_state) in CASES.items():
        run_case(store, name, kwargs, kind, with_state)
    write_golden(OUT, store, torch.__version__)


if __name__ == "__main__":
    main()
