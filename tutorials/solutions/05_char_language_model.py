# Model answers for notebook 5 (each block replaces the body of its "Your turn" cell).
# ruff: noqa: F821  (the answers use the names the notebook defined before the exercise)

# --- 5.1
initial_loss = np.log(len(vocab))       # -log(1/K) nats per character
perplexity = np.exp(initial_loss)       # = K: a K-sided die

# --- 5.2
def draw(logits, tau, rng):
    z = logits / tau
    p = np.exp(z - z.max())             # the largest term is exp(0) = 1: no overflow
    p /= p.sum()
    return rng.choice(len(p), p=p)
