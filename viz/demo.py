"""Small recurrent networks with random weights, for pictures: `python -m viz render ...` and the tests.

`Demo` reads a random sequence with an nn.RNN / nn.LSTM / nn.GRU, reads out one number per step with a
Linear layer (each step annotated with its `t`, so pictures line it up), and sums the per-step squared
errors into one loss:

    x_t -> [rnn: layer 0 -> layer 1 ...] -> h_t -> readout -> y_t;   loss = sum_t mean((y_t - target_t)^2)
"""
import minigrad as mg
from minigrad import nn

LAYERS = {"rnn": nn.RNN, "lstm": nn.LSTM, "gru": nn.GRU}


class Demo(nn.Module):
    """A recurrent layer plus a per-step readout; `fused=False` builds every gate from single ops."""

    def __init__(self, cell="lstm", layers=1, input_size=3, hidden_size=4, bidirectional=False, fused=True):
        super().__init__()
        if cell not in LAYERS:
            raise ValueError(f"viz demo: cell must be one of {sorted(LAYERS)}, got {cell!r}")
        self.rnn = LAYERS[cell](input_size, hidden_size, layers, bidirectional=bidirectional, fused=fused)
        self.readout = nn.Linear(hidden_size * (2 if bidirectional else 1), 1)

    def forward(self, x, targets):
        """x (T, B, input_size), targets: T tensors (B, 1) -> the summed loss."""
        out, _ = self.rnn(x)
        losses = []
        for t in range(x.shape[0]):
            with mg.annotate(t=t):
                losses.append(((self.readout(out[t]) - targets[t]) ** 2).mean())
        return mg.stack(losses).sum()


def build(cell="lstm", layers=1, steps=3, bidirectional=False, fused=True, batch=2, seed=0, rolled=False):
    """A seeded Demo and its loss for one random batch: (model, loss, inputs {name: tensor}).
    Targets are named by the step that reads them, 1..T as in the pictures (target[t] for a rolled one)."""
    mg.manual_seed(seed)
    model = Demo(cell, layers, bidirectional=bidirectional, fused=fused)
    x = mg.randn(steps, batch, model.rnn.input_size)
    targets = [mg.randn(batch, 1) for _ in range(steps)]
    names = {"x": x, **{f"target[{'t' if rolled else t + 1}]": y for t, y in enumerate(targets)}}
    return model, model(x, targets), names
