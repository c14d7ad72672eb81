"""The backward walk: `backward()` fills the .grad of leaves, `grad()` returns gradients and touches no .grad.

The walk orders the nodes without recursion: each node (and each leaf) waits until all its consumers
have sent their gradients, then its tensor hooks run, its backward is called once, and (unless the graph
is retained) what it saved is released. With `create_graph=True` the gradients are Tensors and every
backward records new nodes, so a gradient is itself a graph that can be differentiated again.
"""
from typing import Sequence

from .. import backend
from ..tensor import Tensor
from .function import Function, _check_finite, _state


def backward(tensors: Tensor | Sequence[Tensor], grad_tensors=None, retain_graph: bool | None = None,
             create_graph: bool = False) -> None:
    """Accumulate d(sum of tensors)/d(leaf) into every leaf's .grad (and into tensors that retain_grad()).

    `grad_tensors`: one gradient per tensor (required for tensors of more than one element). With
    `create_graph=True` the .grad tensors carry a graph, so they can be differentiated again;
    `retain_graph` defaults to `create_graph`.
    """
    roots, seeds = _roots_and_seeds("backward", tensors, grad_tensors, create_graph)
    _walk(roots, seeds, create_graph if retain_graph is None else retain_graph, create_graph)


def grad(outputs: Tensor | Sequence[Tensor], inputs: Tensor | Sequence[Tensor], grad_outputs=None,
         retain_graph: bool | None = None, create_graph: bool = False, allow_unused: bool = False
         ) -> tuple[Tensor | None, ...]:
    """The gradients of `outputs` with respect to `inputs`, as a tuple with one entry per input.

    Nothing is accumulated into any .grad. `grad_outputs` are the vectors of the vector-Jacobian product
    (implied ones for single-element outputs). An input the outputs do not depend on is an error, or None
    with `allow_unused=True`. With `create_graph=True` the results carry a graph (higher derivatives).
    """
    inputs = (inputs,) if isinstance(inputs, Tensor) else tuple(inputs)
    for k, t in enumerate(inputs):
        if not isinstance(t, Tensor):
            raise TypeError(f"grad: inputs[{k}] is a {type(t).__name__}, expected a Tensor")
        if not t.requires_grad:
            raise RuntimeError(f"grad: inputs[{k}] (shape {t.shape}) does not require grad, so no gradient "
                               "can be taken with respect to it")
    roots, seeds = _roots_and_seeds("grad", outputs, grad_outputs, create_graph)
    found = _walk(roots, seeds, create_graph if retain_graph is None else retain_graph, create_graph, inputs)
    result = []
    for k, t in enumerate(inputs):
        g = found.get(_key(t))
        if g is None and not allow_unused:
            raise RuntimeError(f"grad: inputs[{k}] (shape {t.shape}) was not used to compute the outputs, so it "
                               "has no gradient; pass allow_unused=True to get None for it")
        if g is not None and not isinstance(g, Tensor):
            g = Tensor._make(g.astype(t.data.dtype, copy=False) if g.dtype != t.data.dtype else g)
        result.append(g)
    return tuple(result)


# ----------------------------------------------------------------------------- the walk

def _key(t):
    """How the walk names a tensor: a leaf by itself, a computed tensor by (its node, its output index)."""
    return t if t.grad_fn is None else (t.grad_fn, t._index)


def _walk(roots, seeds, retain_graph, create_graph, targets=None, stop_at_targets=False):
    """Send gradients from `roots` (seeded with `seeds`) back through the graph.

    Without `targets`, leaves accumulate them into .grad (a leaf with hooks first waits for all of them).
    With targets (tensors), return {key: gradient} for them instead, touch no .grad, and run only the nodes
    that lead to a target. `stop_at_targets` does not walk past the targets (used when every path from the
    roots ends at a target, as in `decompose`).
    """
    wanted = None if targets is None else {_key(t) for t in targets}
    pending = _count_consumers(roots, wanted if stop_at_targets else None, all_leaves=wanted is not None)
    if wanted is not None:
        pending = _prune(pending, wanted, stop_at_targets)
    found = {}
    grads = {}                                   # node -> {output index: gradient}; waiting leaf -> gradient
    ready = [n for n, count in pending.items() if count == 0]
    for t, g in zip(roots, seeds):
        key = _key(t)
        if wanted is not None and stop_at_targets and key in wanted:
            found[key] = g                       # a root that is a target is found as it is
        elif t.grad_fn is None and t not in pending:
            _accumulate(t, g, create_graph)      # a root that is a leaf without hooks
        else:
            _send(grads, key, g)
    prev = _state.grad_enabled, _state.scope, _state.meta
    _state.grad_enabled = create_graph
    anomaly = _state.anomaly
    try:
        while ready:
            node = ready.pop()
            g = grads.pop(node, None)
            if isinstance(node, Tensor):         # a waiting leaf: every gradient for it has arrived
                if g is not None:
                    g = _run_hooks(node._hooks, g, create_graph)
                    if wanted is not None:
                        found[node] = g
                    elif node._requires_grad:
                        _accumulate(node, g, create_graph)
                continue
            if node._released:
                raise _released_error(node)
            gxs = None
            if g is not None:
                if node._hooks:
                    for i, hooks in node._hooks.items():
                        if i in g:
                            g[i] = _run_hooks(hooks, g[i], create_graph)
                if wanted is not None:
                    for i, gi in g.items():
                        if (node, i) in wanted:
                            found[(node, i)] = gi
                    if any(_source(t) in pending or (stop_at_targets and _key(t) in wanted) for t in node.inputs):
                        gxs = _node_backward(node, g, create_graph)   # (skip nodes that only end a path)
                else:
                    if node._retained:
                        _keep_retained(node, g, create_graph)
                    if create_graph:
                        gxs = _node_backward(node, g, True)
                    else:                        # the first-order path, kept short: it runs for every node
                        gxs = node.backward(g[0]) if node.n_out == 1 else \
                            node.backward(*[g.get(i) for i in range(node.n_out)])
                        if type(gxs) is not tuple:
                            gxs = (gxs,)
                        if anomaly:
                            _check_finite(node, gxs, "gradient for input")
                if create_graph:
                    _state.scope, _state.meta = prev[1], prev[2]
            inputs = node.inputs
            if not retain_graph:
                node.release()
            for k, t in enumerate(inputs):
                gx = gxs[k] if gxs is not None else None
                if gx is not None and gx.shape != t.data.shape:
                    raise RuntimeError(f"backward: {node.name} returned a gradient of shape {tuple(gx.shape)} for "
                                       f"input {k} of shape {t.data.shape} (a bug in that op's backward)")
                parent = t.grad_fn
                if stop_at_targets and _key(t) in wanted:
                    if gx is not None:
                        key = _key(t)
                        found[key] = gx if key not in found else found[key] + gx
                    continue
                if parent is None:               # a leaf
                    if not t._hooks and wanted is None:      # no hooks: accumulate at once
                        if gx is not None and t._requires_grad:
                            _accumulate(t, gx, create_graph)
                        continue
                    if t not in pending:
                        continue
                    parent = t
                    if gx is not None:
                        _send(grads, t, gx)
                elif wanted is not None and parent not in pending:
                    continue                     # (grad) a part of the graph that leads to no target
                elif gx is not None:
                    slot = grads.get(parent)
                    if slot is None:
                        grads[parent] = {t._index: gx}
                    elif t._index not in slot:
                        slot[t._index] = gx
                    elif create_graph:
                        _send(grads, (parent, t._index), gx)
                    else:
                        slot[t._index] = slot[t._index] + gx
                left = pending[parent] - 1
                pending[parent] = left
                if left == 0:
                    ready.append(parent)
    finally:
        _state.grad_enabled, _state.scope, _state.meta = prev
    return found


def _source(t):
    """Where the walk sends t's gradient: its node, or the tensor itself for a leaf."""
    return t if t.grad_fn is None else t.grad_fn


def _send(grads, key, g):
    """Add gradient g for `key` (a leaf tensor, or (node, output index)) to what has arrived so far."""
    if isinstance(key, Tensor):
        old = grads.get(key)
        if old is None:
            grads[key] = g
        elif isinstance(g, Tensor):              # a recorded sum into a leaf: part of the backward, of no step
            outer = _state.scope, _state.meta
            _state.scope, _state.meta = (), {"backward_of": None}
            grads[key] = old + g
            _state.scope, _state.meta = outer
        else:
            grads[key] = old + g
        return
    node, i = key
    slot = grads.get(node)
    if slot is None:
        grads[node] = {i: g}
    elif i in slot:
        if isinstance(g, Tensor):                # a recorded sum belongs to the backward of the node it feeds
            outer = _state.scope, _state.meta
            _state.scope, _state.meta = node.scope, {**(node.meta or {}), "backward_of": node.id}
            slot[i] = slot[i] + g
            _state.scope, _state.meta = outer
        else:
            slot[i] = slot[i] + g
    else:
        slot[i] = g


def _node_backward(node: Function, g: dict, create_graph: bool) -> tuple:
    """Call the node's backward on its output gradients; one gradient (or None) per input.
    With create_graph, `node.saved` holds Tensors of the graph while it runs (arrays again after)."""
    if create_graph:
        _state.scope = node.scope
        _state.meta = {**(node.meta or {}), "backward_of": node.id}
        if node.decompose is not None:
            return _backward_by_decomposition(node, g)
    arrays = node.saved
    try:
        if create_graph and arrays:
            node.saved = node.saved_as_tensors()
        if node.n_out == 1:
            gxs = node.backward(g[0])
        else:
            gxs = node.backward(*[g.get(i) for i in range(node.n_out)])
    except (TypeError, AttributeError) as e:
        if not create_graph or getattr(e, "_minigrad_named", False):
            raise
        raise TypeError(f"{node.name}.backward cannot run on Tensors, which create_graph=True needs (the "
                        f"backward is itself differentiated): {e}. Write it with operations Tensors have "
                        "(operators, methods, namespace(gy)) on self.saved, or give the op a decompose()") from e
    finally:
        if arrays:
            node.saved = arrays
    if type(gxs) is not tuple:
        gxs = (gxs,)
    if create_graph:
        gxs = tuple([gx if gx is None or isinstance(gx, Tensor) else Tensor._make(gx) for gx in gxs])
    if _state.anomaly:
        _check_finite(node, [gx.data if isinstance(gx, Tensor) else gx for gx in gxs], "gradient for input")
    return gxs


def _backward_by_decomposition(node, g):
    """A differentiable backward for an op whose own backward is array code: run its `decompose` (the same
    function in plain ops) on the node's inputs and differentiate that, stopping at the inputs."""
    inputs = node.inputs
    outs = node.decompose(*inputs)
    outs = outs if isinstance(outs, tuple) else (outs,)
    used = [(o, g[i]) for i, o in enumerate(outs) if g.get(i) is not None and o.requires_grad]
    wanted = [t for t, need in zip(inputs, node.needs_grad) if need]
    if not used or not wanted:
        return (None,) * len(inputs)
    found = _walk([o for o, _ in used], [gi for _, gi in used], True, True, wanted, stop_at_targets=True)
    out, seen = [], set()
    for t, need in zip(inputs, node.needs_grad):
        key = _key(t)
        out.append(found.get(key) if need and key not in seen else None)   # a repeated input gets it once
        seen.add(key)
    return tuple(out)


def _run_hooks(hooks, g, create_graph):
    """Call each hook on the gradient (as a Tensor); a hook that returns a tensor replaces it."""
    if not hooks:
        return g
    for hook in list(hooks.values()):
        shown = g if create_graph else Tensor._make(g)
        new = hook(shown)
        if new is not None:
            if not isinstance(new, Tensor) and not backend.is_array(new):
                raise TypeError(f"hook {getattr(hook, '__name__', hook)!r} returned a {type(new).__name__}; "
                                "expected a Tensor (the new gradient) or None")
            if tuple(new.shape) != tuple(g.shape):
                raise RuntimeError(f"hook {getattr(hook, '__name__', hook)!r} returned a gradient of shape "
                                   f"{tuple(new.shape)}, expected {tuple(g.shape)}")
            if create_graph:
                g = new if isinstance(new, Tensor) else Tensor._make(new)
            else:
                g = new.data if isinstance(new, Tensor) else new
    return g


def _keep_retained(node, gys, create_graph):
    """Give .grad to the outputs of `node` that asked for it with retain_grad()."""
    for i, ref in node._retained.items():
        t = ref()
        if t is not None and i in gys:
            _accumulate(t, gys[i], create_graph)


def _roots_and_seeds(op, tensors, grads, create_graph):
    roots = [tensors] if isinstance(tensors, Tensor) else list(tensors)
    if grads is None:
        grads = [None] * len(roots)
    elif isinstance(grads, Tensor) or backend.is_array(grads):
        grads = [grads]
    else:
        grads = list(grads)
    if len(grads) != len(roots):
        raise RuntimeError(f"{op}: got {len(roots)} outputs but {len(grads)} gradients for them")
    seeds = []
    for k, (root, g) in enumerate(zip(roots, grads)):
        if not isinstance(root, Tensor):
            raise TypeError(f"{op}: outputs[{k}] is a {type(root).__name__}, expected a Tensor")
        if not root._requires_grad:
            raise RuntimeError(f"{op}: the tensor (shape {root.shape}) does not require grad and has no "
                               "grad_fn; did you create it under no_grad() or forget requires_grad=True?")
        if root.grad_fn is not None and root.grad_fn._released:
            raise _released_error(root.grad_fn)
        seeds.append(_seed_gradient(op, root, g, create_graph))
    return roots, seeds


def _seed_gradient(op, root, grad, create_graph):
    if grad is None:
        if root.data.size != 1:
            raise RuntimeError(f"{op}: grad can be implied only for a single-element output, got shape "
                               f"{root.shape}; pass the gradient with that shape (e.g. loss.sum().backward())")
        g = backend.array_module(root.data).ones_like(root.data)
        return Tensor._make(g) if create_graph else g
    if create_graph and isinstance(grad, Tensor):
        g = grad                                 # kept as it is: its own graph (if any) stays connected
    else:
        g = grad.data if isinstance(grad, Tensor) else grad
        if not backend.is_array(g):
            g = backend.array_module(root.data).asarray(g, dtype=root.dtype)
    device = g.device if isinstance(g, Tensor) else backend.device_of(g)
    if device != root.device:
        raise RuntimeError(f"{op}: the gradient is on {device} but the output is on {root.device}")
    if tuple(g.shape) != root.shape:
        raise RuntimeError(f"{op}: the gradient has shape {tuple(g.shape)}, expected the output's shape {root.shape}")
    if isinstance(g, Tensor):
        return g if g.dtype == root.dtype else g.to(dtype=root.dtype)
    g = g.astype(root.dtype, copy=False)
    return Tensor._make(g) if create_graph else g


def _count_consumers(roots, stop=None, all_leaves=False):
    """For each node reachable from `roots`, how many edges lead into it (iterative DFS); also for the
    leaves that must wait for all their gradients (those with hooks, or all of them with `all_leaves`).
    Tensors whose key is in `stop` are not walked past."""
    pending = {}
    stack = []
    for t in roots:
        source = _source(t)
        if source not in pending and not (stop and _key(t) in stop) and \
                (source is not t or all_leaves or t._hooks):
            pending[source] = 0
            if source is not t:
                stack.append(source)
    while stack:
        node = stack.pop()
        for t in node.inputs:
            parent = t.grad_fn
            if parent is None:
                if not t._requires_grad or not (all_leaves or t._hooks) or (stop and t in stop):
                    continue
                parent = t
            elif stop and (parent, t._index) in stop:
                continue
            if parent in pending:
                pending[parent] += 1
            else:
                pending[parent] = 1
                if parent is not t:
                    stack.append(parent)
    return pending


def _prune(pending, wanted, stop_at_targets):
    """Keep only the nodes from which a target can be reached (and the targets' own nodes and leaves),
    with their consumer counts recounted among what is kept."""
    def parents(node):                           # the sources of the edges _count_consumers counted
        if isinstance(node, Tensor):
            return []
        return [_source(t) for t in node.inputs
                if t._requires_grad and not (stop_at_targets and _key(t) in wanted)]

    order, counts = [], dict(pending)
    ready = [n for n, c in counts.items() if c == 0]
    while ready:                                 # consumers before producers
        node = ready.pop()
        order.append(node)
        for parent in parents(node):
            counts[parent] -= 1
            if counts[parent] == 0:
                ready.append(parent)
    needed = set()
    for node in reversed(order):                 # producers first
        if isinstance(node, Tensor):
            if node in wanted:
                needed.add(node)
        elif any((node, i) in wanted for i in range(node.n_out)) or any(p in needed for p in parents(node)) \
                or (stop_at_targets and any(_key(t) in wanted for t in node.inputs)):
            needed.add(node)
    kept = {n: 0 for n in order if n in needed}
    for node in kept:
        for parent in parents(node):
            if parent in kept:
                kept[parent] += 1
    return kept


def _accumulate(t, g, create_graph=False):
    """t.grad += g, in t's dtype (the first gradient is copied: g may be shared with other tensors).
    With create_graph the sum is recorded (the .grad tensor keeps a graph)."""
    if create_graph or isinstance(g, Tensor):
        g = g if isinstance(g, Tensor) else Tensor._make(g)
        if g.dtype != t.data.dtype:
            g = g.to(dtype=t.data.dtype)
        t.grad = g if t.grad is None else t.grad + g
    elif t.grad is None:
        t.grad = Tensor._make(g.astype(t.data.dtype))
    else:
        t.grad.data += g


def _released_error(node):
    return RuntimeError(f"backward: trying to backward through the graph a second time ({node.name} "
                        f"node #{node.id} has already been released). Pass retain_graph=True to the first "
                        "backward() if you need to call it twice.")
