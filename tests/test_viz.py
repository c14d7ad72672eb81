"""viz: graph capture, the DOT structure of unrolled/rolled/elided pictures, rendering with dot, gradient flow."""
import json
import re
import shutil
import xml.etree.ElementTree as ET

import numpy as np
import pytest

import minigrad as mg
import viz
from minigrad import nn
from viz import demo
from viz.__main__ import main as cli
from viz.render import run_dot

needs_dot = pytest.mark.skipif(shutil.which("dot") is None, reason="Graphviz 'dot' is not installed")


# ----------------------------------------------------------------------------- helpers

def loop_facts(module, cell="RNN", layer=0, direction="forward", granularity="ops"):
    """The facts a recurrent loop records on the nodes of one layer-direction (mg.annotate)."""
    return mg.annotate(module=module, layer=layer, direction=direction, cell=cell, granularity=granularity)


def hand_rnn(T=5, B=2, I=3, H=4, loss_at="all", step_scope="t={}"):
    """The issue's hand-built RNN: projection for all steps, then tanh(xw[t] + h U^T), annotated as the
    loop of nn.RNN annotates its nodes (the scopes 'l0' / 't=k' only name them for error messages)."""
    W = mg.randn(H, I, requires_grad=True)
    U = mg.randn(H, H, requires_grad=True)
    xs = mg.randn(T, B, I)
    h = mg.zeros(B, H)
    hs = []
    with mg.scope("rnn"), loop_facts(("rnn",)), mg.scope("l0"):
        xw = xs @ W.T
        for t in range(T):
            with mg.annotate(t=t), mg.scope(step_scope.format(t)):
                h = (xw[t] + h @ U.T).tanh()
                hs.append(h)
    loss = mg.stack(hs).sum() if loss_at == "all" else (hs[-1] ** 2).sum()
    return loss, W, U, hs


def hand_lstm(T=3, B=2, I=3, H=4):
    """A fine-grained LSTM written out op by op; every step makes exactly 17 ops (counted below)."""
    W = mg.randn(4 * H, I, requires_grad=True)
    U = mg.randn(4 * H, H, requires_grad=True)
    xs = mg.randn(T, B, I)
    h, c = mg.zeros(B, H), mg.zeros(B, H)
    with mg.scope("lstm"), loop_facts(("lstm",), "LSTM"), mg.scope("l0"):
        xw = xs @ W.T                                                  # Permute, MatMul (outside the steps)
        for t in range(T):
            with mg.annotate(t=t), mg.scope(f"t={t}"):
                gates = xw[t] + h @ U.T                                # GetItem, Permute, MatMul, Add: 4
                i, f, g, o = (gates[:, k * H:(k + 1) * H] for k in range(4))   # GetItem x4: 8
                i, f, g, o = i.sigmoid(), f.sigmoid(), g.tanh(), o.sigmoid()   # 4 more: 12
                c = f * c + i * g                                      # Mul, Mul, Add: 15
                h = o * c.tanh()                                       # Tanh, Mul: 17
    return h.sum(), W, U


OPS_PER_LSTM_STEP = 4 + 4 + 4 + 3 + 2


def parse_dot(source):
    """Nodes {name: attrs} with the cluster path each sits in, clusters {name: label}, edges [(a, b, attrs)]."""
    nodes, clusters, edges, stack = {}, {}, [], []
    attr = re.compile(r'(\w+)=("(?:[^"\\]|\\.)*"|<.*>|[^,\]\s]+)')

    def attrs(text):
        return {k: v[1:-1].replace('\\n', '\n').replace('\\"', '"') if v.startswith('"') else v
                for k, v in attr.findall(text or "")}

    for line in source.splitlines():
        s = line.strip()
        m = re.match(r'subgraph "(cluster_[^"]*)" \{', s)
        if m:
            stack.append(m.group(1))
            clusters[m.group(1)] = None
            continue
        if s == "}":
            if stack:
                stack.pop()
            continue
        if stack and clusters[stack[-1]] is None and s.startswith("label="):
            clusters[stack[-1]] = attrs(s.replace(";", ","))["label"]
            continue
        m = re.match(r'"([^"]+)" -> "([^"]+)"(?: \[(.*)\])?$', s)
        if m:
            edges.append((m.group(1), m.group(2), attrs(m.group(3))))
            continue
        m = re.match(r'"([^"]+)" \[(.*)\]$', s)
        if m:
            nodes[m.group(1)] = dict(attrs(m.group(2)), cluster=tuple(stack))
    return nodes, clusters, edges


def time_clusters(clusters):
    return [c for c, label in clusters.items() if label is not None and re.fullmatch(r"t = \d+", label)]


def step(label):
    """The time step a cluster title names: 't = 3' -> 3 (steps are drawn 1..T; node.meta's t is one less)."""
    return int(label.split("=")[1])


def reaches(edges, nodes, src, dst_pred):
    """The destinations (nodes satisfying dst_pred) reached from src through bus points only."""
    out = {}
    for a, b, _ in edges:
        out.setdefault(a, []).append(b)
    found, stack, seen = set(), [src], {src}
    while stack:
        n = stack.pop()
        for b in out.get(n, []):
            if b in seen:
                continue
            seen.add(b)
            if b.startswith("bus:"):
                stack.append(b)
            elif dst_pred(b):
                found.add(b)
    return found


def inner(node):
    """The innermost cluster a parsed node sits in (None at the top level)."""
    return node["cluster"][-1] if node["cluster"] else None


def op_nodes(nodes):
    return {k: v for k, v in nodes.items() if re.fullmatch(r"op\d+", k)}


# ----------------------------------------------------------------------------- capture

def test_capture_hand_rnn_structure():
    loss, W, U, hs = hand_rnn(T=5)
    g = viz.capture(loss)
    # 2 ops before the loop (W.T, matmul), 5 per step (GetItem, U.T, MatMul, Add, Tanh), then stack and sum
    per_step = {}
    for op in g.ops.values():
        per_step.setdefault(op.scope, []).append(op.name)
    assert per_step[("rnn", "l0")] == ["Permute", "MatMul"]
    for t in range(5):
        assert sorted(per_step[("rnn", "l0", f"t={t}")]) == sorted(["GetItem", "Permute", "MatMul", "Add", "Tanh"])
    assert per_step[()] == ["Stack", "Sum"]
    assert g.time_steps() == {(("rnn",), 0, "forward"): [0, 1, 2, 3, 4]}
    assert [s.path for s in g.scopes.walk()][:3] == [(), ("rnn",), ("rnn", "l0")]
    assert {op.meta["t"] for op in g.ops.values() if "t" in op.meta} == set(range(5))
    leaves = [t for t in g.tensors.values() if t.op is None]
    assert sorted(t.kind for t in leaves) == ["const", "const", "leaf", "leaf"]   # xs, h0, W, U
    assert {t.shape for t in leaves if t.kind == "leaf"} == {(4, 3), (4, 4)}
    assert g.tensors[g.root].shape == () and g.tensors[g.root].dtype == "float32"
    assert g.tensors[g.root].value == pytest.approx(loss.item())
    # every input edge of every op is recorded, duplicates included
    assert sum(len(op.inputs) for op in g.ops.values()) == sum(1 for e in g.edges if e[1].startswith("op") and ":" not in e[1])


def test_capture_names_parameters_from_module():
    model, loss, names = demo.build("lstm", layers=2, steps=3)
    g = viz.capture(loss, module=model, names=names)
    params = {t.name: t for t in g.tensors.values() if t.kind == "param"}
    assert set(params) == {name for name, _ in model.named_parameters()}
    assert params["rnn.weight_hh_l1"].shape == (16, 4)
    assert any(t.kind == "input" and t.name == "x" for t in g.tensors.values())


def test_capture_keys_do_not_depend_on_earlier_graphs():
    mg.manual_seed(1)
    a = viz.capture(hand_rnn(T=2)[0])
    for _ in range(3):
        hand_rnn(T=4)                                # more nodes made in between: the global counter moves
    mg.manual_seed(1)
    b = viz.capture(hand_rnn(T=2)[0])
    assert list(a.ops) == list(b.ops) and list(a.tensors) == list(b.tensors) and a.edges == b.edges


def test_released_graph_is_a_clear_error_and_retain_graph_keeps_it():
    loss = hand_rnn(T=3)[0]
    loss.backward()
    with pytest.raises(RuntimeError, match="retain_graph=True"):
        viz.draw_graph(loss)
    loss2 = hand_rnn(T=3)[0]
    loss2.backward(retain_graph=True)
    assert len(viz.capture(loss2).ops) == 2 + 5 * 3 + 2


def test_capture_rejects_leaves_and_non_tensors():
    with pytest.raises(ValueError, match="no graph"):
        viz.capture(mg.randn(3, requires_grad=True))
    with pytest.raises(TypeError, match="Tensor"):
        viz.capture(np.ones(3))
    with pytest.raises(TypeError, match="named_parameters"):
        viz.capture(hand_rnn(T=1)[0], module=object())


def test_capture_is_iterative_for_long_chains():
    x = mg.randn(2, requires_grad=True)
    y = x
    for _ in range(5000):                            # far deeper than Python's recursion limit
        y = y * 1.0001
    g = viz.capture(y.sum())
    assert len(g.ops) == 5001


# ----------------------------------------------------------------------------- unrolled structure

def test_one_cluster_per_time_step_with_op_nodes():
    loss = hand_rnn(T=5)[0]
    nodes, clusters, _ = parse_dot(viz.draw_graph(loss).source)
    steps = time_clusters(clusters)
    assert sorted(clusters[c] for c in steps) == [f"t = {t}" for t in range(1, 6)]
    for c in steps:                                  # the 5 ops of the step sit in its cluster, inside layer 0
        inside = [v for v in op_nodes(nodes).values() if inner(v) == c]
        assert len(inside) == 5
        assert [clusters[p] for p in inside[0]["cluster"]] == ["rnn", "layer 0", clusters[c]]


def test_fine_grained_lstm_op_count():
    loss = hand_lstm(T=3)[0]
    nodes, clusters, _ = parse_dot(viz.draw_graph(loss, detail="op").source)
    ops = op_nodes(nodes)
    for c in time_clusters(clusters):
        assert sum(1 for v in ops.values() if inner(v) == c) == OPS_PER_LSTM_STEP
    assert len(ops) == 2 + 3 * OPS_PER_LSTM_STEP + 1   # projection (2), the steps, the final Sum
    assert sum(1 for v in ops.values() if v.get("label", "") == "Sigmoid") == 3 * 3


def test_nn_lstm_fine_and_fused_draw_every_op_and_one_cell_per_step():
    model, loss, names = demo.build("lstm", layers=2, steps=3, fused=False)
    g = viz.capture(loss, module=model, names=names)
    nodes, clusters, _ = parse_dot(viz.draw_graph(loss, module=model, names=names, detail="op").source)
    assert len(op_nodes(nodes)) == len(g.ops)
    assert len(time_clusters(clusters)) == 2 * 3 + 3            # two layers and the per-step losses
    for fused in (False, True):
        model, loss, names = demo.build("lstm", layers=2, steps=3, fused=fused)
        nodes, clusters, _ = parse_dot(viz.draw_graph(loss, module=model, names=names, detail="cell").source)
        cells = [k for k, v in nodes.items() if v.get("label", "").split("\n")[0] == "LSTM cell"]
        assert len(cells) == 2 * 3
        assert len({inner(nodes[k]) for k in cells}) == 6   # each in its own step cluster


def test_each_parameter_drawn_once_with_an_edge_into_every_step():
    model, loss, names = demo.build("gru", layers=2, steps=4, bidirectional=True, fused=False)
    for detail in ("op", "cell"):
        nodes, clusters, edges = parse_dot(viz.draw_graph(loss, module=model, names=names, detail=detail).source)
        for pname, p in model.named_parameters():
            drawn = [k for k, v in nodes.items() if v.get("label", "").split("\n")[0] == pname]
            assert len(drawn) == 1, (detail, pname, drawn)
            assert not any(c in time_clusters(clusters) for c in nodes[drawn[0]]["cluster"])
            if "hh" in pname or "readout" in pname or detail == "cell":   # (op detail: W_ih feeds the projection)
                steps = {c for k in reaches(edges, nodes, drawn[0], lambda n: n in nodes)
                         for c in nodes[k]["cluster"] if c in time_clusters(clusters)}
                assert len(steps) == 4, (detail, pname)   # (the loop starts from a zero state, times W_hh)


def test_hand_rnn_parameter_reaches_each_step_and_inputs_stay_outside():
    loss, W, U, hs = hand_rnn(T=5)
    nodes, clusters, edges = parse_dot(viz.draw_graph(loss).source)
    u = [k for k, v in nodes.items() if v.get("label", "") == "leaf\n4×4"]
    assert len(u) == 1
    hit = reaches(edges, nodes, u[0], lambda n: n in nodes)
    assert sorted(clusters[inner(nodes[k])] for k in hit) == [f"t = {t}" for t in range(1, 6)]


def test_hidden_state_edges_run_from_step_to_step():
    loss = hand_rnn(T=4)[0]
    nodes, clusters, edges = parse_dot(viz.draw_graph(loss).source)
    state = [(a, b, at) for a, b, at in edges if at.get("label", "").startswith("h")]
    assert [at["label"] for _, _, at in state] == ["h₁", "h₂", "h₃"]   # step t makes h_t, t = 1..T
    for a, b, _ in state:
        ta = step(clusters[inner(nodes[a])])
        assert clusters[inner(nodes[b])] == f"t = {ta + 1}"
        assert nodes[a].get("label", "") == "Tanh" and nodes[b].get("label", "") == "MatMul"


def test_cell_detail_aligns_layers_and_reverse_runs_backwards():
    model, loss, names = demo.build("rnn", layers=2, steps=3, bidirectional=True)
    nodes, clusters, edges = parse_dot(viz.draw_graph(loss, module=model, names=names, detail="cell").source)
    assert {"layer 0", "layer 0 (reverse)", "layer 1", "layer 1 (reverse)"} <= set(clusters.values())
    cell = {}
    for k, v in nodes.items():
        if v.get("label", "") == "RNN cell":
            layer = clusters[v["cluster"][-2]]
            cell[(layer, step(clusters[inner(v)]))] = k
    assert len(cell) == 12
    for t in range(1, 4):                # layer 1 at step t reads both directions of layer 0 at step t
        for d in ("layer 0", "layer 0 (reverse)"):
            for d1 in ("layer 1", "layer 1 (reverse)"):
                assert any(a == cell[(d, t)] and b == cell[(d1, t)] for a, b, _ in edges)
    back = [(a, b) for a, b, at in edges if at.get("dir") == "back"]
    steps_back = [(a, b) for a, b in back if b in cell.values()]
    assert len(steps_back) == 2 * 2      # reverse state edges, written with time (t -> t+1) and drawn backwards
    for a, b in steps_back:
        assert "reverse" in clusters[nodes[a]["cluster"][-2]]
    starts = [(a, b) for a, b in back if b not in cell.values()]
    assert len(starts) == 2              # h₀ of each reverse layer enters step T: written T -> h₀, after step T
    for a, b in starts:
        assert nodes[b]["label"] == "h₀\n2×4" and a == cell[(clusters[nodes[b]["cluster"][-1]], 3)]
    xs = [v for v in nodes.values() if v.get("label", "").startswith("x[")]
    assert sorted(v.get("label", "").split("\n")[0] for v in xs) == ["x[1]", "x[2]", "x[3]"]


@needs_dot
@pytest.mark.parametrize("kind, layers, bidirectional", [("LSTM", 1, False), ("LSTM", 2, False), ("LSTM", 1, True),
                                                         ("LSTM", 2, True), ("GRU", 1, False), ("RNN", 2, False)])
def test_cell_detail_draws_each_layers_steps_on_one_straight_row(kind, layers, bidirectional):
    """Graphviz's own layout (dot -Tjson): the cells t = 1..T of one layer-direction share one y (within 1 pt),
    although an LSTM passes two states, h_t and c_t, from each step to the next (two parallel edges)."""
    mg.manual_seed(0)
    m = getattr(nn, kind)(3, 4, num_layers=layers, bidirectional=bidirectional)
    out, _ = m(mg.randn(4, 2, 3))
    source = viz.draw_graph(out.sum(), module=m, detail="cell").source
    layout = json.loads(run_dot(source, "json"))
    rows = {}
    for obj in layout["objects"]:
        if obj["name"].startswith("cell:"):
            layer, t = obj["name"][len("cell:"):].rsplit("/t", 1)
            rows.setdefault(layer, {})[int(t)] = float(obj["pos"].split(",")[1])
    assert len(rows) == layers * (1 + bidirectional)
    for layer, ys in rows.items():
        assert sorted(ys) == [0, 1, 2, 3], layer
        assert max(ys.values()) - min(ys.values()) <= 1.0, (layer, ys)
    if kind == "LSTM":                   # both states stay drawn: an h_t and a c_t edge between each two steps
        for state in "hc":
            assert len(re.findall(f'label="{state}[₁-₄]"', source)) == 3 * len(rows)


@pytest.mark.parametrize("cell, layers, bidirectional", [("rnn", 1, False), ("lstm", 2, False), ("gru", 2, True)])
def test_cell_detail_puts_x_t_inside_its_layers_cluster(cell, layers, bidirectional):
    model, loss, names = demo.build(cell, layers=layers, steps=3, bidirectional=bidirectional)
    view = viz.build_view(viz.capture(loss, module=model, names=names), detail="cell")
    xs = {k: u for k, u in view.units.items() if u.label.startswith("x[")}
    assert sorted(u.t for u in xs.values()) == [0, 1, 2]
    readers = [view.frames[(("rnn",), 0, d)] for d in ("forward", "reverse")[:1 + bidirectional]]
    shared = readers[0] if not bidirectional else readers[0][:1]    # both directions read x[t]: the module
    assert [f.title for f in shared] == (["rnn"] if bidirectional else ["rnn", "layer 0"])
    for u in xs.values():
        assert u.cluster == shared, (u.label, u.cluster)
    nodes, clusters, _ = parse_dot(viz.draw_graph(loss, module=model, names=names, detail="cell").source)
    drawn = [v for v in nodes.values() if v.get("label", "").startswith("x[")]
    assert len(drawn) == 3
    for v in drawn:
        assert [clusters[c] for c in v["cluster"]] == [f.title for f in shared], v


# ----------------------------------------------------------------------------- the initial state

def initial_boxes(nodes, clusters):
    """{label's first line: [cluster titles, outermost first]} of the boxes named h₀ / c₀ (one per layer-direction)."""
    found = {}
    for v in nodes.values():
        first = v.get("label", "").split("\n")[0]
        if first in ("h₀", "c₀"):
            found.setdefault(first, []).append(tuple(clusters[c] for c in v["cluster"]))
    return found


LAYER_CASES = [("RNN", 1, False, False), ("LSTM", 1, False, True), ("GRU", 1, False, True), ("LSTM", 2, False, False),
               ("GRU", 2, True, True), ("RNN", 1, True, False)]


@pytest.mark.parametrize("detail", ["op", "cell"])
@pytest.mark.parametrize("kind, layers, bidirectional, fused", LAYER_CASES)
def test_default_initial_state_is_drawn_as_h0_in_its_layers_cluster(kind, layers, bidirectional, fused, detail):
    """The zeros a layer makes when no h0 is passed: one 'h₀' box (and 'c₀' for an LSTM) per layer-direction,
    in that layer's cluster and in no step's, with one state edge into the step that runs first."""
    mg.manual_seed(0)
    m = getattr(nn, kind)(3, 4, num_layers=layers, bidirectional=bidirectional, fused=fused)
    out, _ = m(mg.randn(3, 2, 3))
    nodes, clusters, edges = parse_dot(viz.draw_graph(out.sum(), module=m, detail=detail).source)
    titles = sorted(f"layer {k}" + side for k in range(layers) for side in ("", " (reverse)")[:1 + bidirectional])
    boxes = initial_boxes(nodes, clusters)
    assert sorted(boxes) == (["c₀", "h₀"] if kind == "LSTM" else ["h₀"])
    for where in boxes.values():
        assert sorted(where) == [(title,) for title in titles]          # its layer's cluster, never a step's
    assert not any(v.get("label", "").startswith("input\n2×4") for v in nodes.values())   # no stray 'input'
    for key, v in nodes.items():
        if v.get("label", "").split("\n")[0] not in ("h₀", "c₀"):
            continue
        layer = clusters[v["cluster"][-1]]
        outs = [(b, at) for a, b, at in edges if key in (a, b) and at.get("style") != "invis"]
        assert len(outs) == 1
        dst, at = outs[0]
        dst = dst if dst != key else [a for a, b, _ in edges if b == key][0]    # written backwards: dir=back
        assert at["color"] == "#1a5fb4"                             # a state edge: the chain starts at h₀
        first = 3 if layer.endswith("(reverse)") else 1             # a reverse layer starts at t = T
        assert [clusters[c] for c in nodes[dst]["cluster"]][-2:] == [layer, f"t = {first}"], (key, dst)
        assert (at.get("dir") == "back") == (detail == "cell" and first == 3)


def test_initial_state_stays_outside_step_1_with_elided_steps_and_in_the_seq2seq_encoder():
    mg.manual_seed(0)
    m = nn.LSTM(3, 4)
    out, _ = m(mg.randn(9, 2, 3))
    nodes, clusters, _ = parse_dot(viz.draw_graph(out.sum(), module=m, detail="cell", max_steps=2).source)
    assert initial_boxes(nodes, clusters) == {"h₀": [("layer 0",)], "c₀": [("layer 0",)]}
    from models.shapes import Seq2Seq, seq2seq_loss
    model = Seq2Seq(5, 5, embed=4, hidden=4, cell="gru")
    loss = seq2seq_loss(model, (np.array([[1, 2, 3]]), np.array([[3, 2, 1]]), None))
    for detail in ("op", "cell"):
        nodes, clusters, _ = parse_dot(viz.draw_graph(loss, module=model, detail=detail).source)
        assert initial_boxes(nodes, clusters) == {"h₀": [("encoder", "layer 0")]}   # the decoder starts from the context
        assert not any(v.get("label", "").startswith("input\n1×4") for v in nodes.values())


def test_initial_state_keeps_a_users_name_and_only_states_are_initial_states():
    """A named h0 keeps its name, out of step 1. A constant that every step reads afresh is no state: it stays
    'input', in its step."""
    W = mg.randn(4, 4, requires_grad=True)
    h0, h = mg.zeros(2, 4), None
    h, bumps = h0, []
    for t in range(3):
        with mg.annotate(t=t):
            bumps.append(mg.ones(2, 4))
            h = (h @ W + bumps[-1]).tanh()
    for detail in ("op", "cell"):
        nodes, clusters, _ = parse_dot(viz.draw_graph(h.sum(), names={"start": h0}, detail=detail).source)
        start = [v for v in nodes.values() if v.get("label", "") == "start\n2×4"]
        assert len(start) == 1 and start[0]["cluster"] == () and "initial state h₀" in start[0]["tooltip"]
        assert initial_boxes(nodes, clusters) == {}
        consts = [v for v in nodes.values() if v.get("label", "") == "input\n2×4"]
        assert sorted(clusters[inner(v)] for v in consts) == ["t = 1", "t = 2", "t = 3"]
    mg.manual_seed(0)                                   # a given h0 with a graph: its name, outside the steps
    m = nn.GRU(3, 4, num_layers=2)
    given = mg.zeros(2, 2, 4, requires_grad=True)
    out, _ = m(mg.randn(3, 2, 3), given)
    nodes, clusters, _ = parse_dot(viz.draw_graph(out.sum(), module=m, detail="cell", names={"h0": given}).source)
    assert [v["cluster"] for v in nodes.values() if v.get("label", "") == "h0\n2×2×4"] == [()]
    assert initial_boxes(nodes, clusters) == {}


@pytest.mark.parametrize("detail", ["op", "cell"])
def test_rolled_picture_feeds_the_initial_state_into_the_delay(detail):
    mg.manual_seed(0)
    m = nn.LSTM(3, 4, fused=detail == "cell")
    out, _ = m(mg.randn(3, 2, 3))
    nodes, clusters, edges = parse_dot(viz.draw_graph(out.sum(), module=m, detail=detail, rolled=True).source)
    assert initial_boxes(nodes, clusters) == {"h₀": [("layer 0",)], "c₀": [("layer 0",)]}
    for key, v in nodes.items():
        name = v.get("label", "").split("\n")[0]
        if name in ("h₀", "c₀"):
            (dst,) = [b for a, b, _ in edges if a == key]
            assert nodes[dst]["label"].startswith("delay") and nodes[dst]["tooltip"].startswith(name[0] + " waits")


# ----------------------------------------------------------------------------- rolled and elided

def test_rolled_view_has_one_step_and_delay_edges():
    model, loss, names = demo.build("lstm", layers=1, steps=4, fused=True)
    nodes, clusters, edges = parse_dot(viz.draw_graph(loss, module=model, names=names, detail="cell",
                                                      rolled=True).source)
    cells = [k for k, v in nodes.items() if v.get("label", "") == "LSTM cell"]
    assert len(cells) == 1
    delays = [k for k, v in nodes.items() if v.get("label", "").startswith("delay")]
    assert len(delays) == 2                                   # h and c each wait one step
    for d in delays:
        assert any(a == cells[0] and b == d for a, b, _ in edges)
        back = [at for a, b, at in edges if a == d and b == cells[0]]
        assert len(back) == 1 and back[0]["label"] in ("h(t−1)", "c(t−1)")
    assert sorted(clusters[c] for c in clusters if clusters[c] == "each step t") == ["each step t"] * 2


def test_rolled_op_view_of_hand_rnn():
    loss = hand_rnn(T=5)[0]
    nodes, clusters, edges = parse_dot(viz.draw_graph(loss, rolled=True).source)
    assert sum(1 for v in op_nodes(nodes).values() if v.get("label", "") == "Tanh") == 1
    delay = [k for k, v in nodes.items() if v.get("label", "").startswith("delay")]
    assert len(delay) == 1
    tanh = next(k for k, v in nodes.items() if v.get("label", "") == "Tanh")
    matmul_in = [b for a, b, _ in edges if a == delay[0]]
    assert (tanh, delay[0]) in [(a, b) for a, b, _ in edges] and nodes[matmul_in[0]]["label"] == "MatMul"


def test_max_steps_keeps_both_ends_and_one_elision_node():
    loss = hand_rnn(T=10)[0]
    nodes, clusters, edges = parse_dot(viz.draw_graph(loss, max_steps=2).source)
    assert sorted(clusters[c] for c in time_clusters(clusters)) == sorted(["t = 1", "t = 2", "t = 9", "t = 10"])
    elided = [k for k, v in nodes.items() if "6 steps" in v.get("label", "")]
    assert len(elided) == 1 and "t=3 … t=8" in nodes[elided[0]]["label"]
    into = [a for a, b, _ in edges if b == elided[0] and a in op_nodes(nodes)]
    out = [b for a, b, _ in edges if a == elided[0]]
    assert any(clusters[inner(nodes[a])] == "t = 2" for a in into)
    assert any(b in nodes and nodes[b]["cluster"] and clusters[inner(nodes[b])] == "t = 9" for b in out)
    assert len(viz.draw_graph(loss, max_steps=5).source) > 0           # 2k+1 > T: nothing to elide
    _, c5, _ = parse_dot(viz.draw_graph(loss, max_steps=5).source)
    assert len(time_clusters(c5)) == 10


def test_long_lstm_with_max_steps_stays_small():
    model, loss, names = demo.build("lstm", layers=2, steps=1000, fused=True, batch=1)
    view = viz.build_view(viz.capture(loss, module=model, names=names), detail="cell", max_steps=3)
    cells = [u for u in view.units.values() if u.kind == "cell"]
    assert len(cells) == 3 * (2 * 3)                # two layers and the losses, 3 steps at each end
    assert sum(1 for u in view.units.values() if u.kind == "elided") == 3
    assert len(view.units) < 80


# ----------------------------------------------------------------------------- gradients

def test_grads_colour_nodes_by_gradient_norm_with_a_legend():
    mg.manual_seed(3)
    loss, W, U, hs = hand_rnn(T=6, loss_at="last")
    with pytest.raises(RuntimeError, match="backward"):
        viz.draw_graph(loss, grads=True)
    assert viz.retain_grads(loss) > 0
    loss.backward(retain_graph=True)
    view = viz.build_view(viz.capture(loss, grads=True))
    tanh = [u for u in view.units.values() if u.label == "Tanh"]
    expect = [float(np.linalg.norm(h.grad.numpy())) for h in hs]
    assert [u.grad_norm for u in tanh] == pytest.approx(expect, rel=1e-5)
    nodes, _, _ = parse_dot(viz.draw_graph(loss, grads=True).source)
    assert "legend" in nodes and "gradient norm" in nodes["legend"]["label"]
    fills = [nodes[u.key]["fillcolor"] for u in tanh]
    assert len(set(fills)) > 1 and fills[0] != fills[-1]


def test_grads_after_plain_backward_need_retain_graph():
    loss = hand_rnn(T=2)[0]
    loss.backward()
    with pytest.raises(RuntimeError, match="retain_graph"):
        viz.draw_graph(loss, grads=True)


def test_step_states_and_grad_flow_plot():
    loss, W, U, hs = hand_rnn(T=6, loss_at="last")
    states = viz.step_states(loss)
    assert list(states) == ["rnn/layer 0"] and all(a is b for a, b in zip(states["rnn/layer 0"], hs))
    with pytest.raises(RuntimeError, match="retain_grad"):
        viz.grad_norms(viz.step_states(hand_rnn(T=2)[0], retain=False)["rnn/layer 0"])
    loss.backward()
    norms = viz.grad_norms(hs)
    assert norms == pytest.approx([float(np.linalg.norm(h.grad.numpy())) for h in hs])
    fig = viz.plot_grad_flow({"tanh RNN": hs, "given": [1.0, 0.1, 0.0]})
    ax = fig.axes[0]
    assert ax.get_yscale() == "log" and len(ax.lines) == 2
    assert list(ax.lines[0].get_ydata()) == pytest.approx(norms)


def test_step_states_of_nn_layers_pick_h_not_c():
    mg.manual_seed(0)
    lstm = nn.LSTM(3, 4, fused=False)
    out, _ = lstm(mg.randn(5, 2, 3))
    loss = out.sum()
    hs = viz.step_states(loss)["layer 0"]
    assert len(hs) == 5 and all(np.allclose(h.numpy(), out[t].numpy()) for t, h in enumerate(hs))


# ----------------------------------------------------------------------------- golden DOT

GOLDEN = r'''digraph minigrad {
	graph [fontname=Helvetica labeljust=l newrank=true nodesep=0.2 rankdir=LR ranksep=0.3]
	node [fontname=Helvetica fontsize=10 height=0.3 margin="0.08,0.04" shape=box style="rounded,filled"]
	edge [arrowsize=0.6 color="#555555" fontname=Helvetica fontsize=9]
	"op6" [fillcolor="#eef3fb", color="#8aa4c8", label="Sum", tooltip="Sum #6"]
	"output" [fillcolor="#e3f4e1", color="#3b7d3a", style="filled,bold", label="loss = 0.3937", tooltip="output float32[]"]
	subgraph "cluster_rnn" {
		label="rnn"; style="rounded"; color="#7a7a7a"; fontsize="12"
		subgraph "cluster_rnn/layer0" {
			label="layer 0"; style="rounded,filled"; fillcolor="#f6f6f6"; color="#c8c8c8"; fontsize="11"
			"leaf0" [fillcolor="#f2f2f2", style="filled", color="#777777", label="h0\n1×2", tooltip="the initial state h₀ of rnn/layer 0: input float32[1, 2]"]
			"leaf1" [fillcolor="#ffffff", style="filled", penwidth="2", label="leaf\n2×2", color="#2b6cb0", fontcolor="#2b6cb0", tooltip="leaf float32[2, 2]"]
			subgraph "cluster_rnn/layer0/t0" {
				label="t = 1"; style="rounded"; color="#9a9a9a"; fontsize="10"; fontcolor="#555555"
				"op0" [fillcolor="#eef3fb", color="#8aa4c8", label="MatMul", tooltip="MatMul #0"]
				"op1" [fillcolor="#eef3fb", color="#8aa4c8", label="Add", tooltip="Add #1"]
				"op2" [fillcolor="#eef3fb", color="#8aa4c8", label="Tanh", tooltip="Tanh #2"]
				"leaf2" [fillcolor="#f2f2f2", style="filled", color="#999999", label="input\n1×2", tooltip="const float32[1, 2]"]
			}
			subgraph "cluster_rnn/layer0/t1" {
				label="t = 2"; style="rounded"; color="#9a9a9a"; fontsize="10"; fontcolor="#555555"
				"op3" [fillcolor="#eef3fb", color="#8aa4c8", label="MatMul", tooltip="MatMul #3"]
				"op4" [fillcolor="#eef3fb", color="#8aa4c8", label="Add", tooltip="Add #4"]
				"op5" [fillcolor="#eef3fb", color="#8aa4c8", label="Tanh", tooltip="Tanh #5"]
				"leaf3" [fillcolor="#f2f2f2", style="filled", color="#999999", label="input\n1×2", tooltip="const float32[1, 2]"]
			}
		}
	}
	"leaf0" -> "op0" [color="#1a5fb4", fontcolor="#1a5fb4", penwidth="1.8", weight="4"]
	"leaf1" -> "op0" [style="dashed", penwidth="0.8", color="#2b6cb0"]
	"leaf2" -> "op1"
	"op0" -> "op1" [weight="4"]
	"op1" -> "op2" [weight="4"]
	"op2" -> "op3" [color="#1a5fb4", fontcolor="#1a5fb4", penwidth="1.8", weight="4", label="h₁"]
	"leaf1" -> "op3" [style="dashed", penwidth="0.8", color="#2b6cb0"]
	"leaf3" -> "op4"
	"op3" -> "op4" [weight="4"]
	"op4" -> "op5" [weight="4"]
	"op5" -> "op6"
	"op6" -> "output"
}
'''
# No invisible step-order edge "op2" -> "op3": the state edge h₁ already joins the last op of step 1 to the
# first op of step 2, and a second, unlabelled edge beside it bends the chain of steps (render._step_order).


def golden_rnn(scopes=("rnn", "l0", "t={}")):
    W = mg.tensor([[0.5, -0.25], [0.125, 1.0]], requires_grad=True)
    x = mg.tensor([[[1.0, 2.0]], [[-1.0, 0.5]]])
    h = mg.zeros(1, 2)
    h0 = h
    with mg.scope(scopes[0]), loop_facts(("rnn",)), mg.scope(scopes[1]):
        for t in range(2):
            with mg.annotate(t=t), mg.scope(scopes[2].format(t)):
                h = (x[t] + h @ W).tanh()
    return h.sum(), h0


def test_golden_dot_for_a_two_step_rnn():
    loss, h0 = golden_rnn()
    assert viz.draw_graph(loss, names={"h0": h0}).source == GOLDEN


# ----------------------------------------------------------------------------- structure from facts, not names

OPTIONS = [dict(detail="op"), dict(detail="cell"), dict(detail="op", rolled=True), dict(detail="cell", rolled=True),
           dict(detail="cell", max_steps=1), dict(detail="op", max_steps=1)]


def reachable(edges, src):
    """Every node reached from src along any edges."""
    out = {}
    for a, b, _ in edges:
        out.setdefault(a, []).append(b)
    seen, stack = {src}, [src]
    while stack:
        for b in out.get(stack.pop(), []):
            if b not in seen:
                seen.add(b)
                stack.append(b)
    return seen


def test_golden_picture_does_not_depend_on_scope_names():
    for scopes in (("net", "layer-A", "step {}"), ("rnn", "t=9", "l{}"), ("x", "y", "z")):
        loss, h0 = golden_rnn(scopes)
        assert viz.draw_graph(loss, names={"h0": h0}).source == GOLDEN, scopes


def test_nn_pictures_do_not_depend_on_the_loops_scope_names(monkeypatch):
    """The loop still opens scopes 'l0' and 't=3' (for error messages); renamed, every picture stays the same."""
    import minigrad.nn.rnn as rnn_module

    def pictures():
        out, scopes = [], set()
        for cell, fused in (("lstm", True), ("gru", False), ("rnn", True)):
            model, loss, names = demo.build(cell, layers=2, steps=3, bidirectional=True, fused=fused)
            out += [viz.draw_graph(loss, module=model, names=names, **o).source for o in OPTIONS]
            out.append({k: [h.shape for h in hs] for k, hs in viz.step_states(loss, retain=False).items()})
            scopes |= {name for op in viz.capture(loss).ops.values() for name in op.scope}
        return out, scopes

    before, names_before = pictures()
    real = rnn_module.scope
    monkeypatch.setattr(rnn_module, "scope", lambda name: real(f"renamed<{name[::-1]}>"))
    after, names_after = pictures()
    assert {"l0", "t=2"} <= names_before and {"renamed<0l>", "renamed<2=t>"} <= names_after
    assert not {"l0", "t=2"} & names_after
    assert after == before


def test_scopes_named_like_steps_are_only_names():
    """Without the loop's facts, scopes called 'l0' and 't=1' are plain clusters: no steps, nothing to roll."""
    W = mg.randn(2, 2, requires_grad=True)
    h = mg.zeros(1, 2)
    with mg.scope("l0"):
        for t in range(3):
            with mg.scope(f"t={t}"):
                h = (h @ W).tanh()
    nodes, clusters, edges = parse_dot(viz.draw_graph(h.sum(), rolled=True).source)
    assert not time_clusters(clusters) and "layer 0" not in clusters.values()
    assert {"l0", "t=0", "t=1", "t=2"} <= set(clusters.values())
    assert not any(v.get("label", "").startswith("delay") for v in nodes.values())
    assert viz.capture(h.sum()).time_steps() == {}
    with pytest.raises(ValueError, match="annotate"):
        viz.step_states(h.sum())


class MGU(nn.Cell):
    """Minimal gated unit: f = sigmoid(x_f + h W_f^T), n = tanh(x_n + (f*h) W_n^T), h' = (1-f)*h + f*n."""
    name, gates = "MGU", 2

    def step(self, xw, state, w):
        h = state[0]
        x_f, x_n = xw.chunk(2, axis=-1)
        w_f, w_n = w["weight_hh"].chunk(2, axis=0)
        f = (x_f + nn.functional.linear(h, w_f)).sigmoid()
        n = (x_n + nn.functional.linear(f * h, w_n)).tanh()
        return ((1 - f) * h + f * n,)


def test_user_defined_cell_is_named_by_its_facts():
    mg.manual_seed(0)
    layer = nn.Recurrent(MGU(), 3, 4, num_layers=2)
    out, _ = layer(mg.randn(3, 2, 3))
    loss = out.sum()
    nodes, clusters, edges = parse_dot(viz.draw_graph(loss, module=layer, detail="cell").source)
    cells = {k: v for k, v in nodes.items() if v.get("label", "").split("\n")[0] == "MGU cell"}
    assert len(cells) == 2 * 3 and len({inner(v) for v in cells.values()}) == 6
    assert {clusters[v["cluster"][-2]] for v in cells.values()} == {"layer 0", "layer 1"}
    state = [at["label"] for a, b, at in edges if a in cells and b in cells and at.get("label", "").startswith("h")]
    assert sorted(state) == ["h₁", "h₁", "h₂", "h₂"]
    nodes, clusters, _ = parse_dot(viz.draw_graph(loss, module=layer, detail="op").source)
    assert not any("MGU" in v.get("label", "") for v in nodes.values())
    assert sum(1 for v in op_nodes(nodes).values() if v.get("label") == "Sigmoid") == 2 * 3
    hs = viz.step_states(loss)
    assert list(hs) == ["layer 0", "layer 1"]
    assert all(np.allclose(h.numpy(), out[t].numpy()) for t, h in enumerate(hs["layer 1"]))


class PeepholeStep(mg.Function):
    """A made-up fused step, one node: h' = tanh(xw + h * p) (drawn only, never differentiated)."""

    def forward(self, xw, h, p):
        return np.tanh(xw + h * p)


def test_hand_annotated_fused_cell_is_one_box_named_from_its_facts():
    mg.manual_seed(0)
    p = mg.randn(4, requires_grad=True)
    xs, h = mg.randn(3, 2, 4), mg.zeros(2, 4)
    with mg.scope("peep"), loop_facts(("peep",), "Peephole", granularity="fused"):
        for t in range(3):
            with mg.annotate(t=t):
                h = PeepholeStep()(xs[t], h, p)
    nodes, clusters, edges = parse_dot(viz.draw_graph(h.sum(), detail="cell").source)
    cells = [k for k, v in nodes.items() if v.get("label") == "Peephole cell"]
    assert len(cells) == 3 and sorted(clusters[inner(nodes[k])] for k in cells) == ["t = 1", "t = 2", "t = 3"]
    assert [at["label"] for a, b, at in edges if a in cells and b in cells] == ["h₁", "h₂"]
    nodes, _, _ = parse_dot(viz.draw_graph(h.sum()).source)
    assert sum(1 for v in nodes.values() if v.get("label") == "PeepholeStep") == 3


class FakeLayer(mg.Function):
    """Stands in for a whole-layer node (the speed path): every step inside one node."""

    def forward(self, x, w):
        self.steps = x.shape[0]
        return np.tanh(x @ w)

    def label(self):
        return f"LSTM layer ({self.steps} steps)"


def fake_layer(x, w, module=()):
    with mg.annotate(module=module, layer=0, direction="forward", cell="LSTM", granularity="layer"):
        return FakeLayer()(x, w)


def test_whole_layer_node_is_one_box_that_points_to_unroll():
    mg.manual_seed(0)
    loss = fake_layer(mg.randn(5, 2, 3), mg.randn(3, 4, requires_grad=True)).sum()
    for options in OPTIONS:
        nodes, clusters, _ = parse_dot(viz.draw_graph(loss, **options).source)
        boxes = [v for v in nodes.values() if v.get("label", "").startswith("LSTM layer (5 steps)")]
        assert len(boxes) == 1, options
        assert "unroll=True" in boxes[0]["tooltip"] and clusters[inner(boxes[0])] == "layer 0"
        assert not time_clusters(clusters)


def test_whole_layer_node_feeds_the_cells_of_an_unrolled_layer():
    mg.manual_seed(0)
    lstm = nn.LSTM(4, 4)
    with mg.scope("encoder"):
        y = fake_layer(mg.randn(5, 2, 3), mg.randn(3, 4, requires_grad=True), module=("encoder",))
    out, _ = lstm(y)
    nodes, clusters, edges = parse_dot(viz.draw_graph(out.sum(), module=lstm, detail="cell").source)
    box = next(k for k, v in nodes.items() if v.get("label", "").startswith("LSTM layer"))
    cells = {k for k, v in nodes.items() if v.get("label", "").split("\n")[0] == "LSTM cell"}
    assert len(cells) == 5 and cells <= reachable(edges, box)
    assert [clusters[c] for c in nodes[box]["cluster"]] == ["encoder", "layer 0"]


def test_speed_path_of_nn_lstm_draws_one_box_per_layer_direction():
    import importlib
    try:
        ready = hasattr(importlib.import_module("minigrad.ops.rnn_layers"), "lstm_layer")
    except ImportError:
        ready = False
    if not ready:
        pytest.skip("the speed path (unroll=False) is not in minigrad yet")
    mg.manual_seed(0)
    lstm = nn.LSTM(3, 4, num_layers=2, bidirectional=True, unroll=False)
    out, _ = lstm(mg.randn(6, 2, 3))
    for detail in ("op", "cell"):
        nodes, clusters, _ = parse_dot(viz.draw_graph(out.sum(), module=lstm, detail=detail).source)
        boxes = [v for v in nodes.values() if "unroll=True" in v.get("tooltip", "")]
        assert len(boxes) == 4 and not time_clusters(clusters)
        assert sorted(clusters[inner(v)] for v in boxes) == ["layer 0", "layer 0 (reverse)", "layer 1",
                                                             "layer 1 (reverse)"]


def test_viz_reads_structure_not_names():
    """No regular expressions, private engine fields or tables of cell names in viz; fold does not import view."""
    import ast
    import pathlib
    for path in pathlib.Path(viz.__file__).parent.glob("*.py"):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        imported = {a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
        imported |= {n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) and n.module}
        assert not imported & {"re", "fnmatch"}, path.name
        private = {n.attr for n in ast.walk(tree) if isinstance(n, ast.Attribute) and n.attr[:1] == "_"
                   and n.attr[:2] != "__" and not (isinstance(n.value, ast.Name) and n.value.id == "self")}
        assert not private, (path.name, private)                  # node._released, t._index, ...
        names = {n.id for n in ast.walk(tree) if isinstance(n, ast.Name)}
        assert not names & {"vars", "CELL_NAMES", "split_time", "TIME", "LAYER"}, path.name
        if path.name == "fold.py":
            assert "view" not in imported


# ----------------------------------------------------------------------------- files, options, command line

@needs_dot
def test_render_png_svg_dot_files(tmp_path):
    model, loss, names = demo.build("gru", layers=2, steps=3, bidirectional=True)
    png = viz.render(loss, tmp_path / "g.png", module=model, names=names, detail="cell")
    data = png.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 1000
    svg = viz.render(loss, tmp_path / "g.svg", module=model, names=names, rolled=True)
    root = ET.parse(svg).getroot()
    assert root.tag.endswith("svg")
    texts = {t.text for t in root.iter() if t.tag.endswith("text")}
    assert "rnn.weight_hh_l1_reverse" in texts and "delay" in texts
    dot = viz.render(loss, tmp_path / "g.dot", module=model, names=names)
    assert dot.read_text().startswith("digraph minigrad {")


def test_bad_options_are_clear_errors(tmp_path):
    loss = hand_rnn(T=2)[0]
    with pytest.raises(ValueError, match="detail"):
        viz.draw_graph(loss, detail="gate")
    with pytest.raises(ValueError, match="max_steps"):
        viz.draw_graph(loss, max_steps=0)
    with pytest.raises(ValueError, match="rankdir"):
        viz.draw_graph(loss, rankdir="XY")
    with pytest.raises(ValueError, match="format"):
        viz.render(loss, tmp_path / "g.jpeg2000")


@needs_dot
def test_command_line_render_and_help(tmp_path, capsys):
    with pytest.raises(SystemExit) as e:
        cli(["--help"])
    assert e.value.code == 0 and "render" in capsys.readouterr().out
    out = tmp_path / "lstm.svg"
    assert cli(["render", "--cell", "lstm", "--layers", "2", "--steps", "3", "--bidirectional", "--detail", "cell",
                "--grads", "--max-steps", "1", "--out", str(out)]) == 0
    ET.parse(out)
    assert "wrote" in capsys.readouterr().out
    assert cli(["render", "--cell", "rnn", "--steps", "4", "--rolled", "--out", str(tmp_path / "r.dot")]) == 0
    assert "delay" in (tmp_path / "r.dot").read_text()
    with pytest.raises(SystemExit):
        cli(["render", "--cell", "lstm", "--out", str(tmp_path / "x.bmp")])


def test_command_line_gradflow(tmp_path):
    out = tmp_path / "flow.png"
    assert cli(["gradflow", "--steps", "20", "--hidden", "8", "--out", str(out)]) == 0
    assert out.read_bytes()[:4] == b"\x89PNG"


def test_rolled_fine_lstm_outputs_come_from_h_of_the_representative_step():
    model, loss, names = demo.build("lstm", layers=1, steps=3, bidirectional=True, fused=False)
    nodes, clusters, edges = parse_dot(viz.draw_graph(loss, module=model, names=names, rolled=True).source)
    delays = [k for k, v in nodes.items() if v.get("label", "").startswith("delay")]
    assert len(delays) == 4                                   # h and c, two directions
    h_makers = {a for a, b, at in edges if b in delays and at.get("label") == "h"}
    layer_stacks = {k for k, v in nodes.items() if v.get("label") == "Stack axis=0"
                    and any(clusters[c] == "rnn" for c in v["cluster"])}       # each direction's outputs
    into_stack = {a for a, b, _ in edges if b in layer_stacks and a in op_nodes(nodes)}
    assert len(h_makers) == 2 and into_stack == h_makers


def test_node_budget_elides_with_a_warning_or_refuses():
    model, loss, names = demo.build("lstm", layers=1, steps=120, fused=True)
    with pytest.warns(UserWarning, match="budget"):
        dot = viz.draw_graph(loss, model, detail="cell", names=names, node_budget=300)
    assert "steps" in dot.source
    model, loss, names = demo.build("lstm", layers=1, steps=60, fused=False)
    viz.draw_graph(loss, model, detail="op", names=names, max_steps=2, node_budget=300)   # elided, it fits
    with pytest.raises(ValueError, match="--detail cell"):
        viz.draw_graph(loss, model, detail="op", names=names, max_steps=2, node_budget=30)


@pytest.mark.parametrize("detail", ["op", "cell"])
def test_max_steps_makes_the_picture_independent_of_the_sequence_length(detail):
    """Elision shrinks every detail level: with max_steps=2, 30 and 90 steps draw the same number of edges."""
    sizes = []
    for steps in (30, 90):
        model, loss, names = demo.build("lstm", layers=2, steps=steps, fused=detail == "cell")
        view = viz.build_view(viz.capture(loss, module=model, names=names), detail=detail, max_steps=2)
        sizes.append((len(view.units), len(view.edges)))
    assert sizes[0] == sizes[1]


def test_render_stops_dot_past_its_time_limit(tmp_path, monkeypatch):
    import importlib
    import subprocess

    rendering = importlib.import_module("viz.render")

    def slow(*a, **k):
        raise subprocess.TimeoutExpired(a[0], k["timeout"])
    monkeypatch.setattr(rendering.subprocess, "run", slow)
    model, loss, names = demo.build("rnn", layers=1, steps=2)
    with pytest.raises(RuntimeError, match="more than 0.5 s"):
        rendering.render(loss, tmp_path / "a.png", timeout=0.5, module=model, names=names)


def test_a_named_intermediate_tensor_labels_the_edge_that_carries_it():
    """names= works for results too: the seq2seq's context (the encoder's h_n) is the one edge labelled 'context'."""
    from models.shapes import Seq2Seq, seq2seq_loss
    mg.manual_seed(0)
    model = Seq2Seq(5, 5, embed=4, hidden=4, cell="gru")
    seen = {}
    handle = model.encoder.register_forward_hook(lambda module, args, out: seen.update(context=out[1]))
    loss = seq2seq_loss(model, (np.array([[1, 2, 3]]), np.array([[3, 2, 1]]), None))
    handle.remove()
    nodes, _, edges = parse_dot(viz.draw_graph(loss, module=model, detail="cell", names=seen).source)
    labelled = [(a, b) for a, b, attrs in edges if attrs.get("label") == "context"]
    assert len(labelled) == 1
    src, dst = labelled[0]
    assert nodes[src]["label"].startswith("Stack") and nodes[dst]["label"].startswith("Unbind")
    unnamed = parse_dot(viz.draw_graph(loss, module=model, detail="cell").source)[2]
    assert not any(attrs.get("label") == "context" for _, _, attrs in unnamed)
