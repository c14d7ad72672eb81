"""Attention over the encoder's outputs: a query (the decoder state) scores every source position.

    additive (Bahdanau et al. 2015)  score(s, h_j) = v^T tanh(W_q s + W_k h_j + b)
    dot      (Luong et al. 2015)     score(s, h_j) = s^T h_j          (s and h_j of the same size)
    general  (Luong et al. 2015)     score(s, h_j) = s^T W h_j

    weights = softmax over j of the scores, padded positions filled with -inf first (their weight is exactly 0)
    context = sum_j weights_j h_j

The part of a score that depends on the source only (W_k h_j + b, W h_j, h_j) is the `keys`: a decoder
computes them once per source with `keys(memory)` and passes them to every step.
"""
import numpy as np

import minigrad as mg
import minigrad.nn.functional as F
from minigrad import nn

KINDS = ("additive", "dot", "general")


class Attention(nn.Module):
    """Attention(query_size, memory_size, kind='additive', attn_size=None); attn_size (additive only)
    defaults to query_size; 'dot' needs query_size == memory_size.

    forward(query (B, Q), memory (B, S, M), padding_mask=None, keys=None) -> (context (B, M), weights (B, S));
    padding_mask (B, S) bool is True at padded positions (PyTorch's key_padding_mask convention).
    """

    def __init__(self, query_size, memory_size, kind="additive", attn_size=None):
        super().__init__()
        if kind not in KINDS:
            raise ValueError(f"Attention: kind must be one of {KINDS}, got {kind!r}")
        if kind == "dot" and query_size != memory_size:
            raise ValueError(f"Attention: kind='dot' needs query_size == memory_size, got {query_size} and "
                             f"{memory_size}; 'general' learns the map between them")
        if attn_size is not None and kind != "additive":
            raise ValueError(f"Attention: attn_size applies to kind='additive' only, got attn_size={attn_size} "
                             f"with kind={kind!r}")
        self.kind, self.query_size, self.memory_size = kind, query_size, memory_size
        if kind == "additive":
            attn_size = query_size if attn_size is None else attn_size
            self.query_proj = nn.Linear(query_size, attn_size, bias=False)      # W_q
            self.key_proj = nn.Linear(memory_size, attn_size)                   # W_k, b
            self.v = nn.Linear(attn_size, 1, bias=False)                        # v
        elif kind == "general":
            self.key_proj = nn.Linear(memory_size, query_size, bias=False)      # W

    def keys(self, memory):
        """memory (B, S, M) -> the per-source part of the scores: W_k h + b (additive), W h (general), h (dot)."""
        return memory if self.kind == "dot" else self.key_proj(memory)

    def scores(self, query, keys):
        """query (B, Q), keys (B, S, *) -> unnormalised scores (B, S)."""
        if self.kind == "additive":
            return self.v((keys + self.query_proj(query).unsqueeze(1)).tanh()).squeeze(-1)
        return (keys @ query.unsqueeze(-1)).squeeze(-1)

    def forward(self, query, memory, padding_mask=None, keys=None):
        if query.ndim != 2 or memory.ndim != 3 or query.shape[0] != memory.shape[0] \
                or query.shape[1] != self.query_size or memory.shape[2] != self.memory_size:
            raise ValueError(f"Attention: expected query (B, {self.query_size}) and memory (B, S, {self.memory_size}),"
                             f" got query {tuple(query.shape)} and memory {tuple(memory.shape)}")
        scores = self.scores(query, self.keys(memory) if keys is None else keys)
        if padding_mask is not None:
            scores = scores.masked_fill(padding_mask, -np.inf)
        weights = F.softmax(scores, axis=-1)
        return (weights.unsqueeze(1) @ memory).squeeze(1), weights


def padding_mask(lengths, S, device="cpu"):
    """(B, S) bool Tensor, True at padded positions j >= lengths[b]; None without lengths. Each length must
    lie in [1, S]: a source with no real position has nothing to attend to."""
    if lengths is None:
        return None
    lengths = np.asarray(lengths.numpy() if isinstance(lengths, mg.Tensor) else lengths)
    if lengths.ndim != 1 or lengths.dtype.kind not in "iu":
        raise ValueError(f"src_lengths must be a list of integers (one per sequence), got {lengths.tolist()!r}")
    if lengths.size and (lengths.min() < 1 or lengths.max() > S):
        raise ValueError(f"src_lengths must lie in [1, {S}] (the padded source length), got {lengths.tolist()}")
    return mg.tensor(np.arange(S)[None, :] >= lengths[:, None], device=device)
