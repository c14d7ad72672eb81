"""Vanilla RNN: forward and hand-derived backpropagation through time.

Forward, one step (PyTorch's nn.RNN; phi = tanh, or relu with nonlinearity='relu'):

    a_t = W_ih x_t + b_ih + W_hh h_{t-1} + b_hh          (H,)   pre-activation
    h_t = phi(a_t)

Backward. h_t is used twice: by the output o_t = V h_t + c, and by the next step through a_{t+1}.
So its gradient has two terms (the second is the "through time" in BPTT):

    dL/dh_t = V^T dL/do_t  +  W_hh^T dL/da_{t+1}         (the second term only for t < T)
    dL/da_t = dL/dh_t * phi'(a_t)       phi' = 1 - h_t^2 for tanh, [h_t > 0] for relu

a_t is linear in everything it reads, so:

    dL/dx_t     = W_ih^T dL/da_t
    dL/dh_{t-1} = W_hh^T dL/da_t        (this is what step t-1 receives; at t = 1 it is dL/dh_0)
    dL/dW_ih = sum_t dL/da_t x_t^T      dL/dW_hh = sum_t dL/da_t h_{t-1}^T
    dL/db_ih = dL/db_hh = sum_t dL/da_t

The weights are shared by every step, so their gradients are sums over time. In the code the batch
is the first axis of each step's arrays, so W x becomes x @ W.T and W^T g becomes g @ W.
"""
import numpy as np

from .common import CELL_NAMES, check_inputs, output_backward, output_forward


def rnn_cell_forward(params, x_t, h_prev, nonlinearity="tanh"):
    """h_t = phi(W_ih x_t + b_ih + W_hh h_{t-1} + b_hh). x_t (B, D), h_prev (B, H) -> (h_t, step cache)."""
    a = x_t @ params["weight_ih"].T + params["bias_ih"] + h_prev @ params["weight_hh"].T + params["bias_hh"]
    h = np.tanh(a) if nonlinearity == "tanh" else np.maximum(a, 0)
    return h, (x_t, h_prev, h)


def rnn_cell_backward(params, dh, step, nonlinearity="tanh"):
    """From the total dL/dh_t (B, H): returns dL/dx_t, dL/dh_{t-1} and this step's parameter gradients."""
    x_t, h_prev, h = step
    da = dh * (1 - h * h) if nonlinearity == "tanh" else dh * (h > 0)       # dL/da_t = dL/dh_t * phi'(a_t)
    grads = {"weight_ih": da.T @ x_t, "weight_hh": da.T @ h_prev, "bias_ih": da.sum(0), "bias_hh": da.sum(0)}
    return da @ params["weight_ih"], da @ params["weight_hh"], grads


def rnn_forward(params, x, y, h0, many_to_one=False, nonlinearity="tanh"):
    """Run the RNN over x (T, B, D) from h0 (B, H) and score it against y; returns (loss, cache).

    y: int (T, B), or (B,) with many_to_one=True. loss = sum over scored steps and batch of -log p(y_t).
    cache['hs'] (T, B, H) holds h_1..h_T (PyTorch's `output`); pass the cache to rnn_backward.
    """
    if nonlinearity not in ("tanh", "relu"):
        raise ValueError(f"rnn_forward: nonlinearity must be 'tanh' or 'relu'; got {nonlinearity!r}")
    x, y = check_inputs("rnn_forward", "rnn", params, x, y, {"h0": h0}, many_to_one)
    h, steps, hs = h0, [], []
    for t in range(x.shape[0]):
        h, step = rnn_cell_forward(params, x[t], h, nonlinearity)
        steps.append(step)
        hs.append(h)
    hs = np.stack(hs)
    loss, p = output_forward(params, hs, y, many_to_one)
    cache = {"params": params, "x": x, "y": y, "hs": hs, "p": p, "steps": steps,
             "many_to_one": many_to_one, "nonlinearity": nonlinearity}
    return loss, cache


def rnn_backward(cache):
    """Backpropagation through time. Returns gradients named like PyTorch's parameters:
    'weight_ih', 'weight_hh', 'bias_ih', 'bias_hh', plus 'V', 'c', 'h0' and 'x'."""
    params, x, hs = cache["params"], cache["x"], cache["hs"]
    dV, dc, dh_out = output_backward(params, hs, cache["p"], cache["y"], cache["many_to_one"])
    grads = {name: np.zeros_like(params[name], dtype=dh_out.dtype) for name in CELL_NAMES}
    dx = np.zeros_like(x, dtype=dh_out.dtype)
    dh_next = np.zeros_like(hs[0])                      # dL/dh_t arriving from step t+1: none after T
    for t in reversed(range(x.shape[0])):
        dh = dh_out[t] + dh_next                        # both uses of h_t: the output and the next step
        dx[t], dh_next, step_grads = rnn_cell_backward(params, dh, cache["steps"][t], cache["nonlinearity"])
        for name in CELL_NAMES:
            grads[name] += step_grads[name]             # shared weights: sum over time
    grads.update(V=dV, c=dc, h0=dh_next, x=dx)          # after step 1, dh_next is dL/dh_0
    return grads
