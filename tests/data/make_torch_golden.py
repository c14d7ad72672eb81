"""Regenerate tests/data/torch_rnn_golden.npz: PyTorch's RNN/LSTM/GRU numbers, for tests/test_rnn.py.

Run by hand only, with PyTorch installed in a scratch environment OUTSIDE the project (PyTorch is never a
dependency of minigrad, not even of its tests):

    python3 -m venv /tmp/torchvenv && /tmp/torchvenv/bin/pip install numpy torch
    /tmp/torchvenv/bin/python tests/data/make_torch_golden.py

For each case it builds a PyTorch module in float64 from a fixed seed, runs it on fixed random inputs
(with or without an initial state, optionally a padded batch with per-sequence lengths, packed for
PyTorch) and stores, under the prefix '<case>/':

    config                  JSON text: kind ('layer' or 'cell'), mode, constructor arguments, what was fed
    param/<name>            the module's state_dict, as NumPy arrays
    x, h0, c0, lengths      the inputs (h0/c0/lengths only when used)
    out, h_n, c_n           the outputs (layers: output, h_n, c_n; cells: h', c')
    w_out, w_h, w_c         fixed weights of the scalar loss  L = sum(out*w_out) + sum(h_n*w_h) + sum(c_n*w_c)
    grad/<name>             dL/d(parameter), and grad_x, grad_h0, grad_c0 for the inputs

Loaded with np.load(allow_pickle=False): every entry is a plain numeric or unicode array.
"""
import json
import os

import numpy as np
import torch
from torch import nn

from golden_file import write_golden  # tests/data/golden_file.py, beside this script
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

T, B, IN, H = 5, 3, 3, 4
OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "torch_rnn_golden.npz")

# (case name, mode, layer arguments, use initial state, use lengths)
LAYERS = [
    ("rnn_tanh_2l_bi_h0", "rnn", dict(num_layers=2, bidirectional=True, nonlinearity="tanh"), True, False),
    ("rnn_relu_bf", "rnn", dict(batch_first=True, nonlinearity="relu"), False, False),
    ("rnn_relu_2l_bi_len", "rnn", dict(num_layers=2, bidirectional=True, nonlinearity="relu"), True, True),
    ("lstm_1l", "lstm", dict(), False, False),
    ("lstm_2l_bi_bf_h0", "lstm", dict(num_layers=2, bidirectional=True, batch_first=True), True, False),
    ("lstm_2l_bi_len_h0", "lstm", dict(num_layers=2, bidirectional=True), True, True),
    ("lstm_nobias_bi_len", "lstm", dict(bias=False, bidirectional=True, batch_first=True), False, True),
    ("gru_2l_bi_h0", "gru", dict(num_layers=2, bidirectional=True), True, False),
    ("gru_bf", "gru", dict(batch_first=True), False, False),
    ("gru_2l_bi_bf_len", "gru", dict(num_layers=2, bidirectional=True, batch_first=True), True, True),
    ("gru_nobias_h0", "gru", dict(bias=False), True, False),
]

# (case name, mode, cell arguments, use state, batched)
CELLS = [
    ("cell_rnn_tanh_h", "rnn", dict(nonlinearity="tanh"), True, True),
    ("cell_rnn_relu", "rnn", dict(nonlinearity="relu"), False, True),
    ("cell_lstm_hc", "lstm", dict(), True, True),
    ("cell_lstm", "lstm", dict(), False, True),
    ("cell_gru_h", "gru", dict(), True, True),
    ("cell_gru", "gru", dict(), False, True),
    ("cell_gru_nobias_h", "gru", dict(bias=False), True, True),
    ("cell_lstm_unbatched_hc", "lstm", dict(), True, False),
]

LAYER_CLASSES = {"rnn": nn.RNN, "lstm": nn.LSTM, "gru": nn.GRU}
CELL_CLASSES = {"rnn": nn.RNNCell, "lstm": nn.LSTMCell, "gru": nn.GRUCell}


def randn(*shape):
    return torch.randn(*shape, dtype=torch.float64)


def run_layer(store, name, mode, kwargs, with_state, with_lengths):
    module = LAYER_CLASSES[mode](IN, H, **kwargs).double()
    D = 2 if kwargs.get("bidirectional") else 1
    L = kwargs.get("num_layers", 1)
    batch_first = kwargs.get("batch_first", False)
    x = randn(*((B, T, IN) if batch_first else (T, B, IN)))
    lengths = None
    if with_lengths:
        lengths = torch.tensor([3, T, 1], dtype=torch.int64)          # unsorted, one full, one of length 1
        for b, n in enumerate(lengths.tolist()):                       # large junk in the padding
            pad = (slice(b, b + 1), slice(n, None)) if batch_first else (slice(n, None), slice(b, b + 1))
            x[pad] = 50 * randn(*x[pad].shape)
    state = None
    if with_state:
        h0 = randn(L * D, B, H)
        state = (h0, randn(L * D, B, H)) if mode == "lstm" else h0
    inputs = [x] + ([] if state is None else list(state) if mode == "lstm" else [state])
    for t in inputs:
        t.requires_grad_(True)

    feed = x if lengths is None else pack_padded_sequence(x, lengths, batch_first=batch_first,
                                                          enforce_sorted=False)
    out, hn = module(feed, state)
    if lengths is not None:
        out, _ = pad_packed_sequence(out, batch_first=batch_first, total_length=T)
    h_n, c_n = hn if mode == "lstm" else (hn, None)

    config = dict(kind="layer", mode=mode, kwargs=kwargs, state=with_state, lengths=with_lengths)
    finish(store, name, module, config, inputs, out, h_n, c_n, lengths)


def run_cell(store, name, mode, kwargs, with_state, batched):
    module = CELL_CLASSES[mode](IN, H, **kwargs).double()
    lead = (B,) if batched else ()
    x = randn(*lead, IN)
    state = None
    if with_state:
        h = randn(*lead, H)
        state = (h, randn(*lead, H)) if mode == "lstm" else h
    inputs = [x] + ([] if state is None else list(state) if mode == "lstm" else [state])
    for t in inputs:
        t.requires_grad_(True)
    result = module(x, state)
    h_new, c_new = result if mode == "lstm" else (result, None)
    config = dict(kind="cell", mode=mode, kwargs=kwargs, state=with_state, batched=batched)
    finish(store, name, module, config, inputs, h_new, None, c_new, None)


def finish(store, name, module, config, inputs, out, h_n, c_n, lengths):
    """Fixed scalar loss, backward, and everything into `store` under '<name>/'."""
    p = name + "/"
    loss = 0
    for key, t in (("w_out", out), ("w_h", h_n), ("w_c", c_n)):
        if t is not None:
            w = randn(*t.shape)
            store[p + key] = w.numpy()
            loss = loss + (t * w).sum()
    loss.backward()
    store[p + "config"] = np.array(json.dumps(config))
    for k, v in module.state_dict().items():
        store[p + "param/" + k] = v.detach().numpy().copy()
    for k, v in module.named_parameters():
        store[p + "grad/" + k] = v.grad.numpy().copy()
    for key, t in zip(("x", "h0", "c0"), inputs):
        store[p + key] = t.detach().numpy().copy()
        store[p + "grad_" + key] = t.grad.numpy().copy()
    if lengths is not None:
        store[p + "lengths"] = lengths.numpy().copy()
    for key, t in (("out", out), ("h_n", h_n), ("c_n", c_n)):
        if t is not None:
            store[p + key] = t.detach().numpy().copy()


def main():
    torch.manual_seed(0)
    store = {}
    for case in LAYERS:
        run_layer(store, *case)
    for case in CELLS:
        run_cell(store, *case)
    write_golden(OUT, store, torch.__version__)


if __name__ == "__main__":
    main()
