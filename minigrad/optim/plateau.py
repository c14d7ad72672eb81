"""ReduceLROnPlateau: cut the learning rate when a watched metric (validation loss) stops improving."""
import math
import numbers
import warnings
from typing import Any, Dict, List, Optional, Sequence, Union

from ..tensor import Tensor
from .optimizer import Optimizer
from .scheduler import (EPOCH_DEPRECATION_WARNING, LRScheduler, check_int, check_nonnegative, check_optimizer,
                        is_real)


class ReduceLROnPlateau(LRScheduler):
    """optim.lr_scheduler.ReduceLROnPlateau(optimizer, mode='min', factor=0.1, patience=10, threshold=1e-4,
    threshold_mode='rel', cooldown=0, min_lr=0, eps=1e-8); call step(metric) once per evaluation.

    A metric is an improvement when it beats the best so far by the threshold (mode 'min', 'rel':
    metric < best * (1 - threshold); 'abs': metric < best - threshold; 'max' mirrors). After more than
    `patience` evaluations in a row without one, each lr becomes max(lr * factor, min_lr) (a change
    smaller than eps is skipped), and the next `cooldown` evaluations count as neither good nor bad."""

    def __init__(self, optimizer: Optimizer, mode: str = "min", factor: float = 0.1, patience: int = 10,
                 threshold: float = 1e-4, threshold_mode: str = "rel", cooldown: int = 0,
                 min_lr: Union[float, Sequence[float]] = 0, eps: float = 1e-8) -> None:
        name = "ReduceLROnPlateau"
        check_optimizer(name, optimizer)
        if not is_real(factor) or not 0 <= factor < 1:
            raise ValueError(f"{name}: invalid factor={factor!r}, expected a number in [0, 1) "
                             "(new lr = lr * factor)")
        check_int(name, "patience", patience, 0)
        check_int(name, "cooldown", cooldown, 0)
        check_nonnegative(name, "eps", eps)
        n = len(optimizer.param_groups)
        if isinstance(min_lr, (list, tuple)):
            if len(min_lr) != n:
                raise ValueError(f"{name}: expected {n} min_lrs (one per parameter group), got {len(min_lr)}")
            for value in min_lr:
                check_nonnegative(name, "min_lr", value)
            self.default_min_lr = None
            self.min_lrs = list(min_lr)
        else:
            check_nonnegative(name, "min_lr", min_lr)
            self.default_min_lr = min_lr
            self.min_lrs = [min_lr] * n
        self.optimizer = optimizer
        self.factor = factor
        self.patience = int(patience)
        self.cooldown = int(cooldown)
        self.eps = eps
        self.last_epoch = 0
        self._last_lr = [group["lr"] for group in optimizer.param_groups]
        self._init_is_better(mode, threshold, threshold_mode)
        self._reset()

    def _init_is_better(self, mode: str, threshold: float, threshold_mode: str) -> None:
        name = "ReduceLROnPlateau"
        if mode not in ("min", "max"):
            raise ValueError(f"{name}: invalid mode={mode!r}, expected 'min' (lower metric is better) or 'max'")
        if threshold_mode not in ("rel", "abs"):
            raise ValueError(f"{name}: invalid threshold_mode={threshold_mode!r}, expected 'rel' or 'abs'")
        check_nonnegative(name, "threshold", threshold)
        self.mode, self.threshold, self.threshold_mode = mode, threshold, threshold_mode
        self.mode_worse = math.inf if mode == "min" else -math.inf

    def _reset(self) -> None:
        """Forget the best metric, the bad-epoch count and the cooldown."""
        self.best = self.mode_worse
        self.cooldown_counter = 0
        self.num_bad_epochs = 0

    @property
    def in_cooldown(self) -> bool:
        return self.cooldown_counter > 0

    def is_better(self, a: float, best: float) -> bool:
        """Does metric `a` improve on `best` by more than the threshold?"""
        if self.mode == "min":
            return a < (best * (1.0 - self.threshold) if self.threshold_mode == "rel" else best - self.threshold)
        return a > (best * (self.threshold + 1.0) if self.threshold_mode == "rel" else best + self.threshold)

    _is_better = is_better                            # PyTorch's newer (private) name

    def step(self, metrics: Any, epoch: Optional[int] = None) -> None:
        """Record one evaluation of the metric (a number or a one-element Tensor); reduce the lrs if due."""
        current = _as_float(metrics)
        if epoch is None:
            epoch = self.last_epoch + 1
        else:
            warnings.warn(EPOCH_DEPRECATION_WARNING, UserWarning, stacklevel=2)
        self.last_epoch = epoch
        if self._is_better(current, self.best):
            self.best = current
            self.num_bad_epochs = 0
        else:
            self.num_bad_epochs += 1
        if self.in_cooldown:
            self.cooldown_counter -= 1
            self.num_bad_epochs = 0                   # bad epochs during the cooldown do not count
        if self.num_bad_epochs > self.patience:
            self._reduce_lr()
            self.cooldown_counter = self.cooldown
            self.num_bad_epochs = 0
        self._last_lr = [group["lr"] for group in self.optimizer.param_groups]

    def _reduce_lr(self) -> None:
        groups = self.optimizer.param_groups
        if len(groups) != len(self.min_lrs):
            if self.default_min_lr is None:
                raise RuntimeError(f"ReduceLROnPlateau: the optimizer has {len(groups)} parameter groups, "
                                   f"min_lr was given for {len(self.min_lrs)} (a group was added since); "
                                   "set scheduler.min_lrs to one value per group")
            self.min_lrs = [self.default_min_lr] * len(groups)
        for group, min_lr in zip(groups, self.min_lrs):
            old = float(group["lr"])
            new = max(old * self.factor, min_lr)
            if old - new > self.eps:
                group["lr"] = new

    def get_lr(self) -> List[float]:
        raise TypeError("ReduceLROnPlateau has no schedule to compute: call step(metric), read get_last_lr()")

    def load_state_dict(self, state_dict: Dict[str, Any]) -> None:
        super().load_state_dict(state_dict)
        self._init_is_better(self.mode, self.threshold, self.threshold_mode)


def _as_float(metrics: Any) -> float:
    if isinstance(metrics, Tensor):
        if metrics.numel() != 1:
            raise ValueError(f"ReduceLROnPlateau.step: metrics must be a number or a one-element Tensor, "
                             f"got a Tensor of shape {metrics.shape}")
        return float(metrics.item())
    if isinstance(metrics, numbers.Real) and not isinstance(metrics, bool):
        return float(metrics)
    if hasattr(metrics, "dtype") and getattr(metrics, "size", 0) == 1 and metrics.dtype.kind in "iuf":
        return float(metrics.item())                  # a NumPy/CuPy array holding one number
    raise TypeError(f"ReduceLROnPlateau.step: metrics must be a number or a one-element Tensor, "
                    f"got {type(metrics).__name__}")
