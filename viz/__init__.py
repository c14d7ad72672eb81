"""Pictures of minigrad graphs: unrolled and rolled RNNs rendered with Graphviz, gradient-flow plots.

    viz.draw_graph(loss, module=model, detail='cell', max_steps=3)   # a graphviz.Digraph (inline in Jupyter)
    viz.render(loss, 'lstm.png', module=model, rolled=True)          # .png .svg .pdf .dot
    hs = viz.step_states(loss); loss.backward()                      # the hidden state of every step
    viz.plot_grad_flow({'LSTM': hs})                                 # ||dL/dh_t|| against t
    g, = mg.autograd.grad(loss, w, create_graph=True)
    viz.draw_graph(g, passes='both')                                 # BPTT beside the forward pass
    norms, fig = viz.render_jacobian_norms(hs[-1], hs, 'jac.png')    # exact ||dh_T/dh_t||, F and sigma_max
    viz.plot_jacobian_norms(viz.jacobian_norms(h_T, [h0] + hs), start=0)  # states from h_0: drawn at t = 0..T

Options of draw_graph/render: detail='op' (every op) or 'cell' (one node per cell application, the input
projection folded in); rolled=True (one step, the recurrence through a 1-step delay); grads=True (colour
by gradient norm, after backward(retain_graph=True); viz.retain_grads(loss) before backward colours every
op); max_steps=k (first and last k steps, the middle elided); rankdir='LR' or 'TB' (where time runs);
names={"x": x} labels inputs (or any leaf); a named result labels the edge that carries it
(names={"context": h_n}). The graph must still exist: draw it before backward, or
backward with retain_graph=True. A layer's initial state (the zeros it makes when no h0 is passed) is
drawn as h₀ (and c₀) in the layer's cluster, outside step 1, and rolled as what the delay holds first.

Layers, directions and time steps come from the facts the recurrent loop records on its nodes (`node.meta`,
see viz/steps.py), never from scope names: a loop of your own shows its steps when each is wrapped in
`with mg.annotate(t=t): ...` (add cell="MGU" to name the boxes at cell detail).
"""
from .attention import plot_attention
from .capture import Graph, OpNode, Scope, TensorNode, capture, retain_grads
from .gradflow import grad_norms, plot_grad_flow, step_states
from .jacobian import jacobian_norms, plot_jacobian_norms, render_jacobian_norms, state_jacobians
from .render import draw_graph, render, to_digraph
from .view import build_view
from .text_heatmap import text_heatmap
