# Model answers for tutorials/07_lstm_and_gru_inside.ipynb: each block replaces its exercise cell's body.

# --- 7.1
H = cell.hidden_size
a = x.numpy() @ W_ih.numpy().T + b_ih.numpy() + h_prev.numpy() @ W_hh.numpy().T + b_hh.numpy()
f = 1 / (1 + np.exp(-a[:, H:2 * H]))             # the second block of i, f, g, o

# --- 7.2
class CoupledLSTM(nn.Cell):
    gates = 3                                        # f, g, o
    state_size = 2                                   # (h, c)

    def step(self, xw, state, w):
        h, c = state
        a_f, a_g, a_o = (xw + h @ w["weight_hh"].T).chunk(3, axis=-1)
        f, g, o = a_f.sigmoid(), a_g.tanh(), a_o.sigmoid()
        c = f * c + (1 - f) * g                      # write only as much as is forgotten
        return o * c.tanh(), c
