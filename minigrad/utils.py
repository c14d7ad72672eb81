"""Gradient checkpointing: trade compute for memory by keeping no activations inside a function.

`checkpoint(fn, *args)` returns fn(*args) but records one node instead of fn's graph. Its forward runs fn
under no_grad, so only the inputs are kept; its backward runs fn again with grad (on detached copies of the
inputs, with the random generator put back where it was so dropout draws the same masks) and backpropagates
the incoming gradients through that fresh graph. Training an RNN over a long sequence split into checkpointed
segments keeps the states at segment boundaries instead of every step's activations.
"""
from typing import Any, Callable

from . import backend
from .autograd import Function, backward, enable_grad, no_grad
from .tensor import Tensor


def checkpoint(fn: Callable[..., Any], *args: Any, preserve_rng_state: bool = True) -> Any:
    """fn(*args), keeping no activations of fn for backward (it is recomputed there).

    args and the result may be Tensors or (nested) tuples/lists holding Tensors and other values. Parameters
    used inside fn get their .grad accumulated when the gradient flows back through this node (so use it with
    backward(); grad() does not see those parameters). First derivatives only: create_graph=True is an error.
    preserve_rng_state=False skips saving the random state (when fn draws no random numbers).
    """
    tensors = []
    template = _template(args, tensors)
    device = tensors[0].device if tensors else "cpu"
    if preserve_rng_state and device != "cpu":
        raise NotImplementedError(f"checkpoint: preserve_rng_state=True needs the random state of {device}, and "
                                  "only the CPU generator's state can be saved (mg.get_rng_state); pass "
                                  "preserve_rng_state=False if fn draws no random numbers")
    # A constant that requires grad, so the node is recorded even when no argument requires grad: the
    # parameters used inside fn still need their gradients.
    anchor = Tensor._make(backend.xp_for(device).zeros(()), True)
    node = Checkpoint(fn, template, preserve_rng_state)
    outputs = node(*tensors, anchor)
    return _fill(node.out_template, iter(outputs))


class Checkpoint(Function):
    """One node for a whole function: forward runs it without a graph, backward runs it again with one."""

    def __init__(self, fn: Callable[..., Any], args_template: Any, preserve_rng_state: bool) -> None:
        self.fn = fn
        self._args_template = args_template
        self._rng_state = None
        self._preserve = preserve_rng_state
        self.out_template = None

    def label(self) -> str:
        return f"Checkpoint({getattr(self.fn, '__name__', type(self.fn).__name__)})"

    def forward(self, *arrays):
        self._arrays = arrays[:-1]                      # the inputs (the last one is the anchor)
        if self._preserve:
            self._rng_state = backend.get_rng_state()
        with no_grad():
            outputs = self.fn(*_fill(self._args_template, (Tensor._make(a) for a in self._arrays)))
        leaves = []
        self.out_template = _template(outputs, leaves)
        if not leaves:
            raise TypeError(f"checkpoint: fn returned {type(outputs).__name__} with no Tensor in it")
        return tuple(t.data for t in leaves)

    def backward(self, *gys):
        if any(isinstance(g, Tensor) for g in gys):
            raise RuntimeError("checkpoint: supports first derivatives only; create_graph=True (a gradient of "
                               "a gradient) cannot pass through a checkpointed function: call fn without it")
        copies = [Tensor._make(a, need) for a, need in zip(self._arrays, self.needs_grad)]
        with _rng_state(self._rng_state), enable_grad():
            outputs = self.fn(*_fill(self._args_template, iter(copies)))
        leaves = []
        _template(outputs, leaves)
        if len(leaves) != len(gys):
            raise RuntimeError(f"checkpoint: fn returned {len(leaves)} tensors when run again for backward, but "
                               f"{len(gys)} the first time (fn must do the same work each time)")
        pairs = [(t, g) for t, g in zip(leaves, gys) if g is not None and t.requires_grad]
        if pairs:
            backward([t for t, _ in pairs], [g for _, g in pairs])
        return tuple(c.grad.data if c.grad is not None else None for c in copies) + (None,)


class _rng_state:
    """Context manager: the CPU generator in `state` inside (None: untouched), as it was before afterwards."""

    def __init__(self, state: dict | None) -> None:
        self.state = state

    def __enter__(self):
        if self.state is not None:
            self._outside = backend.get_rng_state()
            backend.set_rng_state(self.state)

    def __exit__(self, *exc):
        if self.state is not None:
            backend.set_rng_state(self._outside)


# ----------------------------------------------------------------------------- nested arguments and results

class _Slot:
    """Where a Tensor stood in a nested structure."""


_SLOT = _Slot()


def _template(obj: Any, tensors: list) -> Any:
    """obj with each Tensor replaced by _SLOT (the Tensors appended to `tensors`, in order)."""
    if isinstance(obj, Tensor):
        tensors.append(obj)
        return _SLOT
    if isinstance(obj, (tuple, list)):
        items = [_template(x, tensors) for x in obj]
        return _rebuild(obj, items)
    return obj


def _fill(template: Any, tensors: Any) -> Any:
    """The inverse of _template: the structure with the next Tensor from the iterator in each slot."""
    if template is _SLOT:
        return next(tensors)
    if isinstance(template, (tuple, list)):
        return _rebuild(template, [_fill(x, tensors) for x in template])
    return template


def _rebuild(like: tuple | list, items: list) -> tuple | list:
    if isinstance(like, list):
        return items
    return type(like)(*items) if hasattr(like, "_fields") else tuple(items)   # namedtuples too
