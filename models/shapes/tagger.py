"""Many-to-many with equal lengths: one label per input step (part-of-speech tagging is the classic).

    x (B, T) ids or (B, T, I) features, lengths (B,)
      -> [embedding] -> RNN/LSTM/GRU (optionally bidirectional) -> output (B, T, D*H)
      -> linear at every step -> scores (B, T, C)

Padded steps carry the tag IGNORE, so they add nothing to the loss.
"""
import minigrad.nn.functional as F
from minigrad import nn

from .common import TokenInput, as_input, fit, make_rnn

IGNORE = -100


class SequenceTagger(nn.Module):
    """SequenceTagger(num_tags, vocab_size=None | input_size=None, embed=0, hidden=64, cell='lstm', layers=1,
    bidirectional=False, dropout=0.0, unroll=True): forward(x, lengths=None) -> scores (B, T, num_tags)."""

    def __init__(self, num_tags, vocab_size=None, input_size=None, embed=0, hidden=64, cell="lstm", layers=1,
                 bidirectional=False, dropout=0.0, unroll=True):
        super().__init__()
        if (vocab_size is None) == (input_size is None):
            raise ValueError("SequenceTagger: give vocab_size (token inputs) or input_size (features), exactly one")
        self.tokens = TokenInput(vocab_size, embed) if vocab_size else None
        self.rnn = make_rnn(cell, self.tokens.size if self.tokens else input_size, hidden, layers, bidirectional,
                            dropout, unroll)
        self.head = nn.Linear(hidden * (2 if bidirectional else 1), num_tags)

    def forward(self, x, lengths=None):
        like = self.head.weight
        x = self.tokens(x, like) if self.tokens else as_input(x, like)
        output, _ = self.rnn(x, lengths=lengths)
        return self.head(output)


def tagger_loss(model, batch):
    """batch = (x, lengths or None, tags (B, T) ints, IGNORE on padding): mean cross-entropy per real step."""
    x, lengths, tags = batch
    scores = model(x, lengths)
    return F.cross_entropy(scores.reshape(-1, scores.shape[-1]), tags.reshape(-1), ignore_index=IGNORE)


def train_tagger(model, make_batch, steps, **kw):
    """Train on make_batch(step) -> (x, lengths, tags); keyword arguments go to `fit`. Returns losses."""
    return fit(model, tagger_loss, make_batch, steps, **kw)
