"""Forward and backward passes in one graph: pictures of a gradient made with create_graph=True.

With `create_graph=True` the backward pass is recorded as ordinary graph nodes, and every node made while
running the backward of forward node N carries N's facts plus `meta['backward_of'] = N.id` (engine.py).
So the graph behind a gradient holds two passes: the backward nodes, and the forward nodes whose values
the backward reads (activations, weights). The picture of the gradient draws
- passes='backward' (the default for such a graph): the backward nodes only, each forward value they read
  drawn once as a 'saved' box (the activations BPTT keeps from the forward pass);
- passes='both': forward and backward side by side, the backward pass in its own cluster, with dashed
  edges where a backward node reads a forward value.
The backward nodes of a time step keep that step's `t`, so BPTT draws as steps running backward in time.
"""
import copy

from .capture import Graph
from .steps import BACKWARD, shown

PASSES = ("auto", "backward", "both")


def is_backward(op):
    """An op (a captured OpNode) made by a backward with create_graph=True."""
    return BACKWARD in op.meta


def choose(graph, passes):
    """'forward' (a graph with no backward nodes: drawn as always), 'backward' or 'both'."""
    if passes not in PASSES:
        raise ValueError(f"viz: passes must be one of {PASSES}, got {passes!r}")
    has = any(is_backward(op) for op in graph.ops.values())
    if passes == "auto":
        return "backward" if has else "forward"
    if not has:
        raise ValueError(f"viz: passes={passes!r} draws a backward pass, but this graph has none; take the "
                         "gradient with create_graph=True (g, = mg.autograd.grad(loss, w, create_graph=True)) "
                         "and draw g")
    return passes


def backward_only(graph):
    """A copy of `graph` without its forward ops: each forward value a backward op reads becomes a leaf of
    kind 'saved', named after the op that made it ('Tanh t=2'). The captured graph is left as it is."""
    ops = {k: op for k, op in graph.ops.items() if is_backward(op)}
    tensors, edges = {}, []
    for key, tn in graph.tensors.items():
        users = [c for c in tn.consumers if c in ops]
        made_here = tn.op is not None and tn.op in ops
        if not users and not made_here and key != graph.root:
            continue                               # read by forward ops only
        tn = copy.copy(tn)
        tn.consumers = users
        if tn.op is not None and not made_here:    # a forward value the backward reads
            maker = graph.ops[tn.op]
            t = maker.meta.get("t")
            piece = f"[{tn.index}]" if maker.n_out > 1 else ""
            tn.name = tn.name or f"{maker.label}{piece}" + ("" if t is None else f" t={shown(t)}")
            tn.kind, tn.op = "saved", None
        tensors[key] = tn
    for src, dst, slot in graph.edges:
        if (src in ops or src in tensors) and (dst in ops or dst in tensors):
            edges.append((src, dst, slot))
    return Graph(ops, tensors, edges, graph.root, graph.scopes)


def forward_name(graph, op):
    """'Tanh #16': the forward op whose backward made `op`, as the op's tooltip names it."""
    target = op.meta.get(BACKWARD)
    if target is None:
        return "the sum of a leaf's gradients"
    for other in graph.ops.values():
        if other.id == target:
            return f"{other.label} #{other.key[2:]}"
    return f"node id {target}"
