"""Backpropagation through time derived by hand, in plain NumPy: an independent witness for minigrad.

minigrad computes an RNN's gradients generically: the unrolled loop is an ordinary graph and
`loss.backward()` walks it. This package writes the same gradients out equation by equation, for a
vanilla RNN (rnn.py), an LSTM (lstm.py) and a GRU (gru.py), each topped by a softmax output layer
o_t = V h_t + c (common.py). It imports NumPy only, so agreement with minigrad means something.

Every model has the same shape of API (params: a dict with PyTorch's names plus 'V' and 'c'):

    loss, cache = rnn_forward(params, x, y, h0, many_to_one=False, nonlinearity='tanh')
    loss, cache = lstm_forward(params, x, y, h0, c0, many_to_one=False)
    loss, cache = gru_forward(params, x, y, h0, many_to_one=False)
    grads = rnn_backward(cache)      # or lstm_backward / gru_backward

x: float (T, B, D); y: int (T, B), or (B,) for many-to-one; h0, c0: (B, H).
grads: 'weight_ih', 'weight_hh', 'bias_ih', 'bias_hh', 'V', 'c', 'h0' (and 'c0'), 'x'.
The dtype follows the inputs: float64 for checking against finite differences.

The shape of every backward pass (the rest is one cell's local derivative):

    dL/do_t = softmax(o_t) - onehot(y_t)
    dL/dh_t = V^T dL/do_t  +  (for t < T) what step t+1 sends back through the recurrent weights
    parameter gradients = sums over time of each step's contribution
"""
from .common import init_params, sigmoid
from .gru import gru_backward, gru_cell_backward, gru_cell_forward, gru_forward
from .lstm import lstm_backward, lstm_cell_backward, lstm_cell_forward, lstm_forward
from .rnn import rnn_backward, rnn_cell_backward, rnn_cell_forward, rnn_forward

__all__ = ["init_params", "sigmoid",
           "rnn_forward", "rnn_backward", "rnn_cell_forward", "rnn_cell_backward",
           "lstm_forward", "lstm_backward", "lstm_cell_forward", "lstm_cell_backward",
           "gru_forward", "gru_backward", "gru_cell_forward", "gru_cell_backward"]
