"""One optimisation step, shared by every training loop in models/ (char_lm, shapes, tasks).

    value = train_step(params, optimizer, loss, clip=1.0)   # zero_grad, backward, clip, finite check, step
    value = train_step(params, optimizer, loss, clip=1.0, scheduler=sched)   # ... then sched.step()
"""
import math

from minigrad import nn
from minigrad.nn.utils import clip_grad_norm_


class NonFiniteLoss(FloatingPointError):
    """The loss (or, when clipping, the gradient norm) of a step was NaN/Inf; the optimizer did not step."""

    def __init__(self, loss, norm=None):
        self.loss, self.norm = loss, norm
        what = f"the loss became {loss}" if not math.isfinite(loss) else \
            f"the gradient norm became {norm} (loss {loss})"
        super().__init__(what)


def train_step(params, optimizer, loss, clip=None, scheduler=None):
    """Update from a loss Tensor: zero_grad, backward, clip_grad_norm_(params, clip) (None/0: off), step,
    then scheduler.step() when a learning-rate scheduler is given (stepped once per update, as PyTorch orders it).

    params: a Module or its parameters. Returns the loss as a float; raises NonFiniteLoss before the update
    (and before the scheduler moves).
    """
    if clip is not None and not clip >= 0:
        raise ValueError(f"train_step: clip must be >= 0 (0 or None: no clipping), got {clip}")
    optimizer.zero_grad()
    loss.backward()
    value = loss.item()
    norm = None
    if clip:
        norm = clip_grad_norm_(params.parameters() if isinstance(params, nn.Module) else params, clip)
    if not (math.isfinite(value) and (norm is None or math.isfinite(norm))):
        raise NonFiniteLoss(value, norm)
    optimizer.step()
    if scheduler is not None:
        scheduler.step()
    return value
