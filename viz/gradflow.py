"""Gradient flow through time: ||dL/dh_t|| against t, on a log scale, for one or more models.

    hs = viz.step_states(loss)          # before backward: the state each step hands on (retain_grad() on each)
    loss.backward()
    viz.plot_grad_flow({'LSTM': hs})    # or a plain list of hidden-state tensors that had retain_grad()

A vanishing gradient shows as a line falling towards t=0; an exploding one as a line rising.
"""
import math
import os
import sys

from minigrad import Tensor

from .capture import collect
from .steps import group_name, locate


def step_states(root, retain=True):
    """{'rnn/layer 0': [h_1, h_2, ...], ...}: per layer (and direction), the hidden state each time step hands
    on, in time order. Found in the graph behind `root` from the time steps the recurrent loop annotates
    (`node.meta['t']`): of the tensors a step passes out, the last one it made (h, not c, for an LSTM).
    `retain`: call retain_grad() on each, so that backward keeps their gradients. Call it before backward."""
    if not isinstance(root, Tensor) or root.grad_fn is None:
        raise ValueError("viz.step_states: expected a tensor with a graph behind it (e.g. the loss)")
    nodes = collect(root.grad_fn)
    step_of = {node: (p.group, p.t) for node, p in zip(nodes, locate(nodes))}
    leaving = {}                                   # (group, t) -> {id: tensor} passed out of the step
    for node in nodes:
        for t in node.inputs:
            src = t.grad_fn
            if src is not None and step_of[src][1] is not None and step_of[src] != step_of[node]:
                leaving.setdefault(step_of[src], {})[id(t)] = t
    if step_of[root.grad_fn][1] is not None:
        leaving.setdefault(step_of[root.grad_fn], {})[id(root)] = root
    first = {}                                     # groups in the order their first node was made
    for node in nodes:
        first.setdefault(step_of[node][0], node.id)
    states = {}
    for (group, t), tensors in sorted(leaving.items(), key=lambda kv: (first[kv[0][0]], kv[0][1])):
        h = max(tensors.values(), key=lambda x: (x.grad_fn.id, -x.output_index))
        states.setdefault(group_name(group), []).append(h)
    if not states:
        raise ValueError("viz.step_states: no time steps found in the graph; recurrent layers annotate them, "
                         "and a loop of your own can wrap each step in `with mg.annotate(t=t): ...`")
    if retain:
        for hs in states.values():
            for h in hs:
                h.retain_grad()
    return states


def grad_norms(states):
    """The gradient norm of each tensor in `states` (a list), as a list of floats."""
    out = []
    for t, h in enumerate(states):
        if not isinstance(h, Tensor):
            raise TypeError(f"viz.grad_norms: step {t}: expected a Tensor, got {type(h).__name__}")
        if h.grad is None:
            raise RuntimeError(f"viz.grad_norms: the state of step {t} (shape {tuple(h.shape)}) has no .grad. "
                               "Call h.retain_grad() on every state before backward (viz.step_states(loss) "
                               "does it), then run loss.backward().")
        g = h.grad.data
        out.append(math.sqrt(float((abs(g.astype("float64")) ** 2).sum())))
    return out


def plot_grad_flow(states, ax=None, title="Gradient flow through time"):
    """A matplotlib Figure of ||dL/dh_t|| against t (log scale).

    `states`: a list of hidden-state tensors (one model), or a dict name -> list, or name -> the dict that
    step_states() returns (one line per layer), or name -> a list of precomputed norms.
    """
    lines = _lines(states)
    if ax is None:
        fig, ax = _pyplot().subplots(figsize=(7, 4))
    else:
        fig = ax.figure
    floor = None
    for name, norms in lines.items():
        positive = [n for n in norms if n > 0]
        if positive:
            floor = min(positive + ([floor] if floor else []))
    for name, norms in lines.items():
        shown = [n if n > 0 else (floor or 1.0) * 1e-3 for n in norms]    # exact zeros drawn below the rest
        ax.plot(range(1, len(norms) + 1), shown, marker="o" if len(norms) <= 40 else None, markersize=3,
                linewidth=1.5, label=name)
    time_axes(ax, "‖dL/dh_t‖", title)
    if len(lines) > 1 or next(iter(lines)) != "":
        ax.legend()
    return fig


def time_axes(ax, ylabel, title):
    """A log-scale y against the time step t (1..T: step t makes h_t), with a light grid: the gradient-flow axes."""
    ax.set_yscale("log")
    ax.set_xlabel("time step t")
    ax.set_ylabel(ylabel)
    if title:
        ax.set_title(title)
    ax.grid(True, which="major", alpha=0.3)


def _lines(states):
    if isinstance(states, (list, tuple)):
        return {"": _norms(states)}
    if not isinstance(states, dict) or not states:
        raise TypeError("viz.plot_grad_flow: expected a list of hidden-state tensors or a non-empty dict "
                        f"name -> list, got {type(states).__name__}")
    lines = {}
    for name, value in states.items():
        if isinstance(value, dict):                    # step_states() output: one line per layer
            for layer, hs in value.items():
                lines[f"{name} {layer}".strip() if len(value) > 1 else str(name)] = _norms(hs)
        else:
            lines[str(name)] = _norms(value)
    return lines


def _norms(values):
    values = list(values)
    if values and all(isinstance(v, (int, float)) for v in values):
        return [float(v) for v in values]
    return grad_norms(values)


def _pyplot():
    """pyplot, switched to the Agg backend where no display (and no notebook) can show a window."""
    import matplotlib
    headless = (sys.platform.startswith("linux") and not os.environ.get("DISPLAY")
                and not os.environ.get("WAYLAND_DISPLAY"))
    if headless and "MPLBACKEND" not in os.environ and "ipykernel" not in sys.modules:
        matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    return plt
