"""LRScheduler, the base of every learning-rate schedule, and the argument checks the schedules share.

A schedule rewrites group['lr'] of an optimizer each time step() is called. Most of PyTorch's schedules
are written in "chained" form: get_lr() computes the next rate from the current group['lr'] (so two
schedules stepping one optimizer compose), and a closed form of the epoch is used only when step() is
given an epoch (deprecated in PyTorch, kept for code that still passes one).
"""
import math
import numbers
import warnings
from typing import Any, Dict, List, Optional

from .optimizer import Optimizer

EPOCH_DEPRECATION_WARNING = ("scheduler.step(epoch) is deprecated (as in PyTorch): call scheduler.step(); "
                             "with an epoch the closed form of the schedule is used, where it has one")


class LRScheduler:
    """Base class. Call `scheduler.step()` once per epoch, after `optimizer.step()`.

    Subclasses write get_lr() (the chained rule, reading group['lr'] and self.last_epoch) and, where the
    schedule has one, _get_closed_form_lr() (the rate as a function of the epoch and base_lrs)."""

    def __init__(self, optimizer: Optimizer, last_epoch: int = -1) -> None:
        name = type(self).__name__
        check_optimizer(name, optimizer)
        check_int(name, "last_epoch", last_epoch, -1)
        self.optimizer = optimizer
        if last_epoch == -1:
            for group in optimizer.param_groups:
                group.setdefault("initial_lr", group["lr"])
        else:
            for i, group in enumerate(optimizer.param_groups):
                if "initial_lr" not in group:
                    raise ValueError(f"{name}: resuming at last_epoch={last_epoch} needs "
                                     f"'initial_lr' in param_groups[{i}]; load the optimizer's state first")
        self.base_lrs = [group["initial_lr"] for group in optimizer.param_groups]
        self.last_epoch = last_epoch
        self._step_count = 0
        self._is_initial = True          # the constructor's step sets the starting rates, it does not decay
        try:
            self.step()
        finally:
            del self._is_initial         # back to the class attribute (False); not part of state_dict()

    _is_initial = False

    def get_lr(self) -> List[float]:
        """The learning rates for epoch `self.last_epoch` (one per parameter group)."""
        raise NotImplementedError

    def step(self, epoch: Optional[int] = None) -> None:
        """Move to the next epoch and write its learning rates into the optimizer's groups."""
        if epoch is not None:
            check_int(f"{type(self).__name__}.step", "epoch", epoch, 0)
            warnings.warn(EPOCH_DEPRECATION_WARNING, UserWarning, stacklevel=2)
        self._step_count += 1
        if epoch is None:
            self.last_epoch += 1
            values = self.get_lr()
        else:
            self.last_epoch = int(epoch)
            closed = getattr(self, "_get_closed_form_lr", None)
            values = closed() if closed is not None else self.get_lr()
        for group, lr in zip(self.optimizer.param_groups, values):
            group["lr"] = lr
        self._last_lr = [group["lr"] for group in self.optimizer.param_groups]

    def get_last_lr(self) -> List[float]:
        """The learning rates set by the last step(), one per parameter group."""
        return list(self._last_lr)

    def state_dict(self) -> Dict[str, Any]:
        """Everything but the optimizer, as plain values (lists copied) that mg.save can store."""
        return {k: (list(v) if isinstance(v, list) else v) for k, v in self.__dict__.items() if k != "optimizer"}

    def load_state_dict(self, state_dict: Dict[str, Any]) -> None:
        """Restore what state_dict() returned."""
        if not isinstance(state_dict, dict) or not all(isinstance(k, str) for k in state_dict):
            raise ValueError(f"{type(self).__name__}.load_state_dict: expected the dict state_dict() returned "
                             f"(str keys), got {type(state_dict).__name__}")
        self.__dict__.update({k: (list(v) if isinstance(v, (list, tuple)) else v) for k, v in state_dict.items()})


# ----------------------------------------------------------------------------- argument checks

def is_real(x: Any) -> bool:
    """A finite real number (not a bool)."""
    return isinstance(x, numbers.Real) and not isinstance(x, bool) and math.isfinite(x)


def check_optimizer(name: str, optimizer: Any) -> None:
    if not isinstance(optimizer, Optimizer):
        raise TypeError(f"{name}: expected an Optimizer, got {type(optimizer).__name__}")


def check_int(name: str, arg: str, value: Any, minimum: int) -> None:
    """`value` is an int >= minimum (not a bool)."""
    if not isinstance(value, numbers.Integral) or isinstance(value, bool) or value < minimum:
        raise ValueError(f"{name}: invalid {arg}={value!r}, expected an integer >= {minimum}")


def check_gamma(name: str, gamma: Any) -> None:
    """A decay factor: a finite number > 0 (below 1 decays, above 1 grows)."""
    if not is_real(gamma) or gamma <= 0:
        raise ValueError(f"{name}: invalid gamma={gamma!r}, expected a number > 0 (the factor the lr is "
                         "multiplied by)")


def check_nonnegative(name: str, arg: str, value: Any) -> None:
    if not is_real(value) or value < 0:
        raise ValueError(f"{name}: invalid {arg}={value!r}, expected a number >= 0")
