"""Losses as modules, PyTorch's names and defaults: nn.CrossEntropyLoss, nn.NLLLoss, nn.MSELoss.

`criterion = nn.CrossEntropyLoss(ignore_index=0); loss = criterion(scores, targets)` calls the function of
the same name in nn.functional (layouts: see its docstring). PyTorch arguments minigrad lacks (class
`weight`, `label_smoothing`, the deprecated `size_average`/`reduce`) are refused, never silently ignored.
"""
from __future__ import annotations

import numbers

from .. import backend
from ..ops.nn_ops import REDUCTIONS
from ..tensor import Tensor
from . import functional as F
from .module import Module


def _reduction(owner: str, reduction: str) -> str:
    if reduction not in REDUCTIONS:
        raise ValueError(f"{owner}: reduction must be 'mean', 'sum' or 'none', got {reduction!r}")
    return reduction


def _ignore_index(owner: str, ignore_index: int) -> int:
    if isinstance(ignore_index, bool) or not isinstance(ignore_index, numbers.Integral):
        raise TypeError(f"{owner}: ignore_index must be an int, got {type(ignore_index).__name__} {ignore_index!r}")
    return int(ignore_index)


class CrossEntropyLoss(Module):
    """Softmax cross-entropy of scores (N, C, ...) against class indices (N, ...): F.cross_entropy."""

    def __init__(self, weight: Tensor | None = None, size_average: None = None, ignore_index: int = -100,
                 reduce: None = None, reduction: str = "mean", label_smoothing: float = 0.0) -> None:
        super().__init__()
        F.unsupported("CrossEntropyLoss", weight=weight, size_average=size_average, reduce=reduce,
                      label_smoothing=label_smoothing)
        self.ignore_index = _ignore_index("CrossEntropyLoss", ignore_index)
        self.reduction = _reduction("CrossEntropyLoss", reduction)

    def forward(self, input: Tensor, target: Tensor | backend.Array | list) -> Tensor:
        return F.cross_entropy(input, target, ignore_index=self.ignore_index, reduction=self.reduction)


class NLLLoss(Module):
    """Negative log-likelihood of log-probabilities (N, C, ...) at class indices (N, ...): F.nll_loss."""

    def __init__(self, weight: Tensor | None = None, size_average: None = None, ignore_index: int = -100,
                 reduce: None = None, reduction: str = "mean") -> None:
        super().__init__()
        F.unsupported("NLLLoss", weight=weight, size_average=size_average, reduce=reduce)
        self.ignore_index = _ignore_index("NLLLoss", ignore_index)
        self.reduction = _reduction("NLLLoss", reduction)

    def forward(self, input: Tensor, target: Tensor | backend.Array | list) -> Tensor:
        return F.nll_loss(input, target, ignore_index=self.ignore_index, reduction=self.reduction)


class MSELoss(Module):
    """Mean (or summed, or per element) squared error of input and target of one shape: F.mse_loss."""

    def __init__(self, size_average: None = None, reduce: None = None, reduction: str = "mean") -> None:
        super().__init__()
        F.unsupported("MSELoss", size_average=size_average, reduce=reduce)
        self.reduction = _reduction("MSELoss", reduction)

    def forward(self, input: Tensor, target: Tensor | backend.Array | list) -> Tensor:
        return F.mse_loss(input, target, reduction=self.reduction)
