"""Gradient clipping: rescale or clamp the .grad of parameters in place (call between backward and step)."""
import math
from typing import Iterable

from ... import backend
from ...tensor import Tensor


def _grads(parameters):
    """The gradient arrays of `parameters` (a tensor or an iterable of tensors), skipping grad None."""
    if isinstance(parameters, Tensor):
        parameters = [parameters]
    return [p.grad.data for p in parameters if p.grad is not None]


def clip_grad_norm_(parameters: Tensor | Iterable[Tensor], max_norm: float, norm_type: float = 2.0,
                    error_if_nonfinite: bool = False) -> float:
    """Scale all gradients together so that their joint norm is at most `max_norm`; returns the norm before.

    total = (sum over every gradient element of |g|**norm_type) ** (1 / norm_type)  (max |g| for inf);
    when max_norm / (total + 1e-6) < 1, every gradient is multiplied by that factor (as PyTorch).
    """
    max_norm, norm_type = float(max_norm), float(norm_type)
    if not max_norm >= 0:
        raise ValueError(f"clip_grad_norm_: max_norm must be >= 0, got {max_norm}")
    if not norm_type > 0:
        raise ValueError(f"clip_grad_norm_: norm_type must be > 0 or inf, got {norm_type}")
    grads = _grads(parameters)
    if not grads:
        return 0.0
    partial = {}                               # device -> reduced value, kept on the device until the end
    for g in grads:
        xp = backend.array_module(g)
        if norm_type == math.inf:
            r = xp.max(xp.abs(g)) if g.size else xp.zeros((), g.dtype)
            prev = partial.get(backend.device_of(g))
            partial[backend.device_of(g)] = r if prev is None else xp.maximum(prev, r)
        else:
            r = xp.sum(g * g) if norm_type == 2.0 else xp.sum(xp.abs(g) ** norm_type)
            partial[backend.device_of(g)] = partial.get(backend.device_of(g), 0.0) + r
    if norm_type == math.inf:
        total = max(float(v) for v in partial.values())
    else:
        total = sum(float(v) for v in partial.values()) ** (1.0 / norm_type)
    if error_if_nonfinite and not math.isfinite(total):
        raise RuntimeError(f"clip_grad_norm_: the total norm of order {norm_type} of the gradients is {total}; "
                           "pass error_if_nonfinite=False to clip anyway")
    coef = max_norm / (total + 1e-6)
    if coef < 1:
        for g in grads:
            g *= coef
    return total


def clip_grad_value_(parameters: Tensor | Iterable[Tensor], clip_value: float) -> None:
    """Clamp every gradient element into [-clip_value, clip_value], in place."""
    clip_value = float(clip_value)
    if not clip_value >= 0:
        raise ValueError(f"clip_grad_value_: clip_value must be >= 0, got {clip_value}")
    for g in _grads(parameters):
        backend.array_module(g).clip(g, -clip_value, clip_value, out=g)
