"""Adagrad: per-coordinate step sizes from the running sum of squared gradients."""
from .. import backend
from .optimizer import Optimizer, is_nonnegative


def adagrad_update(param, grad, state_sum, step, lr, lr_decay, weight_decay, eps, maximize):
    """One Adagrad step, in place on `param` and `state_sum`.

    g = grad + weight_decay * param;  lr_t = lr / (1 + (step - 1) * lr_decay);
    sum += g**2;  param -= lr_t * g / (sqrt(sum) + eps).
    """
    xp = backend.array_module(param)
    g = -grad if maximize else grad
    if weight_decay != 0:
        g = g + weight_decay * param
    clr = lr / (1 + (step - 1) * lr_decay)
    state_sum += g * g
    std = xp.sqrt(state_sum)
    std += eps
    direction = g / std
    direction *= clr
    param -= direction


class Adagrad(Optimizer):
    """optim.Adagrad(params, lr=1e-2, lr_decay=0, weight_decay=0, initial_accumulator_value=0, eps=1e-10)."""

    def __init__(self, params, lr=1e-2, lr_decay=0, weight_decay=0, initial_accumulator_value=0, eps=1e-10, *,
                 maximize=False, foreach=None):
        defaults = dict(lr=lr, lr_decay=lr_decay, weight_decay=weight_decay,
                        initial_accumulator_value=initial_accumulator_value, eps=eps, maximize=maximize,
                        foreach=foreach)
        super().__init__(params, defaults)

    def _check_group(self, group):
        for key in ("lr", "lr_decay", "weight_decay", "initial_accumulator_value", "eps"):
            self._check(is_nonnegative(group[key]), group, key, "a number >= 0")

    def _state_names(self, group):
        return ("sum",)

    def _initial_value(self, name, group):
        return group["initial_accumulator_value"]

    def _update(self, param, grad, state, step, group):
        adagrad_update(param, grad, state["sum"], step, group["lr"], group["lr_decay"], group["weight_decay"],
                       group["eps"], group["maximize"])
