"""LSTM: forward and hand-derived backpropagation through time.

Forward, one step (PyTorch's nn.LSTM; the four gates are stacked in the order i, f, g, o, so rows
0:H of weight_ih belong to i, H:2H to f, 2H:3H to g and 3H:4H to o):

    a_t = W_ih x_t + b_ih + W_hh h_{t-1} + b_hh          (4H,) = [a_i, a_f, a_g, a_o]
    i = sigma(a_i)   f = sigma(a_f)   g = tanh(a_g)   o = sigma(a_o)
    c_t = f * c_{t-1} + i * g                            cell state
    h_t = o * tanh(c_t)

Backward. Two states flow to the next step: h_t (through W_hh, like a vanilla RNN) and c_t (through
the forget gate only, the "constant error carousel"). Each has a gradient with a term from the
future:

    dL/dh_t = V^T dL/do_t + W_hh^T dL/da_{t+1}                          (second term: t < T)
    dL/dc_t = dL/dh_t * o * (1 - tanh(c_t)^2) + dL/dc_{t+1} * f_{t+1}   (second term: t < T)

From h_t = o * tanh(c_t) and c_t = f * c_{t-1} + i * g, gate by gate:

    dL/do = dL/dh_t * tanh(c_t)      dL/da_o = dL/do * o (1 - o)
    dL/di = dL/dc_t * g              dL/da_i = dL/di * i (1 - i)
    dL/df = dL/dc_t * c_{t-1}        dL/da_f = dL/df * f (1 - f)
    dL/dg = dL/dc_t * i              dL/da_g = dL/dg * (1 - g^2)
    dL/dc_{t-1} (this step's share) = dL/dc_t * f

and a_t is linear, exactly as in the vanilla RNN (rnn.py):

    dL/dx_t = W_ih^T dL/da_t     dL/dh_{t-1} = W_hh^T dL/da_t
    dL/dW_ih = sum_t dL/da_t x_t^T   dL/dW_hh = sum_t dL/da_t h_{t-1}^T   dL/db_ih = dL/db_hh = sum_t dL/da_t

At t = 1 the messages for step 0 are dL/dh_0 and dL/dc_0. Batch rows are the first axis in the code.
"""
import numpy as np

from .common import CELL_NAMES, check_inputs, output_backward, output_forward, sigmoid


def lstm_cell_forward(params, x_t, h_prev, c_prev):
    """One LSTM step. x_t (B, D), h_prev and c_prev (B, H) -> (h_t, c_t, step cache)."""
    a = x_t @ params["weight_ih"].T + params["bias_ih"] + h_prev @ params["weight_hh"].T + params["bias_hh"]
    a_i, a_f, a_g, a_o = np.split(a, 4, axis=1)
    i, f, g, o = sigmoid(a_i), sigmoid(a_f), np.tanh(a_g), sigmoid(a_o)
    c = f * c_prev + i * g
    tanh_c = np.tanh(c)
    h = o * tanh_c
    return h, c, (x_t, h_prev, c_prev, i, f, g, o, tanh_c)


def lstm_cell_backward(params, dh, dc_next, step):
    """From the total dL/dh_t and the future's share of dL/dc_t (dL/dc_{t+1} * f_{t+1}), both (B, H):
    returns dL/dx_t, dL/dh_{t-1}, the share of dL/dc_{t-1} that goes through this step's forget gate,
    and this step's parameter gradients."""
    x_t, h_prev, c_prev, i, f, g, o, tanh_c = step
    dc = dh * o * (1 - tanh_c * tanh_c) + dc_next       # both uses of c_t: h_t and c_{t+1}
    da = np.concatenate([dc * g * i * (1 - i),          # dL/da_i
                         dc * c_prev * f * (1 - f),     # dL/da_f
                         dc * i * (1 - g * g),          # dL/da_g
                         dh * tanh_c * o * (1 - o)],    # dL/da_o
                        axis=1)
    grads = {"weight_ih": da.T @ x_t, "weight_hh": da.T @ h_prev, "bias_ih": da.sum(0), "bias_hh": da.sum(0)}
    return da @ params["weight_ih"], da @ params["weight_hh"], dc * f, grads


def lstm_forward(params, x, y, h0, c0, many_to_one=False):
    """Run the LSTM over x (T, B, D) from (h0, c0), each (B, H), and score it against y; returns (loss, cache).

    y: int (T, B), or (B,) with many_to_one=True. loss = sum over scored steps and batch of -log p(y_t).
    cache['hs'] and cache['cs'] (T, B, H) hold h_1..h_T and c_1..c_T; pass the cache to lstm_backward.
    """
    x, y = check_inputs("lstm_forward", "lstm", params, x, y, {"h0": h0, "c0": c0}, many_to_one)
    h, c, steps, hs, cs = h0, c0, [], [], []
    for t in range(x.shape[0]):
        h, c, step = lstm_cell_forward(params, x[t], h, c)
        steps.append(step)
        hs.append(h)
        cs.append(c)
    hs = np.stack(hs)
    loss, p = output_forward(params, hs, y, many_to_one)
    cache = {"params": params, "x": x, "y": y, "hs": hs, "cs": np.stack(cs), "p": p, "steps": steps,
             "many_to_one": many_to_one}
    return loss, cache


def lstm_backward(cache):
    """Backpropagation through time. Returns gradients named like PyTorch's parameters:
    'weight_ih', 'weight_hh', 'bias_ih', 'bias_hh', plus 'V', 'c', 'h0', 'c0' and 'x'."""
    params, x, hs = cache["params"], cache["x"], cache["hs"]
    dV, dc, dh_out = output_backward(params, hs, cache["p"], cache["y"], cache["many_to_one"])
    grads = {name: np.zeros_like(params[name], dtype=dh_out.dtype) for name in CELL_NAMES}
    dx = np.zeros_like(x, dtype=dh_out.dtype)
    dh_next = np.zeros_like(hs[0])                      # dL/dh_t from step t+1: none after T
    dc_next = np.zeros_like(hs[0])                      # dL/dc_t from step t+1: none after T
    for t in reversed(range(x.shape[0])):
        dh = dh_out[t] + dh_next
        dx[t], dh_next, dc_next, step_grads = lstm_cell_backward(params, dh, dc_next, cache["steps"][t])
        for name in CELL_NAMES:
            grads[name] += step_grads[name]             # shared weights: sum over time
    grads.update(V=dV, c=dc, h0=dh_next, c0=dc_next, x=dx)
    return grads
