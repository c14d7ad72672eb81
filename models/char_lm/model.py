"""The character-level language model: ids -> embedding (or one-hot) -> RNN/LSTM/GRU -> linear -> scores.

    ids (T, B) int ──> embedding (V -> E) ──> L-layer RNN/LSTM/GRU (H) ──> dropout ──> linear (H -> V)
                       or one-hot (V)              state in, state out                 logits (T, B, V)

softmax(logits[t, b]) is the model's distribution of the character after ids[..t, b]. The state returned
by forward is what the next window starts from (the trainer detaches it first).
"""
import numpy as np

import minigrad as mg
import minigrad.nn.functional as F
from minigrad import nn

from ..cells import layer_class


class CharLM(nn.Module):
    """CharLM(vocab_size, cell='lstm', hidden=128, layers=2, embed=128, dropout=0.0, fused=True, unroll=True);
    embed=0 feeds one-hot; unroll=False runs the recurrent layer on the speed path (same weights, same numbers)."""

    def __init__(self, vocab_size, cell="lstm", hidden=128, layers=2, embed=128, dropout=0.0, fused=True,
                 unroll=True):
        super().__init__()
        rnn_class = layer_class(cell, who="CharLM")
        if vocab_size < 1 or hidden < 1 or layers < 1 or embed < 0:
            raise ValueError(f"CharLM: vocab_size, hidden, layers must be >= 1 and embed >= 0; "
                             f"got {vocab_size}, {hidden}, {layers}, {embed}")
        self.vocab_size, self.cell, self.hidden, self.layers, self.embed = vocab_size, cell, hidden, layers, embed
        if embed:
            self.embedding = nn.Embedding(vocab_size, embed)
        self.rnn = rnn_class(embed or vocab_size, hidden, num_layers=layers, dropout=dropout, fused=fused,
                             unroll=unroll)
        self.drop = nn.Dropout(dropout)
        self.decoder = nn.Linear(hidden, vocab_size)
        self._one_hot = None                 # the identity matrix (not a parameter), made on first use

    def config(self):
        """The constructor's arguments that shape the weights, as saved in checkpoints (fused/unroll do not)."""
        return dict(vocab_size=self.vocab_size, cell=self.cell, hidden=self.hidden, layers=self.layers,
                    embed=self.embed, dropout=self.drop.p)

    def forward(self, ids, state=None):
        """ids (T, B) ints (a Tensor or array) -> (logits (T, B, V), final state)."""
        weight = self.decoder.weight
        if not isinstance(ids, mg.Tensor):
            ids = mg.tensor(np.asarray(ids, dtype=np.int64), device=weight.device)
        if self.embed:
            x = self.embedding(ids)
        else:
            x = F.embedding(ids, self._identity(weight))
        out, state = self.rnn(x, state)
        return self.decoder(self.drop(out)), state

    def _identity(self, like):
        eye = self._one_hot
        if eye is None or eye.device != like.device or eye.dtype != like.dtype:
            eye = mg.tensor(np.eye(self.vocab_size), dtype=like.dtype, device=like.device)
            self._one_hot = eye
        return eye


def detach_state(state):
    """The state with its history cut: the next window's gradients stop here (truncated BPTT)."""
    if state is None:
        return None
    if isinstance(state, tuple):
        return tuple(s.detach() for s in state)
    return state.detach()
