# Model answers for notebook 4 (each block replaces the body of its "Your turn" cell).
# ruff: noqa: F821  (the answers use the names the notebook defined before the exercise)

# --- 4.1
def dL_dh(do_t, da_next, V, W_hh):
    return do_t @ V + da_next @ W_hh          # V^T dL/do_t + W_hh^T dL/da_{t+1}, batch first

# --- 4.2
def truncated_grad(k):
    rnn.zero_grad()                                       # start from zero: .grad accumulates
    state = h0t.detach()
    for s in range(0, T, k):
        out, state = rnn(xt[s:s + k], state)
        window_loss = F.cross_entropy((out @ V.T + c).reshape(-1, K), y[s:s + k].reshape(-1), reduction="sum")
        window_loss.backward()
        state = state.detach()
    return rnn.weight_hh_l0.grad                           # a Tensor (None until a backward has run)
