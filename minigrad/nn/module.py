"""Module: the base class of layers and models.

Assigning a Parameter or a Module to an attribute registers it, so `parameters()`, `state_dict()` and
`to(device)` find every weight by walking the tree of modules. Calling a module opens a name scope
(its attribute name inside its parent) so every graph node knows which module made it.

Hooks (PyTorch's names): forward pre-hooks and forward hooks see and may replace a call's arguments and
output; full backward hooks see the gradients with respect to a call's inputs and outputs. They are not
state: state_dict never holds them.
"""
from __future__ import annotations

import contextlib
import numbers
from typing import Any, Callable, Iterator, Mapping

from .. import backend
from ..autograd import is_grad_enabled, no_grad, scope
from ..autograd.hooks import RemovableHandle, add_hook
from ..tensor import Tensor
from .hooks import ModuleHooks, BackwardHookCall
from .parameter import Parameter


class Module:
    _module_hooks = None     # a ModuleHooks once a hook is registered: __call__ checks only this

    def __init__(self) -> None:
        object.__setattr__(self, "_parameters", {})
        object.__setattr__(self, "_modules", {})
        object.__setattr__(self, "_scope_name", None)
        object.__setattr__(self, "training", True)

    def __setattr__(self, name, value):
        if "_parameters" not in self.__dict__:
            raise RuntimeError(f"{type(self).__name__}: call super().__init__() before assigning attributes")
        # replacing a weight or submodule keeps its place in the order (as PyTorch): pop only the other kind
        if isinstance(value, Parameter):
            self._modules.pop(name, None)
            self._parameters[name] = value
        elif isinstance(value, Module):
            self._parameters.pop(name, None)
            self._modules[name] = value
            if value._scope_name is None:
                value._set_scope_name(name)
        else:
            self._parameters.pop(name, None)
            self._modules.pop(name, None)
        object.__setattr__(self, name, value)

    def __delattr__(self, name):
        self._parameters.pop(name, None)
        self._modules.pop(name, None)
        object.__delattr__(self, name)

    def _set_scope_name(self, name):
        """The name this module's nodes are scoped under (its attribute name in its parent)."""
        object.__setattr__(self, "_scope_name", name)

    def register_parameter(self, name: str, param: Parameter | None) -> None:
        """Register `param` (a Parameter, or None for an absent optional weight such as a bias)."""
        if param is None:
            self._parameters.pop(name, None)
            object.__setattr__(self, name, None)
        else:
            setattr(self, name, param)

    def forward(self, *args: Any, **kwargs: Any) -> Any:
        raise NotImplementedError(f"{type(self).__name__} must define forward()")

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        if self._module_hooks is not None:
            return self._call_with_hooks(args, kwargs)
        if self._scope_name is None:
            return self.forward(*args, **kwargs)
        with scope(self._scope_name):
            return self.forward(*args, **kwargs)

    # ------------------------------------------------------------------ hooks
    def register_forward_pre_hook(self, hook: Callable[[Module, tuple], Any]) -> RemovableHandle:
        """Call `hook(module, args)` before forward; a non-None result replaces args (a single value is
        wrapped in a tuple). Hooks run in registration order; `handle.remove()` unregisters."""
        return add_hook(self._hooks().forward_pre, hook)

    def register_forward_hook(self, hook: Callable[[Module, tuple, Any], Any]) -> RemovableHandle:
        """Call `hook(module, args, output)` after forward; a non-None result replaces the output."""
        return add_hook(self._hooks().forward, hook)

    def register_full_backward_hook(self, hook: Callable[[Module, tuple, tuple], Any]) -> RemovableHandle:
        """Call `hook(module, grad_input, grad_output)` when the gradients with respect to a call's inputs are
        known. grad_input: one entry per positional argument (None unless it is a Tensor that requires grad);
        grad_output: one per output (the output itself or the items of an output tuple; None for non-Tensors).
        A non-None result (a tuple as long as grad_input) replaces grad_input."""
        return add_hook(self._hooks().backward, hook)

    def _hooks(self) -> ModuleHooks:
        if self._module_hooks is None:
            object.__setattr__(self, "_module_hooks", ModuleHooks())
        return self._module_hooks

    def _call_with_hooks(self, args: tuple, kwargs: dict) -> Any:
        """__call__ when hooks are registered: pre-hooks, identity nodes for backward hooks, forward hooks."""
        hooks = self._module_hooks
        with scope(self._scope_name) if self._scope_name is not None else contextlib.nullcontext():
            for hook in list(hooks.forward_pre.values()):
                new = hook(self, args)
                if new is not None:
                    args = new if isinstance(new, tuple) else (new,)
            call = BackwardHookCall(self, hooks.backward) if hooks.backward and is_grad_enabled() else None
            if call is not None:
                args = call.wrap_inputs(args)
            output = self.forward(*args, **kwargs)
            for hook in list(hooks.forward.values()):
                new = hook(self, args, output)
                if new is not None:
                    output = new
            if call is not None:
                output = call.wrap_outputs(output)
        return output

    # ------------------------------------------------------------------ the tree of modules
    def named_modules(self, prefix: str = "", remove_duplicate: bool = True) -> Iterator[tuple[str, Module]]:
        """(dotted name, module) for this module and every descendant, depth first, each once
        (remove_duplicate=False: a shared module under each of its names, as state_dict lists them)."""
        seen, stack = set(), [(prefix, self)]
        while stack:
            name, module = stack.pop()
            if remove_duplicate and id(module) in seen:
                continue
            seen.add(id(module))
            yield name, module
            children = [(f"{name}.{k}" if name else k, m) for k, m in module._modules.items() if m is not None]
            stack.extend(reversed(children))

    def modules(self) -> Iterator[Module]:
        for _, m in self.named_modules():
            yield m

    def named_children(self) -> Iterator[tuple[str, Module]]:
        yield from ((k, m) for k, m in self._modules.items() if m is not None)

    def children(self) -> Iterator[Module]:
        for _, m in self.named_children():
            yield m

    def named_parameters(self, prefix: str = "", remove_duplicate: bool = True) -> Iterator[tuple[str, Parameter]]:
        """(dotted name, Parameter), e.g. ('encoder.lstm.weight_ih_l0', ...); shared parameters once
        (remove_duplicate=False: under each of their names, e.g. tied weights, as PyTorch's state_dict)."""
        seen = set()
        for mod_name, module in self.named_modules(prefix, remove_duplicate):
            for k, p in module._parameters.items():
                if p is not None and (not remove_duplicate or id(p) not in seen):
                    seen.add(id(p))
                    yield (f"{mod_name}.{k}" if mod_name else k), p

    def parameters(self) -> Iterator[Parameter]:
        for _, p in self.named_parameters():
            yield p

    # ------------------------------------------------------------------ modes, devices, gradients
    def train(self, mode: bool = True) -> Module:
        for m in self.modules():
            object.__setattr__(m, "training", mode)
        return self

    def eval(self) -> Module:
        return self.train(False)

    def zero_grad(self) -> None:
        for p in self.parameters():
            p.grad = None

    def to(self, device: str | backend.DType | None = None, dtype: backend.DType | str | None = None) -> Module:
        """Move (and/or cast) every parameter in place; returns self. `m.to('cuda')`, `m.to(mg.float64)`."""
        device, dtype = backend.to_arguments(device, dtype, f"{type(self).__name__}.to")
        for p in self.parameters():
            for holder in (p, p.grad):
                if holder is None:
                    continue
                data = holder.data if device is None else backend.to_device(holder.data, device)
                holder.data = data if dtype is None else data.astype(dtype)
        return self

    def double(self) -> Module:
        return self.to(dtype=backend.float64)

    def float(self) -> Module:
        return self.to(dtype=backend.float32)

    # ------------------------------------------------------------------ state
    def state_dict(self) -> dict[str, Tensor]:
        """{dotted name: Tensor} of every parameter (the tensors share memory with the parameters)."""
        return {name: Tensor._make(p.data) for name, p in self.named_parameters(remove_duplicate=False)}

    def load_state_dict(self, state_dict: Mapping[str, Tensor | backend.Array],
                        strict: bool = True) -> tuple[list[str], list[str]]:
        """Copy values (Tensors or arrays, e.g. from a PyTorch state_dict converted to NumPy) into the parameters.

        With strict=True, missing keys, unexpected keys and shape mismatches raise one error naming each.
        Returns (missing_keys, unexpected_keys)."""
        own = dict(self.named_parameters(remove_duplicate=False))
        missing = [k for k in own if k not in state_dict]
        unexpected = [k for k in state_dict if k not in own]
        problems = []
        for k, p in own.items():
            if k in state_dict:
                value = state_dict[k]
                shape = tuple(value.shape)
                if shape != p.shape:
                    problems.append(f"{k}: expected shape {p.shape}, got {shape}")
        if strict and (missing or unexpected):
            problems += [f"missing key {k!r}" for k in missing] + [f"unexpected key {k!r}" for k in unexpected]
        if problems:
            raise RuntimeError(f"load_state_dict for {type(self).__name__}: " + "; ".join(problems))
        with no_grad():
            for k, p in own.items():
                if k in state_dict:
                    value = state_dict[k]
                    array = value.data if isinstance(value, Tensor) else backend.host_array(value, p.dtype)
                    p.data[...] = backend.to_device(array, p.device).astype(p.dtype, copy=False)
        return missing, unexpected

    # ------------------------------------------------------------------ printing
    def extra_repr(self) -> str:
        return ""

    def __repr__(self):
        lines = [f"({k}): " + repr(m).replace("\n", "\n  ") for k, m in self.named_children()]
        head = f"{type(self).__name__}({self.extra_repr()}"
        return head + ")" if not lines else head + "\n  " + "\n  ".join(lines) + "\n)"


# ----------------------------------------------------------------------------- argument checks for constructors

def check_int(owner: str, arg: str, value: Any, minimum: int = 1) -> int:
    """`value` as an int >= minimum, or a TypeError/ValueError naming `owner`, `arg` and what was expected."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{owner}: {arg} must be an int >= {minimum}, got {type(value).__name__} {value!r}")
    if value < minimum:
        raise ValueError(f"{owner}: {arg} must be an int >= {minimum}, got {value}")
    return int(value)


def check_probability(owner: str, arg: str, value: Any) -> float:
    """`value` as a float in [0, 1), or a TypeError/ValueError naming `owner` and `arg`."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{owner}: {arg} must be a float in [0, 1), got {type(value).__name__} {value!r}")
    if not 0 <= value < 1:
        raise ValueError(f"{owner}: {arg} must be a float in [0, 1), got {value}")
    return float(value)


def check_bool(owner: str, arg: str, value: Any) -> bool:
    """`value` as a bool (True/False, 0/1 or a NumPy bool), or a TypeError naming `owner` and `arg`."""
    is_flag = isinstance(value, numbers.Integral) or getattr(getattr(value, "dtype", None), "kind", None) == "b"
    if not is_flag or value not in (0, 1):
        raise TypeError(f"{owner}: {arg} must be True or False, got {type(value).__name__} {value!r}")
    return bool(value)
