"""Stochastic gradient descent with optional momentum, dampening, Nesterov momentum and weight decay."""
from typing import Any, Dict, Iterable, Optional

from ..backend import Array
from .optimizer import Optimizer, effective_grad, is_nonnegative


def sgd_update(param: Array, grad: Array, buf: Optional[Array], step: int, lr: float, momentum: float,
               dampening: float, weight_decay: float, nesterov: bool, maximize: bool) -> None:
    """One SGD step, in place on `param` and the momentum buffer `buf` (None without momentum):
    g = grad + weight_decay * param;  b = g (first step) or momentum * b + (1 - dampening) * g;
    d = g + momentum * b (Nesterov) or b;  param -= lr * d."""
    g = effective_grad(param, grad, weight_decay, maximize)
    if momentum != 0:
        if step == 1:
            buf[...] = g
        else:
            buf *= momentum
            buf += g * (1 - dampening) if dampening != 0 else g
        g = g + buf * momentum if nesterov else buf
    param -= g * lr


class SGD(Optimizer):
    """optim.SGD(params, lr=1e-3, momentum=0, dampening=0, weight_decay=0, nesterov=False, *, maximize=False).

    `foreach` is accepted (and ignored) so PyTorch code carries over."""

    def __init__(self, params: Iterable, lr: float = 1e-3, momentum: float = 0, dampening: float = 0,
                 weight_decay: float = 0, nesterov: bool = False, *, maximize: bool = False,
                 foreach: Optional[bool] = None) -> None:
        defaults = dict(lr=lr, momentum=momentum, dampening=dampening, weight_decay=weight_decay,
                        nesterov=nesterov, maximize=maximize, foreach=foreach)
        super().__init__(params, defaults)

    def _check_group(self, group: Dict[str, Any]) -> None:
        for key in ("lr", "momentum", "dampening", "weight_decay"):
            self._check(is_nonnegative(group[key]), group, key, "a number >= 0")
        if group["nesterov"]:
            self._check(group["momentum"] > 0 and group["dampening"] == 0, group, "nesterov",
                        "momentum > 0 and dampening == 0 for Nesterov momentum")

    def _state_names(self, group):
        return ("momentum_buffer",) if group["momentum"] != 0 else ()

    def _update(self, param, grad, state, group):
        sgd_update(param, grad, state.get("momentum_buffer"), state["step"], group["lr"], group["momentum"],
                   group["dampening"], group["weight_decay"], group["nesterov"], group["maximize"])
