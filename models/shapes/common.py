"""Pieces every sequence shape shares: token inputs, the recurrent layer, "which hidden state", training.

All models in models.shapes are batch-first, as a learner's data usually is: tokens (B, T), features
(B, T, I). Padded batches come with `lengths` (B,), and the recurrent layers skip the padded steps.
"""
import numpy as np

import minigrad as mg
import minigrad.nn.functional as F
from minigrad import nn, optim

from ..cells import CELLS, layer_class  # noqa: F401  (CELLS: re-exported by models.shapes)
from ..training import NonFiniteLoss, train_step

OPTIMIZERS = {"adam": optim.Adam, "adagrad": optim.Adagrad, "rmsprop": optim.RMSprop, "sgd": optim.SGD}
DEFAULT_LR = {"adam": 2e-3, "rmsprop": 2e-3, "adagrad": 0.1, "sgd": 1.0}


def make_optimizer(name, params, lr=None):
    """optim.Adam / Adagrad / RMSprop / SGD by name, lr defaulting to DEFAULT_LR[name]."""
    if name not in OPTIMIZERS:
        raise ValueError(f"make_optimizer: optimizer must be one of {sorted(OPTIMIZERS)}, got {name!r}")
    return OPTIMIZERS[name](list(params), lr=DEFAULT_LR[name] if lr is None else lr)


def make_rnn(cell, input_size, hidden, layers=1, bidirectional=False, dropout=0.0, unroll=True):
    """nn.RNN / nn.LSTM / nn.GRU by name, batch-first; unroll=False: the speed path (one node per layer-direction)."""
    return layer_class(cell)(input_size, hidden, num_layers=layers, batch_first=True, dropout=dropout,
                             bidirectional=bidirectional, unroll=unroll)


def set_forget_bias(lstm, value=1.0):
    """Make an LSTM's forget gates start open: the forget slice (rows H:2H, gate order i, f, g, o) of
    bias_ih is set to `value` and of bias_hh to 0, in every layer and direction, so f = sigmoid(value + ...).

    With the default init (both biases ~U(-1/sqrt(H), 1/sqrt(H))) f starts near 0.5 and the cell state
    halves at every step; a bias of 1 keeps ~73% per step, so gradients reach far back early in training.
    """
    if not isinstance(lstm, nn.LSTM):
        raise TypeError(f"set_forget_bias: expected an nn.LSTM, got {type(lstm).__name__}")
    H = lstm.hidden_size
    with mg.no_grad():
        for name, p in lstm.named_parameters():
            if name.startswith("bias_ih"):
                p.data[H:2 * H] = value
            elif name.startswith("bias_hh"):
                p.data[H:2 * H] = 0.0
    return lstm


class TokenInput(nn.Module):
    """ids (B, T) -> vectors (B, T, E) with a learned embedding, or one-hot (B, T, V) when embed=0."""

    def __init__(self, vocab_size, embed=0):
        super().__init__()
        self.vocab_size, self.embed = vocab_size, embed
        self.size = embed or vocab_size
        if embed:
            self.embedding = nn.Embedding(vocab_size, embed)
        self._eye = None

    def forward(self, ids, like):
        if not isinstance(ids, mg.Tensor):
            ids = mg.tensor(np.asarray(ids, dtype=np.int64), device=like.device)
        if self.embed:
            return self.embedding(ids)
        if self._eye is None or self._eye.device != like.device or self._eye.dtype != like.dtype:
            self._eye = mg.tensor(np.eye(self.vocab_size), dtype=like.dtype, device=like.device)
        return F.embedding(ids, self._eye)


def as_input(x, like):
    """Features as a Tensor on the device and dtype of `like` (a parameter)."""
    if isinstance(x, mg.Tensor):
        return x
    return mg.tensor(np.asarray(x), dtype=like.dtype, device=like.device)


def last_layer_final(state, rnn):
    """The final hidden state of the last layer, both directions concatenated: (B, D*H).

    h_n is (layers*D, B, H), layer-major, forward then reverse. With `lengths`, the forward entry is
    the state at each sequence's own last real step and the reverse entry the state after reading back
    to step 0: together they have seen the whole sequence. (output[:, -1] would be wrong twice over:
    a padded step for short sequences, and the reverse direction after reading one element only.)
    """
    h_n = state[0] if isinstance(state, tuple) else state
    if rnn.bidirectional:
        return mg.cat([h_n[-2], h_n[-1]], axis=-1)
    return h_n[-1]


def fit(model, loss_fn, make_batch, steps, lr=1e-3, optimizer="adam", clip=1.0, log_every=0, log=print):
    """The training loop every shape shares: steps of (batch -> loss -> models.training.train_step).

    make_batch(step) -> a batch; loss_fn(model, batch) -> scalar loss Tensor. Returns the list of losses.
    Raises FloatingPointError when the loss (or the clipped gradient norm) stops being finite.
    """
    opt = make_optimizer(optimizer, model.parameters(), lr)
    params = list(model.parameters())
    model.train()
    losses = []
    for step in range(steps):
        try:
            value = train_step(params, opt, loss_fn(model, make_batch(step)), clip)
        except NonFiniteLoss as e:
            raise FloatingPointError(f"fit: {e} at step {step + 1}; lower lr (now {lr})") from e
        losses.append(value)
        if log_every and log and (step + 1) % log_every == 0:
            log(f"step {step + 1}: loss {np.mean(losses[-log_every:]):.4f}")
    return losses
