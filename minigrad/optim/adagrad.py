"""Adagrad: per-coordinate step sizes from the running sum of squared gradients."""
from typing import Any, Dict, Iterable, Optional

from .. import backend
from ..backend import Array
from .optimizer import Optimizer, effective_grad, is_nonnegative


def adagrad_update(param: Array, grad: Array, state_sum: Array, step: int, lr: float, lr_decay: float,
                   weight_decay: float, eps: float, maximize: bool) -> None:
    """One Adagrad step, in place on `param` and `state_sum`:  g = grad + weight_decay * param;
    lr_t = lr / (1 + (step - 1) * lr_decay);  sum += g**2;  param -= lr_t * g / (sqrt(sum) + eps)."""
    xp = backend.array_module(param)
    g = effective_grad(param, grad, weight_decay, maximize)
    clr = lr / (1 + (step - 1) * lr_decay)
    state_sum += g * g
    param -= g / (xp.sqrt(state_sum) + eps) * clr


class Adagrad(Optimizer):
    """optim.Adagrad(params, lr=1e-2, lr_decay=0, weight_decay=0, initial_accumulator_value=0, eps=1e-10)."""

    def __init__(self, params: Iterable, lr: float = 1e-2, lr_decay: float = 0, weight_decay: float = 0,
                 initial_accumulator_value: float = 0, eps: float = 1e-10, *, maximize: bool = False,
                 foreach: Optional[bool] = None) -> None:
        defaults = dict(lr=lr, lr_decay=lr_decay, weight_decay=weight_decay,
                        initial_accumulator_value=initial_accumulator_value, eps=eps, maximize=maximize,
                        foreach=foreach)
        super().__init__(params, defaults)

    def _check_group(self, group: Dict[str, Any]) -> None:
        for key in ("lr", "lr_decay", "weight_decay", "initial_accumulator_value", "eps"):
            self._check(is_nonnegative(group[key]), group, key, "a number >= 0")

    def _state_names(self, group):
        return ("sum",)

    def _initial_value(self, name, group):
        return group["initial_accumulator_value"]

    def _update(self, param, grad, state, group):
        adagrad_update(param, grad, state["sum"], state["step"], group["lr"], group["lr_decay"],
                       group["weight_decay"], group["eps"], group["maximize"])
