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

from .. import backend
from ..autograd import op_error
from ..ops.nn_ops import Affine, CrossEntropy, DropoutMask, EmbeddingLookup, LogSoftmax, MSELoss, NLLLoss, Softmax
from ..tensor import Tensor

__all__ = ["softmax", "log_softmax", "cross_entropy", "nll_loss", "mse_loss", "dropout", "embedding", "linear"]


def softmax(x: Tensor, axis: int = -1, *, dim: int | None = None) -> Tensor:
    """exp(x) / sum exp(x) along `axis` (`dim` is PyTorch's name for it), computed with the max subtracted."""
    return Softmax(dim if dim is not None else axis)(x)


def log_softmax(x: Tensor, axis: int = -1, *, dim: int | None = None) -> Tensor:
    """x - logsumexp(x) along `axis` (or `dim`): log-probabilities, finite for large scores."""
    return LogSoftmax(dim if dim is not None else axis)(x)


def cross_entropy(logits: Tensor, targets: Tensor | backend.Array | list, *, ignore_index: int = -100,
                  reduction: str = "mean") -> Tensor:
    """Softmax cross-entropy of unnormalised scores against class indices, fused into one op.

    loss = logsumexp(logits) - logits[target] per target; reduction 'mean' (over targets that are not
    `ignore_index`; nan if there are none), 'sum' or 'none' (the targets' shape, 0 where ignored).
    Layouts: see the module docstring (class axis 1).
    """
    return CrossEntropy(ignore_index, reduction)(logits, _class_targets("cross_entropy", targets, logits))


def nll_loss(log_probs: Tensor, targets: Tensor | backend.Array | list, *, ignore_index: int = -100,
             reduction: str = "mean") -> Tensor:
    """Negative log-likelihood: -log_probs[target] per target, reduced as cross_entropy.

    nll_loss(log_softmax(x, axis=1), t) equals cross_entropy(x, t).
    """
    return NLLLoss(ignore_index, reduction)(log_probs, _class_targets("nll_loss", targets, log_probs))


def mse_loss(input: Tensor, target: Tensor | backend.Array | list, *, reduction: str = "mean") -> Tensor:
    """Mean squared error (input - target)^2, reduced by 'mean', 'sum' or 'none'; shapes must be equal."""
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


def embedding(ids: Tensor | backend.Array | list, weight: Tensor, padding_idx: int | None = None) -> Tensor:
    """Rows of `weight` (V, E) picked by integer `ids` of any shape -> (*ids.shape, E).

    Backward adds each position's gradient into the row it read (repeated ids accumulate); the row
    `padding_idx`, if given, gets no gradient.
    """
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


def _class_targets(op, targets, scores):
    """Targets as an array or Tensor; plain data goes to the scores' device."""
    if isinstance(targets, Tensor):
        return targets
    if not backend.is_array(targets):
        targets = backend.host_array(targets)
    return _on_device_of(targets, scores)


def _on_device_of(array, like):
    return backend.to_device(array, like.device) if isinstance(like, Tensor) else array
