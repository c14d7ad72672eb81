"""Graph capture: walk a minigrad graph back from an output tensor into plain, renderer-independent data.

`capture(loss, module=None)` returns a `Graph` of op nodes (label, scope path, the loop's facts in `meta`,
static arguments),
tensor nodes (shape, dtype, parameter name, gradient norm) and edges, plus the tree of name scopes.
The walk is iterative (graphs of 100k nodes are normal). Keys are renumbered in creation order, so the
same code always gives the same keys: op0, op1, ... for ops, op3:0 for output 0 of op3, leaf0, ... for leaves.
"""
import math

from minigrad import Tensor
from minigrad.nn import Parameter

from .steps import locate


class OpNode:
    """One op application: `name` (the op's class, 'Tanh'), `label` (how it names itself, `node.label()`),
    `scope` path, `meta` (the facts of `mg.annotate`, a dict), `attrs` (`node.attributes()`), tensor keys."""
    __slots__ = ("key", "id", "name", "label", "scope", "meta", "n_out", "attrs", "inputs", "outputs")

    def __init__(self, key, node):
        self.key, self.id, self.name, self.n_out = key, node.id, type(node).__name__, node.n_out
        self.label, self.attrs = node.label(), dict(node.attributes())
        self.scope, self.meta = tuple(node.scope), dict(node.meta or {})
        self.inputs, self.outputs = [], []

    def __repr__(self):
        return f"OpNode({self.key}, {self.name}, scope={'/'.join(self.scope)!r})"


class TensorNode:
    """A tensor: kind is 'param' (a Parameter, or named by the module), 'leaf' (another leaf that requires
    grad: drawn like a weight), 'input' (a leaf without grad named by `names`), 'const' (another leaf without
    grad: data, constants) or 'result' (made by op `op`, output number `index`)."""
    __slots__ = ("key", "kind", "shape", "dtype", "name", "op", "index", "grad_norm", "value", "consumers")

    def __init__(self, key, t, kind, name=None, op=None):
        self.key, self.kind, self.name, self.op, self.index = key, kind, name, op, t.output_index
        self.shape, self.dtype = tuple(t.shape), str(t.dtype)
        self.grad_norm = None
        self.value = t.item() if t.data.size == 1 and kind == "const" else None
        self.consumers = []       # op keys, one per use (duplicates kept)

    @property
    def size(self):
        return math.prod(self.shape)

    def __repr__(self):
        return f"TensorNode({self.key}, {self.kind}, {self.name or ''}{list(self.shape)})"


class Scope:
    """A node of the scope tree: `path` is the tuple of names, `ops` the keys of the ops made right in it."""
    __slots__ = ("name", "path", "children", "ops")

    def __init__(self, path):
        self.path, self.name = path, (path[-1] if path else "")
        self.children, self.ops = {}, []

    def walk(self):
        """This scope and all below it, parents first (iterative)."""
        stack = [self]
        while stack:
            s = stack.pop()
            yield s
            stack.extend(reversed(list(s.children.values())))

    def __repr__(self):
        return f"Scope({'/'.join(self.path) or '<root>'}, {len(self.ops)} ops, {len(self.children)} children)"


class Graph:
    """The captured graph: `ops` and `tensors` (dicts by key, in creation order), `edges` (src, dst, slot):
    tensor -> op for inputs (slot = input position) and op -> tensor for outputs (slot = output index),
    `root` (the output tensor's key) and `scopes` (the Scope tree)."""

    def __init__(self, ops, tensors, edges, root, scopes):
        self.ops, self.tensors, self.edges, self.root, self.scopes = ops, tensors, edges, root, scopes

    def params(self):
        return [t for t in self.tensors.values() if t.kind == "param"]

    def time_steps(self):
        """{group: sorted time steps}, a group being (module path, layer, direction) as the loop annotated them."""
        out = {}
        for place in locate(list(self.ops.values())):
            if place.t is not None:
                out.setdefault(place.group, set()).add(place.t)
        return {group: sorted(ts) for group, ts in out.items()}

    def __repr__(self):
        return f"Graph({len(self.ops)} ops, {len(self.tensors)} tensors, {len(self.edges)} edges)"


def capture(root, module=None, names=None, grads=False):
    """Walk the graph behind tensor `root` (the loss, usually) into a Graph.

    `module`: parameters are named by `module.named_parameters()`. `names`: {label: tensor} for other
    tensors (inputs, states). `grads`: record the norm of each tensor's .grad (leaves, retained tensors).
    """
    if not isinstance(root, Tensor):
        raise TypeError(f"viz: expected the output Tensor to draw the graph from, got {type(root).__name__}")
    if root.grad_fn is None:
        raise ValueError(f"viz: the tensor (shape {tuple(root.shape)}) has no graph behind it: it is a leaf, "
                         "or it was made under no_grad() or from tensors that do not require grad")
    labels, params = {}, set()
    for name, t in (names or {}).items():
        if not isinstance(t, Tensor):
            raise TypeError(f"viz: names[{name!r}] must be a Tensor, got {type(t).__name__}")
        labels[id(t)] = name
    if module is not None:
        if not hasattr(module, "named_parameters"):
            raise TypeError(f"viz: module= must have named_parameters() (an nn.Module), got {type(module).__name__}")
        for name, p in module.named_parameters():
            labels[id(p)] = name
            params.add(id(p))

    nodes = collect(root.grad_fn)
    key_of = {node: f"op{k}" for k, node in enumerate(nodes)}
    ops, tensors, edges, leaf_key = {}, {}, [], {}
    for node in nodes:
        op = ops[key_of[node]] = OpNode(key_of[node], node)
        for slot, t in enumerate(node.inputs):
            key = _tensor_key(t, key_of, leaf_key)
            tn = tensors.get(key)
            if tn is None:
                tn = tensors[key] = _tensor_node(key, t, key_of, labels, params, grads)
            tn.consumers.append(op.key)
            op.inputs.append(key)
            edges.append((key, op.key, slot))
    rkey = _tensor_key(root, key_of, leaf_key)
    tensors[rkey] = _tensor_node(rkey, root, key_of, labels, params, grads)
    if root.data.size == 1:
        tensors[rkey].value = root.item()
    for tn in [t for t in tensors.values() if t.op is not None]:   # outputs, in creation order of their op
        ops[tn.op].outputs.append(tn.key)
        edges.append((tn.op, tn.key, tn.index))
    ordered = sorted(tensors.values(), key=lambda t: _order(t, ops))
    return Graph(ops, {t.key: t for t in ordered}, edges, rkey, _scope_tree(ops))


def collect(start):
    """Every graph node reachable from `start`, sorted by creation id; a released node is an error."""
    seen, stack = {start}, [start]
    while stack:
        node = stack.pop()
        if node.released:
            raise RuntimeError(
                f"viz: the graph was released by backward() ({node.label()} node #{node.id} has no inputs any "
                "more). Draw before calling backward, or call loss.backward(retain_graph=True) to keep the "
                "graph for drawing.")
        for t in node.inputs:
            parent = t.grad_fn
            if parent is not None and parent not in seen:
                seen.add(parent)
                stack.append(parent)
    return sorted(seen, key=lambda n: n.id)


def _tensor_key(t, key_of, leaf_key):
    if t.grad_fn is not None:
        return f"{key_of[t.grad_fn]}:{t.output_index}"
    key = leaf_key.get(id(t))
    if key is None:
        key = leaf_key[id(t)] = f"leaf{len(leaf_key)}"
    return key


def _tensor_node(key, t, key_of, labels, params, grads):
    name = labels.get(id(t))
    if t.grad_fn is not None:
        tn = TensorNode(key, t, "result", name, key_of[t.grad_fn])
    elif t.requires_grad:
        kind = "param" if id(t) in params or isinstance(t, Parameter) else "leaf"
        tn = TensorNode(key, t, kind, name)
    else:
        tn = TensorNode(key, t, "input" if name else "const", name)
    if grads and t.grad is not None:
        g = t.grad.data
        tn.grad_norm = math.sqrt(float((abs(g.astype("float64")) ** 2).sum()))
    return tn


def _order(t, ops):
    """Tensors in the order they appear: leaves by first consumer, results by their op."""
    if t.op is not None:
        return (int(t.op[2:]), 1, t.index)
    first = t.consumers[0] if t.consumers else "op0"
    return (int(first[2:]), 0, int(t.key[4:]))


def _scope_tree(ops):
    root = Scope(())
    for op in ops.values():
        s = root
        for i in range(len(op.scope)):
            child = s.children.get(op.scope[i])
            if child is None:
                child = s.children[op.scope[i]] = Scope(op.scope[:i + 1])
            s = child
        s.ops.append(op.key)
    return root


def retain_grads(root):
    """Call retain_grad() on every intermediate tensor behind `root`, so that after backward each op's
    output keeps its gradient (for draw_graph(grads=True)). Returns how many tensors it marked."""
    if not isinstance(root, Tensor) or root.grad_fn is None:
        raise ValueError("viz.retain_grads: expected a tensor with a graph behind it (e.g. the loss)")
    marked = set()
    for t in [root] + [t for node in collect(root.grad_fn) for t in node.inputs]:
        if t.grad_fn is not None and t.requires_grad and id(t) not in marked:
            marked.add(id(t))
            t.retain_grad()
    return len(marked)
