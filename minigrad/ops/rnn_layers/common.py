"""What the three layer Functions share: input checks, the state buffers, masks, the one-pass sigmoid."""
# State layout: one (T+1, B, H) buffer per state in time order, the initial state in the extra row (row 0 for a
# forward layer: step t reads row t and writes row t+1; row T for a reverse one: step t reads row t+1, writes row
# t). Its views `cur` (the output) and `prev` (what each step read) make dL/dW_hh = dA^T prev one matmul.
import itertools

from ... import backend
from ...autograd import Function
from ...tensor import Tensor

BLOCK_BYTES = 1 << 18     # backward computes its local derivatives for blocks of steps about this big (CPU cache)


class Workspace:
    """Big scratch arrays that layer nodes hand on from one iteration to the next (a caching allocator, as
    CuPy's memory pool): a node takes them in forward (or backward) and gives them back when it is done with
    them (its backward ran, the engine released it), so a long sequence's buffers are not faulted in from the
    operating system again every iteration. One node holds an array at a time; outputs and returned
    gradients never live in one. On a GPU CuPy's own pool does this job, so arrays are not kept."""

    def __init__(self, max_bytes=1 << 30):
        self.max_bytes, self.kept_bytes, self._free = max_bytes, 0, {}    # (shape, dtype) -> [arrays]

    def take(self, xp, shape, dtype):
        """An array of this shape and dtype, uninitialised: a given-back one, or new."""
        key = (tuple(shape), backend.as_dtype(dtype))
        stack = self._free.get(key)
        if stack and xp is backend.xp_for("cpu"):
            self._free[key] = self._free.pop(key)                        # most recently used last
            self.kept_bytes -= stack[-1].nbytes
            return stack.pop()
        return xp.empty(shape, dtype=dtype)

    def give(self, *arrays):
        """Keep these arrays for the next take() of their shape (CPU arrays, up to max_bytes in all: the
        shapes used longest ago make room, so a change of sequence length or batch size leaves none behind)."""
        for a in arrays:
            if a is None or backend.device_of(a) != "cpu" or a.nbytes > self.max_bytes:
                continue
            key = (a.shape, a.dtype)
            self._free[key] = self._free.pop(key, [])
            self._free[key].append(a)
            self.kept_bytes += a.nbytes
            while self.kept_bytes > self.max_bytes:
                oldest = next(iter(self._free))
                stack = self._free[oldest]
                self.kept_bytes -= stack.pop(0).nbytes
                if not stack:
                    del self._free[oldest]

    def kept(self):
        """The arrays kept now (for tests and curiosity)."""
        return [a for stack in self._free.values() for a in stack]

    def clear(self):
        self._free.clear()
        self.kept_bytes = 0


WORKSPACE = Workspace()


def quiet(x):
    """Context in which exp may overflow to inf on purpose (1 / (1 + inf) = 0 is the right sigmoid)."""
    return backend.errstate(x, over="ignore")


def gate_mode(dtype):
    """Which one-pass sigmoid the CPU path uses: 'tanh' for float32 (NumPy's SIMD tanh is cheaper), else 'exp'."""
    return "tanh" if dtype == backend.float32 else "exp"


SIGMOID_SCALE = {"tanh": 0.5, "exp": -1.0}     # sigmoid gates keep s * a so that sigmoid_of_scaled_ is one pass


def sigmoid_of_scaled_(a, xp, mode):
    """a <- sigmoid(a / s) in place, s = SIGMOID_SCALE[mode]: (1 + tanh(a)) / 2, or 1 / (1 + exp(a)) (in `quiet`)."""
    if mode == "tanh":
        xp.tanh(a, out=a)
        a *= 0.5
        a += 0.5
        return a
    xp.exp(a, out=a)
    a += 1
    return xp.reciprocal(a, out=a)


def transposed(xp, w, scale=None):
    """(w * scale[:, None])^T, C-contiguous for the per-step matmuls (BLAS is faster on it than on a view)."""
    # read through a copy with padded rows: a power-of-two row length makes the transposing read thrash the cache
    if w.size >= 1 << 16:
        padded = xp.empty((w.shape[0], w.shape[1] + 8), dtype=w.dtype)[:, :w.shape[1]]
        xp.copyto(padded, w)
        w = padded
    out = xp.empty(w.shape[::-1], dtype=w.dtype)
    if scale is None:
        xp.copyto(out, w.T)
        return out
    return xp.multiply(w.T, scale, out=out)


class RecurrentLayer(Function):
    """Base of LSTMLayer, GRULayer, RNNLayer. Inputs: the present ones of x, w_ih, w_hh, b_ih, b_hh, h0, c0, w_hr
    (names in `self._names`; w_hr: the LSTM's projection); outputs (out, h_n) or (out, h_n, c_n)."""
    kind, gates = None, None
    proj_size = 0             # the LSTM's projection width P (set on the node only when it projects)

    def __init__(self, names, reverse=False, mask=None):
        mask = mask.data if isinstance(mask, Tensor) else mask
        self._names = tuple(names)
        self.reverse = bool(reverse)
        self.masked = mask is not None
        self._mask = mask
        self.steps = self.hidden_size = None

    _scratch = ()             # names of the attributes that hold Workspace arrays until release

    def release(self):
        """Give the workspace arrays back, then drop everything as every node does."""
        WORKSPACE.give(*[getattr(self, name, None) for name in self._scratch])
        super().release()

    def label(self):
        """e.g. 'LSTM layer (50 steps, reverse)'."""
        parts = [f"{getattr(self, 'steps', '?')} steps"] + self._label_extras()
        return f"{self.kind} layer ({', '.join(parts + ['reverse'] * getattr(self, 'reverse', False))})"

    def _label_extras(self):
        return []

    def _cell(self):
        """The nn cell whose fine-grained step this layer computes (imported lazily: minigrad.nn uses minigrad.ops)."""
        raise NotImplementedError

    def decompose(self, *inputs):
        """The same layer in plain ops, for higher derivatives: the teaching path's time loop (nn.rnn.unrolled)
        over the cell's fine-grained step, with this node's initial states, mask and direction
        -> (out, h_n) or (out, h_n, c_n), as forward."""
        from ...nn.rnn import unrolled
        a = dict(zip(self._names, inputs))
        x, cell = a["x"], self._cell()
        w = {"weight_ih": a["w_ih"], "weight_hh": a["w_hh"], "bias_ih": a.get("b_ih"), "bias_hh": a.get("b_hh"),
             "weight_hr": a.get("w_hr")}
        zeros = cell.zero_state(x, self.hidden_size)
        state = tuple(a.get(name, zero) for name, zero in zip(("h0", "c0"), zeros))
        if self.steps == 0:                         # no step runs: an empty output, the initial state as it is
            xp = backend.array_module(x.data)
            return (Tensor._make(xp.zeros((0,) + zeros[0].shape, dtype=self._dt)),) + state
        masks = None if self._mask is None else [self._mask[t] for t in range(self.steps)]
        out, final = unrolled(cell, x, state, w, self.reverse, masks, fused=False)
        return (out,) + tuple(final)

    # ------------------------------------------------------------------ forward helpers
    def _setup(self, arrays):
        """Check shapes, promote to one float dtype; -> dict name -> array. Sets the buffer views' geometry."""
        a = dict(zip(self._names, arrays))
        x, w_hh = a["x"], a["w_hh"]
        if x.ndim != 3:
            raise ValueError(f"x must be (T, B, input_size), got shape {x.shape}")
        T, B, In = x.shape
        w_hr = a.get("w_hr")                        # the LSTM's projection (P, H): h has size P
        if w_hr is not None and w_hr.ndim != 2:
            raise ValueError(f"w_hr must be (P, H), got shape {w_hr.shape}")
        P = None if w_hr is None else w_hr.shape[0]
        if w_hh.ndim != 2 or w_hh.shape[0] % self.gates or w_hh.shape[1] != (P or w_hh.shape[0] // self.gates):
            raise ValueError(f"w_hh must be ({self.gates}*H, {'P' if P else 'H'}), got shape {w_hh.shape}")
        H = w_hh.shape[0] // self.gates
        P = P or H
        want = {"w_ih": (self.gates * H, In), "b_ih": (self.gates * H,), "b_hh": (self.gates * H,),
                "h0": (B, P), "c0": (B, H), "w_hr": (P, H)}
        for name, arr in a.items():
            if name in want and arr.shape != want[name]:
                raise ValueError(f"{name} must have shape {want[name]}, got {arr.shape}")
        dt = backend.array_module(x).result_type(*arrays)
        dt = dt if dt.kind == "f" else backend.float64
        self._dtypes = {name: arr.dtype for name, arr in a.items()}
        self.steps, self.hidden_size, self._dt = T, H, dt
        if w_hr is not None:
            self.proj_size = P
        self._gpu = backend.device_of(x) == "cuda"
        if self._mask is not None:
            m = self._mask
            if backend.device_of(m) != backend.device_of(x) or m.shape != (T, B, 1) or m.dtype != backend.bool_:
                raise ValueError(f"mask must be a boolean array (T, B, 1) = {(T, B, 1)} on the device of x, "
                                 f"got {m.dtype}{list(m.shape)} on {backend.device_of(m)}")
            self._m = m.astype(dt)                  # 1 for real steps, 0 for padding
            self._pad, self._padded = 1 - self._m, ~m
        return {k: v if v.dtype == dt else v.astype(dt) for k, v in a.items()}

    def _steps(self, *arrays, backward=False):
        """Per-step views of equally long arrays, zipped, in run order (backward: reversed); None: absent array."""
        flip = self.reverse != backward
        return zip(*[itertools.repeat(None) if a is None else a[::-1] if flip else a for a in arrays])

    def _constants(self, xp, *values):
        """0-d arrays of the compute dtype (cheaper operands than Python floats for small arrays)."""
        return [xp.asarray(v, dtype=self._dt) for v in values]

    def _state_buffer(self, xp, B, H, initial, scratch=False):
        """(T+1, B, H) buffer with the initial state (or zeros) in place; -> (buffer, cur view, prev view).
        scratch: from the Workspace (a buffer no output views)."""
        buf = xp.empty((self.steps + 1, B, H), dtype=self._dt) if not scratch else \
            WORKSPACE.take(xp, (self.steps + 1, B, H), self._dt)
        buf[self.steps if self.reverse else 0] = 0 if initial is None else initial
        return (buf,) + self._views(buf)

    def _views(self, buf):
        """(cur, prev) views of a (T+1, ...) state buffer: the state after each step and the one it read."""
        return (buf[:-1], buf[1:]) if self.reverse else (buf[1:], buf[:-1])

    def _final(self, buf):
        """A copy of the state after the last step run (the initial state when T = 0)."""
        return buf[0 if self.reverse else self.steps].copy()

    def _folded_bias(self, a):
        """b_ih + b_hh (either alone, or None without biases): where h W_hh^T + b_hh is a plain sum."""
        biases = [a[k] for k in ("b_ih", "b_hh") if k in a]
        return biases[0] + biases[1] if len(biases) == 2 else (biases[0] if biases else None)

    def _input_projection(self, xp, x, w_ih, scale, bias, out):
        """out (T, B, G*H) <- x W_ih^T + bias, gate columns scaled by `scale` (None: as is)."""
        T, B, In = x.shape
        w = w_ih if scale is None else w_ih * scale[:, None]
        xp.matmul(x.reshape(T * B, In), w.T, out=out.reshape(T * B, out.shape[2]))
        if bias is not None:
            out += bias if scale is None else bias * scale

    # ------------------------------------------------------------------ backward helpers
    def _blocks(self, row_bytes):
        """Time ranges [lo, hi) of about BLOCK_BYTES (rows of `row_bytes`), in the order backward visits them."""
        T = self.steps
        n = max(1, min(T, BLOCK_BYTES // max(1, row_bytes)))
        if self.reverse:
            return [(lo, min(T, lo + n)) for lo in range(0, T, n)]
        return [(max(0, hi - n), hi) for hi in range(T, 0, -n)]

    def _first(self):
        """The time index of the first step run."""
        return self.steps - 1 if self.reverse else 0

    def _recurrent_weight_grad(self, dA, prev, has_h0):
        """dL/dW_hh = sum over steps of dA_t^T h_prev_t (steps that read a zero initial state left out)."""
        G = dA.shape[2]
        if not has_h0:
            dA, prev = (dA[:-1], prev[:-1]) if self.reverse else (dA[1:], prev[1:])
        return self._gate_rows(dA.reshape(-1, G).T @ prev.reshape(-1, prev.shape[2]))

    def _input_grads(self, dA, grads, dA_hh=None):
        """Gradients of x, w_ih and the biases from dA = dL/d(x W_ih^T + b_ih) (T, B, G*H) (dA_hh: of b_hh)."""
        T, B, G = dA.shape
        dA2 = dA.reshape(T * B, G)
        need = self._need
        if need("x"):
            grads["x"] = (dA2 @ self._w_ih).reshape(self._x.shape)
        if need("w_ih"):
            grads["w_ih"] = self._gate_rows(dA2.T @ self._x.reshape(T * B, self._x.shape[2]))
        db = dA2.sum(axis=0) if need("b_ih") or (need("b_hh") and dA_hh is None) else None
        if need("b_ih"):
            grads["b_ih"] = self._gate_rows(db)
        if need("b_hh"):
            grads["b_hh"] = self._gate_rows(db).copy() if dA_hh is None else dA_hh.reshape(T * B, G).sum(axis=0)

    def _gate_rows(self, g):
        """A weight or bias gradient computed in the CPU path's own gate order, back in PyTorch's."""
        order = getattr(self, "_pytorch_rows", None)
        return g if order is None else g[order]

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
