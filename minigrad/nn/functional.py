"""Functions of neural networks, PyTorch-shaped: `import minigrad.nn.functional as F`.

Each is the lower-case face of one op in `minigrad.ops.nn_ops` (one graph node per call).
Class-index losses take PyTorch's layout, the class axis being axis 1:

    scores (N, C)            targets (N,)            e.g. a batch of next-character predictions
    scores (N, C, d1, ...)   targets (N, d1, ...)    e.g. (batch, vocab, time) with targets (batch, time)
    scores (C,)              target  ()              one unbatched example

Scores laid out (N, T, C), as an RNN emits them, go in as `scores.reshape(-1, C)` with `targets.reshape(-1)`,
or as `scores.transpose(1, 2)` with targets (N, T). Targets are integer class indices (a Tensor, an array
or a list); those equal to `ignore_index` add nothing to the loss, and 'mean' averages over the others.
"""
import numbers
from typing import Sequence

from .. import backend, ops
from ..autograd import op_error
from ..ops.nn_ops import Affine, CrossEntropy, DropoutMask, EmbeddingLookup, LogSoftmax, MSELoss, NLLLoss, Softmax
from ..ops.norm import LayerNorm
from ..tensor import Tensor

__all__ = ["softmax", "log_softmax", "cross_entropy", "nll_loss", "mse_loss", "dropout", "embedding", "linear",
           "layer_norm", "relu", "tanh", "sigmoid"]


def softmax(x: Tensor, axis: int = -1, *, dim: int | None = None) -> Tensor:
    """exp(x) / sum exp(x) along `axis` (`dim` is PyTorch's name for it), computed with the max subtracted."""
    return Softmax(dim if dim is not None else axis)(x)


def log_softmax(x: Tensor, axis: int = -1, *, dim: int | None = None) -> Tensor:
    """x - logsumexp(x) along `axis` (or `dim`): log-probabilities, finite for large scores."""
    return LogSoftmax(dim if dim is not None else axis)(x)


def cross_entropy(logits: Tensor, targets: Tensor | backend.Array | list, weight: Tensor | None = None,
                  size_average: None = None, ignore_index: int = -100, reduce: None = None, reduction: str = "mean",
                  label_smoothing: float = 0.0) -> Tensor:
    """Softmax cross-entropy of unnormalised scores against class indices, fused into one op.

    loss = logsumexp(logits) - logits[target] per target; reduction 'mean' (over targets that are not
    `ignore_index`; nan if there are none), 'sum' or 'none' (the targets' shape, 0 where ignored).
    Layouts: see the module docstring (class axis 1). PyTorch's class `weight`, `label_smoothing` and the
    deprecated `size_average`/`reduce` are not supported (a clear error, never silently ignored).
    """
    unsupported("cross_entropy", weight=weight, size_average=size_average, reduce=reduce,
                label_smoothing=label_smoothing)
    return CrossEntropy(ignore_index, reduction)(logits, _class_targets("cross_entropy", targets, logits))


def nll_loss(log_probs: Tensor, targets: Tensor | backend.Array | list, weight: Tensor | None = None,
             size_average: None = None, ignore_index: int = -100, reduce: None = None,
             reduction: str = "mean") -> Tensor:
    """Negative log-likelihood: -log_probs[target] per target, reduced as cross_entropy.

    nll_loss(log_softmax(x, axis=1), t) equals cross_entropy(x, t). No class `weight` (a clear error).
    """
    unsupported("nll_loss", weight=weight, size_average=size_average, reduce=reduce)
    return NLLLoss(ignore_index, reduction)(log_probs, _class_targets("nll_loss", targets, log_probs))


def mse_loss(input: Tensor, target: Tensor | backend.Array | list, size_average: None = None, reduce: None = None,
             reduction: str = "mean") -> Tensor:
    """Mean squared error (input - target)^2, reduced by 'mean', 'sum' or 'none'; shapes must be equal."""
    unsupported("mse_loss", size_average=size_average, reduce=reduce)
    if not isinstance(target, Tensor):
        target = _on_device_of(backend.host_array(target, input.dtype) if not backend.is_array(target) else target,
                               input)
    return MSELoss(reduction)(input, target)


def dropout(x: Tensor, p: float = 0.5, training: bool = True) -> Tensor:
    """Inverted dropout: zero each element with probability p and scale the rest by 1/(1-p).

    Identity (x itself) when not training or p == 0. The mask comes from the device's generator
    (seeded by mg.manual_seed) and backward uses the same mask.
    """
    if isinstance(p, bool) or not isinstance(p, numbers.Real) or not 0 <= p < 1:
        raise op_error(ValueError, "dropout", f"probability p must be in [0, 1), got {p!r}")
    if not training or p == 0:
        return x
    return DropoutMask(float(p))(x)


def embedding(ids: Tensor | backend.Array | list, weight: Tensor, padding_idx: int | None = None,
              max_norm: float | None = None, norm_type: float = 2.0, scale_grad_by_freq: bool = False,
              sparse: bool = False) -> Tensor:
    """Rows of `weight` (V, E) picked by integer `ids` of any shape -> (*ids.shape, E).

    Backward adds each position's gradient into the row it read (repeated ids accumulate); the row
    `padding_idx` (negative counts from the end), if given, gets no gradient. max_norm, scale_grad_by_freq
    and sparse are not supported (a clear error).
    """
    unsupported("embedding", max_norm=max_norm, scale_grad_by_freq=scale_grad_by_freq, sparse=sparse)
    if padding_idx is not None:
        n = weight.shape[0]
        if not -n <= padding_idx < n:
            raise op_error(IndexError, "embedding", f"padding_idx {padding_idx} is out of range for a weight of "
                                                    f"shape {weight.shape}")
        padding_idx %= n
    if not isinstance(ids, Tensor):
        ids = _on_device_of(ids if backend.is_array(ids) else backend.host_array(ids), weight)
    return EmbeddingLookup(padding_idx)(ids, weight)


def linear(x: Tensor, weight: Tensor, bias: Tensor | None = None) -> Tensor:
    """x @ weight.T + bias, with weight (out, in) and bias (out,) as PyTorch: (..., in) -> (..., out)."""
    if bias is None:
        return Affine()(x, weight)
    return Affine()(x, weight, bias)


def layer_norm(input: Tensor, normalized_shape: int | Sequence[int], weight: Tensor | None = None,
               bias: Tensor | None = None, eps: float = 1e-5) -> Tensor:
    """Normalise over the last len(normalized_shape) axes to mean 0 and variance 1 (biased variance, `eps`
    inside the square root), then scale by `weight` and shift by `bias` (both of normalized_shape, optional).
    One LayerNorm node (minigrad/ops/norm.py)."""
    shape = normalized_shape_tuple("layer_norm", normalized_shape)
    if not isinstance(input, Tensor):
        raise TypeError(f"layer_norm: input must be a Tensor, got {type(input).__name__}")
    if input.shape[input.ndim - len(shape):] != shape or input.ndim < len(shape):
        raise op_error(ValueError, "layer_norm", f"given normalized_shape={list(shape)}, expected input with "
                                                 f"shape [*, {', '.join(map(str, shape))}], but got input of "
                                                 f"shape {list(input.shape)}")
    params = []
    for name, p in (("weight", weight), ("bias", bias)):
        if p is None:
            continue
        if not isinstance(p, Tensor):
            raise TypeError(f"layer_norm: {name} must be a Tensor or None, got {type(p).__name__}")
        if p.shape != shape:
            raise op_error(ValueError, "layer_norm", f"expected {name} of the same shape as normalized_shape, but "
                                                     f"got {name} of shape {list(p.shape)} and normalized_shape = "
                                                     f"{list(shape)}")
        params.append(p)
    if isinstance(eps, bool) or not isinstance(eps, numbers.Real) or not eps >= 0:
        raise op_error(ValueError, "layer_norm", f"eps must be a number >= 0, got {eps!r}")
    return LayerNorm(len(shape), float(eps), weight is not None, bias is not None)(input, *params)


def normalized_shape_tuple(owner: str, normalized_shape: int | Sequence[int]) -> tuple[int, ...]:
    """An int or a sequence of ints -> a non-empty tuple of sizes, or a TypeError/ValueError naming `owner`."""
    shape = (normalized_shape,) if isinstance(normalized_shape, numbers.Integral) else normalized_shape
    try:
        shape = tuple(shape)
    except TypeError:
        shape = None
    if shape is None or any(isinstance(n, bool) or not isinstance(n, numbers.Integral) for n in shape):
        raise TypeError(f"{owner}: normalized_shape must be an int or a sequence of ints, got "
                        f"{type(normalized_shape).__name__} {normalized_shape!r}")
    if not shape:
        raise ValueError(f"{owner}: expected normalized_shape to be at least 1-dimensional (at least one size), "
                         f"got {list(shape)}")
    if any(n < 0 for n in shape):
        raise ValueError(f"{owner}: normalized_shape must hold sizes >= 0, got {list(shape)}")
    return tuple(int(n) for n in shape)


def relu(x: Tensor) -> Tensor:
    """max(x, 0) elementwise."""
    return ops.relu(x)


def tanh(x: Tensor) -> Tensor:
    return ops.tanh(x)


def sigmoid(x: Tensor) -> Tensor:
    return ops.sigmoid(x)


_DEFAULTS = {"weight": None, "size_average": None, "reduce": None, "label_smoothing": 0.0, "max_norm": None,
             "scale_grad_by_freq": False, "sparse": False, "inplace": False}


def unsupported(owner: str, **arguments) -> None:
    """Raise NotImplementedError naming `owner` and the first PyTorch argument given a value other than its default
    (arguments minigrad accepts by name so a port fails clearly instead of running with them ignored)."""
    for name, value in arguments.items():
        default = _DEFAULTS[name]
        if (value is not None) if default is None else value != default:
            hint = " (deprecated in PyTorch too; use reduction=)" if name in ("size_average", "reduce") else ""
            shown = f"<a {type(value).__name__}>" if isinstance(value, Tensor) else repr(value)
            raise NotImplementedError(f"{owner}: {name}={shown} is not supported by minigrad; leave it at its "
                                      f"default {default!r}{hint}")


def _class_targets(op, targets, scores):
    """Targets as an array or Tensor; plain data goes to the scores' device."""
    if isinstance(targets, Tensor):
        return targets
    if not backend.is_array(targets):
        targets = backend.host_array(targets)
    return _on_device_of(targets, scores)


def _on_device_of(array, like):
    return backend.to_device(array, like.device) if isinstance(like, Tensor) else array
