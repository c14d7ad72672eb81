"""Neural-network ops: softmax, log_softmax, the losses, dropout, embedding and linear.

One class per op, forward and backward side by side; `minigrad.nn.functional` is their public face.
The class-index losses use PyTorch's layout: scores (N, C) with targets (N,), or (N, C, d1, ...) with
targets (N, d1, ...) (class axis 1), or unbatched (C,) with a 0-d target.

Higher derivatives: softmax, mse_loss, dropout and linear differentiate their own backward (written with
operations Tensors also have). The fused ops (log_softmax, cross_entropy, nll_loss, embedding), whose
backward is array code, give `decompose`: the same function in plain ops, differentiated instead.
"""
import math

from .. import backend
from ..autograd import Function, describe, op_error
from ..tensor import Tensor
from .index import Where, scatter_add

REDUCTIONS = ("mean", "sum", "none")


def _floating(op, *arrays):
    for a in arrays:
        if a.dtype.kind != "f":
            raise op_error(TypeError, op, f"expected floating point inputs, got {describe(arrays)}")


def _axis(op, axis, x):
    try:
        return backend.normalize_axis(axis, x.ndim)[0]
    except (ValueError, TypeError) as e:
        raise op_error(type(e), op, f"{e} (input shape {x.shape})") from None


def _check_reduction(op, reduction):
    if reduction not in REDUCTIONS:
        raise op_error(ValueError, op, f"reduction must be 'mean', 'sum' or 'none', got {reduction!r}")
    return reduction


class Softmax(Function):
    """y = exp(x - max x) / sum exp(x - max x) along `axis` (the max shift keeps exp finite)."""

    def __init__(self, axis: int = -1) -> None:
        self.axis = axis

    def forward(self, x):
        _floating("softmax", x)
        self.axis_ = axis = _axis("softmax", self.axis, x)
        y = x - x.max(axis=axis, keepdims=True)
        backend.array_module(x).exp(y, out=y)
        y /= y.sum(axis=axis, keepdims=True)
        self.saved = (y,)
        return y

    def backward(self, gy):
        # dy_i/dx_j = y_i (delta_ij - y_j)  =>  gx = y * (gy - sum_j gy_j y_j)
        y, = self.saved
        return y * (gy - (gy * y).sum(axis=self.axis_, keepdims=True))


class LogSoftmax(Function):
    """y = x - logsumexp(x) along `axis`, with logsumexp(x) = m + log sum exp(x - m), m = max x."""

    def __init__(self, axis: int = -1) -> None:
        self.axis = axis

    def forward(self, x):
        _floating("log_softmax", x)
        xp = backend.array_module(x)
        self.axis_ = axis = _axis("log_softmax", self.axis, x)
        y = x - x.max(axis=axis, keepdims=True)
        p = xp.exp(y)
        s = p.sum(axis=axis, keepdims=True)
        y -= xp.log(s)
        p /= s
        self.p = p                                  # softmax(x), for backward
        return y

    def backward(self, gy):
        # y_i = x_i - lse(x), d lse/dx_j = softmax_j  =>  gx = gy - softmax * sum(gy)
        return gy - self.p * gy.sum(axis=self.axis_, keepdims=True)

    def decompose(self, x):
        """x - m - log sum exp(x - m) in plain ops, m = max x held constant (the result does not depend on m)."""
        return log_softmax_ops(x, self.axis_)


def log_softmax_ops(x: Tensor, axis: int) -> Tensor:
    """log_softmax written with plain differentiable ops: what the fused ops decompose into."""
    shifted = x - Tensor._make(x.data.max(axis=axis, keepdims=True))
    return shifted - shifted.exp().sum(axis=axis, keepdims=True).log()


def _value_range(t):
    """(smallest, largest) entry of integer array t; (0, 0) when it is empty."""
    return (int(t.min()), int(t.max())) if t.size else (0, 0)


class _ClassLoss(Function):
    """Shared by the class-index losses: target checks, the layout, the reduction and its backward."""
    op = ""

    def __init__(self, ignore_index: int = -100, reduction: str = "mean") -> None:
        self.ignore_index = int(ignore_index)
        self.reduction = _check_reduction(self.op, reduction)

    def _prepare(self, x, t):
        """Check x and t; return x as (N, C, ...), t as (N, ...) with ignored entries set to 0."""
        op = self.op
        _floating(op, x)
        if t.dtype.kind not in "iu":
            raise op_error(TypeError, op, f"targets must be class indices of an integer dtype (e.g. int64), got "
                                          f"{t.dtype} targets of shape {t.shape} (class probabilities are not "
                                          "supported)")
        if x.ndim == 0:
            raise op_error(ValueError, op, "expected scores of shape (N, C), (N, C, d1, ...) or (C,), got a 0-d tensor")
        expected = () if x.ndim == 1 else (x.shape[0],) + x.shape[2:]
        if t.shape != expected:
            hint = ""
            if x.ndim >= 3 and t.shape == x.shape[:-1]:
                hint = (f"; for scores laid out (N, T, C), reshape them to (N*T, C) and the targets to (N*T,), "
                        f"or move the class axis to 1 with .transpose(1, {x.ndim - 1})")
            raise op_error(ValueError, op, f"targets of shape {t.shape} do not match scores of shape {x.shape}: "
                                           f"expected targets of shape {expected} (scores (N, C) with targets (N,), "
                                           f"or (N, C, d1, ...) with targets (N, d1, ...); the class axis is 1){hint}")
        self.x_shape, self.t_shape = x.shape, t.shape
        if x.ndim == 1:
            x, t = x.reshape(1, -1), t.reshape(1)
        xp = backend.array_module(x)
        n_classes = x.shape[1]
        if backend.device_of(t) == "cuda":
            t, valid = self._device_targets(xp, x, t, n_classes)
        else:
            t, valid = self._host_targets(xp, t, n_classes)
        self.valid, self.t = valid, t
        # the index of each target's score: x[n, t[n, d1..], d1, ...] (open mesh for the extra axes)
        if t.ndim == 1:
            self.index = (xp.arange(t.shape[0]), t)
        else:
            grids = xp.ix_(*[xp.arange(n) for n in t.shape])
            self.index = (grids[0], t) + tuple(grids[1:])
        return x

    def _host_targets(self, xp, t, n_classes):
        """NumPy targets: check their range (ignore_index masked only where it occurs) -> (t, valid or None)."""
        lo, hi = _value_range(t)
        valid = None
        if lo <= self.ignore_index <= hi:           # ignore_index may occur: mask it out
            valid = t != self.ignore_index
            t = xp.where(valid, t, 0)
            self.n_valid = int(valid.sum())
            lo, hi = _value_range(t)
        else:
            self.n_valid = t.size
        if lo < 0 or hi >= n_classes:
            self._raise_bad_target(t, n_classes)
        return t, valid

    def _device_targets(self, xp, x, t, n_classes):
        """CuPy targets: the ignore mask always, the valid count kept on the device, and one combined range
        check: the only device->host wait of the call."""
        valid = t != self.ignore_index
        t = xp.where(valid, t, 0)
        self.n_valid = valid.sum(dtype=x.dtype)     # a device scalar, never read back on the host
        if bool(((t < 0) | (t >= n_classes)).any()):
            self._raise_bad_target(t, n_classes)
        return t, valid

    def _raise_bad_target(self, t, n_classes):
        bad = t[(t < 0) | (t >= n_classes)].ravel()[0].item()
        raise op_error(IndexError, self.op, f"target {bad} is out of range for {n_classes} classes (scores of "
                                            f"shape {self.x_shape}); expected 0 <= target < {n_classes}, or "
                                            f"target == ignore_index ({self.ignore_index})")

    def _reduce(self, loss):
        """loss (N, ...) per target, zero where ignored -> the reduced result."""
        if self.reduction == "none":
            return loss.reshape(self.t_shape)
        total = loss.sum()
        if self.reduction == "sum":
            return total
        if backend.is_array(self.n_valid):          # device count: 0 valid -> 0 / 0 = nan, as below
            return total / self.n_valid
        return total / self.n_valid if self.n_valid else total * float("nan")   # PyTorch: nan when all ignored

    def _picked_loss(self, losses: Tensor) -> Tensor:
        """For decompose: each target's entry of `losses` (N, C, ...), zero where ignored, reduced."""
        loss = losses[self.index]
        return self._reduce(loss if self.valid is None else loss * self.valid)

    def _weights(self, gy):
        """d result / d loss[n, ...]: broadcastable to the targets' (N, ...) shape, zero where ignored."""
        if self.reduction == "none":
            w = gy.reshape(self.t.shape)
        elif self.reduction == "sum":
            w = gy
        else:
            if backend.is_array(self.n_valid):      # device count: w is masked by valid below when it is 0
                w = gy / backend.array_module(gy).maximum(self.n_valid, 1)
            else:
                w = gy / self.n_valid if self.n_valid else gy * 0
        return w if self.valid is None else w * self.valid


class CrossEntropy(_ClassLoss):
    """loss = logsumexp(x) - x[target] over class axis 1 (fused log_softmax + nll_loss), then reduced."""
    op = "cross_entropy"

    def forward(self, x, t):
        x = self._prepare(x, t)
        xp = backend.array_module(x)
        e = x - x.max(axis=1, keepdims=True)
        picked = e[self.index]                      # x[target] - max, (N, ...)
        xp.exp(e, out=e)
        s = e.sum(axis=1, keepdims=True)
        loss = xp.log(s[:, 0])
        loss -= picked
        if self.valid is not None:
            loss *= self.valid
        self.e, self.s = e, s                       # softmax(x) = e / s, for backward
        return self._reduce(loss)

    def backward(self, gy):
        # d loss/dx = softmax(x) - onehot(target), scaled by each target's weight (0 where ignored)
        xp = backend.array_module(gy)
        w = self._weights(gy)
        wk = xp.expand_dims(w, 1) if w.ndim else w
        gx = self.e * (wk / self.s)
        gx[self.index] -= w
        return gx.reshape(self.x_shape), None

    def decompose(self, x, t):
        """-log_softmax(x)[target] in plain ops, masked and reduced as forward (t is a constant)."""
        scores = x if x.ndim > 1 else x.reshape(1, -1)
        return self._picked_loss(-log_softmax_ops(scores, 1))


class NLLLoss(_ClassLoss):
    """loss = -x[target] over class axis 1 (x holds log-probabilities), then reduced."""
    op = "nll_loss"

    def forward(self, x, t):
        x = self._prepare(x, t)
        self.dtype = x.dtype
        loss = -x[self.index]
        if self.valid is not None:
            loss *= self.valid
        return self._reduce(loss)

    def backward(self, gy):
        # d loss/dx = -onehot(target), scaled by each target's weight
        gx = backend.array_module(gy).zeros(self.x_shape if len(self.x_shape) > 1 else (1,) + self.x_shape,
                                            dtype=self.dtype)
        gx[self.index] = -self._weights(gy)
        return gx.reshape(self.x_shape), None

    def decompose(self, x, t):
        """-x[target] in plain ops, masked and reduced as forward (t is a constant)."""
        return self._picked_loss(-(x if x.ndim > 1 else x.reshape(1, -1)))


class MSELoss(Function):
    """loss = (x - t)^2 elementwise, then reduced; x and t of one shape."""

    def __init__(self, reduction: str = "mean") -> None:
        self.reduction = _check_reduction("mse_loss", reduction)

    def forward(self, x, t):
        _floating("mse_loss", x)
        if x.shape != t.shape:
            raise op_error(ValueError, "mse_loss", f"input of shape {x.shape} and target of shape {t.shape} differ; "
                                                   "expected equal shapes (no broadcasting)")
        self.saved = (x, t)
        self.size = x.size
        d = x - t
        sq = d * d
        if self.reduction == "none":
            return sq
        return sq.sum() if self.reduction == "sum" else sq.mean()

    def backward(self, gy):
        # d (x - t)^2 / dx = 2 (x - t) = -d/dt; 'mean' divides by the element count
        x, t = self.saved
        scale = 2 * gy if self.reduction != "mean" else gy * (2 / max(self.size, 1))
        gx = (x - t) * scale
        return (gx if self.needs_grad[0] else None), (-gx if self.needs_grad[1] else None)


class DropoutMask(Function):
    """y = x * mask / (1 - p), mask ~ Bernoulli(1 - p) from the device's generator (inverted dropout)."""

    def __init__(self, p: float = 0.5) -> None:
        self.p = p

    def forward(self, x):
        _floating("dropout", x)
        u = backend.random_uniform(x.shape, x.dtype, backend.device_of(x))
        mask = (u >= self.p).astype(x.dtype)
        mask *= 1.0 / (1.0 - self.p)
        self.mask = mask
        return x * mask

    def backward(self, gy):
        # y = x * mask  =>  gx = gy * mask (the same mask as forward)
        return gy * self.mask


def add_rows(target: backend.Array, rows: backend.Array, values: backend.Array) -> None:
    """target[rows[k]] += values[k] for every k, in place, repeated rows accumulating.

    `rows` is a 1-D integer array into axis 0 of `target`; `values` is (len(rows),) + target.shape[1:].
    On the CPU add.at is slow, so: for small tables, one matrix product with the one-hot matrix of the rows
    (a character vocabulary: one BLAS call); otherwise sort the rows and sum each run of equal ones.
    """
    if backend.device_of(target) == "cuda":
        scatter_add(target, rows, values)
        return
    if rows.size == 0:
        return
    xp = backend.array_module(target)
    n_rows = target.shape[0]
    if n_rows * rows.size <= _ONE_HOT_LIMIT:
        one_hot = xp.zeros((n_rows, rows.size), dtype=target.dtype)
        one_hot[rows, xp.arange(rows.size)] = 1
        target += (one_hot @ values.reshape(rows.size, -1)).reshape(target.shape)
        return
    rows = xp.where(rows < 0, rows + n_rows, rows)
    order = xp.argsort(rows, kind="stable")
    rows = rows[order]
    starts = xp.flatnonzero(xp.concatenate(([True], rows[1:] != rows[:-1])))
    target[rows[starts]] += xp.add.reduceat(values[order], starts, axis=0)


_ONE_HOT_LIMIT = 1 << 18      # entries of the one-hot matrix (1 MB in float32) up to which add_rows uses it


class EmbeddingLookup(Function):
    """y[..., :] = weight[ids[...]]: ids (any shape, integers) into weight (V, E) -> (*ids.shape, E)."""

    def __init__(self, padding_idx: int | None = None) -> None:
        self.padding_idx = padding_idx

    def forward(self, ids, weight):
        if ids.dtype.kind not in "iu":
            raise op_error(TypeError, "embedding", f"ids must be integers, got {ids.dtype} ids of shape {ids.shape}")
        if weight.ndim != 2:
            raise op_error(ValueError, "embedding", f"weight must be 2-D (num_embeddings, embedding_dim), got shape "
                                                    f"{weight.shape}")
        n = weight.shape[0]
        if backend.device_of(ids) == "cuda":       # one combined check: one device->host wait
            out_of_range = ids.size and bool(((ids < 0) | (ids >= n)).any())
        else:
            out_of_range = ids.size and (int(ids.min()) < 0 or int(ids.max()) >= n)
        if out_of_range:
            bad = ids[(ids < 0) | (ids >= n)].ravel()[0].item()
            raise op_error(IndexError, "embedding", f"id {bad} is out of range for a weight of shape {weight.shape} "
                                                    f"(ids of shape {ids.shape}); expected 0 <= id < {n}")
        self.ids, self.w_shape = ids, weight.shape
        return backend.array_module(weight).take(weight, ids, axis=0)

    def backward(self, gy):
        # each row of the table receives the sum of the gradients of the positions that read it
        gw = backend.array_module(gy).zeros(self.w_shape, dtype=gy.dtype)
        add_rows(gw, self.ids.reshape(-1), gy.reshape(-1, self.w_shape[1]))
        if self.padding_idx is not None:
            gw[self.padding_idx] = 0
        return None, gw

    def decompose(self, ids, weight):
        """weight[ids] in plain ops; the padding row is read as a constant (it gets no gradient)."""
        if self.padding_idx is not None:
            xp = backend.array_module(weight.data)
            pad = xp.arange(weight.shape[0]).reshape(-1, 1) == self.padding_idx % weight.shape[0]
            weight = Where()(pad, Tensor._make(weight.data), weight)
        return weight[self.ids]


class Affine(Function):
    """y = x @ weight^T + bias: x (..., in), weight (out, in) as PyTorch, bias (out,) -> (..., out)."""

    def forward(self, x, w, b=None):
        _floating("linear", x, w)
        if w.ndim != 2 or x.ndim == 0 or x.shape[-1] != w.shape[1]:
            raise op_error(ValueError, "linear", f"input of shape {x.shape} does not fit weight of shape {w.shape}: "
                                                 "expected input (..., in) and weight (out, in)")
        if b is not None and b.shape != (w.shape[0],):
            raise op_error(ValueError, "linear", f"bias of shape {b.shape} does not fit weight of shape {w.shape}: "
                                                 f"expected ({w.shape[0]},)")
        self.saved = (x, w)
        rows = math.prod(x.shape[:-1])                  # not -1: it is ambiguous when a size is 0
        y = x.reshape(rows, x.shape[-1]) @ w.T
        if b is not None:
            y += b
        return y.reshape(x.shape[:-1] + (w.shape[0],))

    def backward(self, gy):
        # y = x W^T + b  =>  gx = gy W,  gW = gy^T x,  gb = sum of gy over rows
        x, w = self.saved
        rows = math.prod(x.shape[:-1])
        gy2 = gy.reshape(rows, gy.shape[-1])
        gx = (gy2 @ w).reshape(x.shape) if self.needs_grad[0] else None
        gw = gy2.T @ x.reshape(rows, x.shape[-1]) if self.needs_grad[1] else None
        if len(self.needs_grad) == 2:
            return gx, gw
        return gx, gw, (gy2.sum(axis=0) if self.needs_grad[2] else None)
