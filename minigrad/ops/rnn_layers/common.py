"""What the three layer Functions share: input checks, the state buffer layout, masks, the exp-based sigmoid.

State layout. A layer over T steps keeps its states in one (T+1, B, H) buffer in time order, with one extra
row for the initial state: row 0 for a forward layer (step t writes row t+1, reads row t), row T for a
reverse one (step t writes row t, reads row t+1). So `cur` (T, B, H) is the output and `prev` (T, B, H) the
state each step read, both views, and the weight gradient dL/dW_hh = dA^T prev is one matmul over all steps.
"""
import contextlib

import numpy

from ... import backend
from ...autograd import Function

BLOCK_BYTES = 1 << 18     # backward computes its local derivatives for blocks of steps about this big (CPU cache)


def quiet(xp):
    """Context in which exp may overflow to inf on purpose (1 / (1 + inf) = 0 is the right sigmoid)."""
    return numpy.errstate(over="ignore") if xp is numpy else contextlib.nullcontext()


def sigmoid_of_negated_(a, xp):
    """a <- 1 / (1 + exp(a)) = sigmoid(-a), in place (call inside `quiet`)."""
    xp.exp(a, out=a)
    a += 1
    return xp.reciprocal(a, out=a)


class RecurrentLayer(Function):
    """Base of LSTMLayer, GRULayer, RNNLayer: one layer-direction over all T steps as one node.

    Inputs are the present ones of x, w_ih, w_hh, b_ih, b_hh, h0, c0 (in that order, named in `self._names`);
    outputs (out, h_n) or (out, h_n, c_n).
    """
    kind, gates = None, None

    def __init__(self, names, reverse=False, mask=None):
        self._names = tuple(names)
        self.reverse = bool(reverse)
        self.masked = mask is not None
        self._mask = mask
        self.steps = self.hidden_size = None

    def label(self):
        """e.g. 'LSTM layer (50 steps, reverse)'."""
        parts = [f"{getattr(self, 'steps', '?')} steps"] + self._label_extras()
        return f"{self.kind} layer ({', '.join(parts + ['reverse'] * getattr(self, 'reverse', False))})"

    def _label_extras(self):
        return []

    # ------------------------------------------------------------------ forward helpers
    def _setup(self, arrays):
        """Check shapes, promote to one float dtype; -> dict name -> array. Sets the buffer views' geometry."""
        a = dict(zip(self._names, arrays))
        x, w_hh = a["x"], a["w_hh"]
        if x.ndim != 3:
            raise ValueError(f"x must be (T, B, input_size), got shape {x.shape}")
        T, B, In = x.shape
        if w_hh.ndim != 2 or w_hh.shape[0] != self.gates * w_hh.shape[1]:
            raise ValueError(f"w_hh must be ({self.gates}*H, H), got shape {w_hh.shape}")
        H = w_hh.shape[1]
        want = {"w_ih": (self.gates * H, In), "b_ih": (self.gates * H,), "b_hh": (self.gates * H,),
                "h0": (B, H), "c0": (B, H)}
        for name, arr in a.items():
            if name in want and arr.shape != want[name]:
                raise ValueError(f"{name} must have shape {want[name]}, got {arr.shape}")
        dt = backend.array_module(x).result_type(*arrays)
        dt = dt if dt.kind == "f" else backend.float64
        self._dtypes = {name: arr.dtype for name, arr in a.items()}
        self.steps, self.hidden_size, self._dt = T, H, dt
        self._gpu = backend.device_of(x) == "cuda"
        if self._mask is not None:
            m = self._mask
            if backend.device_of(m) != backend.device_of(x) or m.shape != (T, B, 1) or m.dtype != backend.bool_:
                raise ValueError(f"mask must be a boolean array (T, B, 1) = {(T, B, 1)} on the device of x, "
                                 f"got {m.dtype}{list(m.shape)} on {backend.device_of(m)}")
            self._m = m.astype(dt)                  # 1 for real steps, 0 for padding
            self._pad, self._padded = 1 - self._m, ~m
        return {k: v.astype(dt, copy=False) for k, v in a.items()}

    def _order(self):
        T = self.steps
        return range(T - 1, -1, -1) if self.reverse else range(T)

    def _state_buffer(self, xp, B, H, initial):
        """(T+1, B, H) buffer with the initial state (or zeros) in place; -> (buffer, cur view, prev view)."""
        buf = xp.empty((self.steps + 1, B, H), dtype=self._dt)
        buf[self.steps if self.reverse else 0] = 0 if initial is None else initial
        return (buf,) + self._views(buf)

    def _views(self, buf):
        """(cur, prev) views of a (T+1, ...) state buffer: the state after each step and the one it read."""
        return (buf[:-1], buf[1:]) if self.reverse else (buf[1:], buf[:-1])

    def _final(self, buf):
        """A copy of the state after the last step run (the initial state when T = 0)."""
        return buf[0 if self.reverse else self.steps].copy()

    def _hold_padded(self, xp, t, new, old):
        """Rows that are padding at step t keep their previous state."""
        if self._mask is not None:
            xp.copyto(new, old, where=self._padded[t])

    def _input_projection(self, xp, x, w_ih, scale, bias, out):
        """out (T, B, G*H) <- x W_ih^T + bias, each gate column scaled by `scale` (None: unscaled)."""
        T, B, In = x.shape
        w = w_ih if scale is None else w_ih * scale[:, None]
        xp.matmul(x.reshape(T * B, In), w.T, out=out.reshape(T * B, out.shape[2]))
        if bias is not None:
            out += bias if scale is None else bias * scale

    # ------------------------------------------------------------------ backward helpers
    def _block_len(self, row_bytes):
        """Steps per factor block: about BLOCK_BYTES of rows of `row_bytes`, at least one, at most T."""
        return max(1, min(self.steps, BLOCK_BYTES // max(1, row_bytes)))

    def _block(self, t, row_bytes):
        """The time range [lo, hi) of the factor block holding step t (backward runs the steps in reverse)."""
        n = self._block_len(row_bytes)
        return (t, min(self.steps, t + n)) if self.reverse else (max(0, t + 1 - n), t + 1)

    def _first(self):
        """The time index of the first step run."""
        return self.steps - 1 if self.reverse else 0

    def _recurrent_weight_grad(self, dA, prev, has_h0):
        """dL/dW_hh = sum over steps of dA_t^T h_prev_t (steps that read a zero initial state left out)."""
        G = dA.shape[2]
        if not has_h0:
            dA, prev = (dA[:-1], prev[:-1]) if self.reverse else (dA[1:], prev[1:])
        return dA.reshape(-1, G).T @ prev.reshape(-1, prev.shape[2])

    def _input_grads(self, dA, grads, dA_hh=None):
        """Gradients of x, w_ih and the biases from dA = dL/d(x W_ih^T + b_ih) (T, B, G*H) (dA_hh: of b_hh)."""
        T, B, G = dA.shape
        dA2 = dA.reshape(T * B, G)
        need = self._need
        if need("x"):
            grads["x"] = (dA2 @ self._w_ih).reshape(self._x.shape)
        if need("w_ih"):
            grads["w_ih"] = dA2.T @ self._x.reshape(T * B, self._x.shape[2])
        if need("b_ih"):
            grads["b_ih"] = dA2.sum(axis=0)
        if need("b_hh"):
            grads["b_hh"] = dA2.sum(axis=0) if dA_hh is None else dA_hh.reshape(T * B, G).sum(axis=0)

    def _need(self, name):
        return name in self._names and self.needs_grad[self._names.index(name)]

    def _result(self, grads):
        """One gradient (or None) per input, each in its input's dtype."""
        return tuple(None if grads.get(n) is None else grads[n].astype(self._dtypes[n], copy=False)
                     for n in self._names)


def collect(**inputs):
    """The present inputs in order, and their names."""
    names = [k for k, v in inputs.items() if v is not None]
    return [inputs[k] for k in names], names
