# Model answers for notebook 2 (each block replaces the body of its "# Your turn" cell).
# ruff: noqa: F821  (the names these answers use are defined in the notebook)

# --- 2.1
def graph_size(T):
    # per step: W_hh @ h, W_ih @ x_t, two Adds, Tanh (x[t] of an input without grad is not recorded); then the Sum
    return 5 * T + 1

# --- 2.2
def dhT_da(xs, a):
    T = len(xs)
    h_prev, total = 0.0, 0.0                       # h_0 = 0
    for t, x in enumerate(xs, start=1):
        total += a ** (T - t) * (h_prev - x)       # step t's use of a, carried to h_T by a^(T - t)
        h_prev = a * h_prev + (1 - a) * x          # h_t
    return total
