"""Activations as modules, PyTorch's names: nn.Tanh, nn.Sigmoid, nn.ReLU, nn.Softmax, nn.LogSoftmax, nn.Identity.

Each forward is one call of the function of the same name, so `nn.Sequential(nn.Linear(4, 8), nn.ReLU())`
ports as it is.
"""
from __future__ import annotations

import numbers
from typing import Any

from ..tensor import Tensor
from . import functional as F
from .module import Module, check_bool


class Tanh(Module):
    def forward(self, x: Tensor) -> Tensor:
        return x.tanh()


class Sigmoid(Module):
    def forward(self, x: Tensor) -> Tensor:
        return x.sigmoid()


class ReLU(Module):
    """max(x, 0). inplace=True is refused: minigrad has no in-place ops (the result would be the same, but
    the input tensor would not change as a PyTorch user expects)."""

    def __init__(self, inplace: bool = False) -> None:
        super().__init__()
        F.unsupported("ReLU", inplace=check_bool("ReLU", "inplace", inplace))
        self.inplace = False

    def forward(self, x: Tensor) -> Tensor:
        return x.relu()


class _AlongDim(Module):
    """Softmax and LogSoftmax: a function along `dim`, which must be given (PyTorch's implicit choice of
    dim is deprecated, and guessing it silently is how masks end up over the batch axis)."""

    def __init__(self, dim: int | None = None) -> None:
        super().__init__()
        name = type(self).__name__
        if dim is None:
            raise TypeError(f"{name}: give the axis to normalise over, e.g. nn.{name}(dim=-1) (PyTorch's implicit "
                            "dim=None is deprecated and not supported)")
        if isinstance(dim, bool) or not isinstance(dim, numbers.Integral):
            raise TypeError(f"{name}: dim must be an int, got {type(dim).__name__} {dim!r}")
        self.dim = int(dim)

    def extra_repr(self) -> str:
        return f"dim={self.dim}"


class Softmax(_AlongDim):
    def forward(self, x: Tensor) -> Tensor:
        return F.softmax(x, dim=self.dim)


class LogSoftmax(_AlongDim):
    def forward(self, x: Tensor) -> Tensor:
        return F.log_softmax(x, dim=self.dim)


class Identity(Module):
    """Returns its input; any constructor arguments are accepted and ignored (as PyTorch's)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__()

    def forward(self, x: Any) -> Any:
        return x
