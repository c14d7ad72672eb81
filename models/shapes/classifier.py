"""Many-to-one: a sequence in, one vector of class scores out.

    x (B, T) ids or (B, T, I) features, lengths (B,)
      -> [embedding] -> RNN/LSTM/GRU (optionally bidirectional)
      -> final state of the last layer, both directions concatenated (B, D*H) -> linear -> scores (B, C)

With num_classes=1 and mse_loss it is a regressor (the adding problem uses it that way).
"""
import minigrad.nn.functional as F
from minigrad import nn

from .common import TokenInput, as_input, fit, last_layer_final, make_rnn


class SequenceClassifier(nn.Module):
    """SequenceClassifier(num_classes, vocab_size=None | input_size=None, embed=0, hidden=64, cell='lstm',
    layers=1, bidirectional=False, dropout=0.0, unroll=True): forward(x, lengths=None) -> scores (B, num_classes)."""

    def __init__(self, num_classes, vocab_size=None, input_size=None, embed=0, hidden=64, cell="lstm", layers=1,
                 bidirectional=False, dropout=0.0, unroll=True):
        super().__init__()
        if (vocab_size is None) == (input_size is None):
            raise ValueError("SequenceClassifier: give vocab_size (token inputs) or input_size (features), "
                             "exactly one")
        self.tokens = TokenInput(vocab_size, embed) if vocab_size else None
        self.rnn = make_rnn(cell, self.tokens.size if self.tokens else input_size, hidden, layers, bidirectional,
                            dropout, unroll)
        self.head = nn.Linear(hidden * (2 if bidirectional else 1), num_classes)

    def forward(self, x, lengths=None):
        like = self.head.weight
        x = self.tokens(x, like) if self.tokens else as_input(x, like)
        _, state = self.rnn(x, lengths=lengths)
        return self.head(last_layer_final(state, self.rnn))


def classifier_loss(model, batch):
    """batch = (x, lengths or None, labels (B,) ints): mean cross-entropy."""
    x, lengths, labels = batch
    return F.cross_entropy(model(x, lengths), labels)


def train_classifier(model, make_batch, steps, **kw):
    """Train on make_batch(step) -> (x, lengths, labels); keyword arguments go to `fit`. Returns losses."""
    return fit(model, classifier_loss, make_batch, steps, **kw)
