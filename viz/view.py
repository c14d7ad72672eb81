"""What to draw: a captured Graph reduced to units (boxes), clusters and edges for one choice of options.

Where an op sits comes from the facts the recurrent loop recorded on it (viz.steps): its group (module,
layer, direction) and its time step t; layers and steps are never parsed out of scope names (module clusters
show the scope names as they are).
- detail='cell' collapses each step's ops into one 'cell' unit named from the `cell` fact ('LSTM cell');
  detail='op' keeps one unit per op. A layer run as one node (granularity 'layer', `unroll=False`) is one
  'layer' unit at either detail.
- rolled=True folds every step of a group onto one representative step; edges from step to step become
  a recurrent edge through a 'delay' unit (the textbook circuit diagram).
- max_steps=k keeps the first and last k steps of each group and replaces the rest by one 'elided' unit.
Leaves (parameters, inputs) are drawn once, outside the time clusters; the output is drawn after its op.
A group's initial state (the zeros a layer makes when no h0 is passed, or a given h0 that is a leaf) belongs
to no step: it is drawn in the group's cluster as h₀ (c₀, ...; a name from `names` is kept), its edge starts
the chain of state edges, and a rolled picture feeds it into the delay (see `_initial_states`).
A graph that holds a backward pass (create_graph=True) is drawn as viz/passes.py says: its edges are
'grad' (backward to backward), 'saved' (a forward value read by the backward) or forward edges as above.
"""
from collections import namedtuple

from . import passes as passes_
from .fold import fold_plumbing
from .steps import BACKWARD, group_frames, group_name, locate, shown, split_frames, time_frame
from .units import Edge, Unit, common_prefix, shape_text

PLUMBING = ("GetItem", "Reshape", "Unbind", "Split", "Permute", "Cast")   # left out of a step's description
GATES = {"LSTM": "ifgo", "GRU": "rzn"}          # the pieces of the built-in cells' gate split, in order
SUBSCRIPT = str.maketrans("0123456789", "₀₁₂₃₄₅₆₇₈₉")
UNROLL_NOTE = "unroll=True draws its steps"
# A group's initial state: its `group`, the `state` it starts ('h', 'c': the name the state edges carry),
# `first`, the step that reads it, and `backwards`: the group ran from its last step (a layer run in reverse).
InitialState = namedtuple("InitialState", "group state first backwards")


class View:
    """`units` (key -> Unit), `edges`, `steps` ({group: [time-step frames or elided unit key, in time order]}),
    `frames` ({group: the clusters around it}), `rep` (rolled: {group: the step drawn}), `initial` ({leaf key:
    InitialState}: the groups' initial states) and the options."""

    def __init__(self, graph, detail, rolled, max_steps, passes="forward"):
        self.graph, self.detail, self.rolled, self.max_steps = graph, detail, rolled, max_steps
        self.passes = passes                       # 'forward' (no backward nodes), 'backward' or 'both'
        self.units, self.edges, self.steps, self.frames, self.rep = {}, [], {}, {}, {}
        self.initial = {}
        self.whole = graph                         # the captured graph, before backward_only left out the forward
        self._seen, self._ids = set(), {}

    def add_unit(self, unit):
        return self.units.setdefault(unit.key, unit)

    def add_edge(self, src, dst, kind, label="", ident=None):
        ident = (src, dst, kind, label) if ident is None else ident
        if ident not in self._seen:
            self._seen.add(ident)
            self.edges.append(Edge(src, dst, kind, label))

    def group_id(self, group):
        """A group as a unique piece of a unit key: its clusters' keys ('rnn/layer0_reverse')."""
        name = self._ids.get(group)
        if name is None:
            name = "/".join(f.key for f in self.frames[group])
            if name in self._ids.values():
                name += f"#{len(self._ids)}"
            self._ids[group] = name
        return name


def build_view(graph, detail="op", rolled=False, max_steps=None, passes="auto"):
    """The units and edges to draw for `graph` (see the module docstring for the options; `passes`: see
    viz/passes.py)."""
    if detail not in ("op", "cell"):
        raise ValueError(f"viz: detail must be 'op' or 'cell', got {detail!r}")
    if max_steps is not None and (isinstance(max_steps, bool) or not isinstance(max_steps, int) or max_steps < 1):
        raise ValueError(f"viz: max_steps must be a positive int (the steps kept at each end), got {max_steps!r}")
    passes = passes_.choose(graph, passes)
    if passes != "forward" and rolled:
        raise ValueError("viz: rolled=True draws a forward graph; draw a backward pass unrolled (rolled=False)")
    whole = graph                                  # names the forward op of each backward op
    if passes == "backward":
        graph = passes_.backward_only(graph)
    view = View(graph, detail, rolled, max_steps, passes)
    view.whole = whole
    where = dict(zip(graph.ops, locate(list(graph.ops.values()))))      # op key -> Place
    steps = {}                                        # group -> {t: [op keys in creation order]}
    for k, p in where.items():
        if p.group is not None:
            view.frames.setdefault(p.group, group_frames(p.group))
        if p.t is not None:
            steps.setdefault(p.group, {}).setdefault(p.t, []).append(k)
    keep, twin = _choose_steps(view, graph, steps, where)
    unit_of = {}
    for k, op in graph.ops.items():
        p = where[k]
        if p.t is None and p.group is not None and p.meta.get("granularity") == "layer":
            unit = view.add_unit(Unit("layer:" + view.group_id(p.group), "layer", "", view.frames[p.group]))
            unit.ops.append(k)
            unit_of[k] = unit.key
        elif p.t is None:
            unit_of[k] = _op_unit(view, op, p.frames).key
        elif not rolled and p.t not in keep[p.group]:
            unit_of[k] = "elided:" + view.group_id(p.group)
        elif detail == "cell":
            t = view.rep[p.group] if rolled else p.t
            key = f"cell:{view.group_id(p.group)}/t{t}"
            unit = view.add_unit(Unit(key, "cell", "", view.frames[p.group] + (time_frame(t),), group=p.group, t=p.t))
            if not rolled or p.t == t:
                unit.ops.append(k)
            unit_of[k] = unit.key
        else:
            target = graph.ops[twin[k]] if rolled and k in twin else None if rolled else op
            if target is not None:
                tp = where[target.key]
                unit_of[k] = _op_unit(view, target, tp.frames, tp.group, tp.t).key
    for unit in view.units.values():
        if unit.kind in ("cell", "layer"):
            unit.label, unit.info = _cell_label(unit, [graph.ops[k] for k in unit.ops], where)
            if unit.ops and BACKWARD in where[unit.ops[0]].meta:
                unit.label = "∂ " + unit.label     # the backward of that cell
    _add_edges(view, graph, where, unit_of, steps)
    _add_output(view, graph, unit_of)
    _grad_norms(view, graph, unit_of)
    if detail == "cell":
        fold_plumbing(view)
    return view


def _choose_steps(view, graph, steps, where):
    """Per group, the kept time steps (rolled: only the representative one) and, rolled, each op's twin
    in the representative step (same place in the sub-scope, same op, same occurrence number)."""
    keep, twin = {}, {}
    for group, by_t in steps.items():
        ts, frames = sorted(by_t), view.frames[group]
        if view.rolled:                            # the step that ran last: its state came from a full step
            r = max(ts, key=lambda t: graph.ops[by_t[t][0]].id)
            keep[group], view.rep[group] = [r], r
            view.steps[group] = [frames + (time_frame(r),)]
            sig = {s: k for k, s in _signatures(graph, by_t[r], where).items()}
            for t in ts:
                for k, s in _signatures(graph, by_t[t], where).items():
                    if s in sig:
                        twin[k] = sig[s]
            continue
        k = view.max_steps
        order = [frames + (time_frame(t),) for t in ts]
        if k is not None and len(ts) > 2 * k + 1:
            gone = ts[k:len(ts) - k]
            eid = "elided:" + view.group_id(group)
            view.add_unit(Unit(eid, "elided", f"⋯ {len(gone)} steps ⋯\nt={shown(gone[0])} … t={shown(gone[-1])}",
                               frames, f"{shown(gone[0])}…{shown(gone[-1])}", group=group, t=gone[0]))
            keep[group] = set(ts[:k] + ts[len(ts) - k:])
            order = order[:k] + [eid] + order[len(ts) - k:]
        else:
            keep[group] = set(ts)
        view.steps[group] = order
    return keep, twin


def _signatures(graph, keys, where):
    seen, out = {}, {}
    for k in keys:
        base = (where[k].rest, graph.ops[k].name)
        seen[base] = n = seen.get(base, -1) + 1
        out[k] = base + (n,)
    return out


def _op_unit(view, op, cluster, group=None, t=None):
    unit = view.units.get(op.key)
    if unit is None:
        info = f"{op.name} #{op.key[2:]}"
        if passes_.is_backward(op):
            info += f", backward of {passes_.forward_name(view.whole, op)}"
        unit = view.add_unit(Unit(op.key, "op", op_label(op), cluster, info, group, t))
        unit.ops.append(op.key)
    return unit


def _cell_label(unit, ops, where):
    """A cell is named by its `cell` fact ('LSTM cell', 'Peephole cell'); a step without one by what it
    does: its sub-modules and ops (without the indexing), e.g. 'readout, Sub, Pow, Mean'. A whole-layer
    node names itself ('LSTM layer (50 steps)')."""
    n = len(ops)
    more = f"{n} ops" if n > 1 else ""
    cell = next((where[op.key].meta["cell"] for op in ops if where[op.key].meta.get("cell")), None)
    if unit.kind == "layer":
        own = [op.label for op in ops if op.label != op.name]
        return (own[0] if own else f"{cell or 'recurrent'} layer"), "\n".join(filter(None, (more, UNROLL_NOTE)))
    if cell is not None:
        return f"{cell} cell", more
    parts = [where[op.key].rest[0] if where[op.key].rest else op.label
             for op in ops if where[op.key].rest or op.name not in PLUMBING]
    distinct = list(dict.fromkeys(parts)) or [op.label for op in ops[:1]]
    return ", ".join(distinct[:4]) + (", …" if len(distinct) > 4 else ""), more


def op_label(op):
    """How the op names itself (`node.label()`); a plain class name gets its telling argument:
    'GetItem [3]', 'Sum axis=0'."""
    a = op.attrs
    if op.label != op.name:
        return op.label
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


def _recurrent(s, d):
    """An edge from place s to place d carries state from one step of a group to another."""
    return d.t is not None and s.group == d.group and s.t not in (None, d.t)


def _state_names(graph, where, crossing):
    """Name the tensors a step passes to another step: the last one made is 'h', the one before 'c'."""
    by_step = {}
    for tkey in crossing:
        p = where[graph.tensors[tkey].op]
        by_step.setdefault((p.group, p.t), []).append(tkey)
    names = {}
    for keys in by_step.values():
        keys.sort(key=lambda k: (int(graph.tensors[k].op[2:]), -graph.tensors[k].index))
        for i, k in enumerate(reversed(keys)):
            names[k] = ("h", "c")[i] if i < 2 else f"s{i}"
    return names


def _initial_states(graph, where, steps, names):
    """{leaf key: InitialState}: the leaves that start a group's recurrence. A structural fact, no guess: a
    tensor without a graph that the group's first step reads where its second step (the same op at the same
    place, same occurrence, same input slot) reads a state the first step made. The steps are taken in the
    order they ran, so a layer run in reverse starts at t = T. A group of one step shows no such fact."""
    found = {}
    for group, by_t in steps.items():
        if len(by_t) < 2 or len(group) > 3:            # a backward group's inputs are gradients, not states
            continue
        first, second = sorted(by_t, key=lambda t: graph.ops[by_t[t][0]].id)[:2]
        backwards = first == max(by_t)
        twin = {s: k for k, s in _signatures(graph, by_t[second], where).items()}
        for k, s in _signatures(graph, by_t[first], where).items():
            if s not in twin:
                continue
            for a, b in zip(graph.ops[k].inputs, graph.ops[twin[s]].inputs):
                made = graph.tensors[b].op
                if (graph.tensors[a].op is None and b in names and where[made].group == group
                        and where[made].t == first):
                    found.setdefault(a, InitialState(group, names[b], first, backwards))
    return found


def _add_edges(view, graph, where, unit_of, steps):
    units, rolled, fine = view.units, view.rolled, view.detail == "op" and not view.rolled
    crossing = set()
    for op in graph.ops.values():
        for tkey in op.inputs:
            src = graph.tensors[tkey].op
            if src is not None and _recurrent(where[src], where[op.key]):
                crossing.add(tkey)
    names = _state_names(graph, where, crossing)
    view.initial = _initial_states(graph, where, steps, names)
    delays = {}                                        # rolled: (group, state name) -> its delay unit
    leaf_users = {}
    for op in graph.ops.values():
        dst, d = unit_of.get(op.key), where[op.key]
        if dst is None or (rolled and d.t is not None and d.t != view.rep[d.group]):
            continue                                   # rolled: only the representative step's inputs
        for slot, tkey in enumerate(op.inputs):
            tn = graph.tensors[tkey]
            if tn.op is None:
                _leaf_edge(view, tn, dst, slot, leaf_users)
                continue
            src, s = unit_of.get(tn.op), where[tn.op]
            if src is None or (rolled and s.t is not None and s.t != view.rep[s.group]
                               and (s.group != d.group or d.t is None)):
                continue                               # rolled: outputs come from the representative step only
            recurrent = _recurrent(s, d)
            if src == dst and (not recurrent or units[src].kind == "elided"):
                continue
            kind = ("elided" if "elided" in (units[src].kind, units[dst].kind) else
                    "recurrent" if recurrent else "data")
            back = BACKWARD in d.meta
            if back and kind != "elided":
                kind = "grad" if BACKWARD in s.meta else "saved"
            label = ""
            if tn.name and not back:
                label = tn.name                             # the user named this tensor: names={"context": h}
            elif recurrent and back:
                label = "∂" + str(s.t).translate(SUBSCRIPT)     # ∂h_k: the gradient of the state entering step s
            elif recurrent:
                label = names[tkey] + ("" if rolled else str(shown(s.t)).translate(SUBSCRIPT))   # step t makes h_t
            elif graph.ops[tn.op].n_out > 1 and units[src].kind == "op":
                label = _piece_label(graph, where, tn, steps, rolled)
            if kind == "elided":                         # what flows into or out of the elided steps:
                view.add_edge(src, dst, kind)              # one edge stands for every tensor
                continue
            if recurrent and rolled:
                delay = view.add_unit(Unit(f"delay:{src}:{names[tkey]}", "delay", "delay\n1 step", view.frames[s.group],
                                           f"{names[tkey]} waits one time step"))
                delays.setdefault((s.group, names[tkey]), delay.key)
                view.add_edge(src, delay.key, "recurrent", names[tkey])
                view.add_edge(delay.key, dst, "delay", f"{names[tkey]}(t−1)")
                continue
            view.add_edge(src, dst, kind, label, ident=(src, dst, tkey, slot) if fine else None)
    for tkey, start in view.initial.items():    # rolled: the delay holds the initial state before step 1
        if rolled and (start.group, start.state) in delays:
            _leaf_unit(view, graph.tensors[tkey])
            leaf_users.setdefault(tkey, []).append(delays[start.group, start.state])
            view.add_edge(tkey, delays[start.group, start.state], _leaf_kind(view, graph.tensors[tkey]))
    for tkey, users in leaf_users.items():       # a leaf sits where its users are, outside their time
        unit = units[tkey]                         # steps unless it is data that one step alone reads
        outside, step = split_frames(common_prefix([units[u].cluster for u in users]))
        local = (step is not None and not rolled and unit.kind in ("input", "const", "saved")
                 and tkey not in view.initial)     # an initial state belongs to no step
        unit.cluster = outside + (step,) if local else outside
        unit.t = step.t if local else None
        if tkey in view.initial:
            unit.group = view.initial[tkey].group


def _piece_label(graph, where, tn, steps, rolled):
    """Which piece of a multi-output op an edge carries: the gate (i f g o, r z n) or the index [t]."""
    op, p = graph.ops[tn.op], where[tn.op]
    if p.t is not None:
        gates = GATES.get(p.meta.get("cell"), "")
        if len(gates) == op.n_out:
            return gates[tn.index]
    return "[t]" if rolled and p.t is None and op.n_out == len(steps.get(p.group, ())) else f"[{tn.index}]"


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
    _leaf_unit(view, tn)
    leaf_users.setdefault(tn.key, []).append(dst)
    view.add_edge(tn.key, dst, _leaf_kind(view, tn))


def _leaf_unit(view, tn):
    """The box of a leaf: its name, or what it is ('input', 'leaf', an initial state 'h₀')."""
    if tn.key in view.units:
        return view.units[tn.key]
    start = view.initial.get(tn.key)
    label = tn.name or ("leaf" if tn.kind == "leaf" else "input" if view.passes == "forward" else "constant")
    info = f"{tn.kind} {tn.dtype}{list(tn.shape)}"
    if start is not None:
        label = tn.name or start.state + "0".translate(SUBSCRIPT)
        where = f" of {group_name(start.group)}" if group_frames(start.group) else ""
        info = f"the initial state {start.state}{'0'.translate(SUBSCRIPT)}{where}: {info}"
    unit = view.add_unit(Unit(tn.key, tn.kind, label + "\n" + shape_text(tn.shape), (), info))
    unit.grad_norm = tn.grad_norm
    return unit


def _leaf_kind(view, tn):
    """The edge out of a leaf: a parameter's (dashed, in its colour), a state's (an initial state starts the
    chain of state edges) or data."""
    if tn.kind == "param" or (tn.kind == "leaf" and tn.key not in view.initial):
        return "param"
    return "recurrent" if tn.key in view.initial else "saved" if tn.kind == "saved" else "data"


def _add_output(view, graph, unit_of):
    tn = graph.tensors[graph.root]
    src = unit_of.get(tn.op)
    if src is None:
        return
    text = tn.name or ("gradient" if view.passes != "forward" else "loss" if tn.size == 1 else "output")
    value = tn.value
    label = f"{text} = {value:.4g}" if value is not None else f"{text}\n{shape_text(tn.shape)}"
    unit = view.add_unit(Unit("output", "output", label, split_frames(view.units[src].cluster)[0],
                              f"output {tn.dtype}{list(tn.shape)}"))
    unit.grad_norm = tn.grad_norm
    view.add_edge(src, "output", "grad" if view.passes != "forward" else "data")


def _grad_norms(view, graph, unit_of):
    """An op or cell unit shows the largest gradient norm of the tensors it hands to other units."""
    for tn in graph.tensors.values():
        if tn.op is None or tn.grad_norm is None:
            continue
        src = unit_of.get(tn.op)
        if src is None or view.units[src].kind not in ("op", "cell", "layer") or tn.op not in view.units[src].ops:
            continue
        leaves = tn.key == graph.root or any(unit_of.get(c) != src for c in tn.consumers)
        unit = view.units[src]
        if leaves and (unit.grad_norm is None or tn.grad_norm > unit.grad_norm):
            unit.grad_norm = tn.grad_norm
