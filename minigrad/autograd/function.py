"""Function: one graph node per op application, and the switches every op call reads.

Every op is a subclass of Function with `forward(*arrays)` and `backward(*grads)` side by side.
Calling a Function on tensors runs forward on their arrays and, when gradients are wanted,
records the call as a node: the op, its inputs, what forward saved, and the name scope.
The walk that calls the nodes' backward methods is in engine.py.

One backward serves first and higher derivatives. Normally backward runs on arrays. When a
backward must itself be differentiable (`create_graph=True`), the engine calls the same method
with Tensor gradients and with `self.saved` holding the saved inputs and outputs as Tensors
linked to the graph, so every operation backward does is recorded as new graph nodes.
"""
import functools
import itertools
import weakref
from typing import Any, Callable, Sequence

from .. import backend
from ..tensor import Tensor


class _State:
    """Global switches read on every op call."""
    __slots__ = ("grad_enabled", "scope", "meta", "anomaly")

    def __init__(self):
        self.grad_enabled = True
        self.scope = ()           # tuple of names, e.g. ("encoder", "lstm", "l0", "t=3")
        self.meta = None          # structured facts about the nodes being made, e.g. {"layer": 0, "t": 3}
        self.anomaly = False


_state = _State()
_ids = itertools.count()          # creation counter: stable node ids and tie-breaks


# ----------------------------------------------------------------------------- modes and scopes

class no_grad:
    """Context manager and decorator: ops inside record no graph (inference, optimizer steps)."""
    enabled = False

    def __enter__(self):
        self._prev = _state.grad_enabled
        _state.grad_enabled = self.enabled

    def __exit__(self, *exc):
        _state.grad_enabled = self._prev

    def __call__(self, fn: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(fn)
        def wrapper(*args, **kwargs):
            with type(self)():
                return fn(*args, **kwargs)
        return wrapper


class enable_grad(no_grad):
    """Context manager and decorator: record the graph again inside a no_grad block."""
    enabled = True


def is_grad_enabled() -> bool:
    return _state.grad_enabled


class scope:
    """Context manager naming the nodes created inside it: `with mg.scope('t=3'): ...`.

    Scopes nest; each node records the tuple of names active when it was created (viz groups by it).
    """
    __slots__ = ("name", "_prev")

    def __init__(self, name: str) -> None:
        self.name = str(name)

    def __enter__(self):
        self._prev = _state.scope
        _state.scope = self._prev + (self.name,)
        return self

    def __exit__(self, *exc):
        _state.scope = self._prev


def current_scope() -> tuple[str, ...]:
    return _state.scope


class annotate:
    """Context manager: nodes created inside it carry these facts in `node.meta` (a dict).

    The recurrent loop says which layer, direction, time step, cell kind and granularity a node belongs
    to (`with annotate(layer=0, t=3): ...`); pictures group nodes by these facts, never by parsing names.
    Annotations nest: an inner one adds to (or overrides) the outer one's keys.
    """
    __slots__ = ("facts", "_prev")

    def __init__(self, **facts: Any) -> None:
        self.facts = facts

    def __enter__(self):
        self._prev = _state.meta
        _state.meta = {**self._prev, **self.facts} if self._prev else dict(self.facts)
        return self

    def __exit__(self, *exc):
        _state.meta = self._prev


def current_meta() -> dict[str, Any]:
    """The facts that nodes created now would carry (a dict; empty outside any annotate block)."""
    return dict(_state.meta or {})


class detect_anomaly:
    """Context manager: the first op whose forward output or backward gradient holds NaN/Inf
    raises a RuntimeError naming the op and its scope."""

    def __init__(self, enabled: bool = True) -> None:
        self.enabled = enabled

    def __enter__(self):
        self._prev = _state.anomaly
        _state.anomaly = self.enabled

    def __exit__(self, *exc):
        _state.anomaly = self._prev


def _check_finite(node, arrays, what):
    for i, a in enumerate(arrays):
        if a is not None and a.dtype.kind == "f" and not bool(backend.array_module(a).isfinite(a).all()):
            where = "/".join(node.scope) or "<top level>"
            raise RuntimeError(f"detect_anomaly: {node.name} (node #{node.id}, scope '{where}') "
                               f"produced NaN or Inf in its {what} {i} (shape {tuple(a.shape)})")


# ----------------------------------------------------------------------------- errors

def describe(arrays: Sequence[backend.Array]) -> str:
    """'float32[2, 3] on cpu, int64[5] on cpu': the inputs as error messages name them."""
    return ", ".join(f"{a.dtype}{list(a.shape)} on {backend.device_of(a)}" for a in arrays)


def op_error(exc_type: type[Exception], op: str, message: str) -> Exception:
    """An exception whose text starts with the op's name (and scope); marked so it is not wrapped twice."""
    where = f" (in scope '{'/'.join(_state.scope)}')" if _state.scope else ""
    err = exc_type(f"{op}{where}: {message}")
    err._minigrad_named = True
    return err


# ----------------------------------------------------------------------------- Function

def sum_to(g: backend.Array, shape: tuple[int, ...]) -> backend.Array:
    """Sum gradient `g` down to `shape`: the backward of NumPy broadcasting."""
    if g.shape == shape:
        return g
    lead = g.ndim - len(shape)
    axes = tuple(range(lead)) + tuple(lead + i for i, n in enumerate(shape) if n == 1 and g.shape[lead + i] != 1)
    return g.sum(axis=axes, keepdims=True).reshape(shape)


class Function:
    """Base class of every differentiable op; an instance is one node of the graph.

    Subclasses define `forward(self, *arrays) -> array (or tuple of arrays)` and
    `backward(self, *grads) -> one gradient (or None) per input`. Forward keeps the inputs and outputs
    that backward differentiates through in `self.saved` (a tuple of forward's own arrays); other things
    kept on `self` (shapes, masks, indices) are constants of the derivative.
    `self.needs_grad[i]` tells backward whether input i wants a gradient. A recorded node also carries
    `scope` (the names active when it was made), `meta` (the facts of `annotate`, or None) and `id`.

    Higher derivatives: a backward written with operations that Tensors also have (operators, methods,
    `namespace(gy)` for functions such as where/exp) is differentiated as it is. An op whose backward is
    array code (a fused kernel) instead defines `decompose(*inputs) -> output(s)`: the same function in
    plain ops, which the engine differentiates when a graph of the gradient is wanted.
    """
    __slots__ = ("inputs", "needs_grad", "n_out", "scope", "meta", "id", "_retained", "_hooks", "_released",
                 "__dict__", "__weakref__")
    saved = ()                     # forward's inputs and outputs that backward reads (most ops keep none)
    decompose = None               # optional: the op written in plain ops (for higher derivatives)

    @property
    def name(self) -> str:
        return type(self).__name__

    @property
    def released(self) -> bool:
        """True once backward() has freed what this node saved (the graph behind it can't be walked)."""
        return self._released

    def saved_as_tensors(self) -> tuple:
        """`saved` as Tensors in the graph: the node's own input tensors, and its outputs as tensors of this
        node. The engine puts these in `saved` while backward runs with create_graph=True."""
        outputs = vars(self).get("_output_ids")      # (only a node of several outputs that saves one)
        out = []
        for a in self.saved:
            t = next((x for x in self.inputs if x.data is a), None)
            if t is None:                            # not an input: an output
                t = Tensor._make(a, True, self, outputs.index(id(a)) if outputs else 0)
            out.append(t)
        return tuple(out)

    def label(self) -> str:
        """How a picture names this node: the op's name (subclasses add what tells applications apart)."""
        return self.name

    def attributes(self) -> dict[str, Any]:
        """The op's static arguments for pictures: public attributes that are plain values (no arrays)."""
        return {k: v for k, v in vars(self).items() if not k.startswith("_") and _is_plain(v)}

    def __call__(self, *inputs: Tensor | float | backend.Array) -> Any:   # a Tensor (a tuple for several outputs)
        """Run forward on the inputs' arrays; record this node when any input requires grad."""
        tensors, arrays = inputs, []
        for x in inputs:
            if not isinstance(x, Tensor):
                tensors = _lift_inputs(inputs)
                arrays = [t.data for t in tensors]
                break
            arrays.append(x.data)
        kind = type(arrays[0])
        for a in arrays:
            if type(a) is not kind and backend.device_of(a) != backend.device_of(arrays[0]):
                raise op_error(RuntimeError, self.name, f"expected all inputs on one device, got {describe(arrays)}")
        try:
            out = self.forward(*arrays)
        except (ValueError, IndexError, TypeError) as e:
            if getattr(e, "_minigrad_named", False):
                raise
            raise op_error(type(e) if type(e) in (ValueError, IndexError, TypeError) else ValueError,
                           self.name, f"{e} (inputs: {describe(arrays)})") from None
        multi = type(out) is tuple
        if not multi and type(out) is not kind and not backend.is_array(out):   # a NumPy scalar from a 0-d op
            scalar, out = out, backend.array_module(arrays[0]).asarray(out)
            if self.saved:
                self.saved = tuple([out if a is scalar else a for a in self.saved])
        if _state.anomaly:
            self.scope, self.id = _state.scope, -1
            _check_finite(self, out if multi else (out,), "output")

        requires = False
        if _state.grad_enabled:
            needs = tuple([t._requires_grad for t in tensors])
            requires = True in needs
        if not requires:
            return tuple([Tensor._make(o) for o in out]) if multi else Tensor._make(out)
        self.inputs = tensors
        self.needs_grad = needs
        self.scope = _state.scope
        self.meta = _state.meta
        self.id = next(_ids)
        self._retained = None
        self._hooks = None
        self._released = False
        if multi:
            if self.saved:              # which outputs were saved (ids are unique while they live)
                self._output_ids = tuple([id(o) for o in out])
            self.n_out = len(out)
            return tuple([Tensor._make(o, True, self, i) for i, o in enumerate(out)])
        self.n_out = 1
        return Tensor._make(out, True, self, 0)

    def forward(self, *arrays: backend.Array) -> backend.Array | tuple[backend.Array, ...]:
        raise NotImplementedError

    def backward(self, *grads: backend.Array | None) -> backend.Array | None | tuple[backend.Array | None, ...]:
        raise NotImplementedError

    def retain_output(self, tensor: Tensor) -> None:
        if self._retained is None:
            self._retained = {}
        self._retained[tensor._index] = weakref.ref(tensor)

    def output_hooks(self, index: int) -> dict:
        """The hooks registered on output `index` of this node (Tensor.register_hook on a non-leaf)."""
        if self._hooks is None:
            self._hooks = {}
        return self._hooks.setdefault(index, {})

    def release(self) -> None:
        """Drop saved arrays and links to inputs; the graph can no longer be walked backward."""
        vars(self).clear()
        self.inputs = ()
        self._released = True

    def __repr__(self):
        return f"<{self.name} node #{getattr(self, 'id', '?')}>"


_PLAIN = (int, float, str, bool, type(None), type(Ellipsis), slice)


def _is_plain(v):
    if isinstance(v, tuple):
        return len(v) <= 8 and all(isinstance(x, _PLAIN) for x in v)
    return isinstance(v, _PLAIN)


def namespace(x: backend.Array | Tensor) -> Any:
    """The functions (where, exp, stack, ...) for x's kind: NumPy/CuPy for arrays, graph-recording ops with
    NumPy's names for Tensors. A backward written with it runs on both (see Function)."""
    if isinstance(x, Tensor):
        from ..ops.namespace import tensor_namespace
        return tensor_namespace(x)
    return backend.array_module(x)


def _lift_inputs(inputs):
    """Tensors pass through; Python numbers and arrays become constant tensors.

    A Python number takes the dtype and device of the first tensor input (so `x * 2` stays float32); a host
    (NumPy) array constant moves to that tensor's device. A Tensor on another device is left to the device check.
    """
    like = None
    for x in inputs:
        if isinstance(x, Tensor):
            like = x
            break
    out = []
    for x in inputs:
        if isinstance(x, Tensor):
            out.append(x)
        elif backend.is_array(x):
            if like is not None and backend.device_of(x) != like.device:
                x = backend.to_device(x, like.device)
            out.append(Tensor._make(x))
        elif isinstance(x, (int, float, bool)) and like is not None:
            dtype = like.data.dtype
            if isinstance(x, float) and dtype.kind != "f":
                dtype = backend.default_dtype()
            out.append(Tensor._make(backend.scalar_array(x, dtype, like.data)))
        else:                                       # NumPy scalars, lists: on the first tensor's device
            out.append(Tensor(x) if like is None else Tensor(x, device=like.device))
    return tuple(out)
