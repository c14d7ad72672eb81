"""Exact gradient flow through time: the norms of the Jacobians dh_T/dh_t of a recurrent network.

    hs = viz.step_states(out.sum(), retain=False)['layer 0']     # h_1 ... h_T of one forward pass
    norms, fig = viz.render_jacobian_norms(hs[-1], hs, 'jacobians.png')
    hs = [h0] + hs                                               # h_0 too (h0 a leaf that requires grad):
    norms, fig = viz.render_jacobian_norms(hs[-1], hs, 'jacobians.png', start=0)   # drawn at t = 0 ... T

dh_T/dh_t is found row by row, one backward pass per element of h_T (mg.autograd.functional.jacobian_of),
with every other input of the later steps (the cell state c_t of an LSTM, the inputs) held fixed. Its
Frobenius norm and its largest singular value (how much the most amplified direction grows) against t show
vanishing (falling towards t=0) or exploding (rising) gradients for every loss at once, not for one loss
as plot_grad_flow does. For a batch, the Jacobian is block diagonal (one block per example).
"""
import numpy as np

from minigrad import Tensor
from minigrad.autograd.functional import jacobian_of

from .gradflow import _pyplot, time_axes


def state_jacobians(h_T, hs):
    """[dh_T/dh_t for each h_t in hs] as float64 NumPy matrices of shape (h_T.size, h_t.size); zeros where
    h_T does not depend on h_t (a later step)."""
    if not isinstance(h_T, Tensor):
        raise TypeError(f"viz.state_jacobians: h_T must be a Tensor, got {type(h_T).__name__}")
    hs = list(hs)
    if not hs:
        raise ValueError("viz.state_jacobians: hs is empty; pass the hidden states h_0 ... h_T")
    for t, h in enumerate(hs):
        if not isinstance(h, Tensor):
            raise TypeError(f"viz.state_jacobians: hs[{t}] must be a Tensor, got {type(h).__name__}")
        if not h.requires_grad:
            raise ValueError(f"viz.state_jacobians: hs[{t}] (shape {tuple(h.shape)}) is not part of a graph; "
                             "collect the states of a forward pass run with gradients on (not under no_grad)")
    if h_T.grad_fn is None:
        raise ValueError(f"viz.state_jacobians: h_T (shape {tuple(h_T.shape)}) has no graph behind it")
    blocks = jacobian_of(h_T, tuple(hs))
    return [np.asarray(J.numpy(), dtype=np.float64).reshape(h_T.data.size, h.data.size) for J, h in zip(blocks, hs)]


def jacobian_norms(h_T, hs):
    """{'frobenius': [||dh_T/dh_t||_F for each t], 'spectral': [its largest singular value]} (floats)."""
    out = {"frobenius": [], "spectral": []}
    for J in state_jacobians(h_T, hs):
        out["frobenius"].append(float(np.linalg.norm(J)))
        out["spectral"].append(float(np.linalg.norm(J, 2)) if J.size else 0.0)
    return out


def plot_jacobian_norms(lines, ax=None, title="How h_T depends on each earlier state", start=1):
    """A matplotlib Figure: Frobenius norm (solid) and largest singular value (dashed) of dh_T/dh_t against t,
    log scale. `lines`: what jacobian_norms returns, or a dict name -> that (one pair of lines per model).

    start: the time step t of the first state the norms were computed for; the k-th norm is drawn at
    t = start + k. The default 1 fits hs = [h_1, ..., h_T] (what viz.step_states returns); pass start=0
    when hs begins with the initial state, hs = [h_0, h_1, ..., h_T]."""
    if isinstance(start, bool) or not isinstance(start, int):
        raise TypeError(f"viz.plot_jacobian_norms: start must be an int (the step t of the first state: 0 when "
                        f"the states begin with h_0, 1 when they begin with h_1), got {start!r}")
    if isinstance(lines, dict) and set(lines) == {"frobenius", "spectral"}:
        lines = {"": lines}
    if not isinstance(lines, dict) or not lines:
        raise TypeError("viz.plot_jacobian_norms: expected jacobian_norms(...) or a non-empty dict name -> it, "
                        f"got {type(lines).__name__}")
    if ax is None:
        fig, ax = _pyplot().subplots(figsize=(7, 4))
    else:
        fig = ax.figure
    for i, (name, norms) in enumerate(lines.items()):
        colour = f"C{i % 10}"
        for key, style, text in (("frobenius", "-", "‖·‖_F"), ("spectral", "--", "σ_max")):
            values = [v if v > 0 else np.nan for v in norms[key]]      # zero: h_T does not depend on h_t
            ax.plot(range(start, start + len(values)), values, style, color=colour,
                    marker="o" if len(values) <= 40 else None, markersize=3, linewidth=1.5,
                    label=f"{name} {text}".strip())
    time_axes(ax, "norm of dh_T/dh_t", title)
    ax.legend()
    return fig


def render_jacobian_norms(h_T, hs=None, path=None, ax=None, title="How h_T depends on each earlier state", start=1):
    """Compute and plot the norms of dh_T/dh_t; save the figure to `path` (.png .svg .pdf) when given.

    h_T, hs: the last state and the list of states, or h_T a dict name -> (h_T, hs) and hs None (one pair of
    lines per model). start: the step t of hs[0], as for plot_jacobian_norms (0 when hs starts with h_0).
    Returns (norms, figure): norms as jacobian_norms gives them (a dict name -> them for a dict)."""
    if isinstance(h_T, dict):
        if hs is not None:
            raise TypeError("viz.render_jacobian_norms: with a dict name -> (h_T, hs), leave hs out")
        norms = {name: jacobian_norms(*pair) for name, pair in h_T.items()}
        fig = plot_jacobian_norms(norms, ax, title, start)
    else:
        if hs is None:
            raise TypeError("viz.render_jacobian_norms: pass the list of states hs (h_0 ... h_T)")
        norms = jacobian_norms(h_T, hs)
        fig = plot_jacobian_norms(norms, ax, title, start)
    if path is not None:
        fig.savefig(path, dpi=120, bbox_inches="tight")
    return norms, fig
