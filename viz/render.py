"""Graphviz rendering: `draw_graph` (a graphviz.Digraph, shown inline by Jupyter) and `render` (a file)."""
import collections
import math
import os
import subprocess
import sys
import warnings

import graphviz

from .capture import capture
from .steps import Frame
from .view import build_view

FORMATS = {".png": "png", ".svg": "svg", ".pdf": "pdf", ".dot": "dot", ".gv": "dot"}
RANKDIRS = ("LR", "TB", "BT", "RL")
LONG = 300                                         # time steps: past this, draw_graph suggests max_steps
NODE_BUDGET = 1500                                 # units + edges: past this, draw_graph elides steps or refuses
MAX_FAN = 150                                      # edges on one unit: past this dot crawls, draw_graph refuses
DOT_TIMEOUT = 120.0                                # seconds dot may run before render gives up
BIG = 400                                          # units: past this, dot's iterations are bounded
BUS_MIN = 3                                        # a unit feeding this many steps gets a bus
STEPS = (Frame("row", "<steps>", "", None),)       # the cluster that holds time steps of the top level
FONT = "Helvetica"
# parameters: one colour each (node border and every edge out of it)
PARAM_COLOURS = ("#2b6cb0", "#c05621", "#2f855a", "#805ad5", "#b83280", "#975a16", "#2c7a7b", "#c53030")
# gradient norm (log scale, low -> high): pale blue-grey for vanishing, through yellow, to dark red
RAMP = ((0.0, (236, 241, 247)), (0.3, (255, 237, 160)), (0.6, (253, 141, 60)), (0.85, (215, 48, 31)),
        (1.0, (127, 0, 0)))
STYLE = {
    "op": dict(fillcolor="#eef3fb", color="#8aa4c8"),
    "cell": dict(fillcolor="#fdebd0", color="#c98a2e", style="rounded,filled,bold", fontsize="12", margin="0.15,0.08"),
    "layer": dict(fillcolor="#fdebd0", color="#c98a2e", style="filled,bold", fontsize="12", margin="0.25,0.12"),
    "param": dict(fillcolor="#ffffff", style="filled", penwidth="2"),
    "leaf": dict(fillcolor="#ffffff", style="filled", penwidth="2"),
    "input": dict(fillcolor="#f2f2f2", style="filled", color="#777777"),
    "const": dict(fillcolor="#f2f2f2", style="filled", color="#999999"),
    "saved": dict(fillcolor="#f3ecfa", style="rounded,filled", color="#7d4fb3"),
    "scalar": dict(shape="plaintext", style="", fontsize="9", height="0", width="0", margin="0.02"),
    "output": dict(fillcolor="#e3f4e1", color="#3b7d3a", style="filled,bold"),
    "elided": dict(fillcolor="#ffffff", color="#888888", style="rounded,dashed,filled", fontcolor="#555555"),
    "delay": dict(fillcolor="#333333", color="#333333", style="filled", fontcolor="#ffffff", fontsize="9",
                  shape="box", width="0", height="0"),
}
GRAD_COLOUR = "#c0392b"                            # edges of the backward pass
EDGE_STYLE = {
    "data": dict(),
    "param": dict(style="dashed", penwidth="0.8"),
    "recurrent": dict(color="#1a5fb4", fontcolor="#1a5fb4", penwidth="1.8"),
    "delay": dict(color="#1a5fb4", fontcolor="#1a5fb4", penwidth="1.8", constraint="false"),
    "elided": dict(style="dashed", color="#888888", fontcolor="#888888"),
    "grad": dict(color=GRAD_COLOUR, fontcolor=GRAD_COLOUR, penwidth="1.4"),    # backward to backward
    "saved": dict(style="dashed", color="#7d4fb3", penwidth="0.9"),               # a forward value the backward reads
}


def draw_graph(root, module=None, detail="op", rolled=False, grads=False, max_steps=None, rankdir="LR",
               names=None, node_budget=NODE_BUDGET, passes="auto"):
    """The graph behind `root` as a graphviz.Digraph (see viz/__init__.py for the options).

    passes: for a gradient taken with create_graph=True, 'backward' (the default, 'auto': the backward pass
    alone, the forward values it reads as 'saved' boxes) or 'both' (forward and backward side by side,
    backward edges red, a backward node reading a forward value dashed); see viz/passes.py.

    node_budget: past this many nodes, the middle steps are elided (with a warning) when max_steps is None,
    and a ValueError asks for a smaller max_steps otherwise; None: no limit."""
    if rankdir not in RANKDIRS:
        raise ValueError(f"viz: rankdir must be one of {RANKDIRS}, got {rankdir!r}")
    graph = capture(root, module, names, grads=grads)
    if grads and all(t.grad_norm is None for t in graph.tensors.values()):
        raise RuntimeError("viz: grads=True but no tensor in the graph has a .grad; run "
                           "loss.backward(retain_graph=True) first (and viz.retain_grads(loss) before it to "
                           "keep the gradient of every intermediate tensor)")
    view = build_view(graph, detail, rolled, max_steps, passes)
    steps = max((len(order) for order in view.steps.values()), default=0)
    size = _size(view)
    if node_budget is not None and size > node_budget and max_steps is None and steps > 3 and not rolled:
        k = max(1, int(node_budget * steps / size) // 2 - 1)
        full, view = size, build_view(graph, detail, rolled, k, passes)
        steps, size = max((len(order) for order in view.steps.values()), default=0), _size(view)
        if size <= node_budget and _fan(view) <= MAX_FAN:
            warnings.warn(f"viz: {full} nodes and edges is over the budget of {node_budget}; drawing the first and "
                          f"last {k} steps only (choose with max_steps / --max-steps)", stacklevel=2)
    fan = _fan(view)
    if node_budget is not None and (size > node_budget or fan > MAX_FAN):
        raise ValueError(f"viz: too big for Graphviz ({size} nodes and edges, up to {fan} edges on one node; budget "
                         f"{node_budget} and {MAX_FAN}); use --detail cell with --max-steps, or fewer --steps")
    if steps > LONG:
        warnings.warn(f"viz: drawing {steps} time steps; Graphviz may take a minute. Pass max_steps=k to keep "
                      "the first and last k steps and elide the rest.", stacklevel=2)
    return to_digraph(view, grads, rankdir)


def render(root, path, timeout=DOT_TIMEOUT, **options):
    """Draw the graph behind `root` into `path`; the extension picks the format (.png .svg .pdf .dot).

    timeout: seconds Graphviz's dot may run (RuntimeError past it; dot is killed, and dies with this process)."""
    ext = os.path.splitext(str(path))[1].lower()
    if ext not in FORMATS:
        raise ValueError(f"viz: cannot tell the format from {str(path)!r}; use one of {sorted(FORMATS)}")
    dot = draw_graph(root, **options)
    data = dot.source.encode() if FORMATS[ext] == "dot" else run_dot(dot.source, FORMATS[ext], timeout)
    with open(path, "wb") as f:
        f.write(data)
    return path


def _fan(view):
    """The most edges on one unit."""
    return max(collections.Counter([e.src for e in view.edges] + [e.dst for e in view.edges]).values(), default=0)


def _size(view):
    return len(view.units) + len(view.edges)


def run_dot(source, fmt, timeout=DOT_TIMEOUT):
    """dot -T<fmt> on `source` -> bytes, killed after `timeout` seconds (and, on Linux, when this process dies)."""
    try:
        done = subprocess.run(["dot", f"-T{fmt}"], input=source.encode(), capture_output=True, timeout=timeout,
                              preexec_fn=_die_with_parent if sys.platform.startswith("linux") else None)
    except FileNotFoundError:
        raise RuntimeError("viz: Graphviz's `dot` is not installed (apt install graphviz / brew install "
                           "graphviz), or write a .dot file") from None
    except subprocess.TimeoutExpired:
        raise RuntimeError(f"viz: dot took more than {timeout:g} s and was stopped; draw fewer steps "
                           "(--max-steps) or --detail cell") from None
    if done.returncode:
        err = done.stderr.decode(errors="replace").strip().splitlines()
        raise RuntimeError(f"viz: dot failed (exit {done.returncode}): {err[-1] if err else 'no message'}")
    return done.stdout


def _die_with_parent():
    import ctypes
    import signal
    try:
        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)        # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass


def to_digraph(view, grads=False, rankdir="LR"):
    """DOT text for a View, wrapped in a graphviz.Digraph.

    Time runs along the ranks (`rankdir`), where dot's constraints are exact: step t+1 comes after step t.
    At cell detail step t of every layer (and its input x[t]) shares one rank, so layers line up as a grid;
    a reverse-direction state edge is written backwards (dir=back) so that it too runs with time.
    """
    cells = view.detail == "cell" and not view.rolled
    dot = graphviz.Digraph("minigrad", graph_attr=dict(
        rankdir=rankdir, newrank="true", fontname=FONT, nodesep="0.2", ranksep="0.3", labeljust="l"),
        node_attr=dict(fontname=FONT, fontsize="10", shape="box", style="rounded,filled", height="0.3",
                       margin="0.08,0.04"),
        edge_attr=dict(fontname=FONT, fontsize="9", arrowsize="0.6", color="#555555"))
    if len(view.units) > BIG:                      # bound dot's iterations: seconds, not minutes, for 1000s of steps
        dot.graph_attr.update(nslimit="0.02", nslimit1="0.02", mclimit="0.05", splines="line")
    scale = _grad_scale(view) if grads else None
    colours = {}
    for unit in view.units.values():
        if unit.kind in ("param", "leaf"):
            colours[unit.key] = PARAM_COLOURS[len(colours) % len(PARAM_COLOURS)]
    members, children = _cluster_tree(view)
    drawn = set()                                  # (tail, head) pairs already joined by an edge
    bus_nodes, edge_lines = _edges(view, colours, cells, drawn)
    body = dot.body
    stack = [((), 0)]
    while stack:                                   # clusters, nested, without recursion
        path, state = stack.pop()
        depth = "\t" * len(path)
        if state == 1:
            body.append(depth + "}\n")
            continue
        if path:
            body.append(depth[:-1] + f"\tsubgraph {_quote('cluster_' + '/'.join(f.key for f in path))} {{\n")
            body.append(depth + "\t" + _attrs(_cluster_style(view, path), sep="; ") + "\n")
            stack.append((path, 1))
        for key in members.get(path, []):
            body.append(depth + "\t" + _node(view.units[key], colours, scale) + "\n")
        body.extend(depth + "\t" + line + "\n" for line in bus_nodes.get(path, []))
        stack.extend((c, 0) for c in reversed(children.get(path, [])))
    body.extend(edge_lines)
    if not cells and not view.rolled:
        body.extend(_step_order(view, drawn))
    if cells:
        columns = {}
        for unit in view.units.values():
            if unit.t is not None:
                columns.setdefault(unit.t, []).append(unit.key)
        for t in sorted(columns):
            body.append("\t{rank=same; " + "; ".join(map(_quote, columns[t])) + "}\n")
    if scale is not None:
        body.append("\t" + _legend(scale, any(u.grad_norm is None for u in view.units.values()
                                                if u.kind in ("op", "cell", "layer"))) + "\n")
    return dot


def _edges(view, colours, cells, drawn):
    """DOT lines for the edges. A unit that feeds many time steps (a parameter, the cut input projection)
    gets a bus: one line running along the steps with a tap into each; edges gathered from many steps (into
    a stack of outputs) share one the same way. Every edge then spans about one rank, so the layout grows
    linearly with the number of steps (a direct fan would need ~T^2/2 bends). `drawn` collects the (tail, head)
    pairs of the edges written."""
    units = view.units
    order = {k: i for i, k in enumerate(units)}
    when = (lambda u: (u.t, order[u.key])) if cells else (lambda u: (order[u.key],))
    fan_out, fan_in, lines, nodes = {}, {}, [], {}
    for e in view.edges:
        src, dst = units[e.src], units[e.dst]
        if src.t is None and dst.t is not None and src.kind not in ("elided", "delay"):
            fan_out.setdefault(e.src, []).append(e)
        elif src.t is not None and dst.t is None and dst.kind not in ("elided", "delay"):
            fan_in.setdefault(e.dst, []).append(e)
    bundled = set()
    for key, edges, side in [(k, v, "dst") for k, v in fan_out.items()] + [(k, v, "src") for k, v in fan_in.items()]:
        steps = {}
        for e in edges:
            u = units[getattr(e, side)]
            steps.setdefault((u.group, u.t), []).append(e)
        if len(steps) < BUS_MIN:
            continue
        colour = colours.get(key, EDGE_STYLE[edges[0].kind].get("color", "#555555"))
        taps = sorted(steps.values(), key=lambda es: when(units[getattr(es[0], side)]))
        points = [f"bus:{key}:{i}" for i in range(len(taps))]
        for p in points:
            nodes.setdefault(units[key].cluster, []).append(
                f"{_quote(p)} [shape=point, width=0.05, height=0.05, color={_quote(colour)}]")
        line = dict(EDGE_STYLE[edges[0].kind], color=colour, arrowhead="none")
        line.pop("label", None)
        chain = ([key] + points) if side == "dst" else (points + [key])
        for a, b in zip(chain, chain[1:]):
            attrs = dict(line) if b != key else dict(line, arrowhead="normal")
            lines.append(f"\t{_quote(a)} -> {_quote(b)}{_attrs(attrs, brackets=True)}\n")
        for p, es in zip(points, taps):
            for e in es:
                bundled.add(id(e))
                if side == "dst":
                    lines.append(_edge(view, e, colours, cells, src=p))
                else:
                    lines.append(_edge(view, e, colours, cells, dst=p, arrowhead="none"))
    return nodes, [_edge(view, e, colours, cells, drawn=drawn) for e in view.edges if id(e) not in bundled] + lines


def _edge(view, edge, colours, cells, src=None, dst=None, arrowhead=None, drawn=None):
    attrs = dict(EDGE_STYLE[edge.kind])
    if arrowhead:
        attrs["arrowhead"] = arrowhead
    a, b = src or edge.src, dst or edge.dst
    src, dst = view.units[edge.src], view.units[edge.dst]
    same = src.group is not None and src.group == dst.group
    if same and not cells:
        attrs["weight"] = "4"                      # keep a step's ops together, in data-flow order
    start = view.initial.get(edge.src)
    if same and cells and ((src.t is not None and dst.t is not None and src.t > dst.t)
                           or (start is not None and start.backwards)):
        a, b = b, a                                # reverse direction: drawn backwards, laid out with time
        attrs["dir"] = "back"
    if same and cells and edge.kind == "recurrent":
        attrs["weight"] = "10"                     # a layer's chain of cells runs straight along time
    if edge.kind == "param":
        attrs["color"] = colours[edge.src]
    if edge.label:
        attrs["label"] = edge.label
    if drawn is not None:
        if (a, b) in drawn:                        # a second edge between the same two units (an LSTM's c_t
            attrs["constraint"] = "false"          # beside h_t): the first one sets the layout, else dot
        drawn.add((a, b))                          # bends the chain where the two labels sit side by side
    return f"\t{_quote(a)} -> {_quote(b)}{_attrs(attrs, brackets=True)}\n"


def _step_order(view, drawn):
    """Op detail: an invisible edge from the last op of each step to the first op of the next one (in the
    order they ran) keeps the steps of one group apart along the time axis, even without a state edge. Where a
    state edge already joins the two ops (a fused step) it is left out: a parallel edge beside the labelled
    one would bend the chain."""
    steps = {}
    for i, unit in enumerate(view.units.values()):
        if unit.group is not None and unit.kind == "op":
            steps.setdefault(unit.group, {}).setdefault(unit.t, []).append(unit.key)
    lines = []
    for by_t in steps.values():
        ran = sorted(by_t.values(), key=lambda keys: int(keys[0][2:]))
        for a, b in zip(ran, ran[1:]):
            if (a[-1], b[0]) not in drawn:
                lines.append(f"\t{_quote(a[-1])} -> {_quote(b[0])} [style=invis]\n")
    return lines


def _cluster_tree(view):
    """{cluster path: unit keys directly inside} and {cluster path: child cluster paths}, in drawing order."""
    members, children = {(): []}, {}
    for unit in view.units.values():
        path = unit.cluster
        members.setdefault(path, []).append(unit.key)
        while path:
            parent = path[:-1]
            kids = children.setdefault(parent, [])
            if path in kids:
                break
            kids.append(path)
            members.setdefault(path, [])
            path = parent
    for kids in children.values():                 # time steps in time order, the rest as they came
        kids.sort(key=lambda p: p[-1].t if p[-1].kind == "time" else -1)
    top = [p for p in children.get((), []) if p[-1].kind == "time"]
    if top:                                        # top-level steps: one borderless row that holds them
        children[()] = [p for p in children[()] if p not in top] + [STEPS]
        children[STEPS] = top
        members[STEPS] = [k for k in members[()] if view.units[k].kind == "elided"]
        members[()] = [k for k in members[()] if k not in members[STEPS]]
    return members, children


def _cluster_style(view, path):
    if path == STEPS:
        return dict(label="", style="invis")
    frame = path[-1]
    if frame.kind == "time":
        label = "each step t" if view.rolled else frame.title
        return dict(label=label, style="rounded,dashed" if view.rolled else "rounded", color="#9a9a9a",
                    fontsize="10", fontcolor="#555555")
    if frame.kind == "pass":
        return dict(label=frame.title, style="rounded,dashed", color=GRAD_COLOUR, fontcolor=GRAD_COLOUR,
                    fontsize="12")
    if frame.kind == "layer":
        return dict(label=frame.title, style="rounded,filled", fillcolor="#f6f6f6", color="#c8c8c8", fontsize="11")
    return dict(label=frame.title, style="rounded", color="#7a7a7a", fontsize="12")


def _node(unit, colours, scale):
    kind = "scalar" if unit.key.startswith("const:") else unit.kind
    attrs = dict(STYLE.get(kind, {}))
    attrs["label"] = unit.label if kind not in ("cell", "layer") or not unit.info else f"{unit.label}\n{unit.info}"
    if unit.kind in ("param", "leaf"):
        attrs["color"] = attrs["fontcolor"] = colours[unit.key]
    if unit.info:
        attrs["tooltip"] = unit.info
    if scale is not None and unit.kind in ("op", "cell", "layer", "param", "leaf", "output"):
        if unit.grad_norm is None:
            attrs["fillcolor"] = "#ffffff"
        else:
            rgb, dark = _ramp(scale, unit.grad_norm)
            attrs["fillcolor"] = rgb
            attrs["fontcolor"] = "#ffffff" if dark else "#000000"
            attrs["tooltip"] = f"{unit.info}  |grad| = {unit.grad_norm:.3g}".strip()
    return _quote(unit.key) + _attrs(attrs, brackets=True)


def _grad_scale(view):
    norms = [u.grad_norm for u in view.units.values() if u.grad_norm is not None and u.grad_norm > 0]
    if not norms:
        return (0.0, 1.0)
    lo, hi = math.floor(math.log10(min(norms))), math.ceil(math.log10(max(norms)))
    return (max(lo, hi - 12), hi if hi > lo else lo + 1)


def _ramp(scale, norm):
    lo, hi = scale
    x = 0.0 if norm <= 0 else min(max((math.log10(norm) - lo) / (hi - lo), 0.0), 1.0)
    for (x0, c0), (x1, c1) in zip(RAMP, RAMP[1:]):
        if x <= x1:
            f = (x - x0) / (x1 - x0)
            rgb = tuple(round(a + f * (b - a)) for a, b in zip(c0, c1))
            return "#%02x%02x%02x" % rgb, x > 0.75
    return "#%02x%02x%02x" % RAMP[-1][1], True


def _legend(scale, missing):
    lo, hi = scale
    step = max(1, math.ceil((hi - lo) / 6))
    cells = []
    for e in range(lo, hi + 1, step):
        colour, dark = _ramp(scale, 10.0 ** e)
        cells.append(f'<TD BGCOLOR="{colour}"><FONT COLOR="{"white" if dark else "black"}">1e{e}</FONT></TD>')
    extra = '<TD BGCOLOR="white">none kept</TD>' if missing else ""
    return ('"legend" [shape=plaintext, style="", label=<<TABLE BORDER="0" CELLBORDER="1" CELLSPACING="0" '
            f'CELLPADDING="4"><TR><TD COLSPAN="{len(cells) + bool(missing)}">gradient norm |dL/d·|</TD></TR>'
            f'<TR>{"".join(cells)}{extra}</TR></TABLE>>]')


def _quote(s):
    return '"' + str(s).replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'


def _attrs(attrs, brackets=False, sep=", "):
    text = sep.join(f"{k}={_quote(v)}" for k, v in attrs.items())
    return (f" [{text}]" if text else "") if brackets else text
