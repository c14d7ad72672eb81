"""Feed-forward layers and containers: Linear, Embedding, LayerNorm, Dropout, Sequential, ModuleList."""
from __future__ import annotations

import math
import numbers
from typing import Any, Iterable, Iterator, Sequence

from .. import backend, factories
from ..tensor import Tensor
from . import functional as F
from . import init
from .module import Module, check_bool, check_int, check_probability
from .parameter import Parameter


class Linear(Module):
    """y = x W^T + b, with W of shape (out_features, in_features) as in PyTorch."""

    def __init__(self, in_features: int, out_features: int, bias: bool = True, device: str | None = None,
                 dtype: backend.DType | str | None = None) -> None:
        super().__init__()
        in_features = check_int("Linear", "in_features", in_features, 0)
        out_features = check_int("Linear", "out_features", out_features, 0)
        bias = check_bool("Linear", "bias", bias)
        self.in_features, self.out_features = in_features, out_features
        self.weight = Parameter(factories.zeros(out_features, in_features, device=device, dtype=dtype))
        self.register_parameter("bias", Parameter(factories.zeros(out_features, device=device, dtype=dtype))
                                if bias else None)
        bound = 1 / math.sqrt(in_features) if in_features else 0.0
        for p in self.parameters():
            init.uniform_(p, -bound, bound)

    def forward(self, x: Tensor) -> Tensor:
        return F.linear(x, self.weight, self.bias)

    def extra_repr(self) -> str:
        return f"in_features={self.in_features}, out_features={self.out_features}, bias={self.bias is not None}"


class Embedding(Module):
    """A lookup table: ids of any shape -> vectors, weight (num_embeddings, embedding_dim) ~ N(0, 1).

    padding_idx (negative counts from the end): that row starts at zero and never gets a gradient, so a
    padding token's vector stays zero through training. max_norm, scale_grad_by_freq and sparse are refused.
    """

    def __init__(self, num_embeddings: int, embedding_dim: int, padding_idx: int | None = None,
                 max_norm: float | None = None, norm_type: float = 2.0, scale_grad_by_freq: bool = False,
                 sparse: bool = False, device: str | None = None, dtype: backend.DType | str | None = None) -> None:
        super().__init__()
        num_embeddings = check_int("Embedding", "num_embeddings", num_embeddings, 0)
        embedding_dim = check_int("Embedding", "embedding_dim", embedding_dim, 0)
        F.unsupported("Embedding", max_norm=max_norm, scale_grad_by_freq=scale_grad_by_freq, sparse=sparse)
        if padding_idx is not None:
            if isinstance(padding_idx, bool) or not isinstance(padding_idx, numbers.Integral):
                raise TypeError(f"Embedding: padding_idx must be an int or None, got {type(padding_idx).__name__} "
                                f"{padding_idx!r}")
            if not -num_embeddings <= padding_idx < num_embeddings:
                raise ValueError(f"Embedding: padding_idx must be within num_embeddings: expected "
                                 f"{-num_embeddings} <= padding_idx < {num_embeddings}, got {padding_idx}")
            padding_idx = int(padding_idx) % num_embeddings
        self.num_embeddings, self.embedding_dim, self.padding_idx = num_embeddings, embedding_dim, padding_idx
        self.weight = Parameter(factories.zeros(num_embeddings, embedding_dim, device=device, dtype=dtype))
        init.normal_(self.weight)
        if padding_idx is not None:
            self.weight.data[padding_idx] = 0

    def forward(self, ids: Tensor | backend.Array | list) -> Tensor:
        return F.embedding(ids, self.weight, self.padding_idx)

    def extra_repr(self) -> str:
        pad = "" if self.padding_idx is None else f", padding_idx={self.padding_idx}"
        return f"{self.num_embeddings}, {self.embedding_dim}{pad}"


class LayerNorm(Module):
    """Normalise over the last axes (`normalized_shape`), then scale by `weight` (ones at init) and shift by
    `bias` (zeros); elementwise_affine=False has neither, bias=False no bias. As PyTorch's nn.LayerNorm."""

    def __init__(self, normalized_shape: int | Sequence[int], eps: float = 1e-5, elementwise_affine: bool = True,
                 bias: bool = True, device: str | None = None, dtype: backend.DType | str | None = None) -> None:
        super().__init__()
        self.normalized_shape = F.normalized_shape_tuple("LayerNorm", normalized_shape)
        if isinstance(eps, bool) or not isinstance(eps, numbers.Real) or not eps >= 0:
            raise ValueError(f"LayerNorm: eps must be a number >= 0, got {eps!r}")
        self.eps = float(eps)
        self.elementwise_affine = check_bool("LayerNorm", "elementwise_affine", elementwise_affine)
        bias = check_bool("LayerNorm", "bias", bias)
        shape = self.normalized_shape
        self.register_parameter("weight", Parameter(factories.ones(*shape, device=device, dtype=dtype))
                                if self.elementwise_affine else None)
        self.register_parameter("bias", Parameter(factories.zeros(*shape, device=device, dtype=dtype))
                                if self.elementwise_affine and bias else None)

    def forward(self, x: Tensor) -> Tensor:
        return F.layer_norm(x, self.normalized_shape, self.weight, self.bias, self.eps)

    def extra_repr(self) -> str:
        return (f"{self.normalized_shape}, eps={self.eps}, elementwise_affine={self.elementwise_affine}, "
                f"bias={self.bias is not None}")


class Dropout(Module):
    """Zero each element with probability p while training and scale the rest by 1/(1-p); identity in eval."""

    def __init__(self, p: float = 0.5) -> None:
        super().__init__()
        self.p = check_probability("Dropout", "p", p)

    def forward(self, x: Tensor) -> Tensor:
        return F.dropout(x, self.p, self.training)

    def extra_repr(self) -> str:
        return f"p={self.p}"


class _Container(Module):
    """Modules held in order under the keys '0', '1', ...: indexing, len() and iteration."""

    def __getitem__(self, i: int) -> Module:
        return list(self._modules.values())[i]

    def __len__(self) -> int:
        return len(self._modules)

    def __iter__(self) -> Iterator[Module]:
        return iter(self._modules.values())


class Sequential(_Container):
    """Modules applied one after another; registered as '0', '1', ..."""

    def __init__(self, *modules: Module) -> None:
        super().__init__()
        for i, m in enumerate(modules):
            setattr(self, str(i), m)

    def forward(self, x: Any) -> Any:
        for m in self._modules.values():
            x = m(x)
        return x


class ModuleList(_Container):
    """A list of modules whose parameters the parent module sees."""

    def __init__(self, modules: Iterable[Module] = ()) -> None:
        super().__init__()
        for m in modules:
            self.append(m)

    def append(self, module: Module) -> ModuleList:
        key = str(len(self._modules))
        setattr(self, key, module)
        if self._scope_name is not None:
            module._set_scope_name(f"{self._scope_name}.{key}")
        return self

    def _set_scope_name(self, name):
        # a ModuleList is never called itself, so its entries carry its name: 'layers.0', 'layers.1'
        super()._set_scope_name(name)
        for key, m in self._modules.items():
            if m._scope_name in (None, key):
                m._set_scope_name(f"{name}.{key}")
