"""Recurrent layers: one time loop that runs any cell over layers, directions, padded batches and dropout.

`unroll=True` (the default, the teaching path): the loop below is plain Python over cell steps, so the
unrolled graph IS the network and `loss.backward()` IS backpropagation through time. Each step is one
fused node (`fused=True`) or one node per gate op (`fused=False`). `unroll=False` (the speed path) runs
each layer-direction as ONE node with the time loop and the hand-derived BPTT inside
(minigrad/ops/rnn_layers/). All three give the same numbers. Shapes and parameter names are PyTorch's.

Double backward (gradient penalties, Hessian-vector products: `grad(..., create_graph=True)`) works on all
three paths and gives the same numbers. The fine-grained path is twice differentiable op by op; a fused step
or a layer node, asked for a gradient with a graph, rebuilds its computation from `Cell.step` (its
`decompose`) and differentiates that, so that pass costs what the fine-grained path costs; first-order
backward keeps the fast hand-derived code.
"""
import math
import numbers

from .. import backend, factories, ops
from ..autograd import annotate, current_scope, scope
from ..tensor import Tensor
from . import functional as F
from . import init
from .cells import Cell, ElmanCell, GRUGatedCell, LSTMGatedCell
from .module import Module, check_bool, check_int, check_probability
from .parameter import Parameter


def unrolled(cell: Cell, x: Tensor, state: tuple, w: dict, reverse: bool = False, masks: list | None = None,
             fused: bool = True) -> tuple[Tensor, tuple]:
    """Run `cell` over x (T, B, in) one step at a time -> (outputs (T, B, H), final state).

    state: a tuple of (B, H) tensors (h of size P with an LSTM projection: then outputs are (T, B, P)).
    masks: per step a (B, 1) boolean array, False where the step is padding: those rows keep their state.
    Every node made here is annotated with its time step."""
    step, granularity = cell.step_for(fused)
    with annotate(granularity=granularity):
        xw = cell.project(x, w).unbind(0)                  # the input projection of all steps: one matmul
        outputs = [None] * len(xw)
        for t in (range(len(xw) - 1, -1, -1) if reverse else range(len(xw))):
            with annotate(t=t), scope(f"t={t}"):
                new = step(xw[t], state, w)
                if masks is not None:                       # padded rows keep their state
                    new = tuple(ops.where(masks[t], n, s) for n, s in zip(new, state))
            state = new
            outputs[t] = state[0]
        return ops.stack(outputs), state


class Recurrent(Module):
    """A stack of recurrent layers over any Cell: nn.RNN, nn.LSTM and nn.GRU are this with their cell.

    x (T, B, input_size) (or (B, T, ...) with batch_first) -> (output (T, B, D*H), h_n (L*D, B, H)),
    or (output, (h_n, c_n, ...)) for cells whose state has more than one tensor. The widths are the cell's
    `state_sizes(H)`: an LSTM with proj_size P gives output (T, B, D*P), h_n (L*D, B, P), c_n (L*D, B, H).
    Second derivatives (create_graph=True) work with every switch: fused steps and unroll=False layer nodes
    differentiate their fine-grained decomposition (see the module docstring)."""

    def __init__(self, cell: Cell, input_size: int, hidden_size: int, num_layers: int = 1, bias: bool = True,
                 batch_first: bool = False, dropout: float = 0.0, bidirectional: bool = False, fused: bool = True,
                 unroll: bool = True, device=None, dtype=None):
        super().__init__()
        name = type(self).__name__
        if not isinstance(cell, Cell):
            raise TypeError(f"{name}: cell must be an nn.Cell, got {type(cell).__name__}")
        input_size = check_int(name, "input_size", input_size)
        hidden_size = check_int(name, "hidden_size", hidden_size)
        num_layers = check_int(name, "num_layers", num_layers)
        dropout = check_probability(name, "dropout", dropout)
        bias, batch_first, bidirectional, fused, unroll = (
            check_bool(name, arg, value) for arg, value in (("bias", bias), ("batch_first", batch_first),
                                                            ("bidirectional", bidirectional), ("fused", fused),
                                                            ("unroll", unroll)))
        self.cell = cell
        self.input_size, self.hidden_size, self.num_layers = input_size, hidden_size, num_layers
        self.bias, self.batch_first, self.dropout = bias, batch_first, dropout
        self.bidirectional, self.fused, self.unroll = bidirectional, fused, unroll
        self.proj_size = getattr(cell, "proj_size", 0)
        D = 2 if bidirectional else 1
        for layer in range(num_layers):
            layer_in = input_size if layer == 0 else cell.state_sizes(hidden_size)[0] * D
            for suffix in ("", "_reverse")[:D]:
                for kind, shape in cell.parameter_shapes(layer_in, hidden_size, bias).items():
                    weight = factories.zeros(shape, device=device, dtype=dtype)
                    setattr(self, f"{kind}_l{layer}{suffix}", Parameter(weight))
        bound = 1 / math.sqrt(hidden_size)
        for p in self.parameters():
            init.uniform_(p, -bound, bound)

    def weights(self, layer: int, reverse: bool = False) -> dict:
        """The weights of one layer-direction by the cell's names: {'weight_ih': ..., 'bias_hh': None, ...}."""
        suffix = "_reverse" if reverse else ""
        return {kind: getattr(self, f"{kind}_l{layer}{suffix}", None) for kind in self.cell.parameter_names()}

    def forward(self, x: Tensor, hx=None, lengths=None):
        """-> (output, h_n), or (output, (h_n, c_n, ...)) when the cell's state has several tensors.
        A PackedSequence input gives a PackedSequence output (nn.utils.rnn)."""
        name = type(self).__name__
        if not isinstance(x, Tensor) and type(x).__name__ == "PackedSequence":
            from .utils.rnn import run_packed
            return run_packed(self, x, hx)
        if not isinstance(x, Tensor) or x.ndim != 3 or x.shape[-1] != self.input_size:
            layout = "(batch, seq, input_size)" if self.batch_first else "(seq, batch, input_size)"
            got = x.shape if isinstance(x, Tensor) else type(x).__name__
            raise ValueError(f"{name}: expected input of shape {layout} with input_size={self.input_size}, got {got}")
        if self.batch_first:
            x = x.transpose(0, 1)
        T, B = x.shape[0], x.shape[1]
        if T == 0:
            raise ValueError(f"{name}: expected a sequence of at least one step, got input of shape {x.shape}")
        D = 2 if self.bidirectional else 1
        initial = self._initial_states(hx, B, D, x)
        mask = self._mask(lengths, T, B, x)
        if mask is not None:
            x = ops.where(mask, x, 0.0)     # padding never reaches the math (NaN padding would leak into grads)

        finals, layer_input = [], x
        for layer in range(self.num_layers):
            outputs = []
            for d in range(D):
                out, state = self._run_direction(layer_input, layer, d == 1, initial[layer * D + d], mask)
                outputs.append(out)
                finals.append(state)
            layer_input = outputs[0] if D == 1 else ops.cat(outputs, axis=-1)
            if self.dropout and self.training and layer < self.num_layers - 1:
                layer_input = F.dropout(layer_input, self.dropout, True)
        output = layer_input
        if mask is not None:
            output = ops.where(mask, output, 0.0)     # padded steps of `output` are zeros, as PyTorch's
        if self.batch_first:
            output = output.transpose(0, 1)
        h_n = tuple(ops.stack([s[k] for s in finals]) for k in range(self.cell.state_size))
        return output, (h_n[0] if self.cell.state_size == 1 else h_n)

    def _run_direction(self, x, layer, reverse, state, mask):
        """One layer in one direction over the whole sequence -> (outputs (T, B, H), final state tuple)."""
        w = self.weights(layer, reverse)
        facts = dict(module=current_scope(), layer=layer, direction="reverse" if reverse else "forward",
                     cell=self.cell.name)
        with annotate(**facts), scope(f"l{layer}{'_reverse' if reverse else ''}"):
            if not self.unroll:
                with annotate(granularity="layer"):
                    return self.cell.layer(x, state, w, reverse, mask)
            if state is None:
                state = self.cell.zero_state(x, self.hidden_size)
            masks = None if mask is None else [mask[t] for t in range(x.shape[0])]
            return unrolled(self.cell, x, state, w, reverse, masks, self.fused)

    def _initial_states(self, hx, B, D, x):
        """Per (layer, direction): the initial state tuple (None means zeros), from hx: each part (L*D, B, width)."""
        n, k = self.num_layers * D, self.cell.state_size
        if hx is None:
            return [None] * n
        name = type(self).__name__
        if k > 1 and (not isinstance(hx, (tuple, list)) or len(hx) != k):
            got = f"a {type(hx).__name__} of {len(hx)}" if isinstance(hx, (tuple, list)) else type(hx).__name__
            raise TypeError(f"{name}: the initial state must be a tuple of {k} tensors (h0, c0), got {got}")
        widths = self.cell.state_sizes(self.hidden_size)
        if k == 1 and not isinstance(hx, Tensor):
            raise TypeError(f"{name}: the initial state must be one tensor h0 of shape "
                            f"{(n, B, widths[0])}, got {type(hx).__name__}")
        parts = tuple(hx) if k > 1 else (hx,)
        for index, (p, width) in enumerate(zip(parts, widths)):
            expected = (n, B, width)
            if not isinstance(p, Tensor) or p.shape != expected:
                got = p.shape if isinstance(p, Tensor) else type(p).__name__
                what = "initial state" + (f" {('h0', 'c0')[index]}" if k == 2 else "")
                size = "proj_size" if self.proj_size and index == 0 else "hidden_size"
                raise ValueError(f"{name}: expected {what} of shape {expected} "
                                 f"(num_layers*directions, batch, {size}), got {got}")
            if p.dtype != x.dtype or p.device != x.device:
                raise TypeError(f"{name}: the initial state must have the input's dtype and device ({x.dtype} "
                                f"on {x.device}), got {p.dtype} on {p.device}")
        unbound = [p.unbind(0) for p in parts]
        return [tuple(u[i] for u in unbound) for i in range(n)]

    def _mask(self, lengths, T, B, x):
        """For padded batches: the (T, B, 1) boolean array 'this step is real' (None without lengths)."""
        if lengths is None:
            return None
        lengths = backend.host_array(lengths.numpy() if isinstance(lengths, Tensor) else lengths)
        name = type(self).__name__
        if B == 0 and lengths.shape == (0,):                # an empty batch: lengths=[] (NumPy makes it float)
            lengths = lengths.astype(backend.int64)
        if lengths.shape != (B,) or lengths.dtype.kind not in "iu":
            raise ValueError(f"{name}: lengths must be {B} integers (one per sequence), got {lengths.tolist()!r}")
        if B and (lengths.min() < 0 or lengths.max() > T):
            raise ValueError(f"{name}: lengths must lie in [0, {T}] (the padded length), got {lengths.tolist()}")
        steps = backend.host_array(range(T))[:, None] < lengths[None, :]               # (T, B)
        return backend.to_device(steps[:, :, None], x.device)

    def extra_repr(self):
        s = f"{self.input_size}, {self.hidden_size}"
        for k, default in (("num_layers", 1), ("bias", True), ("batch_first", False), ("dropout", 0.0),
                           ("bidirectional", False), ("proj_size", 0), ("fused", True), ("unroll", True)):
            if getattr(self, k) != default:
                s += f", {k}={getattr(self, k)}"
        return s if type(self) is not Recurrent else f"{self.cell!r}, " + s


def only_lstm_projects(name: str, proj_size) -> None:
    """PyTorch's rule: proj_size is an LSTM argument; nn.RNN and nn.GRU refuse it."""
    if proj_size is not None:
        raise ValueError(f"{name}: proj_size argument is only supported for LSTM, not RNN or GRU "
                         f"(got proj_size={proj_size!r})")


def check_proj_size(name: str, proj_size, hidden_size) -> int:
    """proj_size as an int in [0, hidden_size) (0: no projection), or PyTorch's errors naming the argument."""
    hidden_size = check_int(name, "hidden_size", hidden_size)
    if isinstance(proj_size, bool) or not isinstance(proj_size, numbers.Integral):
        raise TypeError(f"{name}: proj_size must be an int >= 0 (0: no projection), "
                        f"got {type(proj_size).__name__} {proj_size!r}")
    if proj_size < 0:
        raise ValueError(f"{name}: proj_size should be a positive integer or zero to disable projections, "
                         f"got {proj_size}")
    if proj_size >= hidden_size:
        raise ValueError(f"{name}: proj_size has to be smaller than hidden_size, got proj_size={proj_size} "
                         f"and hidden_size={hidden_size}")
    return int(proj_size)


class RNN(Recurrent):
    """Elman RNN: h_t = tanh(x_t W_ih^T + b_ih + h_{t-1} W_hh^T + b_hh)  (or relu)."""

    def __init__(self, input_size, hidden_size, num_layers=1, nonlinearity="tanh", bias=True, batch_first=False,
                 dropout=0.0, bidirectional=False, fused=True, unroll=True, device=None, dtype=None, proj_size=None):
        only_lstm_projects(type(self).__name__, proj_size)
        super().__init__(ElmanCell(nonlinearity, "RNN"), input_size, hidden_size, num_layers, bias, batch_first,
                         dropout, bidirectional, fused, unroll, device, dtype)

    @property
    def nonlinearity(self):
        return self.cell.nonlinearity


class LSTM(Recurrent):
    """Long short-term memory (gates i, f, g, o); returns (output, (h_n, c_n)).
    proj_size=P > 0: each layer projects h to size P with weight_hr_l{k} (P, H), as PyTorch's (see LSTMGatedCell)."""

    def __init__(self, input_size, hidden_size, num_layers=1, bias=True, batch_first=False, dropout=0.0,
                 bidirectional=False, proj_size=0, fused=True, unroll=True, device=None, dtype=None):
        proj_size = check_proj_size(type(self).__name__, proj_size, hidden_size)
        super().__init__(LSTMGatedCell(proj_size), input_size, hidden_size, num_layers, bias, batch_first, dropout,
                         bidirectional, fused, unroll, device, dtype)


class GRU(Recurrent):
    """Gated recurrent unit (gates r, z, n); returns (output, h_n)."""

    def __init__(self, input_size, hidden_size, num_layers=1, bias=True, batch_first=False, dropout=0.0,
                 bidirectional=False, fused=True, unroll=True, device=None, dtype=None, proj_size=None):
        only_lstm_projects(type(self).__name__, proj_size)
        super().__init__(GRUGatedCell(), input_size, hidden_size, num_layers, bias, batch_first, dropout,
                         bidirectional, fused, unroll, device, dtype)
