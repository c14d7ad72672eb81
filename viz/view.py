"""What to draw: a captured Graph reduced to units (boxes), clusters and edges for one choice of options.

Ops inside a time scope 't=k' belong to step k of their group (the scope above it, e.g. ('lstm', 'l0')).
- detail='cell' collapses each step's ops into one 'cell' unit; detail='op' keeps one unit per op.
- rolled=True folds every step of a group onto one representative step; edges from step to step become
  a recurrent edge through a 'delay' unit (the textbook circuit diagram).
- max_steps=k keeps the first and last k steps of each group and replaces the rest by one 'elided' unit.
Leaves (parameters, inputs) are drawn once, outside the time clusters; the output is drawn after its op.
"""
from .capture import split_time

CELL_NAMES = {"LSTMCell": "LSTM cell", "GRUCell": "GRU cell", "RNNCell": "RNN cell"}
PLUMBING = ("GetItem", "Reshape", "Unbind", "Split", "Permute", "Cast")
SUBSCRIPT = str.maketrans("0123456789", "₀₁₂₃₄₅₆₇₈₉")


class Unit:
    """A drawn box. kind: 'op' | 'cell' | 'param' | 'leaf' | 'const' | 'output' | 'elided' | 'delay'."""
    __slots__ = ("key", "kind", "label", "cluster", "ops", "grad_norm", "info", "group", "t")

    def __init__(self, key, kind, label, cluster, info="", group=None, t=None):
        self.key, self.kind, self.label, self.cluster, self.info = key, kind, label, tuple(cluster), info
        self.group, self.t = group, t    # units of a time step (or of elided steps): the group's path, the step
        self.ops, self.grad_norm = [], None

    def __repr__(self):
        return f"Unit({self.key}, {self.kind}, {self.label!r}, in {'/'.join(self.cluster)!r})"


class Edge:
    """kind: 'data' | 'param' (from a parameter) | 'recurrent' (step to step) | 'delay' | 'elided'."""
    __slots__ = ("src", "dst", "kind", "label")

    def __init__(self, src, dst, kind, label=""):
        self.src, self.dst, self.kind, self.label = src, dst, kind, label

    def __repr__(self):
        return f"Edge({self.src} -> {self.dst}, {self.kind}, {self.label!r})"


class View:
    """`units` (key -> Unit), `edges`, `steps` ({group path: [time-cluster path or elided unit key, in time
    order]}), and the options it was built with."""

    def __init__(self, graph, detail, rolled, max_steps):
        self.graph, self.detail, self.rolled, self.max_steps = graph, detail, rolled, max_steps
        self.units, self.edges, self.steps, self._seen = {}, [], {}, set()

    def add_unit(self, unit):
        return self.units.setdefault(unit.key, unit)

    def add_edge(self, src, dst, kind, label="", ident=None):
        ident = (src, dst, kind, label) if ident is None else ident
        if ident not in self._seen:
            self._seen.add(ident)
            self.edges.append(Edge(src, dst, kind, label))


def build_view(graph, detail="op", rolled=False, max_steps=None):
    """The units and edges to draw for `graph` (see the module docstring for the options)."""
    if detail not in ("op", "cell"):
        raise ValueError(f"viz: detail must be 'op' or 'cell', got {detail!r}")
    if max_steps is not None and (isinstance(max_steps, bool) or not isinstance(max_steps, int) or max_steps < 1):
        raise ValueError(f"viz: max_steps must be a positive int (the steps kept at each end), got {max_steps!r}")
    view = View(graph, detail, rolled, max_steps)
    where = {k: split_time(op.scope) for k, op in graph.ops.items()}
    steps = {}                                        # group -> {t: [op keys in creation order]}
    for k, (group, t, _) in where.items():
        if t is not None:
            steps.setdefault(group, {}).setdefault(t, []).append(k)
    keep, twin = _choose_steps(view, graph, steps)
    unit_of = {}
    for k, op in graph.ops.items():
        group, t, rest = where[k]
        if t is None:
            unit_of[k] = _op_unit(view, op, op.scope).key
        elif not rolled and t not in keep[group]:
            unit_of[k] = f"elided:{'/'.join(group)}"
        elif detail == "cell":
            path = group + (f"t={keep[group][0] if rolled else t}",)
            unit = view.add_unit(Unit("cell:" + "/".join(path), "cell", "", path, group=group, t=t))
            if not rolled or t == keep[group][0]:
                unit.ops.append(k)
            unit_of[k] = unit.key
        else:
            target = graph.ops[twin[k]] if rolled and k in twin else None if rolled else op
            if target is not None:
                unit_of[k] = _op_unit(view, target, target.scope, group, where[target.key][1]).key
    for unit in view.units.values():
        if unit.kind == "cell":
            unit.label, unit.info = _cell_label([graph.ops[k] for k in unit.ops])
    _add_edges(view, graph, where, unit_of, steps)
    _add_output(view, graph, unit_of)
    _grad_norms(view, graph, unit_of)
    if detail == "cell":
        from .fold import fold_plumbing
        fold_plumbing(view)
    return view


def _choose_steps(view, graph, steps):
    """Per group, the kept time steps (rolled: only the representative one) and, rolled, each op's twin
    in the representative step (same place in the sub-scope, same name, same occurrence number)."""
    keep, twin = {}, {}
    for group, by_t in steps.items():
        ts = sorted(by_t)
        if view.rolled:                            # the step that ran last: its state came from a full step
            r = max(ts, key=lambda t: int(by_t[t][0][2:]))
            keep[group] = [r]
            view.steps[group] = [group + (f"t={r}",)]
            sig = {s: k for k, s in _signatures(graph, by_t[r]).items()}
            for t in ts:
                for k, s in _signatures(graph, by_t[t]).items():
                    if s in sig:
                        twin[k] = sig[s]
            continue
        k = view.max_steps
        order = [group + (f"t={t}",) for t in ts]
        if k is not None and len(ts) > 2 * k + 1:
            gone = ts[k:len(ts) - k]
            eid = f"elided:{'/'.join(group)}"
            view.add_unit(Unit(eid, "elided", f"⋯ {len(gone)} steps ⋯\nt={gone[0]} … t={gone[-1]}", group,
                               f"{gone[0]}…{gone[-1]}", group=group, t=gone[0]))
            keep[group] = set(ts[:k] + ts[len(ts) - k:])
            order = order[:k] + [eid] + order[len(ts) - k:]
        else:
            keep[group] = set(ts)
        view.steps[group] = order
    return keep, twin


def _signatures(graph, keys):
    seen, out = {}, {}
    for k in keys:
        op = graph.ops[k]
        base = (split_time(op.scope)[2], op.name)
        seen[base] = n = seen.get(base, -1) + 1
        out[k] = base + (n,)
    return out


def _op_unit(view, op, cluster, group=None, t=None):
    unit = view.units.get(op.key)
    if unit is None:
        unit = view.add_unit(Unit(op.key, "op", op_label(op), cluster, f"{op.name} #{op.key[2:]}", group, t))
        unit.ops.append(op.key)
    return unit


def _cell_label(ops):
    """'LSTM cell' etc. from a fused cell op or from the gate ops of a fine-grained cell; otherwise what
    the step does: its sub-modules and ops (without the indexing), e.g. 'readout, Sub, Pow, Mean'."""
    names = [op.name for op in ops]
    n = len(names)
    for name in names:
        if name in CELL_NAMES:
            return CELL_NAMES[name], f"{n} ops" if n > 1 else ""
    sig, tanh, relu = names.count("Sigmoid"), names.count("Tanh"), names.count("ReLU")
    gates = {op.n_out for op in ops if op.name == "Split"}   # chunk(4): i f g o; chunk(3): r z n
    kind = ("LSTM cell" if 4 in gates or (not gates and sig >= 2 and tanh >= 2) else
            "GRU cell" if 3 in gates or (not gates and sig == 2 and tanh == 1) else
            "RNN cell" if sig == 0 and tanh + relu == 1 else None)
    if kind is None:
        parts = [split_time(op.scope)[2][:1] or (op.name,) for op in ops]
        distinct = [p[0] for p in dict.fromkeys(parts) if p[0] not in PLUMBING] or names[:1]
        kind = ", ".join(distinct[:4]) + (", …" if len(distinct) > 4 else "")
    return kind, f"{n} ops" if n > 1 else ""


def op_label(op):
    """'GetItem [3]', 'Sum axis=0', or just the op name."""
    a = op.attrs
    if op.name == "GetItem" and "index" in a:
        return f"{op.name} {format_index(a['index'])}"
    if a.get("axis") is not None:
        return f"{op.name} axis={a['axis']}"
    if op.name == "Permute" and "axes" in a:
        return f"{op.name} {a['axes']}"
    if a.get("nonlinearity") not in (None, "tanh"):
        return f"{op.name} ({a['nonlinearity']})"
    return op.name


def format_index(index):
    parts = index if isinstance(index, tuple) else (index,)
    out = []
    for p in parts:
        if isinstance(p, slice):
            s = ("" if p.start is None else str(p.start)) + ":" + ("" if p.stop is None else str(p.stop))
            out.append(s + ("" if p.step is None else f":{p.step}"))
        else:
            out.append("…" if p is Ellipsis else str(p))
    return "[" + ", ".join(out) + "]"


def _state_names(graph, where, crossing):
    """Name the tensors a step passes to another step: the last one made is 'h', the one before 'c'."""
    by_step = {}
    for tkey in crossing:
        tn = graph.tensors[tkey]
        group, t, _ = where[tn.op]
        by_step.setdefault((group, t), []).append(tkey)
    names = {}
    for keys in by_step.values():
        keys.sort(key=lambda k: (int(graph.tensors[k].op[2:]), -graph.tensors[k].index))
        for i, k in enumerate(reversed(keys)):
            names[k] = ("h", "c")[i] if i < 2 else f"s{i}"
    return names


def _add_edges(view, graph, where, unit_of, steps):
    units, rolled, fine = view.units, view.rolled, view.detail == "op" and not view.rolled
    crossing = set()
    for op in graph.ops.values():
        dg, dt, _ = where[op.key]
        for tkey in op.inputs:
            src = graph.tensors[tkey].op
            if src is not None and dt is not None and where[src][0] == dg and where[src][1] not in (None, dt):
                crossing.add(tkey)
    names = _state_names(graph, where, crossing)
    kinds = {"steps": steps, "rolled": rolled}                           # step -> cell kind, for naming the gates
    leaf_users = {}
    for op in graph.ops.values():
        dst = unit_of.get(op.key)
        dg, dt, _ = where[op.key]
        if dst is None or (rolled and dt is not None and view.steps[dg][0][-1] != f"t={dt}"):
            continue                                   # rolled: only the representative step's inputs
        for slot, tkey in enumerate(op.inputs):
            tn = graph.tensors[tkey]
            if tn.op is None:
                _leaf_edge(view, tn, dst, slot, leaf_users)
                continue
            src = unit_of.get(tn.op)
            sg, st, _ = where[tn.op]
            if src is None or (rolled and st is not None and view.steps[sg][0][-1] != f"t={st}"
                               and (sg != dg or dt is None)):
                continue                               # rolled: outputs come from the representative step only
            recurrent = dt is not None and where[tn.op][0] == dg and where[tn.op][1] not in (None, dt)
            if src == dst and (not recurrent or units[src].kind == "elided"):
                continue
            kind = ("elided" if "elided" in (units[src].kind, units[dst].kind) else
                    "recurrent" if recurrent else "data")
            label = ""
            if recurrent:
                label = names[tkey] + ("" if rolled else str(where[tn.op][1]).translate(SUBSCRIPT))
            elif graph.ops[tn.op].n_out > 1 and units[src].kind == "op":
                label = _piece_label(graph, where, tn, kinds)
            if recurrent and rolled:
                group = where[tn.op][0]
                delay = view.add_unit(Unit(f"delay:{src}:{names[tkey]}", "delay", "delay\n1 step", group,
                                           f"{names[tkey]} waits one time step"))
                view.add_edge(src, delay.key, "recurrent", names[tkey])
                view.add_edge(delay.key, dst, "delay", f"{names[tkey]}(t−1)")
                continue
            view.add_edge(src, dst, kind, label, ident=(src, dst, tkey, slot) if fine else None)
    for tkey, users in leaf_users.items():       # a leaf sits where its users are, outside their time
        unit = units[tkey]                         # steps unless it is data that one step alone reads
        group, t, _ = split_time(_common_prefix([units[u].cluster for u in users]))
        local = t is not None and not rolled and unit.kind in ("input", "const")
        unit.cluster = group + (f"t={t}",) if local else group
        unit.t = t if local else None


def _piece_label(graph, where, tn, kinds):
    """Which piece of a multi-output op an edge carries: the gate (i f g o, r z n) or the index [t]."""
    op = graph.ops[tn.op]
    group, t, _ = where[op.key]
    if op.name == "Split" and t is not None:
        step = (group, t)
        if step not in kinds:
            kinds[step] = _cell_label([graph.ops[k] for k in kinds["steps"][group][t]])[0]
        gates = {"LSTM cell": "ifgo", "GRU cell": "rzn"}.get(kinds[step], "")
        if len(gates) == op.n_out:
            return gates[tn.index]
    return "[t]" if kinds["rolled"] and t is None and op.n_out == len(kinds["steps"].get(group, ())) else f"[{tn.index}]"


def _leaf_edge(view, tn, dst, slot, leaf_users):
    if view.units[dst].kind == "elided" and tn.kind not in ("param", "leaf"):
        return                                         # data read by elided steps is elided with them
    scalar = tn.kind == "const" and tn.size == 1 and tn.name is None
    if scalar:                                        # small constants sit next to the op that uses them
        if view.units[dst].kind != "op":
            return
        key = f"const:{dst}:{slot}"
        view.add_unit(Unit(key, "const", f"{tn.value:g}", view.units[dst].cluster, f"constant {tn.dtype}"))
        view.add_edge(key, dst, "data")
        return
    if tn.key not in view.units:
        label = tn.name or ("leaf" if tn.kind == "leaf" else "input")
        info = f"{tn.kind} {tn.dtype}{list(tn.shape)}"
        view.add_unit(Unit(tn.key, tn.kind, label + "\n" + shape_text(tn.shape), (), info))
        view.units[tn.key].grad_norm = tn.grad_norm
    leaf_users.setdefault(tn.key, []).append(dst)
    kind = "param" if tn.kind in ("param", "leaf") else "data"
    view.add_edge(tn.key, dst, kind)


def _add_output(view, graph, unit_of):
    tn = graph.tensors[graph.root]
    src = unit_of.get(tn.op)
    if src is None:
        return
    text = tn.name or ("loss" if tn.size == 1 else "output")
    value = tn.value
    label = f"{text} = {value:.4g}" if value is not None else f"{text}\n{shape_text(tn.shape)}"
    unit = view.add_unit(Unit("output", "output", label, split_time(view.units[src].cluster)[0],
                              f"output {tn.dtype}{list(tn.shape)}"))
    unit.grad_norm = tn.grad_norm
    view.add_edge(src, "output", "data")


def _grad_norms(view, graph, unit_of):
    """An op or cell unit shows the largest gradient norm of the tensors it hands to other units."""
    for tn in graph.tensors.values():
        if tn.op is None or tn.grad_norm is None:
            continue
        src = unit_of.get(tn.op)
        if src is None or view.units[src].kind not in ("op", "cell") or tn.op not in view.units[src].ops:
            continue
        leaves = tn.key == graph.root or any(unit_of.get(c) != src for c in tn.consumers)
        unit = view.units[src]
        if leaves and (unit.grad_norm is None or tn.grad_norm > unit.grad_norm):
            unit.grad_norm = tn.grad_norm


def _common_prefix(paths):
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
