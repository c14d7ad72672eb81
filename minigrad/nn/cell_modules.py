"""nn.RNNCell, nn.LSTMCell, nn.GRUCell: one time step as a module with its own weights (PyTorch's API).

Each holds a cell from minigrad/nn/cells.py and PyTorch's parameters `weight_ih`, `weight_hh`, `bias_ih`,
`bias_hh`; `fused=False` builds the step from single ops (every gate a node), `fused=True` runs it as one node.
Both support second derivatives (create_graph=True); the fused node differentiates its fine-grained decomposition.
"""
import math

from .. import factories
from ..tensor import Tensor
from . import init
from .cells import ElmanCell, GRUGatedCell, LSTMGatedCell
from .module import Module, check_bool, check_int
from .parameter import Parameter


class CellModule(Module):
    """A cell with its weights: cell(x, state) -> new state; x (B, input_size) or unbatched (input_size,)."""

    def __init__(self, cell, input_size, hidden_size, bias=True, fused=True, device=None, dtype=None):
        super().__init__()
        name = type(self).__name__
        input_size = check_int(name, "input_size", input_size)
        hidden_size = check_int(name, "hidden_size", hidden_size)
        bias, fused = check_bool(name, "bias", bias), check_bool(name, "fused", fused)
        self.cell, self.input_size, self.hidden_size, self.bias, self.fused = cell, input_size, hidden_size, bias, fused
        for name, shape in cell.parameter_shapes(input_size, hidden_size, bias).items():
            setattr(self, name, Parameter(factories.zeros(shape, device=device, dtype=dtype)))
        for name in ("bias_ih", "bias_hh"):
            if not bias:
                self.register_parameter(name, None)
        bound = 1 / math.sqrt(hidden_size)
        for p in self.parameters():
            init.uniform_(p, -bound, bound)

    def forward(self, x: Tensor, state=None):
        """-> the new state: h' (a tensor) for one-tensor states, else the tuple (h', c', ...)."""
        if not isinstance(x, Tensor) or x.ndim not in (1, 2) or x.shape[-1] != self.input_size:
            got = x.shape if isinstance(x, Tensor) else type(x).__name__
            raise ValueError(f"{type(self).__name__}: expected input of shape (batch, {self.input_size}) or "
                             f"({self.input_size},), got {got}")
        if state is not None:
            self._check_state(state, x)
        k = self.cell.state_size
        unbatched = x.ndim == 1
        if unbatched:
            x = x.unsqueeze(0)
        if state is None:
            state = self.cell.zero_state(x, self.hidden_size)
        else:
            state = tuple(state) if k > 1 else (state,)
            state = tuple(s.unsqueeze(0) for s in state) if unbatched else state
        w = {name: getattr(self, name) for name in self.cell.parameter_names()}
        step, _ = self.cell.step_for(self.fused)
        new = step(self.cell.project(x, w), state, w)
        if unbatched:
            new = tuple(s.squeeze(0) for s in new)
        return new if k > 1 else new[0]

    def _check_state(self, state, x):
        """A clear error unless `state` is what this cell takes for input x: (B, H) tensors (or (H,) for an
        unbatched x), one tensor for one-tensor states, a tuple of k for k-tensor states (LSTM: (h, c))."""
        name, k = type(self).__name__, self.cell.state_size
        shape = (self.hidden_size,) if x.ndim == 1 else (x.shape[0], self.hidden_size)
        if k > 1:
            what = "(h, c)" if k == 2 else f"of {k} tensors"
            if not isinstance(state, (tuple, list)) or len(state) != k:
                got = f"a tuple of {len(state)}" if isinstance(state, (tuple, list)) else type(state).__name__
                raise TypeError(f"{name}: the state must be a tuple {what} of {k} tensors of shape {shape}, "
                                f"got {got}")
            parts = tuple(state)
        else:
            if not isinstance(state, Tensor):
                raise TypeError(f"{name}: the state must be one tensor h of shape {shape}, "
                                f"got {type(state).__name__}")
            parts = (state,)
        for p in parts:
            if not isinstance(p, Tensor) or p.shape != shape:
                got = p.shape if isinstance(p, Tensor) else type(p).__name__
                layout = "(hidden_size,)" if x.ndim == 1 else "(batch, hidden_size)"
                raise ValueError(f"{name}: expected state of shape {shape} {layout} for input of "
                                 f"shape {x.shape}, got {got}")
            if p.dtype != x.dtype or p.device != x.device:
                raise TypeError(f"{name}: the state must have the input's dtype and device ({x.dtype} on "
                                f"{x.device}), got {p.dtype} on {p.device}")

    def extra_repr(self):
        return f"{self.input_size}, {self.hidden_size}" + ("" if self.bias else ", bias=False") + \
               ("" if self.fused else ", fused=False")


class RNNCell(CellModule):
    """h' = tanh(x W_ih^T + b_ih + h W_hh^T + b_hh)  (nonlinearity='relu' for ReLU)."""

    def __init__(self, input_size, hidden_size, bias=True, nonlinearity="tanh", fused=True, device=None, dtype=None):
        super().__init__(ElmanCell(nonlinearity, "RNNCell"), input_size, hidden_size, bias, fused, device, dtype)

    @property
    def nonlinearity(self):
        return self.cell.nonlinearity


class LSTMCell(CellModule):
    """(h', c') = LSTM step of x from (h, c); the state defaults to zeros."""

    def __init__(self, input_size, hidden_size, bias=True, fused=True, device=None, dtype=None):
        super().__init__(LSTMGatedCell(), input_size, hidden_size, bias, fused, device, dtype)


class GRUCell(CellModule):
    """h' = GRU step of x from h; the state defaults to zeros."""

    def __init__(self, input_size, hidden_size, bias=True, fused=True, device=None, dtype=None):
        super().__init__(GRUGatedCell(), input_size, hidden_size, bias, fused, device, dtype)
