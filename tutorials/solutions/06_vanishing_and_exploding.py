# Model answers for notebook 6 (each block replaces the body of its "Your turn" cell).
# ruff: noqa: F821  (the answers use the names the notebook defined before the exercise)
import numpy as np

# --- 6.1
def power_norm(lam, n):
    return np.max(np.abs(lam)) ** n           # W^n = Q diag(lam^n) Q^T: its singular values are |lam|^n

# --- 6.2
def clip_by_norm(grads, max_norm):
    norm = np.sqrt(sum(float((g ** 2).sum()) for g in grads))    # all gradients as one long vector
    scale = min(1.0, max_norm / (norm + 1e-6))
    return [g * scale for g in grads], norm
