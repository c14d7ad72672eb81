"""The pieces a picture is made of: Unit (a box), Edge, and the small helpers view and fold share."""


class Unit:
    """A drawn box. kind: 'op' | 'cell' | 'layer' | 'param' | 'leaf' | 'const' | 'output' | 'elided' | 'delay'.

    `cluster` is the tuple of Frames (viz.steps) it sits in; units of a time step (or of elided steps) also
    know their `group` (module, layer, direction) and step `t`.
    """
    __slots__ = ("key", "kind", "label", "cluster", "ops", "grad_norm", "info", "group", "t")

    def __init__(self, key, kind, label, cluster, info="", group=None, t=None):
        self.key, self.kind, self.label, self.cluster, self.info = key, kind, label, tuple(cluster), info
        self.group, self.t = group, t
        self.ops, self.grad_norm = [], None

    def __repr__(self):
        return f"Unit({self.key}, {self.kind}, {self.label!r}, in {'/'.join(f.key for f in self.cluster)!r})"


class Edge:
    """kind: 'data' | 'param' (from a parameter) | 'recurrent' (step to step) | 'delay' | 'elided'."""
    __slots__ = ("src", "dst", "kind", "label")

    def __init__(self, src, dst, kind, label=""):
        self.src, self.dst, self.kind, self.label = src, dst, kind, label

    def __repr__(self):
        return f"Edge({self.src} -> {self.dst}, {self.kind}, {self.label!r})"


def common_prefix(paths):
    """The longest tuple that starts every one of `paths` (() for none)."""
    if not paths:
        return ()
    first = paths[0]
    n = len(first)
    for p in paths[1:]:
        n = min(n, len(p))
        for i in range(n):
            if p[i] != first[i]:
                n = i
                break
    return first[:n]


def shape_text(shape):
    return "×".join(map(str, shape)) if shape else "scalar"
