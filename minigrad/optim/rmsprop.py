"""RMSprop: divide the gradient by a running root mean square of recent gradients."""
from typing import Any, Dict, Iterable, Optional

from .. import backend
from ..backend import Array
from .optimizer import Optimizer, effective_grad, is_nonnegative


def rmsprop_update(param: Array, grad: Array, square_avg: Array, grad_avg: Optional[Array], buf: Optional[Array],
                   lr: float, alpha: float, eps: float, weight_decay: float,
                   momentum: float, centered: bool, maximize: bool) -> None:
    """One RMSprop step, in place on `param` and the state arrays (grad_avg, buf: None when unused):
    g = grad + weight_decay * param;  v = alpha * v + (1 - alpha) * g**2;  centered: m = alpha * m + (1 - alpha) * g,
    v~ = v - m**2, else v~ = v;  d = g / (sqrt(v~) + eps);  momentum: b = momentum * b + d, param -= lr * b;
    else param -= lr * d."""
    xp = backend.array_module(param)
    g = effective_grad(param, grad, weight_decay, maximize)
    square_avg *= alpha
    square_avg += g * g * (1 - alpha)
    if centered:
        grad_avg *= alpha
        grad_avg += g * (1 - alpha)
        avg = xp.sqrt(square_avg - grad_avg * grad_avg) + eps
    else:
        avg = xp.sqrt(square_avg) + eps
    direction = g / avg
    if momentum > 0:
        buf *= momentum
        buf += direction
        direction = buf
    param -= direction * lr


class RMSprop(Optimizer):
    """optim.RMSprop(params, lr=1e-2, alpha=0.99, eps=1e-8, weight_decay=0, momentum=0, centered=False)."""

    def __init__(self, params: Iterable, lr: float = 1e-2, alpha: float = 0.99, eps: float = 1e-8,
                 weight_decay: float = 0, momentum: float = 0, centered: bool = False, *, maximize: bool = False,
                 foreach: Optional[bool] = None) -> None:
        defaults = dict(lr=lr, alpha=alpha, eps=eps, weight_decay=weight_decay, momentum=momentum,
                        centered=centered, maximize=maximize, foreach=foreach)
        super().__init__(params, defaults)

    def _check_group(self, group: Dict[str, Any]) -> None:
        for key in ("lr", "alpha", "eps", "weight_decay", "momentum"):
            self._check(is_nonnegative(group[key]), group, key, "a number >= 0")

    def _state_names(self, group):
        return (("square_avg",) + (("momentum_buffer",) if group["momentum"] > 0 else ())
                + (("grad_avg",) if group["centered"] else ()))

    def _update(self, param, grad, state, group):
        rmsprop_update(param, grad, state["square_avg"], state.get("grad_avg"), state.get("momentum_buffer"),
                       group["lr"], group["alpha"], group["eps"], group["weight_decay"], group["momentum"],
                       group["centered"], group["maximize"])
