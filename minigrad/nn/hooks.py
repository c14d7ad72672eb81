"""Module hooks' machinery: where a module keeps its hooks, and the identity nodes that give full backward
hooks the gradients with respect to a call's inputs and outputs (Module.register_full_backward_hook)."""
from __future__ import annotations

from typing import Any

from .. import backend
from ..autograd import Function
from ..tensor import Tensor

Module = Any        # minigrad.nn.module.Module (not imported: it imports this file)


class ModuleHooks:
    """A module's hooks, each kind in an ordered dict {handle id: hook} (made on the first registration)."""
    __slots__ = ("forward_pre", "forward", "backward")

    def __init__(self) -> None:
        self.forward_pre, self.forward, self.backward = {}, {}, {}


class BackwardHook(Function):
    """Identity on several tensors, put around a module call's inputs and around its outputs (as PyTorch does).

    Its backward passes the gradients through unchanged and tells `call`: around the outputs it records
    grad_output; around the inputs it runs the module's backward hooks, which may replace grad_input.
    The gradients are arrays, or Tensors when a graph of the gradient is being built (create_graph=True).
    """

    def __init__(self, call: BackwardHookCall, side: str) -> None:
        self._call, self.side = call, side

    def forward(self, *xs):
        return xs

    def backward(self, *gys):
        if self.side == "outputs":
            return self._call.outputs_backward(gys)
        return self._call.inputs_backward(tuple(g if need else None for g, need in zip(gys, self.needs_grad)))


class BackwardHookCall:
    """One call of a module that has full backward hooks: wraps its inputs and outputs in BackwardHook nodes."""

    def __init__(self, module: Module, hooks: dict) -> None:
        self.module, self.hooks = module, hooks
        self.n_args, self.input_slots, self.input_shapes = 0, [], {}
        self.n_out, self.output_slots = 1, []
        self.grad_output = None

    def wrap_inputs(self, args: tuple) -> tuple:
        """The args with each Tensor that requires grad replaced by an output of one BackwardHook node."""
        self.n_args = len(args)
        self.input_slots = [k for k, a in enumerate(args) if isinstance(a, Tensor) and a.requires_grad]
        if not self.input_slots:
            return args
        self.input_shapes = {k: args[k].shape for k in self.input_slots}
        wrapped = BackwardHook(self, "inputs")(*[args[k] for k in self.input_slots])
        args = list(args)
        for k, t in zip(self.input_slots, wrapped):
            args[k] = t
        return tuple(args)

    def wrap_outputs(self, output: Any) -> Any:
        """The output (a Tensor or a tuple) with its Tensors that require grad passed through a BackwardHook."""
        items = output if isinstance(output, tuple) else (output,)
        self.n_out = len(items)
        self.output_slots = [k for k, a in enumerate(items) if isinstance(a, Tensor) and a.requires_grad]
        if not self.output_slots:
            return output
        wrapped = BackwardHook(self, "outputs")(*[items[k] for k in self.output_slots])
        items = list(items)
        for k, t in zip(self.output_slots, wrapped):
            items[k] = t
        return tuple(items) if isinstance(output, tuple) else items[0]

    def outputs_backward(self, gys: tuple) -> tuple:
        self.grad_output = _spread(gys, self.output_slots, self.n_out)
        if not self.input_slots:                    # no input wants a gradient: the hooks run now
            for hook in list(self.hooks.values()):
                new = hook(self.module, (None,) * self.n_args, self.grad_output)
                if new is not None and any(g is not None for g in new):
                    raise RuntimeError(f"{type(self.module).__name__} backward hook: no input of this call "
                                       "requires grad, so the hook must return None (or all None)")
        return gys

    def inputs_backward(self, gys: tuple) -> tuple:
        grad_input = _spread(gys, self.input_slots, self.n_args)
        grad_output = self.grad_output or (None,) * self.n_out
        for hook in list(self.hooks.values()):
            new = hook(self.module, grad_input, grad_output)
            if new is None:
                continue
            new = tuple(new) if isinstance(new, (tuple, list)) else (new,)
            if len(new) != len(grad_input):
                raise RuntimeError(f"{type(self.module).__name__} backward hook returned {len(new)} gradients, "
                                   f"expected {len(grad_input)} (one per positional argument)")
            grad_input = new
        create_graph = any(isinstance(g, Tensor) for g in gys)
        return tuple(_unwrap(grad_input[k], self.input_shapes[k], create_graph, k, self.module)
                     for k in self.input_slots)


def _spread(gys: tuple, slots: list, n: int) -> tuple:
    """Gradients for the wrapped positions as Tensors, None elsewhere: what hooks see."""
    out = [None] * n
    for k, g in zip(slots, gys):
        if g is not None:
            out[k] = g if isinstance(g, Tensor) else Tensor._make(g)
    return tuple(out)


def _unwrap(g: Any, shape: tuple, create_graph: bool, k: int, module: Module) -> Any:
    """A hook's gradient back in the engine's kind: an array, or a Tensor when create_graph is on."""
    if g is None:
        return None
    if not isinstance(g, Tensor) and not backend.is_array(g):
        raise TypeError(f"{type(module).__name__} backward hook: grad_input[{k}] is a {type(g).__name__}, "
                        "expected a Tensor or None")
    if tuple(g.shape) != shape:
        raise RuntimeError(f"{type(module).__name__} backward hook: grad_input[{k}] has shape {tuple(g.shape)}, "
                           f"expected the input's shape {shape}")
    if create_graph:
        return g if isinstance(g, Tensor) else Tensor._make(g)
    return g.data if isinstance(g, Tensor) else g
