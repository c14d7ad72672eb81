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
        object.__setattr__(self, "_buffers", {})
        object.__setattr__(self, "_non_persistent", set())
        object.__setattr__(self, "_scope_name", None)
        object.__setattr__(self, "training", True)

    def __setattr__(self, name, value):
        if "_parameters" not in self.__dict__:
            raise RuntimeError(f"{type(self).__name__}: call super().__init__() before assigning attributes")
        # replacing a weight or submodule keeps its place in the order (as PyTorch): pop only the other kind
        if isinstance(value, Parameter):
            self._modules.pop(name, None)
            self._buffers.pop(name, None)
            self._parameters[name] = value
        elif isinstance(value, Module):
            self._parameters.pop(name, None)
            self._buffers.pop(name, None)
            self._modules[name] = value
            if value._scope_name is None:
                value._set_scope_name(name)
        elif name in self._buffers:                 # assigning to a buffer replaces its tensor (or None)
            if value is not None and not isinstance(value, Tensor):
                raise TypeError(f"{type(self).__name__}: cannot assign a {type(value).__name__} to buffer "
                                f"{name!r} (a Tensor or None required)")
            self._buffers[name] = value
        else:
            self._parameters.pop(name, None)
            self._modules.pop(name, None)
        object.__setattr__(self, name, value)

    def __delattr__(self, name):
        self._parameters.pop(name, None)
        self._modules.pop(name, None)
        self._buffers.pop(name, None)
        self._non_persistent.discard(name)
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

    def register_buffer(self, name: str, tensor: Tensor | None, persistent: bool = True) -> None:
        """Register `tensor` as state that is not a parameter (running statistics, fixed masks): in state_dict
        unless persistent=False, moved by to() (cast only when floating point), never trained."""
        owner = f"{type(self).__name__}.register_buffer"
        if not isinstance(name, str):
            raise TypeError(f"{owner}: buffer name must be a string, got {type(name).__name__} {name!r}")
        if not name or "." in name:
            raise KeyError(f"{owner}: buffer name must be non-empty and contain no '.', got {name!r}")
        if hasattr(self, name) and name not in self._buffers:
            raise KeyError(f"{owner}: attribute {name!r} already exists")
        if tensor is not None and not isinstance(tensor, Tensor):
            raise TypeError(f"{owner}: cannot assign a {type(tensor).__name__} to buffer {name!r} "
                            "(a Tensor or None required)")
        self._buffers[name] = tensor
        if persistent:
            self._non_persistent.discard(name)
        else:
            self._non_persistent.add(name)
        object.__setattr__(self, name, tensor)

    def add_module(self, name: str, module: Module | None) -> None:
        """Register `module` as the child `name` (as assigning the attribute does)."""
        if not isinstance(name, str) or not name or "." in name:
            raise KeyError(f"{type(self).__name__}.add_module: module name must be a non-empty string without "
                           f"'.', got {name!r}")
        if module is not None and not isinstance(module, Module):
            raise TypeError(f"{type(self).__name__}.add_module: {name!r} must be a Module or None, got "
                            f"{type(module).__name__}")
        if module is None:
            self._modules[name] = None
            object.__setattr__(self, name, None)
        else:
            setattr(self, name, module)

    register_module = add_module

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

    def named_buffers(self, prefix: str = "", recurse: bool = True,
                      remove_duplicate: bool = True) -> Iterator[tuple[str, Tensor]]:
        """(dotted name, buffer) of every registered buffer that is not None (persistent or not)."""
        modules = self.named_modules(prefix, remove_duplicate) if recurse else [(prefix, self)]
        seen = set()
        for mod_name, module in modules:
            for k, b in module._buffers.items():
                if b is not None and (not remove_duplicate or id(b) not in seen):
                    seen.add(id(b))
                    yield (f"{mod_name}.{k}" if mod_name else k), b

    def buffers(self, recurse: bool = True) -> Iterator[Tensor]:
        for _, b in self.named_buffers(recurse=recurse):
            yield b

    def apply(self, fn: Callable[[Module], Any]) -> Module:
        """Call fn(module) on every child (recursively, children first) and then on self; returns self.
        `model.apply(init_weights)` is PyTorch's idiom for custom initialisation."""
        for child in self.children():
            child.apply(fn)
        fn(self)
        return self

    def requires_grad_(self, requires_grad: bool = True) -> Module:
        """Switch gradients of every parameter on or off (freezing a part of a model); returns self."""
        requires_grad = check_bool(f"{type(self).__name__}.requires_grad_", "requires_grad", requires_grad)
        for p in self.parameters():
            p.requires_grad_(requires_grad)
        return self

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
        if dtype is not None and not backend.is_floating(dtype):
            raise TypeError(f"{type(self).__name__}.to: only floating point dtypes are accepted, got {dtype}")
        for p in self.parameters():
            for holder in (p, p.grad):
                if holder is None:
                    continue
                data = holder.data if device is None else backend.to_device(holder.data, device)
                holder.data = data if dtype is None else data.astype(dtype)
        for b in self.buffers():                    # buffers: moved; cast only when floating point (as PyTorch)
            data = b.data if device is None else backend.to_device(b.data, device)
            b.data = data if dtype is None or not backend.is_floating(data.dtype) else data.astype(dtype)
        return self

    def cpu(self) -> Module:
        return self.to("cpu")

    def cuda(self, device: int | str | None = None) -> Module:
        """Move to the GPU (one device: `device` may be None, 0, 'cuda' or 'cuda:0')."""
        if device not in (None, 0, "cuda", "cuda:0"):
            raise ValueError(f"{type(self).__name__}.cuda: minigrad uses one GPU; expected None, 0 or 'cuda', "
                             f"got {device!r}")
        return self.to("cuda")

    def double(self) -> Module:
        return self.to(dtype=backend.float64)

    def float(self) -> Module:
        return self.to(dtype=backend.float32)

    # ------------------------------------------------------------------ state
    def state_dict(self) -> dict[str, Tensor]:
        """{dotted name: Tensor} of every parameter and persistent buffer, each module's parameters then its
        buffers, as PyTorch orders them (the tensors share memory with the module's)."""
        return {name: Tensor._make(t.data) for name, t in self._state_items()}

    def _state_items(self) -> Iterator[tuple[str, Tensor]]:
        """(dotted name, tensor) of what state_dict holds, shared modules and tensors under each name."""
        for mod_name, module in self.named_modules(remove_duplicate=False):
            dot = f"{mod_name}." if mod_name else ""
            for k, p in module._parameters.items():
                if p is not None:
                    yield dot + k, p
            for k, b in module._buffers.items():
                if b is not None and k not in module._non_persistent:
                    yield dot + k, b

    def load_state_dict(self, state_dict: Mapping[str, Tensor | backend.Array],
                        strict: bool = True) -> tuple[list[str], list[str]]:
        """Copy values (Tensors or arrays, e.g. from a PyTorch state_dict converted to NumPy) into the parameters.

        With strict=True, missing keys, unexpected keys and shape mismatches raise one error naming each.
        Returns (missing_keys, unexpected_keys)."""
        own = dict(self._state_items())
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
