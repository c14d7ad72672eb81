"""Jacobians, Hessians and their products with vectors, for functions of tensors (PyTorch's
torch.autograd.functional), all built from `grad` (engine.py).

A Jacobian is taken one output element at a time: row k of d out / d x is one backward pass seeded with the
one-hot vector e_k (a vector-Jacobian product). jvp and hvp use the double-backward trick: u -> u^T J is linear
in u, so its gradient with respect to u in direction v is J v, found with backward passes only.

Conventions (PyTorch's): `inputs` is a Tensor or a tuple of Tensors and `func(*inputs)` returns a Tensor or a
tuple of Tensors. A single Tensor gives un-nested results, a tuple gives a tuple; the Jacobian of outputs[i]
with respect to inputs[j] has shape outputs[i].shape + inputs[j].shape (J[i][j] when both are tuples).
`func` sees fresh copies of the inputs that require grad. Results are detached unless create_graph=True, when
they carry a graph (also back to the given inputs that require grad). An output that does not depend on an
input gives zeros, or an error with strict=True.
"""
from typing import Any, Callable

from .. import backend
from ..tensor import Tensor
from .engine import grad
from .function import Function, enable_grad


def jacobian(func: Callable, inputs: Any, create_graph: bool = False, strict: bool = False) -> Any:
    """d func(*inputs) / d inputs: one Tensor of shape output.shape + input.shape per (output, input) pair."""
    is_in_tuple, inputs = _as_tuple(inputs, "inputs", "jacobian")
    with enable_grad():
        inputs = _prepare(inputs, create_graph, "jacobian")
        is_out_tuple, outputs = _as_tuple(func(*inputs), "the outputs of func", "jacobian")
        rows = _jacobian_rows(outputs, inputs, create_graph, strict, "jacobian", "output")
    return _nest(rows, is_out_tuple, is_in_tuple)


def jacobian_of(outputs: Any, inputs: Any, create_graph: bool = False, strict: bool = False) -> Any:
    """The Jacobian of tensors already computed with respect to tensors of the graph that made them (leaves
    or intermediate results): same shapes and nesting as `jacobian`, one backward pass per output element.

    The graph is kept, so it can be asked again. Example, the exact gradient flow of an RNN: with hidden
    states hs = [h_1, ..., h_T] (each (1, H)) from one forward pass, `jacobian_of(hs[-1], tuple(hs))[t]` is
    dh_T/dh_t of shape (1, H, 1, H) for every t at once, in H backward passes; its norm against T - t shows
    vanishing or exploding gradients.
    """
    is_out_tuple, outputs = _as_tuple(outputs, "outputs", "jacobian_of")
    is_in_tuple, inputs = _as_tuple(inputs, "inputs", "jacobian_of")
    for j, x in enumerate(inputs):
        if not x.requires_grad:
            raise RuntimeError(f"jacobian_of: inputs[{j}] (shape {x.shape}) does not require grad, so it is not "
                               "part of a graph that gradients can be taken through")
    with enable_grad():
        rows = _jacobian_rows(outputs, inputs, create_graph, strict, "jacobian_of", "output")
    return _nest(rows, is_out_tuple, is_in_tuple)


def hessian(func: Callable, inputs: Any, create_graph: bool = False, strict: bool = False) -> Any:
    """Second derivatives of a single-element func: shape inputs[i].shape + inputs[j].shape (H[i][j] for tuples)."""
    is_in_tuple, inputs = _as_tuple(inputs, "inputs", "hessian")
    with enable_grad():
        inputs = _prepare(inputs, create_graph, "hessian")
        out = _scalar_output(func(*inputs), "hessian")
        gs = _vjp((out,), inputs, (None,), True, strict, "hessian")     # the gradient, as a graph
        rows = _jacobian_rows(gs, inputs, create_graph, strict, "hessian", "the gradient w.r.t. input")
    return _nest(rows, is_in_tuple, is_in_tuple)


def vjp(func: Callable, inputs: Any, v: Any = None, create_graph: bool = False, strict: bool = False) -> tuple:
    """(func(*inputs), v^T J): v has the outputs' shapes (None for a single-element output); v^T J the inputs'."""
    is_in_tuple, inputs = _as_tuple(inputs, "inputs", "vjp")
    with enable_grad():
        inputs = _prepare(inputs, create_graph, "vjp")
        is_out_tuple, outputs = _as_tuple(func(*inputs), "the outputs of func", "vjp")
        v = _check_v(v, outputs, "vjp", "outputs")
        result = _vjp(outputs, inputs, v, create_graph, strict, "vjp")
    return _finish(outputs, is_out_tuple, create_graph), _finish(result, is_in_tuple, create_graph)


def jvp(func: Callable, inputs: Any, v: Any = None, create_graph: bool = False, strict: bool = False) -> tuple:
    """(func(*inputs), J v): v has the inputs' shapes (None for a single-element input); J v the outputs'."""
    is_in_tuple, inputs = _as_tuple(inputs, "inputs", "jvp")
    with enable_grad():
        inputs = _prepare(inputs, create_graph, "jvp")
        v = _check_v(v, inputs, "jvp", "inputs")
        is_out_tuple, outputs = _as_tuple(func(*inputs), "the outputs of func", "jvp")
        us = tuple(_zeros(out.shape, out).requires_grad_() for out in outputs)
        u_jacobian = _vjp(outputs, inputs, us, True, strict, "jvp")   # u^T J, linear in u
        result = _vjp(u_jacobian, us, v, create_graph, strict, "jvp", unused="output {} is independent of the inputs")
    return _finish(outputs, is_out_tuple, create_graph), _finish(result, is_out_tuple, create_graph)


def vhp(func: Callable, inputs: Any, v: Any = None, create_graph: bool = False, strict: bool = False) -> tuple:
    """(func(*inputs), v^T H) for a single-element func; v and the result have the inputs' shapes."""
    is_in_tuple, inputs = _as_tuple(inputs, "inputs", "vhp")
    with enable_grad():
        inputs = _prepare(inputs, create_graph, "vhp")
        v = _check_v(v, inputs, "vhp", "inputs")
        out = _scalar_output(func(*inputs), "vhp")
        gs = _vjp((out,), inputs, (None,), True, strict, "vhp")
        result = _vjp(gs, inputs, v, create_graph, strict, "vhp", _GRADIENT_CONSTANT, _GRADIENT_UNUSED)
    return _finish((out,), False, create_graph), _finish(result, is_in_tuple, create_graph)


def hvp(func: Callable, inputs: Any, v: Any = None, create_graph: bool = False, strict: bool = False) -> tuple:
    """(func(*inputs), H v) for a single-element func, by the double-backward trick (equal to vhp when H is
    symmetric, as it is for twice continuously differentiable functions)."""
    is_in_tuple, inputs = _as_tuple(inputs, "inputs", "hvp")
    with enable_grad():
        inputs = _prepare(inputs, create_graph, "hvp")
        v = _check_v(v, inputs, "hvp", "inputs")
        out = _scalar_output(func(*inputs), "hvp")
        gs = _vjp((out,), inputs, (None,), True, strict, "hvp")
        us = tuple(_zeros(x.shape, x).requires_grad_() for x in inputs)
        u_hessian = _vjp(gs, inputs, us, True, strict, "hvp", _GRADIENT_CONSTANT, _GRADIENT_UNUSED)   # u^T H
        result = _vjp(u_hessian, us, v, create_graph, strict, "hvp")
    return _finish((out,), False, create_graph), _finish(result, is_in_tuple, create_graph)


# ----------------------------------------------------------------------------- the pieces

class Identity(Function):
    """y = x as a new node: how an input enters func when create_graph=True, so results link back to it."""

    def forward(self, x):
        return x

    def backward(self, gy):
        return gy


def _as_tuple(x: Any, what: str, fn: str) -> tuple[bool, tuple]:
    """(was it a tuple?, the Tensors as a tuple); lists count as tuples."""
    is_tuple = isinstance(x, (tuple, list))
    xs = tuple(x) if is_tuple else (x,)
    for k, t in enumerate(xs):
        if not isinstance(t, Tensor):
            where = f" (item {k} is a {type(t).__name__})" if is_tuple else f", got a {type(t).__name__}"
            raise TypeError(f"{fn}: {what} must be a Tensor or a tuple of Tensors{where}")
    return is_tuple, xs


def _prepare(inputs: tuple, create_graph: bool, fn: str) -> tuple:
    """What func sees: copies that require grad (linked to the originals with create_graph, if they require grad)."""
    out = []
    for j, x in enumerate(inputs):
        if not backend.is_floating(x.dtype):
            raise TypeError(f"{fn}: inputs[{j}] has dtype {x.dtype} (shape {x.shape}); only floating point inputs "
                            "can be differentiated")
        out.append(Identity()(x) if create_graph and x.requires_grad else Tensor._make(x.data.copy(), True))
    return tuple(out)


def _scalar_output(out: Any, fn: str) -> Tensor:
    if not isinstance(out, Tensor) or out.numel() != 1:
        got = f"shape {out.shape}" if isinstance(out, Tensor) else f"a {type(out).__name__}"
        raise RuntimeError(f"{fn}: func must return a single Tensor with a single element, got {got}")
    return out


def _check_v(v: Any, like: tuple, fn: str, what: str) -> tuple:
    """v as a tuple matching `like` in length and shapes (None: ones, allowed for one single-element tensor)."""
    if v is None:
        if len(like) != 1 or like[0].numel() != 1:
            raise RuntimeError(f"{fn}: v can be None only when the {what} are a single Tensor with a single "
                               f"element, got shapes {[t.shape for t in like]}")
        return (Tensor._make(backend.array_module(like[0].data).ones_like(like[0].data)),)
    _, vs = _as_tuple(v, "v", fn)
    if len(vs) != len(like):
        raise RuntimeError(f"{fn}: v has {len(vs)} tensors, expected {len(like)} (one per item of the {what})")
    for k, (a, b) in enumerate(zip(vs, like)):
        if a.shape != b.shape:
            raise RuntimeError(f"{fn}: v[{k}] has shape {a.shape}, expected the shape {b.shape} of {what}[{k}]")
    return vs


def _zeros(shape: tuple, like: Tensor) -> Tensor:
    return Tensor._make(backend.array_module(like.data).zeros(shape, dtype=like.dtype))


_OUTPUT_CONSTANT = "output {} does not require grad: it was not computed from the inputs"
_INPUT_UNUSED = "the outputs are independent of input {}"
_GRADIENT_CONSTANT = "the gradient w.r.t. input {} does not depend on the inputs (its Hessian rows are zero)"
_GRADIENT_UNUSED = "the gradient does not depend on input {}"


def _vjp(outputs: tuple, inputs: tuple, vs: tuple, create_graph: bool, strict: bool, fn: str,
         constant: str = _OUTPUT_CONSTANT, unused: str = _INPUT_UNUSED) -> tuple:
    """sum_i vs[i]^T d outputs[i] / d inputs[j] for each j; zeros where there is no dependence (with strict=True
    an error: `constant` names an output that is a constant, `unused` an input no output depends on).
    An entry of vs may be None for a single-element output (ones)."""
    used = [k for k, out in enumerate(outputs) if out.requires_grad]
    if strict and len(used) < len(outputs):
        k = next(k for k in range(len(outputs)) if k not in used)
        raise RuntimeError(f"{fn}: {constant.format(k)}; not allowed with strict=True")
    gs = (None,) * len(inputs)
    if used:
        gs = grad([outputs[k] for k in used], inputs, [vs[k] for k in used], retain_graph=True,
                  create_graph=create_graph, allow_unused=True)
    result = []
    for j, (g, x) in enumerate(zip(gs, inputs)):
        if g is None:
            if strict:
                raise RuntimeError(f"{fn}: {unused.format(j)}; not allowed with strict=True")
            g = _zeros(x.shape, x)
        result.append(g)
    return tuple(result)


def _jacobian_rows(outputs: tuple, inputs: tuple, create_graph: bool, strict: bool, fn: str, what: str) -> list:
    """J[i][j] = d outputs[i] / d inputs[j], of shape outputs[i].shape + inputs[j].shape, built one output
    element at a time: the backward pass seeded with e_k gives row k of every J[i][j] at once."""
    rows = []
    for i, out in enumerate(outputs):
        per_input = [[] for _ in inputs]
        if out.requires_grad:
            xp = backend.array_module(out.data)
            for k in range(out.numel()):
                e_k = xp.zeros(out.numel(), dtype=out.dtype)
                e_k[k] = 1
                gs = grad(out, inputs, e_k.reshape(out.shape), retain_graph=True, create_graph=create_graph,
                          allow_unused=True)
                for j, g in enumerate(gs):
                    per_input[j].append(g)
        row = []
        for j, x in enumerate(inputs):
            gs = per_input[j]
            if out.numel() and (not gs or gs[0] is None):   # no path from input j to output i
                if strict:
                    raise RuntimeError(f"{fn}: {what} {i} is independent of input {j}; not allowed with "
                                       "strict=True (without it the Jacobian is zeros)")
                gs = []
            row.append(_stack(gs, out.shape + x.shape, x, create_graph))
        rows.append(tuple(row))
    return rows


def _stack(gs: list, shape: tuple, like: Tensor, create_graph: bool) -> Tensor:
    """The rows stacked and reshaped to `shape` (zeros when there are none)."""
    if not gs:
        return _zeros(shape, like)
    if create_graph:
        from ..ops import stack                       # ops build on autograd: imported when first needed
        return stack(gs, 0).reshape(shape)
    return Tensor._make(backend.array_module(like.data).stack([g.data for g in gs]).reshape(shape))


def _nest(rows: list, is_out_tuple: bool, is_in_tuple: bool) -> Any:
    """PyTorch's nesting: J[i][j] for tuples of outputs and inputs, one level less for each single Tensor."""
    if not is_out_tuple:
        rows = rows[0]
        return rows if is_in_tuple else rows[0]
    return tuple(row if is_in_tuple else row[0] for row in rows)


def _finish(tensors: tuple, is_tuple: bool, create_graph: bool) -> Any:
    tensors = tuple(tensors) if create_graph else tuple(t.detach() for t in tensors)
    return tensors if is_tuple else tensors[0]
