"""Regenerate tests/data/torch_packed_golden.npz: PyTorch's nn.utils.rnn numbers, for tests/test_packed_sequence.py.

Run by hand only, with PyTorch installed in a scratch environment OUTSIDE the project (PyTorch is never a
dependency of minigrad, not even of its tests):

    python3 -m venv /tmp/torchvenv && /tmp/torchvenv/bin/pip install numpy torch
    /tmp/torchvenv/bin/python tests/data/make_torch_packed_golden.py

Stored (every entry a plain numeric or unicode array; np.load(allow_pickle=False)):

    util/seq<i>                          four sequences of lengths 2, 4, 1, 4 (features (2,)); one empty: util/empty
    util/pad/<first>_<side>              pad_sequence(seqs, batch_first, padding_value=-1.5, padding_side)
    util/pack/<field>                    pack_sequence(seqs, enforce_sorted=False): data, batch_sizes, sorted_indices,
                                         unsorted_indices (the lengths tie: the sort order of ties is PyTorch's)
    util/unpack/padded, util/unpack/lengths   pad_packed_sequence(that, batch_first=True, padding_value=9,
                                         total_length=6)
    <case>/config                        JSON text: mode, constructor arguments, enforce_sorted, initial state used
    <case>/param/<name>                  the layer's state_dict; <case>/x (padded, junk in the padding), lengths,
                                         h0, c0
    <case>/out_data, batch_sizes, sorted_indices   the packed output; <case>/h_n, c_n (original batch order)
    <case>/w_out, w_h, w_c               weights of the loss L = sum(out.data*w_out) + sum(h_n*w_h) + sum(c_n*w_c)
    <case>/grad_x, grad_h0, grad_c0, grad/<name>   dL/d(padded input, initial state, parameters)

The layer cases: RNN, LSTM, GRU x lengths already sorted (enforce_sorted=True) / unsorted
(enforce_sorted=False) x one direction / bidirectional (two layers, some batch_first, some with h0).
"""
import json
import os

import numpy as np
import torch
from torch import nn

from golden_file import write_golden  # tests/data/golden_file.py, beside this script
from torch.nn.utils.rnn import pack_padded_sequence, pack_sequence, pad_packed_sequence, pad_sequence

T, B, IN, H = 5, 4, 3, 4
OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "torch_packed_golden.npz")
LENGTHS = {True: [5, 3, 3, 1], False: [3, 5, 1, 3]}          # sorted / unsorted (with a tie)
CLASSES = {"rnn": nn.RNN, "lstm": nn.LSTM, "gru": nn.GRU}


def randn(*shape):
    return torch.randn(*shape, dtype=torch.float64)


def cases():
    """(name, mode, layer arguments, enforce_sorted, with initial state)."""
    for mode in CLASSES:
        for sorted_ in (True, False):
            for bi in (False, True):
                kwargs = dict(num_layers=2, bidirectional=True) if bi else {}
                if not sorted_:
                    kwargs["batch_first"] = True
                with_state = bi == sorted_
                name = f"{mode}_{'sorted' if sorted_ else 'unsorted'}_{'bi' if bi else 'uni'}"
                yield name, mode, kwargs, sorted_, with_state


def run_layer(store, name, mode, kwargs, enforce_sorted, with_state):
    p = name + "/"
    module = CLASSES[mode](IN, H, **kwargs).double()
    D = 2 if kwargs.get("bidirectional") else 1
    L = kwargs.get("num_layers", 1)
    batch_first = kwargs.get("batch_first", False)
    lengths = LENGTHS[enforce_sorted]
    x = randn(*((B, T, IN) if batch_first else (T, B, IN)))
    for b, n in enumerate(lengths):                                 # large junk in the padding
        pad = (slice(b, b + 1), slice(n, None)) if batch_first else (slice(n, None), slice(b, b + 1))
        x[pad] = 50 * randn(*x[pad].shape)
    inputs = {"x": x}
    state = None
    if with_state:
        inputs["h0"] = randn(L * D, B, H)
        if mode == "lstm":
            inputs["c0"] = randn(L * D, B, H)
        state = (inputs["h0"], inputs["c0"]) if mode == "lstm" else inputs["h0"]
    for t in inputs.values():
        t.requires_grad_(True)

    packed = pack_padded_sequence(x, torch.tensor(lengths), batch_first=batch_first, enforce_sorted=enforce_sorted)
    out, hn = module(packed, state)
    h_n, c_n = hn if mode == "lstm" else (hn, None)
    loss = 0
    for key, t in (("w_out", out.data), ("w_h", h_n), ("w_c", c_n)):
        if t is not None:
            w = randn(*t.shape)
            store[p + key] = w.numpy()
            loss = loss + (t * w).sum()
    loss.backward()

    store[p + "config"] = np.array(json.dumps(dict(mode=mode, kwargs=kwargs, enforce_sorted=enforce_sorted,
                                                   state=with_state)))
    store[p + "lengths"] = np.array(lengths, dtype=np.int64)
    for k, v in module.state_dict().items():
        store[p + "param/" + k] = v.detach().numpy().copy()
    for k, v in module.named_parameters():
        store[p + "grad/" + k] = v.grad.numpy().copy()
    for key, t in inputs.items():
        store[p + key] = t.detach().numpy().copy()
        store[p + "grad_" + key] = t.grad.numpy().copy()
    store[p + "out_data"] = out.data.detach().numpy().copy()
    store[p + "batch_sizes"] = out.batch_sizes.numpy().copy()
    if out.sorted_indices is not None:
        store[p + "sorted_indices"] = out.sorted_indices.numpy().copy()
    store[p + "h_n"] = h_n.detach().numpy().copy()
    if c_n is not None:
        store[p + "c_n"] = c_n.detach().numpy().copy()


def utilities(store):
    seqs = [randn(n, 2) for n in (2, 4, 1, 4)]
    for i, s in enumerate(seqs):
        store[f"util/seq{i}"] = s.numpy()
    store["util/empty"] = torch.zeros(0, 2, dtype=torch.float64).numpy()
    for batch_first in (False, True):
        for side in ("right", "left"):
            padded = pad_sequence(seqs + [torch.zeros(0, 2, dtype=torch.float64)], batch_first=batch_first,
                                  padding_value=-1.5, padding_side=side)
            store[f"util/pad/{'bf' if batch_first else 'tf'}_{side}"] = padded.numpy()
    packed = pack_sequence(seqs, enforce_sorted=False)
    for field in ("data", "batch_sizes", "sorted_indices", "unsorted_indices"):
        store["util/pack/" + field] = getattr(packed, field).numpy()
    padded, lengths = pad_packed_sequence(packed, batch_first=True, padding_value=9.0, total_length=6)
    store["util/unpack/padded"] = padded.numpy()
    store["util/unpack/lengths"] = lengths.numpy()


def main():
    torch.manual_seed(0)
    store = {}
    utilities(store)
    for case in cases():
        run_layer(store, *case)
    write_golden(OUT, store, torch.__version__)


if __name__ == "__main__":
    main()
