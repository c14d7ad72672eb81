"""The checks of notebooks 4-6: each fails on a wrong answer with its hint, and passes on the model answer.

The model answers are read from tutorials/solutions/ and run in a namespace set up like the notebook's."""
import numpy as np

import minigrad as mg
import minigrad.nn.functional as F
from minigrad import nn
from models import bptt

from tutorial_modules import build, checks


def _answer(notebook, exercise_id, namespace):
    """Run the model answer of one exercise in `namespace` (which it updates) and return it."""
    exec(build.solutions(notebook)[exercise_id], namespace)
    return namespace


def _lines(capsys):
    return capsys.readouterr().out.strip().splitlines()


# ---------------------------------------------------------------------------------------------- notebook 4
def test_nb04_dL_dh(capsys):
    ns = _answer("04_bptt_by_hand", "4.1", {})
    checks.nb04_dL_dh(ns["dL_dh"])
    checks.nb04_dL_dh(lambda do_t, da_next, V, W_hh: do_t @ V)
    checks.nb04_dL_dh(lambda do_t, da_next, V, W_hh: do_t @ V + da_next @ W_hh.T)
    checks.nb04_dL_dh(checks.blank)
    passed, local_only, transposed, blank = _lines(capsys)
    assert passed.startswith(f"{checks.PASS} 4.1 ")
    assert local_only.startswith(f"{checks.FAIL} 4.1 ") and "message from step t+1" in local_only
    assert "transposed the wrong way" in transposed
    assert checks.NOT_ANSWERED in blank


def _nb04_namespace():
    T, B, D, H, K = 30, 4, 3, 8, 5
    rng = np.random.default_rng(0)
    P = bptt.init_params("rnn", D, H, K, seed=0)
    x, y, h0 = rng.standard_normal((T, B, D)), rng.integers(0, K, size=(T, B)), 0.1 * rng.standard_normal((B, H))
    rnn = nn.RNN(D, H, fused=False, dtype=mg.float64)
    rnn.load_state_dict({f"{k}_l0": P[k] for k in ("weight_ih", "weight_hh", "bias_ih", "bias_hh")})
    return dict(T=T, K=K, P=P, x=x, y=y, h0=h0, rnn=rnn, F=F, V=mg.tensor(P["V"], requires_grad=True),
                c=mg.tensor(P["c"], requires_grad=True), xt=mg.tensor(x, requires_grad=True),
                h0t=mg.tensor(h0[None], requires_grad=True))


def test_nb04_truncated(capsys):
    ns = _answer("04_bptt_by_hand", "4.2", _nb04_namespace())
    args = (ns["P"], ns["x"], ns["y"], ns["h0"])
    checks.nb04_truncated(ns["truncated_grad"], *args)

    def never_detached(k):                     # one graph over all windows: full BPTT
        ns["rnn"].zero_grad()
        out, _ = ns["rnn"](ns["xt"], ns["h0t"])
        F.cross_entropy((out @ ns["V"].T + ns["c"]).reshape(-1, ns["K"]), ns["y"].reshape(-1),
                        reduction="sum").backward()
        return ns["rnn"].weight_hh_l0.grad

    def no_backward(k):
        ns["rnn"].zero_grad()
        return ns["rnn"].weight_hh_l0.grad

    checks.nb04_truncated(never_detached, *args)
    checks.nb04_truncated(no_backward, *args)
    passed, full, blank = _lines(capsys)
    assert passed.startswith(f"{checks.PASS} 4.2 ")
    assert full.startswith(f"{checks.FAIL} 4.2 ") and "detach the state" in full
    assert checks.NOT_ANSWERED in blank


# ---------------------------------------------------------------------------------------------- notebook 6
def test_nb06_power_norm(capsys):
    ns = _answer("06_vanishing_and_exploding", "6.1", {"np": np})
    checks.nb06_power_norm(ns["power_norm"])
    checks.nb06_power_norm(lambda lam, n: np.max(lam) ** n)
    checks.nb06_power_norm(lambda lam, n: np.max(np.abs(lam)) * n)
    checks.nb06_power_norm(checks.blank)
    passed, signed, product, blank = _lines(capsys)
    assert passed.startswith(f"{checks.PASS} 6.1 ")
    assert signed.startswith(f"{checks.FAIL} 6.1 ") and "absolute values" in signed
    assert "a power, not a product" in product
    assert checks.NOT_ANSWERED in blank


def test_nb06_clip_by_norm(capsys):
    ns = _answer("06_vanishing_and_exploding", "6.2", {"np": np})
    checks.nb06_clip_by_norm(ns["clip_by_norm"])

    def each_on_its_own(grads, max_norm):
        total = np.sqrt(sum((g ** 2).sum() for g in grads))
        return [g * min(1.0, max_norm / np.linalg.norm(g)) for g in grads], total

    def always_rescale(grads, max_norm):
        total = np.sqrt(sum((g ** 2).sum() for g in grads))
        return [g * max_norm / total for g in grads], total

    checks.nb06_clip_by_norm(each_on_its_own)
    checks.nb06_clip_by_norm(always_rescale)
    checks.nb06_clip_by_norm(lambda grads, max_norm: (grads, max(np.linalg.norm(g) for g in grads)))
    checks.nb06_clip_by_norm(checks.blank)
    passed, own, always, wrong_norm, blank = _lines(capsys)
    assert passed.startswith(f"{checks.PASS} 6.2 ")
    assert own.startswith(f"{checks.FAIL} 6.2 ") and "clipped on its own" in own
    assert "leave the gradients as they are" in always
    assert "ALL squares" in wrong_norm
    assert checks.NOT_ANSWERED in blank


# ---------------------------------------------------------------------------------------------- notebook 5
class _Vocab:
    def __len__(self):
        return 65


def test_nb05_initial_loss(capsys):
    ns = _answer("05_char_language_model", "5.1", {"np": np, "vocab": _Vocab()})
    checks.nb05_initial_loss(ns["initial_loss"], ns["perplexity"], 65)
    checks.nb05_initial_loss(np.log10(65), 65.0, 65)
    checks.nb05_initial_loss(np.log(65), np.log(65), 65)
    checks.nb05_initial_loss(..., ..., 65)
    passed, log10, ppl, blank = _lines(capsys)
    assert passed.startswith(f"{checks.PASS} 5.1 ")
    assert log10.startswith(f"{checks.FAIL} 5.1 ") and "log10" in log10
    assert "perplexity is exp(loss)" in ppl
    assert checks.NOT_ANSWERED in blank


def test_nb05_draw(capsys):
    ns = _answer("05_char_language_model", "5.2", {"np": np})
    checks.nb05_draw(ns["draw"])

    def ignores_tau(logits, tau, rng):
        p = np.exp(logits - logits.max())
        return rng.choice(len(p), p=p / p.sum())

    def no_shift(logits, tau, rng):
        p = np.exp(logits / tau)
        return rng.choice(len(p), p=p / p.sum())

    checks.nb05_draw(ignores_tau)
    checks.nb05_draw(lambda logits, tau, rng: int(np.argmax(logits)))
    checks.nb05_draw(no_shift)
    checks.nb05_draw(checks.blank)
    passed, tau1, greedy, overflow, blank = _lines(capsys)
    assert passed.startswith(f"{checks.PASS} 5.2 ")
    assert tau1.startswith(f"{checks.FAIL} 5.2 ") and "divide the logits by tau" in tau1
    assert "do not take argmax" in greedy
    assert "overflow" in overflow
    assert checks.NOT_ANSWERED in blank
