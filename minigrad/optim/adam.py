"""Adam: steps scaled by bias-corrected running averages of the gradient and its square."""
import math

from .. import backend
from .optimizer import Optimizer, check_betas, is_nonnegative


def adam_update(param, grad, exp_avg, exp_avg_sq, max_exp_avg_sq, step, lr, beta1, beta2, eps, weight_decay,
                amsgrad, maximize):
    """One Adam step, in place on `param` and the moment arrays (max_exp_avg_sq is None without amsgrad).

    g = grad + weight_decay * param;  m = beta1 * m + (1 - beta1) * g;  v = beta2 * v + (1 - beta2) * g**2;
    amsgrad: v_max = max(v_max, v), used instead of v below;
    param -= lr / (1 - beta1**step) * m / (sqrt(v) / sqrt(1 - beta2**step) + eps).
    """
    xp = backend.array_module(param)
    g = -grad if maximize else grad
    if weight_decay != 0:
        g = g + weight_decay * param
    exp_avg *= beta1
    exp_avg += (1 - beta1) * g
    exp_avg_sq *= beta2
    exp_avg_sq += (1 - beta2) * (g * g)
    second = exp_avg_sq
    if amsgrad:
        xp.maximum(max_exp_avg_sq, exp_avg_sq, out=max_exp_avg_sq)
        second = max_exp_avg_sq
    bias_correction1 = 1 - beta1 ** step
    bias_correction2 = 1 - beta2 ** step
    denom = xp.sqrt(second)
    denom /= math.sqrt(bias_correction2)
    denom += eps
    direction = exp_avg / denom
    direction *= lr / bias_correction1
    param -= direction


class Adam(Optimizer):
    """optim.Adam(params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0, amsgrad=False)."""

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0, amsgrad=False, *,
                 maximize=False, foreach=None):
        defaults = dict(lr=lr, betas=tuple(betas) if isinstance(betas, list) else betas, eps=eps,
                        weight_decay=weight_decay, amsgrad=amsgrad, maximize=maximize, foreach=foreach)
        super().__init__(params, defaults)

    def _check_group(self, group):
        for key in ("lr", "eps", "weight_decay"):
            self._check(is_nonnegative(group[key]), group, key, "a number >= 0")
        check_betas(self, group)

    def _state_names(self, group):
        return ("exp_avg", "exp_avg_sq") + (("max_exp_avg_sq",) if group["amsgrad"] else ())

    def _update(self, param, grad, state, step, group):
        beta1, beta2 = group["betas"]
        adam_update(param, grad, state["exp_avg"], state["exp_avg_sq"], state.get("max_exp_avg_sq"), step,
                    group["lr"], beta1, beta2, group["eps"], group["weight_decay"], group["amsgrad"],
                    group["maximize"])
