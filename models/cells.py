"""The one table from a `--cell` name to its minigrad layer class, used by every model and CLI in models/."""
from minigrad import nn

CELLS = {"rnn": nn.RNN, "lstm": nn.LSTM, "gru": nn.GRU}


def layer_class(cell, who=None):
    """CELLS[cell]; an unknown name raises ValueError listing the names (prefixed with `who`, if given)."""
    if cell not in CELLS:
        prefix = f"{who}: " if who else ""
        raise ValueError(f"{prefix}cell must be one of {sorted(CELLS)}, got {cell!r}")
    return CELLS[cell]
