"""One-to-many: a vector in, a sequence out (image captioning is the classic, a class -> a melody here).

    context v (B, K) ──────────────┬──────────────┬──── ... (the same v at every step)
                                   v              v
    BOS, y1, y2, ... -> embed -> [e_t ; v] -> RNN/LSTM/GRU -> linear -> scores for y_{t+1}
                      h0 = tanh(W_0 v)  (optional)

Feeding [e_t ; v] as the input means the pre-activation of every gate is W_e e_t + W_v v + W_hh h + b:
the context adds W_v v, an extra bias that depends on the sequence and is the same at every step.
Training uses teacher forcing (the true previous token as input); `generate` feeds back its own argmax.
"""
import numpy as np

import minigrad as mg
import minigrad.nn.functional as F
from minigrad import nn

from .common import as_input, fit, make_rnn


class SequenceGenerator(nn.Module):
    """SequenceGenerator(context_size, vocab_size, embed=32, hidden=64, cell='lstm', layers=1, init_state=True,
    unroll=True).

    forward(context (B, K), inputs (B, T) ids starting with BOS) -> scores (B, T, vocab_size);
    generate(context, length) -> ids (B, length). Token id `vocab_size` is BOS (`self.bos`).
    """

    def __init__(self, context_size, vocab_size, embed=32, hidden=64, cell="lstm", layers=1, init_state=True,
                 unroll=True):
        super().__init__()
        self.vocab_size, self.bos, self.cell, self.layers, self.hidden = vocab_size, vocab_size, cell, layers, hidden
        self.embedding = nn.Embedding(vocab_size + 1, embed)
        self.rnn = make_rnn(cell, embed + context_size, hidden, layers, unroll=unroll)
        self.init = nn.Linear(context_size, layers * hidden) if init_state else None
        self.head = nn.Linear(hidden, vocab_size)

    def initial_state(self, context):
        """None (zeros), or h0 = tanh(W_0 v) for every layer (and c0 = 0 for an LSTM)."""
        if self.init is None:
            return None
        B = context.shape[0]
        h0 = self.init(context).tanh().reshape(B, self.layers, self.hidden).transpose(0, 1)
        return (h0, mg.zeros_like(h0)) if self.cell == "lstm" else h0

    def step(self, context, inputs, state):
        """inputs (B, T) ids -> (scores (B, T, V), state): T steps with the context beside every input."""
        e = self.embedding(inputs)
        B, T = e.shape[0], e.shape[1]
        v = mg.broadcast_to(context.unsqueeze(1), (B, T, context.shape[-1]))
        output, state = self.rnn(mg.cat([e, v], axis=-1), state)
        return self.head(output), state

    def forward(self, context, inputs):
        context = as_input(context, self.head.weight)
        scores, _ = self.step(context, inputs, self.initial_state(context))
        return scores

    def generate(self, context, length):
        """Greedy decoding: feed BOS, then each step's argmax; returns ids (B, length) as a NumPy array."""
        with mg.no_grad():
            context = as_input(context, self.head.weight)
            B = context.shape[0]
            token = mg.full((B, 1), self.bos, dtype=mg.int64, device=context.device)
            state, out = self.initial_state(context), []
            for _ in range(length):
                scores, state = self.step(context, token, state)
                token = scores.argmax(axis=-1)
                out.append(token.numpy()[:, 0])
        return np.stack(out, axis=1)


def teacher_inputs(targets, bos):
    """The decoder's inputs under teacher forcing: BOS, then the targets shifted right by one."""
    targets = np.asarray(targets)
    return np.concatenate([np.full((targets.shape[0], 1), bos, dtype=np.int64), targets[:, :-1]], axis=1)


def generator_loss(model, batch):
    """batch = (context (B, K), targets (B, T) ids): mean cross-entropy with teacher forcing."""
    context, targets = batch
    scores = model(context, teacher_inputs(targets, model.bos))
    return F.cross_entropy(scores.reshape(-1, scores.shape[-1]), targets.reshape(-1))


def train_generator(model, make_batch, steps, **kw):
    """Train on make_batch(step) -> (context, targets); keyword arguments go to `fit`. Returns losses."""
    return fit(model, generator_loss, make_batch, steps, **kw)
