"""RMSprop: divide the gradient by a running root mean square of recent gradients."""
from .. import backend
from .optimizer import Optimizer, is_nonnegative


def rmsprop_update(param, grad, square_avg, grad_avg, buf, lr, alpha, eps, weight_decay, momentum, centered,
                   maximize):
    """One RMSprop step, in place on `param` and the state arrays (grad_avg / buf are None when unused).

    g = grad + weight_decay * param;  v = alpha * v + (1 - alpha) * g**2;
    centered: m = alpha * m + (1 - alpha) * g and v~ = v - m**2, else v~ = v;
    momentum: b = momentum * b + g / (sqrt(v~) + eps), param -= lr * b;  else param -= lr * g / (sqrt(v~) + eps).
    """
    xp = backend.array_module(param)
    g = -grad if maximize else grad
    if weight_decay != 0:
        g = g + weight_decay * param
    square_avg *= alpha
    square_avg += (1 - alpha) * (g * g)
    if centered:
        grad_avg *= alpha
        grad_avg += (1 - alpha) * g
        avg = xp.sqrt(square_avg - grad_avg * grad_avg)
    else:
        avg = xp.sqrt(square_avg)
    avg += eps
    direction = g / avg
    if momentum > 0:
        buf *= momentum
        buf += direction
        param -= lr * buf
    else:
        direction *= lr
        param -= direction


class RMSprop(Optimizer):
    """optim.RMSprop(params, lr=1e-2, alpha=0.99, eps=1e-8, weight_decay=0, momentum=0, centered=False)."""

    def __init__(self, params, lr=1e-2, alpha=0.99, eps=1e-8, weight_decay=0, momentum=0, centered=False, *,
                 maximize=False, foreach=None):
        defaults = dict(lr=lr, alpha=alpha, eps=eps, weight_decay=weight_decay, momentum=momentum,
                        centered=centered, maximize=maximize, foreach=foreach)
        super().__init__(params, defaults)

    def _check_group(self, group):
        for key in ("lr", "alpha", "eps", "weight_decay", "momentum"):
            self._check(is_nonnegative(group[key]), group, key, "a number >= 0")

    def _state_names(self, group):
        return (("square_avg",) + (("momentum_buffer",) if group["momentum"] > 0 else ())
                + (("grad_avg",) if group["centered"] else ()))

    def _update(self, param, grad, state, step, group):
        rmsprop_update(param, grad, state["square_avg"], state.get("grad_avg"), state.get("momentum_buffer"),
                       group["lr"], group["alpha"], group["eps"], group["weight_decay"], group["momentum"],
                       group["centered"], group["maximize"])
