"""GRU: forward and hand-derived backpropagation through time.

Forward, one step (PyTorch's nn.GRU; gates stacked in the order r, z, n). The input part and the
recurrent part are kept apart because the reset gate multiplies only the recurrent part of n:

    gi = W_ih x_t + b_ih = [gi_r, gi_z, gi_n]           (3H,)
    gh = W_hh h_{t-1} + b_hh = [gh_r, gh_z, gh_n]       (3H,)
    r = sigma(gi_r + gh_r)                              reset gate
    z = sigma(gi_z + gh_z)                              update gate
    n = tanh(gi_n + r * gh_n)                           candidate state
    h_t = (1 - z) * n + z * h_{t-1}

Backward. h_t feeds the output, and step t+1 in two ways (through W_hh and directly through z):

    dL/dh_t = V^T dL/do_t + [dL/dh_t from step t+1]

Within one step, from h_t = (1 - z) * n + z * h_{t-1}:

    dL/dn = dL/dh_t * (1 - z)        dL/da_n = dL/dn * (1 - n^2)       (a_n = gi_n + r * gh_n)
    dL/dz = dL/dh_t * (h_{t-1} - n)  dL/da_z = dL/dz * z (1 - z)
    dL/dr = dL/da_n * gh_n           dL/da_r = dL/dr * r (1 - r)

The gradients of the two linear maps differ only in the n block, where gh_n is scaled by r:

    dL/dgi = [dL/da_r, dL/da_z, dL/da_n]        dL/dgh = [dL/da_r, dL/da_z, r * dL/da_n]
    dL/dW_ih = sum_t dL/dgi x_t^T   dL/db_ih = sum_t dL/dgi   dL/dx_t = W_ih^T dL/dgi
    dL/dW_hh = sum_t dL/dgh h_{t-1}^T   dL/db_hh = sum_t dL/dgh
    dL/dh_{t-1} = dL/dh_t * z + W_hh^T dL/dgh       (the direct path plus the path through the gates)

So, unlike the LSTM and the vanilla RNN, bias_ih and bias_hh get different gradients.
Batch rows are the first axis in the code.
"""
import numpy as np

from .common import CELL_NAMES, check_inputs, output_backward, output_forward, sigmoid


def gru_cell_forward(params, x_t, h_prev):
    """One GRU step. x_t (B, D), h_prev (B, H) -> (h_t, step cache)."""
    gi_r, gi_z, gi_n = np.split(x_t @ params["weight_ih"].T + params["bias_ih"], 3, axis=1)
    gh_r, gh_z, gh_n = np.split(h_prev @ params["weight_hh"].T + params["bias_hh"], 3, axis=1)
    r = sigmoid(gi_r + gh_r)
    z = sigmoid(gi_z + gh_z)
    n = np.tanh(gi_n + r * gh_n)
    h = (1 - z) * n + z * h_prev
    return h, (x_t, h_prev, r, z, n, gh_n)


def gru_cell_backward(params, dh, step):
    """From the total dL/dh_t (B, H): returns dL/dx_t, dL/dh_{t-1} and this step's parameter gradients."""
    x_t, h_prev, r, z, n, gh_n = step
    da_n = dh * (1 - z) * (1 - n * n)
    da_z = dh * (h_prev - n) * z * (1 - z)
    da_r = da_n * gh_n * r * (1 - r)
    dgi = np.concatenate([da_r, da_z, da_n], axis=1)
    dgh = np.concatenate([da_r, da_z, da_n * r], axis=1)
    grads = {"weight_ih": dgi.T @ x_t, "weight_hh": dgh.T @ h_prev, "bias_ih": dgi.sum(0), "bias_hh": dgh.sum(0)}
    dh_prev = dh * z + dgh @ params["weight_hh"]
    return dgi @ params["weight_ih"], dh_prev, grads


def gru_forward(params, x, y, h0, many_to_one=False):
    """Run the GRU over x (T, B, D) from h0 (B, H) and score it against y; returns (loss, cache).

    y: int (T, B), or (B,) with many_to_one=True. loss = sum over scored steps and batch of -log p(y_t).
    cache['hs'] (T, B, H) holds h_1..h_T (PyTorch's `output`); pass the cache to gru_backward.
    """
    x, y = check_inputs("gru_forward", "gru", params, x, y, {"h0": h0}, many_to_one)
    h, steps, hs = h0, [], []
    for t in range(x.shape[0]):
        h, step = gru_cell_forward(params, x[t], h)
        steps.append(step)
        hs.append(h)
    hs = np.stack(hs)
    loss, p = output_forward(params, hs, y, many_to_one)
    cache = {"params": params, "x": x, "y": y, "hs": hs, "p": p, "steps": steps, "many_to_one": many_to_one}
    return loss, cache


def gru_backward(cache):
    """Backpropagation through time. Returns gradients named like PyTorch's parameters:
    'weight_ih', 'weight_hh', 'bias_ih', 'bias_hh', plus 'V', 'c', 'h0' and 'x'."""
    params, x, hs = cache["params"], cache["x"], cache["hs"]
    dV, dc, dh_out = output_backward(params, hs, cache["p"], cache["y"], cache["many_to_one"])
    grads = {name: np.zeros_like(params[name], dtype=dh_out.dtype) for name in CELL_NAMES}
    dx = np.zeros_like(x, dtype=dh_out.dtype)
    dh_next = np.zeros_like(hs[0])                      # dL/dh_t from step t+1: none after T
    for t in reversed(range(x.shape[0])):
        dh = dh_out[t] + dh_next
        dx[t], dh_next, step_grads = gru_cell_backward(params, dh, cache["steps"][t])
        for name in CELL_NAMES:
            grads[name] += step_grads[name]             # shared weights: sum over time
    grads.update(V=dV, c=dc, h0=dh_next, x=dx)
    return grads
