"""Recurrent layers: RNN, LSTM, GRU, stacked and optionally bidirectional.

The time loop is plain Python over cell steps, so the unrolled graph IS the network and
`loss.backward()` IS backpropagation through time. Per layer and direction, the input projection for all
time steps is one matmul before the loop; the loop then runs one cell step per time step inside the name
scopes 'l{k}' (or 'l{k}_reverse') and 't={t}'. Shapes and parameter names are PyTorch's.
"""
import math

from .. import backend, factories, ops
from ..autograd import annotate, current_scope, scope
from ..ops import rnn_cells
from ..tensor import Tensor
from . import functional as F
from . import init
from .cells import GATES, gru_step, input_projection, lstm_step, rnn_step, zeros_bias
from .module import Module
from .parameter import Parameter


class RNNBase(Module):
    mode = None

    def __init__(self, input_size, hidden_size, num_layers=1, bias=True, batch_first=False, dropout=0.0,
                 bidirectional=False, fused=True, unroll=True, device=None, dtype=None):
        super().__init__()
        self.unroll = unroll
        name = type(self).__name__
        if num_layers < 1:
            raise ValueError(f"{name}: num_layers must be >= 1, got {num_layers}")
        if not 0 <= dropout < 1:
            raise ValueError(f"{name}: dropout must be in [0, 1), got {dropout}")
        self.input_size, self.hidden_size, self.num_layers = input_size, hidden_size, num_layers
        self.bias, self.batch_first, self.dropout = bias, batch_first, dropout
        self.bidirectional, self.fused = bidirectional, fused
        G, D = GATES[self.mode], 2 if bidirectional else 1
        for layer in range(num_layers):
            layer_in = input_size if layer == 0 else hidden_size * D
            for suffix in ("", "_reverse")[:D]:
                shapes = {"weight_ih": (G * hidden_size, layer_in), "weight_hh": (G * hidden_size, hidden_size)}
                if bias:
                    shapes.update(bias_ih=(G * hidden_size,), bias_hh=(G * hidden_size,))
                for kind, shape in shapes.items():
                    setattr(self, f"{kind}_l{layer}{suffix}", Parameter(factories.zeros(shape, device=device, dtype=dtype)))
        bound = 1 / math.sqrt(hidden_size)
        for p in self.parameters():
            init.uniform_(p, -bound, bound)

    def _weights(self, layer, suffix):
        get = lambda kind: getattr(self, f"{kind}_l{layer}{suffix}", None)  # noqa: E731
        return get("weight_ih"), get("weight_hh"), get("bias_ih"), get("bias_hh")

    def forward(self, x, hx=None, lengths=None):
        """x (T, B, input_size) (or (B, T, ...) with batch_first) -> (output, h_n) ((output, (h_n, c_n)) for LSTM)."""
        name = type(self).__name__
        if x.ndim != 3 or x.shape[-1] != self.input_size:
            layout = "(batch, seq, input_size)" if self.batch_first else "(seq, batch, input_size)"
            raise ValueError(f"{name}: expected input of shape {layout} with input_size={self.input_size}, "
                             f"got {x.shape}")
        if self.batch_first:
            x = x.transpose(0, 1)
        T, B = x.shape[0], x.shape[1]
        D = 2 if self.bidirectional else 1
        initial = self._initial_states(hx, B, D)
        masks = self._step_masks(lengths, T, B, x)
        if masks is not None:
            x = ops.where(masks[1], x, 0.0)    # padding never reaches the math (NaN padding would leak into grads)

        finals, layer_input = [], x
        for layer in range(self.num_layers):
            outputs = []
            for d, suffix in enumerate(("", "_reverse")[:D]):
                out, state = self._run_direction(layer_input, layer, suffix, initial[layer * D + d], masks)
                outputs.append(out)
                finals.append(state)
            layer_input = outputs[0] if D == 1 else ops.cat(outputs, axis=-1)
            if self.dropout and self.training and layer < self.num_layers - 1:
                layer_input = F.dropout(layer_input, self.dropout, True)
        output = layer_input
        if masks is not None:
            output = ops.where(masks[1], output, 0.0)     # padded steps of `output` are zeros, as PyTorch's
        if self.batch_first:
            output = output.transpose(0, 1)
        if self.mode == "lstm":
            return output, (ops.stack([s[0] for s in finals]), ops.stack([s[1] for s in finals]))
        return output, ops.stack(finals)

    def _run_direction(self, x, layer, suffix, state, masks):
        """One layer in one direction over the whole sequence -> (outputs (T, B, H), final state)."""
        w_ih, w_hh, b_ih, b_hh = self._weights(layer, suffix)
        T = x.shape[0]
        facts = dict(module=current_scope(), layer=layer, direction="reverse" if suffix else "forward",
                     cell=self.mode.upper(), granularity="fused" if self.fused else "ops")
        with annotate(**facts), scope(f"l{layer}{suffix}"):
            xw = input_projection(x, w_ih, b_ih, b_hh, self.mode)         # (T, B, G*H), all steps at once
            # fused RNN/LSTM steps leave dL/dW_hh to one StepInputs node (one matmul over all steps)
            batched = self.fused and self.mode != "gru"
            lstm_steps = None
            if self.fused and self.mode == "lstm":
                lstm_steps = rnn_cells.LSTMSteps(T, x.shape[1], w_hh.data, xw.dtype, reverse=bool(suffix))
            step_inputs = rnn_cells.StepInputs(reverse=bool(suffix), lstm_steps=lstm_steps) if batched else None
            steps = step_inputs(xw, w_hh) if batched else xw.unbind(0)
            if self.mode == "gru" and b_hh is None:
                b_hh = zeros_bias(w_hh)
            h0 = state[0] if self.mode == "lstm" and state is not None else state
            outputs = [None] * T
            for t in (range(T - 1, -1, -1) if suffix else range(T)):
                mask = None if masks is None else masks[0][t]
                with annotate(t=t), scope(f"t={t}"):
                    state = self._step(steps[t], state, w_hh, b_hh, mask, not batched, lstm_steps)
                outputs[t] = state[0] if self.mode == "lstm" else state
            out = ops.stack(outputs)
            if batched:
                step_inputs.set_states(out.data, None if h0 is None else h0.data)
            return out, state

    def _step(self, xw, state, w_hh, b_hh, mask, weight_grad, lstm_steps):
        if self.mode == "lstm":
            return lstm_step(xw, state, w_hh, self.fused, mask, weight_grad, lstm_steps)
        if self.mode == "gru":
            return gru_step(xw, state, w_hh, b_hh, self.fused, mask)
        return rnn_step(xw, state, w_hh, self.nonlinearity, self.fused, mask, weight_grad)

    def _initial_states(self, hx, B, D):
        """Per (layer, direction): the initial state (None means zeros), from hx of shape (L*D, B, H)."""
        n = self.num_layers * D
        if hx is None:
            return [None] * n
        parts = hx if self.mode == "lstm" else (hx,)
        if self.mode == "lstm" and (not isinstance(hx, (tuple, list)) or len(hx) != 2):
            raise TypeError(f"LSTM: the initial state must be a tuple (h0, c0), got {type(hx).__name__}")
        expected = (n, B, self.hidden_size)
        for p in parts:
            if not isinstance(p, Tensor) or p.shape != expected:
                got = p.shape if isinstance(p, Tensor) else type(p).__name__
                raise ValueError(f"{type(self).__name__}: expected initial state of shape {expected} "
                                 f"(num_layers*directions, batch, hidden_size), got {got}")
        unbound = [p.unbind(0) for p in parts]
        return [tuple(u[i] for u in unbound) if self.mode == "lstm" else unbound[0][i] for i in range(n)]

    def _step_masks(self, lengths, T, B, x):
        """For padded batches: per step a (B, 1) mask 'this step is real', and the (T, B, 1) mask of all steps."""
        if lengths is None:
            return None
        lengths = backend.host_array(lengths.numpy() if isinstance(lengths, Tensor) else lengths)
        name = type(self).__name__
        if lengths.shape != (B,) or lengths.dtype.kind not in "iu":
            raise ValueError(f"{name}: lengths must be {B} integers (one per sequence), got {lengths.tolist()!r}")
        if lengths.min() < 0 or lengths.max() > T:
            raise ValueError(f"{name}: lengths must lie in [0, {T}] (the padded length), got {lengths.tolist()}")
        steps = backend.host_array(range(T))[:, None] < lengths[None, :]               # (T, B)
        full = backend.to_device(steps[:, :, None], x.device)
        return [full[t] for t in range(T)], full

    def extra_repr(self):
        s = f"{self.input_size}, {self.hidden_size}"
        for k, default in (("num_layers", 1), ("bias", True), ("batch_first", False), ("dropout", 0.0),
                           ("bidirectional", False), ("fused", True)):
            if getattr(self, k) != default:
                s += f", {k}={getattr(self, k)}"
        return s


class RNN(RNNBase):
    """Elman RNN: h_t = tanh(x_t W_ih^T + b_ih + h_{t-1} W_hh^T + b_hh)  (or relu)."""
    mode = "rnn"

    def __init__(self, input_size, hidden_size, num_layers=1, nonlinearity="tanh", bias=True, batch_first=False,
                 dropout=0.0, bidirectional=False, fused=True, unroll=True, device=None, dtype=None):
        if nonlinearity not in ("tanh", "relu"):
            raise ValueError(f"RNN: nonlinearity must be 'tanh' or 'relu', got {nonlinearity!r}")
        self_nl = nonlinearity
        super().__init__(input_size, hidden_size, num_layers, bias, batch_first, dropout, bidirectional, fused,
                         unroll, device, dtype)
        self.nonlinearity = self_nl


class LSTM(RNNBase):
    """Long short-term memory (gates i, f, g, o); returns (output, (h_n, c_n))."""
    mode = "lstm"


class GRU(RNNBase):
    """Gated recurrent unit (gates r, z, n); returns (output, h_n)."""
    mode = "gru"
