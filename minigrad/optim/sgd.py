"""Stochastic gradient descent with optional momentum, dampening, Nesterov momentum and weight decay."""
from .optimizer import Optimizer, is_nonnegative


def sgd_update(param, grad, buf, step, lr, momentum, dampening, weight_decay, nesterov, maximize):
    """One SGD step, in place on `param` (and the momentum buffer `buf`, None without momentum).

    g = grad + weight_decay * param;  b = g on the first step, else momentum * b + (1 - dampening) * g;
    d = g + momentum * b (Nesterov) or b;  param -= lr * d.
    """
    g = -grad if maximize else grad
    if weight_decay != 0:
        g = g + weight_decay * param
    if momentum != 0:
        if step == 1:
            buf[...] = g
        else:
            buf *= momentum
            buf += (1 - dampening) * g
        g = g + momentum * buf if nesterov else buf
    param -= lr * g


class SGD(Optimizer):
    """optim.SGD(params, lr=1e-3, momentum=0, dampening=0, weight_decay=0, nesterov=False, *, maximize=False)."""

    def __init__(self, params, lr=1e-3, momentum=0, dampening=0, weight_decay=0, nesterov=False, *,
                 maximize=False, foreach=None):
        defaults = dict(lr=lr, momentum=momentum, dampening=dampening, weight_decay=weight_decay,
                        nesterov=nesterov, maximize=maximize, foreach=foreach)
        super().__init__(params, defaults)

    def _check_group(self, group):
        for key in ("lr", "momentum", "dampening", "weight_decay"):
            self._check(is_nonnegative(group[key]), group, key, "a number >= 0")
        if group["nesterov"]:
            self._check(group["momentum"] > 0 and group["dampening"] == 0, group, "nesterov",
                        "momentum > 0 and dampening == 0 for Nesterov momentum")

    def _state_names(self, group):
        return ("momentum_buffer",) if group["momentum"] != 0 else ()

    def _update(self, param, grad, state, step, group):
        sgd_update(param, grad, state.get("momentum_buffer"), step, group["lr"], group["momentum"],
                   group["dampening"], group["weight_decay"], group["nesterov"], group["maximize"])
