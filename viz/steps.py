"""Where each node sits in a recurrent network, read from the facts the loop records on it (`node.meta`).

A recurrent layer annotates the nodes it makes with `module` (the layer's scope path), `layer`,
`direction`, `cell` and `granularity`, and the nodes of a time step also with `t` (see `mg.annotate`).
Nodes with the same (module, layer, direction) form a group; those with the same `t` form one step.
A loop of your own takes part by annotating its steps, `with mg.annotate(t=t): ...`; without a `module`
fact its group sits where its nodes' scopes meet. Layers and steps are never parsed out of scope names:
their clusters are titled from the facts ('layer 0 (reverse)', 't = 3'), so renaming the loop's scopes
changes nothing (module clusters show the module's scope name as it is).

Time indices: `t` in node.meta counts from 0 (the loop's `range(T)`), but pictures count steps as the
equations do: h_0 is the initial state and step t = 1..T reads x_t and makes h_t. So the step annotated
t=0 is drawn as 't = 1', the state it hands on is labelled h₁, and the input it reads x[1] (see `shown`).
"""
from collections import namedtuple

from .units import common_prefix

GROUP_FACTS = ("module", "layer", "direction")
BACKWARD = "backward_of"        # the fact the engine puts on nodes a create_graph backward makes (viz/passes.py)

# One cluster around drawn units. kind: 'module' (a scope name) | 'layer' (a layer and direction) |
# 'time' (step t); key: its part of the cluster's id; title: what the picture writes on it.
Frame = namedtuple("Frame", "kind key title t")


class Place:
    """Where one node sits: `group` ((module, layer, direction), or None outside any recurrent loop), step
    `t` (None for a group's plumbing), `rest` (its scope below the step, e.g. a sub-module's name),
    `frames` (the clusters around it, outermost first) and the node's `meta` (a dict)."""
    __slots__ = ("group", "t", "rest", "frames", "meta")

    def __init__(self, group, t, rest, frames, meta):
        self.group, self.t, self.rest, self.frames, self.meta = group, t, rest, frames, meta

    def __repr__(self):
        return f"Place({self.group}, t={self.t}, rest={self.rest})"


def locate(nodes):
    """A Place for each of `nodes` (anything with `meta` and `scope`: graph nodes or captured OpNodes)."""
    raw, members = [], {}
    for i, node in enumerate(nodes):
        meta = node.meta or {}
        key = None
        if "t" in meta or any(k in meta for k in GROUP_FACTS):
            module = meta.get("module")
            module = (module,) if isinstance(module, str) else None if module is None else tuple(module)
            key = (module, meta.get("layer"), meta.get("direction")) + (("backward",) if BACKWARD in meta else ())
            members.setdefault(key, []).append(i)
        raw.append(key)
    group_of = {}
    for key, idx in members.items():
        module = key[0] if key[0] is not None else common_prefix([tuple(nodes[i].scope) for i in idx])
        group_of[key] = (module,) + key[1:]
    steps = {}
    for i, key in enumerate(raw):
        if key is not None:
            t = nodes[i].meta.get("t")
            steps.setdefault((group_of[key], None if t is None else int(t)), []).append(i)
    places = [None] * len(nodes)
    for (group, t), idx in steps.items():
        inside = common_prefix([tuple(nodes[i].scope) for i in idx])    # the step's (or plumbing's) own scope
        frames = group_frames(group) + (() if t is None else (time_frame(t),))
        for i in idx:
            rest = tuple(nodes[i].scope)[len(inside):]
            places[i] = Place(group, t, rest, frames + module_frames(rest), dict(nodes[i].meta))
    for i, key in enumerate(raw):
        if key is None:
            scope, meta = tuple(nodes[i].scope), dict(nodes[i].meta or {})
            places[i] = Place(None, None, scope, pass_frames(meta) + module_frames(scope), meta)
    return places


def module_frames(names):
    return tuple(Frame("module", name, name, None) for name in names)


def pass_frames(meta):
    """The 'backward pass' cluster around a node made by a backward with create_graph=True (none otherwise)."""
    return (BACKWARD_FRAME,) if BACKWARD in meta else ()


BACKWARD_FRAME = Frame("pass", "backward", "backward pass", None)


def group_frames(group):
    """The module clusters of a group, then its layer cluster (when it has a layer or a reverse direction).
    A group of backward nodes (a 4th entry, 'backward') sits inside the 'backward pass' cluster."""
    module, layer, direction = group[:3]
    frames = (BACKWARD_FRAME,) * (len(group) > 3) + module_frames(module)
    if layer is None and direction in (None, "forward"):
        return frames
    side = "" if direction in (None, "forward") else f"_{direction}"
    title = ("" if layer is None else f"layer {layer}") + ("" if not side else f" ({direction})")
    return frames + (Frame("layer", ("" if layer is None else f"layer{layer}") + side, title.strip(), None),)


def shown(t):
    """The step number a picture writes for the 0-based `t` of node.meta: steps are drawn as 1..T."""
    return t + 1


def time_frame(t):
    return Frame("time", f"t{t}", f"t = {shown(t)}", t)


def group_name(group):
    """'rnn/layer 0 (reverse)': a group as text (its module path and layer cluster title)."""
    titles = [f.title for f in group_frames(group)]
    return "/".join(titles) or "steps"


def split_frames(frames):
    """(frames outside the first time step, that time frame or None)."""
    for i, f in enumerate(frames):
        if f.kind == "time":
            return frames[:i], f
    return frames, None
