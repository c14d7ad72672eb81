"""Sequence to sequence: an encoder reads the source, its final state starts a decoder that writes the target.

    source (B, S) -> embed -> encoder RNN (optionally bidirectional) -> final states (layers*D, B, H)
                                                  |  bridge (bidirectional: [fwd ; bwd] -> linear (-> tanh for h))
                                                  v
    BOS, y1, y2, ... -> embed -> decoder RNN (initial state = bridged context) -> linear -> scores for y_{t+1}

The encoder's final state is the whole context the decoder gets (no attention): for the reversal task the
first target is the last source token, fresh in the state. Training: teacher forcing; inference: greedy.
"""
import numpy as np

import minigrad as mg
import minigrad.nn.functional as F
from minigrad import nn

from .common import fit, make_rnn
from .generator import teacher_inputs


class Seq2Seq(nn.Module):
    """Seq2Seq(src_vocab, tgt_vocab, embed=32, hidden=128, cell='lstm', layers=1, bidirectional=False,
    unroll=True); unroll=False builds both layers on the speed path.

    forward(src (B, S), tgt_in (B, T), src_lengths=None) -> scores (B, T, tgt_vocab);
    greedy(src, length, src_lengths=None) -> ids (B, length). Target id `tgt_vocab` is BOS (`self.bos`).
    """

    def __init__(self, src_vocab, tgt_vocab, embed=32, hidden=128, cell="lstm", layers=1, bidirectional=False,
                 unroll=True):
        super().__init__()
        self.cell, self.layers, self.hidden, self.bos = cell, layers, hidden, tgt_vocab
        self.src_embedding = nn.Embedding(src_vocab, embed)
        self.encoder = make_rnn(cell, embed, hidden, layers, bidirectional, unroll=unroll)
        if bidirectional:                      # (fwd ; bwd) of each layer -> the decoder's layer state
            self.bridge_h = nn.Linear(2 * hidden, hidden)
            if cell == "lstm":
                self.bridge_c = nn.Linear(2 * hidden, hidden)
        self.tgt_embedding = nn.Embedding(tgt_vocab + 1, embed)
        self.decoder = make_rnn(cell, embed, hidden, layers, unroll=unroll)
        self.head = nn.Linear(hidden, tgt_vocab)

    def encode(self, src, src_lengths=None):
        """The decoder's initial state: the encoder's final state, bridged when bidirectional."""
        _, state = self.encoder(self.src_embedding(self._ids(src)), lengths=src_lengths)
        if not self.encoder.bidirectional:
            return state
        if self.cell == "lstm":
            return self._bridge(state[0], self.bridge_h).tanh(), self._bridge(state[1], self.bridge_c)
        return self._bridge(state, self.bridge_h).tanh()

    def _bridge(self, s, linear):
        """(layers*2, B, H) -> (layers, B, 2H) (each layer's two directions side by side) -> linear -> (layers, B, H)"""
        L, B, H = self.layers, s.shape[1], self.hidden
        return linear(s.reshape(L, 2, B, H).permute(0, 2, 1, 3).reshape(L, B, 2 * H))

    def decode(self, tgt_in, state):
        """tgt_in (B, T) ids -> (scores (B, T, V), state)."""
        output, state = self.decoder(self.tgt_embedding(self._ids(tgt_in)), state)
        return self.head(output), state

    def forward(self, src, tgt_in, src_lengths=None):
        scores, _ = self.decode(tgt_in, self.encode(src, src_lengths))
        return scores

    def greedy(self, src, length, src_lengths=None):
        """Greedy decoding: BOS, then each step's argmax fed back; ids (B, length) as a NumPy array."""
        with mg.no_grad():
            state = self.encode(src, src_lengths)
            B = np.asarray(src).shape[0] if not isinstance(src, mg.Tensor) else src.shape[0]
            token, out = np.full((B, 1), self.bos, dtype=np.int64), []
            for _ in range(length):
                scores, state = self.decode(token, state)
                token = scores.argmax(axis=-1).numpy()
                out.append(token[:, 0])
        return np.stack(out, axis=1)

    def _ids(self, ids):
        if isinstance(ids, mg.Tensor):
            return ids
        return mg.tensor(np.asarray(ids, dtype=np.int64), device=self.head.weight.device)


def seq2seq_loss(model, batch):
    """batch = (src (B, S), tgt (B, T), src_lengths or None): mean cross-entropy with teacher forcing."""
    src, tgt, src_lengths = batch
    scores = model(src, teacher_inputs(tgt, model.bos), src_lengths)
    return F.cross_entropy(scores.reshape(-1, scores.shape[-1]), np.asarray(tgt).reshape(-1))


def train_seq2seq(model, make_batch, steps, **kw):
    """Train on make_batch(step) -> (src, tgt, src_lengths); keyword arguments go to `fit`. Returns losses."""
    return fit(model, seq2seq_loss, make_batch, steps, **kw)
