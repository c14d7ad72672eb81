"""Adam: steps scaled by bias-corrected running averages of the gradient and its square."""
import math
from typing import Any, Dict, Iterable, Optional, Tuple

from .. import backend
from ..backend import Array
from .optimizer import Optimizer, check_betas, effective_grad, is_nonnegative


def adam_update(param: Array, grad: Array, exp_avg: Array, exp_avg_sq: Array, max_exp_avg_sq: Optional[Array],
                step: int, lr: float, beta1: float, beta2: float, eps: float,
                weight_decay: float, amsgrad: bool, maximize: bool) -> None:
    """One Adam step, in place on `param` and the moments (max_exp_avg_sq: None without amsgrad):
    g = grad + weight_decay * param;  m = beta1 * m + (1 - beta1) * g;  v = beta2 * v + (1 - beta2) * g**2;
    amsgrad: v = v_max = max(v_max, v);  param -= lr / (1 - beta1**step) * m / (sqrt(v / (1 - beta2**step)) + eps)."""
    xp = backend.array_module(param)
    g = effective_grad(param, grad, weight_decay, maximize)
    exp_avg *= beta1
    exp_avg += g * (1 - beta1)
    exp_avg_sq *= beta2
    exp_avg_sq += g * g * (1 - beta2)
    second = exp_avg_sq
    if amsgrad:
        second = xp.maximum(max_exp_avg_sq, exp_avg_sq, out=max_exp_avg_sq)
    denom = xp.sqrt(second) / math.sqrt(1 - beta2 ** step) + eps
    param -= exp_avg / denom * (lr / (1 - beta1 ** step))


class Adam(Optimizer):
    """optim.Adam(params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0, amsgrad=False)."""

    def __init__(self, params: Iterable, lr: float = 1e-3, betas: Tuple[float, float] = (0.9, 0.999),
                 eps: float = 1e-8, weight_decay: float = 0, amsgrad: bool = False, *, maximize: bool = False,
                 foreach: Optional[bool] = None) -> None:
        defaults = dict(lr=lr, betas=tuple(betas) if isinstance(betas, list) else betas, eps=eps,
                        weight_decay=weight_decay, amsgrad=amsgrad, maximize=maximize, foreach=foreach)
        super().__init__(params, defaults)

    def _check_group(self, group: Dict[str, Any]) -> None:
        for key in ("lr", "eps", "weight_decay"):
            self._check(is_nonnegative(group[key]), group, key, "a number >= 0")
        check_betas(self, group)

    def _state_names(self, group):
        return ("exp_avg", "exp_avg_sq") + (("max_exp_avg_sq",) if group["amsgrad"] else ())

    def _update(self, param, grad, state, group):
        beta1, beta2 = group["betas"]
        adam_update(param, grad, state["exp_avg"], state["exp_avg_sq"], state.get("max_exp_avg_sq"),
                    state["step"], group["lr"], beta1, beta2, group["eps"], group["weight_decay"],
                    group["amsgrad"], group["maximize"])
