"""Cell detail: fold a layer's input plumbing into its cells, so step t of every layer lines up.

A recurrent layer computes its input projection for all steps at once (stack the layer below's outputs,
one matmul, add the biases, cut into steps). At cell detail that plumbing is part of each cell
application, as in the textbook picture: here each edge from a plumbing op into the cell of step t is
replaced by the edges that reach the plumbing from step t of other layers (and from the parameters it
uses). Inputs read by the plumbing, such as the sequence x, become one node per step: x[t].
Plumbing that nobody else uses disappears. Edges whose plumbing mixes time steps are left as they are.
"""
from .steps import shown
from .units import Edge, Unit, common_prefix

STEP_KINDS = ("cell", "elided")
LEAF_KINDS = ("param", "leaf", "input", "const", "saved")
OPAQUE = "opaque"                                 # a time key no step has: the plumbing is kept as it is


def fold_plumbing(view):
    units = view.units
    ins = {}
    for e in view.edges:
        ins.setdefault(e.dst, []).append(e)
    reach = {}                                    # op unit -> ({t: {step unit: None}}, {leaf unit: None})
    for u in units.values():
        if u.kind == "op":
            reach[u.key] = _reach(u, ins, units, reach)
    steps_of = {g: len(order) for g, order in view.steps.items()}
    removed, new, users = set(), {}, {}
    for e in view.edges:
        src, dst = units[e.src], units[e.dst]
        if src.kind != "op" or dst.kind not in STEP_KINDS:
            continue
        by_t, leaves = reach[src.key]
        if by_t and dst.t not in by_t:
            continue                              # the plumbing mixes time steps: keep it as it is
        removed.add(id(e))
        for s in by_t.get(dst.t, ()):
            kind = "elided" if "elided" in (units[s].kind, dst.kind) else _pass_kind(units[s], dst)
            new.setdefault((s, dst.key), Edge(s, dst.key, kind))
        for leaf in leaves:
            lu = units[leaf]
            if lu.kind in ("param", "leaf"):
                new.setdefault((leaf, dst.key), Edge(leaf, dst.key, "param"))
            else:
                key = _per_step(view, lu, dst, steps_of)
                users.setdefault(key, []).append(view.frames.get(dst.group, ()))
                new.setdefault((key, dst.key), Edge(key, dst.key, _pass_kind(lu, dst)))
    if not removed:
        return
    for key, groups in users.items():              # x[t] sits in the clusters all its readers share
        if "[" in key:
            units[key].cluster = common_prefix(groups)
    kept = [e for e in view.edges if id(e) not in removed]
    there = {(e.src, e.dst, e.kind) for e in kept}         # the same edge twice crashes dot (merge_chain)
    edges = kept + [e for e in new.values() if (e.src, e.dst, e.kind) not in there]
    view.edges = _prune(view, edges)


def _pass_kind(src, dst):
    """'data' in a forward graph; into a backward step (its group ends in 'backward', viz/steps.py):
    'grad' from another backward step, 'saved' from a forward one."""
    if dst.group is None or len(dst.group) < 4:
        return "data"
    return "grad" if src.group is not None and len(src.group) > 3 else "saved"


def _reach(unit, ins, units, reach):
    """The step units (by time step) and leaves that feed `unit` through plumbing ops only."""
    by_t, leaves, shared = {}, {}, None
    sources = ins.get(unit.key, [])
    for e in sources:
        s = units[e.src]
        if s.kind in STEP_KINDS:
            by_t.setdefault(s.t, {})[s.key] = None
        elif s.kind == "op":
            if len(sources) == 1:                  # a chain: share the parent's sets instead of copying
                shared = reach[s.key]
                continue
            sub_t, sub_leaves = reach[s.key]
            for t, keys in sub_t.items():
                by_t.setdefault(t, {}).update(keys)
            leaves.update(sub_leaves)
        elif s.kind in LEAF_KINDS:
            leaves[s.key] = None
        else:                                      # a whole-layer node: what it feeds is not a step's plumbing
            by_t.setdefault(OPAQUE, {})
    return shared if shared is not None else (by_t, leaves)


def _per_step(view, leaf, dst, steps_of):
    """Sequence inputs (first axis = time) become one node per step, x[t]; other inputs stay one node."""
    graph_shape = view.graph.tensors[leaf.key].shape if leaf.key in view.graph.tensors else ()
    if not graph_shape or dst.t is None or (not view.rolled and graph_shape[0] < steps_of.get(dst.group, 0)):
        return leaf.key
    name = leaf.label.split("\n")[0]
    t = "t" if view.rolled else dst.info if dst.kind == "elided" else shown(dst.t)     # step t reads x[t], t = 1..T
    key = f"{leaf.key}[{t}]"
    if key not in view.units:
        shape = "×".join(map(str, graph_shape[1:])) or "scalar"
        view.add_unit(Unit(key, leaf.kind, f"{name}[{t}]\n{shape}", (), f"{leaf.info}, step {t}", t=dst.t))
    return key


def _prune(view, edges):
    """Drop plumbing ops and leaves whose every use was folded away (consumers first)."""
    units = view.units
    outs, ins = {}, {}
    for e in edges:
        outs.setdefault(e.src, []).append(e)
        ins.setdefault(e.dst, []).append(e)
    gone = set()
    ops = [k for k, u in units.items() if u.kind == "op"]
    leaves = [k for k, u in units.items() if u.kind in LEAF_KINDS]
    for key in ops[::-1] + leaves:          # ops in creation order are topological
        if not any(e.dst not in gone for e in outs.get(key, [])):
            gone.add(key)
    for key in gone:
        del units[key]
    return [e for e in edges if e.src not in gone and e.dst not in gone]
