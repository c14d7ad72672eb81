"""Sequence to sequence: an encoder reads the source, its final state starts a decoder that writes the target.

    source (B, S) -> embed -> encoder RNN (optionally bidirectional) -> final states (layers*D, B, H)
                                                  |  bridge (bidirectional: [fwd ; bwd] -> linear (-> tanh for h))
                                                  v
    BOS, y1, y2, ... -> embed -> decoder RNN (initial state = bridged context) -> linear -> scores for y_{t+1}

Without attention the encoder's final state is the whole context the decoder gets: for the reversal task
the first target is the last source token, fresh in the state, but the last target is the first source
token, squeezed through every step. With `attention` (Luong et al. 2015, with input feeding) the decoder
also looks back at every encoder output h_1..h_S at every step t:

    x_t  = [embed(y_{t-1}) ; h~_{t-1}]           input feeding: last step's attentional state (h~_0 = 0)
    s_t  = decoder RNN(x_t, s_{t-1})             the top layer's output is the query
    c_t, a_t = attention(s_t, h_1..h_S)          weights a_t over the source (padding: exactly 0), context c_t
    h~_t = tanh(W_c [s_t ; c_t])                 the attentional hidden state
    scores_t = head(h~_t)

so the decoder runs one step at a time, in training too. Training: teacher forcing; inference: `decode`
(greedy, sampling, beam search: models.decoding).
"""
import numpy as np

import minigrad as mg
import minigrad.nn.functional as F
from minigrad import nn

from .. import decoding
from .attention import KINDS, Attention, padding_mask
from .common import fit, make_rnn
from .generator import teacher_inputs


class Seq2Seq(nn.Module):
    """Seq2Seq(src_vocab, tgt_vocab, embed=32, hidden=128, cell='lstm', layers=1, bidirectional=False,
    unroll=True, attention=None); unroll=False builds both layers on the speed path; attention: None,
    'additive', 'dot' or 'general' (models.shapes.attention; 'dot' needs a unidirectional encoder).

    forward(src (B, S), tgt_in (B, T), src_lengths=None, return_attention=False) -> scores (B, T, tgt_vocab)
    (and the attention weights (B, T, S) with return_attention); decode(src, max_len, strategy='greedy', ...)
    -> ids (B, max_len); greedy(src, length, src_lengths=None) -> ids. Target id `tgt_vocab` is BOS (`self.bos`).
    """

    def __init__(self, src_vocab, tgt_vocab, embed=32, hidden=128, cell="lstm", layers=1, bidirectional=False,
                 unroll=True, attention=None):
        super().__init__()
        if attention is not None and attention not in KINDS:
            raise ValueError(f"Seq2Seq: attention must be None or one of {KINDS}, got {attention!r}")
        memory = hidden * (2 if bidirectional else 1)
        if attention == "dot" and bidirectional:
            raise ValueError(f"Seq2Seq: attention='dot' needs encoder outputs of the decoder's size, but a "
                             f"bidirectional encoder gives {memory} for hidden={hidden}; use 'general' or 'additive'")
        self.cell, self.layers, self.hidden, self.bos, self.attention_kind = cell, layers, hidden, tgt_vocab, attention
        self.src_embedding = nn.Embedding(src_vocab, embed)
        self.encoder = make_rnn(cell, embed, hidden, layers, bidirectional, unroll=unroll)
        if bidirectional:                      # (fwd ; bwd) of each layer -> the decoder's layer state
            self.bridge_h = nn.Linear(2 * hidden, hidden)
            if cell == "lstm":
                self.bridge_c = nn.Linear(2 * hidden, hidden)
        self.tgt_embedding = nn.Embedding(tgt_vocab + 1, embed)
        if attention is None:
            self.decoder = make_rnn(cell, embed, hidden, layers, unroll=unroll)
        else:                                  # input feeding: [embed ; h~_{t-1}] in, h~_t = tanh(W_c [s_t ; c_t])
            self.decoder = make_rnn(cell, embed + hidden, hidden, layers, unroll=unroll)
            self.attention = Attention(hidden, memory, attention)
            self.combine = nn.Linear(hidden + memory, hidden)
        self.head = nn.Linear(hidden, tgt_vocab)

    # ----------------------------------------------------------------------------- encoder
    def encode(self, src, src_lengths=None):
        """The decoder's initial state: the encoder's final state, bridged when bidirectional."""
        return self._encode(self._ids(src), src_lengths)[1]

    def _encode(self, src, src_lengths):
        """src (B, S) ids Tensor -> (encoder outputs (B, S, D*H), the decoder's initial state)."""
        outputs, state = self.encoder(self.src_embedding(src), lengths=src_lengths)
        if not self.encoder.bidirectional:
            return outputs, state
        if self.cell == "lstm":
            return outputs, (self._bridge(state[0], self.bridge_h).tanh(), self._bridge(state[1], self.bridge_c))
        return outputs, self._bridge(state, self.bridge_h).tanh()

    def _bridge(self, s, linear):
        """(layers*2, B, H) -> (layers, B, 2H) (each layer's two directions side by side) -> linear -> (layers, B, H)"""
        L, B, H = self.layers, s.shape[1], self.hidden
        return linear(s.reshape(L, 2, B, H).permute(0, 2, 1, 3).reshape(L, B, 2 * H))

    def start(self, src, src_lengths=None):
        """The decoding state before the first step: the RNN state; with attention the tuple
        (RNN state, h~_0 = 0 (B, H), keys (B, S, *), memory (B, S, D*H), padding mask (B, S) or None)."""
        src = self._ids(src)
        mask = padding_mask(src_lengths, src.shape[1], src.device) if self.attention_kind else None
        memory, state = self._encode(src, src_lengths)
        if self.attention_kind is None:
            return state
        feed = mg.zeros((memory.shape[0], self.hidden), dtype=memory.dtype, device=memory.device)
        return state, feed, self.attention.keys(memory), memory, mask

    # ----------------------------------------------------------------------------- decoder
    def run_decoder(self, tgt_in, state):
        """Without attention, all steps in one call: tgt_in (B, T) ids -> (scores (B, T, V), state)."""
        output, state = self.decoder(self.tgt_embedding(self._ids(tgt_in)), state)
        return self.head(output), state

    def attend_step(self, tokens, state):
        """One attentional decoder step: tokens (B,) -> (scores (B, V), state, weights (B, S))."""
        rnn_state, feed, keys, memory, mask = state
        x = mg.cat([self.tgt_embedding(self._ids(tokens)), feed], axis=-1).unsqueeze(1)    # (B, 1, E + H)
        output, rnn_state = self.decoder(x, rnn_state)
        query = output.squeeze(1)                                                           # s_t (B, H)
        context, weights = self.attention(query, memory, mask, keys=keys)
        feed = self.combine(mg.cat([query, context], axis=-1)).tanh()                       # h~_t (B, H)
        return self.head(feed), (rnn_state, feed, keys, memory, mask), weights

    def step(self, tokens, state):
        """One decoder step for models.decoding: tokens (B,) ids -> (scores (B, V), state)."""
        if self.attention_kind is None:
            scores, state = self.run_decoder(np.asarray(tokens).reshape(-1, 1), state)
            return scores[:, 0], state
        scores, state, _ = self.attend_step(tokens, state)
        return scores, state

    def forward(self, src, tgt_in, src_lengths=None, return_attention=False):
        if self.attention_kind is None:
            if return_attention:
                raise ValueError("Seq2Seq.forward: return_attention=True needs a model built with attention=...")
            scores, _ = self.run_decoder(tgt_in, self.encode(src, src_lengths))
            return scores
        state, tgt_in = self.start(src, src_lengths), self._ids(tgt_in)
        scores, weights = [], []
        for t in range(tgt_in.shape[1]):                   # teacher forcing, one step at a time (input feeding)
            s, state, w = self.attend_step(tgt_in[:, t], state)
            scores.append(s)
            weights.append(w)
        scores = mg.stack(scores, axis=1)
        return (scores, mg.stack(weights, axis=1)) if return_attention else scores

    # ----------------------------------------------------------------------------- inference
    def decode(self, src, max_len, strategy="greedy", src_lengths=None, *, beam=None, alpha=0.0, temperature=1.0,
               top_k=None, top_p=None, seed=None, eos=None):
        """ids (B, max_len) as a NumPy array, from BOS, by `strategy`: 'greedy', 'sample' (temperature, top_k,
        top_p, seed) or 'beam' (beam=K, alpha); see models.decoding. forward(src, [BOS, ids[:, :-1]],
        return_attention=True) replays a decoded output and gives its attention weights."""
        with mg.no_grad():
            state = self.start(src, src_lengths)
            B = np.shape(src)[0] if not isinstance(src, mg.Tensor) else src.shape[0]
            return decoding.decode(self.step, state, np.full(B, self.bos), max_len, strategy, reorder=self.reorder,
                                   beam=beam, alpha=alpha, temperature=temperature, top_k=top_k, top_p=top_p,
                                   rng=seed, eos=eos)

    def greedy(self, src, length, src_lengths=None):
        """Greedy decoding: BOS, then each step's argmax fed back; ids (B, length) as a NumPy array."""
        return self.decode(src, length, "greedy", src_lengths)

    def reorder(self, state, index):
        """The decoding state with its batch rows picked by `index` (beam search): axis 1 of the RNN state
        ((layers, B, H), for h and c), axis 0 of the attention's pieces."""
        def rows(x, axis):
            if x is None:
                return None
            if isinstance(x, tuple):
                return tuple(rows(s, axis) for s in x)
            return x[index] if axis == 0 else x[:, index]
        if self.attention_kind is None:
            return rows(state, 1)
        rnn_state, *rest = state
        return (rows(rnn_state, 1), *(rows(x, 0) for x in rest))

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
