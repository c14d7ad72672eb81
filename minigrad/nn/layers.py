"""Feed-forward layers and containers: Linear, Embedding, Dropout, Sequential, ModuleList."""
from __future__ import annotations

import math
from typing import Any, Iterable, Iterator

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
    """A lookup table: ids of any shape -> vectors, weight (num_embeddings, embedding_dim) ~ N(0, 1)."""

    def __init__(self, num_embeddings: int, embedding_dim: int, device: str | None = None,
                 dtype: backend.DType | str | None = None) -> None:
        super().__init__()
        num_embeddings = check_int("Embedding", "num_embeddings", num_embeddings, 0)
        embedding_dim = check_int("Embedding", "embedding_dim", embedding_dim, 0)
        self.num_embeddings, self.embedding_dim = num_embeddings, embedding_dim
        self.weight = Parameter(factories.zeros(num_embeddings, embedding_dim, device=device, dtype=dtype))
        init.normal_(self.weight)

    def forward(self, ids: Tensor | backend.Array | list) -> Tensor:
        return F.embedding(ids, self.weight)

    def extra_repr(self) -> str:
        return f"{self.num_embeddings}, {self.embedding_dim}"


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
