"""The checks behind the notebooks' "Your turn" exercises.

An exercise is a code cell whose first line is `# Your turn N.K: what to do` (N the notebook, K the
exercise); it holds a blank to fill in (`...` or `raise NotImplementedError`). The cell after it calls one
function from here with the learner's answer. A check never raises: it prints one line (and returns nothing),
so a notebook still runs top to bottom with its exercises blank.

    ✓ 1.1 the backward of exp: matches finite differences to 1e-10
    ✗ 1.1 the backward of exp: not answered yet (replace the `...`)
    ✗ 1.1 the backward of exp: the gradient is off by a factor of x: did you multiply by the output?

Writing a check: decorate a function with @exercise("N.K title"); inside, `assert condition, "hint"`
for each thing the answer must get right, and return a short success message. The model answers live in
tutorials/solutions/NN_name.py, one block per exercise after a `# --- N.K` line; the tests run every
notebook with all answers filled in but one, and require every check to pass except that one, which must
print its failure (so no check is vacuous).
"""
import functools

PASS, FAIL = "✓", "✗"
NOT_ANSWERED = "not answered yet"


def exercise(title):
    """Decorator for a check: `title` is "N.K what it checks"; the function asserts with hints."""
    exercise_id = title.split()[0]

    def wrap(check):
        @functools.wraps(check)
        def run(*answer, **kwargs):
            try:
                if any(a is ... for a in answer):
                    raise NotImplementedError
                ok, message = True, check(*answer, **kwargs) or "correct"
            except NotImplementedError:
                ok, message = False, f"{NOT_ANSWERED} (fill in the blank above, then run both cells)"
            except AssertionError as e:
                ok, message = False, str(e).split("\n")[0] or "not quite: compare with the text above"
            except Exception as e:                      # the learner's code failed: say how, not a traceback
                ok, message = False, f"your code raised {type(e).__name__}: {e}"
            print(f"{PASS if ok else FAIL} {title}: {message}")
        run.exercise_id, run.title = exercise_id, title
        return run
    return wrap


def blank(*args, **kwargs):
    """What an unanswered exercise function does: raise NotImplementedError (a check reports it kindly)."""
    raise NotImplementedError


# ----------------------------------------------------------------------------- the checks, notebook by notebook
# Each notebook's checks live in their own section below, in the order the exercises appear.


# ---- notebooks 04-06
def _bptt_rnn_reference(P, x, y, h0, k):
    """NumPy BPTT of the summed cross-entropy of a vanilla RNN with read-out V, c, truncated every k steps."""
    import numpy as np
    hs = [h0]
    for t in range(len(x)):
        hs.append(np.tanh(x[t] @ P["weight_ih"].T + P["bias_ih"] + hs[-1] @ P["weight_hh"].T + P["bias_hh"]))
    o = np.stack(hs[1:]) @ P["V"].T + P["c"]
    p = np.exp(o - o.max(-1, keepdims=True))
    p /= p.sum(-1, keepdims=True)
    do = p - np.eye(p.shape[-1])[y]
    gw, dh_next = np.zeros_like(P["weight_hh"]), np.zeros_like(h0)
    for t in reversed(range(len(x))):
        if (t + 1) % k == 0:                                   # step t+1 starts a new window: no message crosses
            dh_next = np.zeros_like(h0)
        da = (do[t] @ P["V"] + dh_next) * (1 - hs[t + 1] ** 2)
        gw += da.T @ hs[t]
        dh_next = da @ P["weight_hh"]
    return gw


@exercise("4.1 dL/dh_t, the two paths out of h_t")
def nb04_dL_dh(dL_dh):
    import numpy as np
    rng = np.random.default_rng(4)
    B, H, K = 3, 5, 4
    do_t, da_next = rng.standard_normal((B, K)), rng.standard_normal((B, H))
    V, W_hh = rng.standard_normal((K, H)), rng.standard_normal((H, H))
    got = dL_dh(do_t, da_next, V, W_hh)
    if got is None:
        raise NotImplementedError
    got = np.asarray(got)
    want = do_t @ V + da_next @ W_hh
    assert got.shape == want.shape, f"the result should have shape (B, H) = {want.shape}, got {got.shape}"
    assert not np.allclose(got, do_t @ V), "that is only the path through o_t: add the message from step t+1"
    assert not np.allclose(got, da_next @ W_hh), "that is only the path through a_{t+1}: add V^T dL/do_t"
    assert not np.allclose(got, do_t @ V + da_next @ W_hh.T), \
        "W_hh is transposed the wrong way: a_{t+1} = h_t @ W_hh.T, so its backward is g @ W_hh"
    assert np.allclose(got, want), "not V^T dL/do_t + W_hh^T dL/da_{t+1}: with the batch first, W^T g is g @ W"
    return "the two paths out of h_t, added (the boxed equation)"


@exercise("4.2 truncated BPTT with detach()")
def nb04_truncated(truncated_grad, P, x, y, h0):
    import numpy as np
    T, k = len(x), 10
    def grad_of(k):
        g = truncated_grad(k)
        if g is None:                                        # no backward ran: the blank is still there
            raise NotImplementedError
        return np.array(g.numpy() if hasattr(g, "numpy") else g, dtype=np.float64)

    got = grad_of(k)
    want, full = _bptt_rnn_reference(P, x, y, h0, k), _bptt_rnn_reference(P, x, y, h0, T)
    assert got.shape == want.shape, f"return weight_hh_l0's gradient, shape {want.shape}; got {got.shape}"
    assert not np.allclose(got, full), "this is the full BPTT gradient: detach the state between windows"
    assert not np.allclose(got, 2 * want), "twice the answer: zero the gradients before the windows (rnn.zero_grad())"
    assert np.allclose(got, want, atol=1e-10), \
        "not the truncated gradient: each window should start from the previous window's last state, detached, " \
        "and add the summed cross-entropy of its k steps"
    again = grad_of(T)
    assert np.allclose(again, full, atol=1e-10), "with one window of all T steps the result should be full BPTT"
    return f"windows of {k} steps match the NumPy loop with dh_next = 0 at each boundary"


@exercise("5.1 the uniform guess: loss and perplexity")
def nb05_initial_loss(initial_loss, perplexity, vocab_size):
    import math
    loss, ppl = float(initial_loss), float(perplexity)
    assert not math.isclose(loss, math.log10(vocab_size), rel_tol=1e-6), \
        "that is log10: losses here are in nats, the natural logarithm (np.log)"
    assert not math.isclose(loss, 1 / vocab_size, rel_tol=1e-6), \
        "1/K is the probability of each character; the loss is minus its logarithm"
    assert math.isclose(loss, math.log(vocab_size), rel_tol=1e-6), \
        f"each character gets probability 1/{vocab_size}; the loss is -log of that, in nats"
    assert math.isclose(ppl, vocab_size, rel_tol=1e-6), \
        f"perplexity is exp(loss): for a uniform guess, the number of choices ({vocab_size}); got {ppl:.4g}"
    return f"log {vocab_size} = {loss:.3f} nats per character, perplexity {ppl:.0f}: a {vocab_size}-sided die"


@exercise("5.2 drawing a character at a temperature")
def nb05_draw(draw):
    import numpy as np
    logits = np.array([2.0, 1.0, 0.0, -1.0, 0.5])
    rng, n = np.random.default_rng(5), 8000

    def frequencies(tau):
        counts = np.zeros(len(logits))
        for _ in range(n):
            k = draw(logits, tau, rng)
            if k is None:
                raise NotImplementedError
            counts[int(k)] += 1
        return counts / n

    def softmax(z):
        e = np.exp(z - z.max())
        return e / e.sum()

    for tau in (0.5, 2.0):
        got = frequencies(tau)
        assert not np.allclose(got, np.eye(len(logits))[0]), "always the favourite: draw at random, do not take argmax"
        assert not np.allclose(got, softmax(logits), atol=0.025), \
            "these are the frequencies of temperature 1: divide the logits by tau before the softmax"
        assert not np.allclose(got, softmax(logits * tau), atol=0.025), "divide the logits by tau, do not multiply"
        assert np.allclose(got, softmax(logits / tau), atol=0.025), \
            f"at tau = {tau} the frequencies {np.round(got, 3)} differ from softmax(logits / tau) " \
            f"{np.round(softmax(logits / tau), 3)}"
    with np.errstate(over="raise", invalid="raise"):
        assert int(draw(np.array([800.0, 0.0]), 0.01, rng)) == 0, \
            "overflow at a small tau: subtract logits.max() before np.exp"
    return "8,000 draws at tau = 0.5 and 2 match softmax(logits / tau), and a tiny tau does not overflow"


@exercise("6.1 the norm of a power of W, from its eigenvalues")
def nb06_power_norm(power_norm):
    import numpy as np
    rng = np.random.default_rng(6)
    Q, _ = np.linalg.qr(rng.standard_normal((6, 6)))
    for lam in (np.array([0.9, -0.95, 0.5, 0.2, -0.1, 0.7]), np.array([1.1, 0.3, -0.4, 0.8, 0.05, -0.6])):
        W = Q @ np.diag(lam) @ Q.T
        for n in (1, 5, 30):
            got = power_norm(lam, n)
            if got is None:
                raise NotImplementedError
            want = np.linalg.norm(np.linalg.matrix_power(W, n), 2)
            got = float(np.asarray(got))
            if lam.max() < np.abs(lam).max() and np.isclose(got, lam.max() ** n):
                raise AssertionError("an eigenvalue of -0.95 shrinks or grows a direction just like +0.95: "
                                     "take absolute values")
            assert n == 1 or not np.isclose(got, np.abs(lam).max() * n), "a power, not a product with n: |lambda|^n"
            assert np.isclose(got, want, rtol=1e-8), \
                f"for n = {n} expected {want:.4g}, got {got:.4g}: W^n has eigenvalues lambda^n; " \
                "which is largest in size?"
    return "max |lambda|^n: below 1 it vanishes, above 1 it explodes"


@exercise("6.2 clipping by the total norm")
def nb06_clip_by_norm(clip_by_norm):
    import numpy as np
    import minigrad as mg
    from minigrad.nn.utils import clip_grad_norm_
    rng = np.random.default_rng(62)
    for max_norm in (1.0, 100.0):
        grads = [rng.standard_normal(s) for s in ((3, 4), (4,), (2, 2))]
        params = [mg.tensor(np.zeros_like(g), requires_grad=True) for g in grads]
        for p, g in zip(params, grads):
            p.grad = mg.tensor(g.copy())
        want_norm = float(clip_grad_norm_(params, max_norm))
        result = clip_by_norm([g.copy() for g in grads], max_norm)
        if result is None:
            raise NotImplementedError
        assert isinstance(result, tuple) and len(result) == 2, "return a pair: (list of clipped arrays, norm before)"
        clipped, norm = result
        assert np.isclose(float(norm), want_norm), \
            f"the norm before clipping should be {want_norm:.4f} (the square root of the sum of ALL squares), " \
            f"got {float(norm):.4f}"
        assert len(clipped) == len(grads), "return one clipped array per gradient"
        for c, p, g in zip(clipped, params, grads):
            c = np.asarray(c)
            if max_norm > want_norm:
                assert np.allclose(c, g), "the norm is already below max_norm: leave the gradients as they are " \
                                          "(scale by min(1, max_norm / norm))"
            assert not np.allclose(c, g / np.linalg.norm(g) * max_norm) or np.allclose(c, p.grad.numpy()), \
                "each array was clipped on its own: scale all of them by one factor from the total norm"
            assert np.allclose(c, p.grad.numpy(), atol=1e-6), \
                "not what clip_grad_norm_ gives: multiply every gradient by max_norm / total norm when it exceeds 1"
    return "matches nn.utils.clip_grad_norm_ above and below the threshold"


# ---- notebooks 01-03
def _value_grads(Value, build, *xs):
    """Run build(*Values) and backward; the output's data and each input Value's grad."""
    vs = [Value(x) for x in xs]
    out = build(*vs)
    if out is None:
        raise NotImplementedError
    out.backward()
    return out.data, [v.grad for v in vs]


@exercise("1.1 Value ** k")
def nb01_value_pow(Value, value_pow):
    if value_pow(Value(2.0), 3) is None:
        raise NotImplementedError
    import math
    y = value_pow(Value(2.0), 3)
    assert isinstance(y, Value), "x ** k should return a new Value (made with the parents it came from)"
    assert abs(y.data - 8.0) < 1e-12, f"Value(2.0) ** 3 should have data 8.0, got {y.data}: check the forward"
    for x, k in ((1.5, 3), (0.7, 2), (2.0, -1), (1.3, 0.5)):
        data, (g,) = _value_grads(Value, lambda v: v ** k, x)
        want = k * x ** (k - 1)
        assert abs(g - want) < 1e-9, (f"d(x ** {k})/dx at x = {x} should be {want:.6g}, got {g:.6g}: "
                                      "the local derivative is k * x ** (k - 1), times out.grad")
    for x in (0.4, -1.1):                                    # used twice: the shares must add up (+=)
        def f(v):
            return (v ** 2) * v + (v * 3).tanh() ** 2
        data, (g,) = _value_grads(Value, f, x)
        eps = 1e-6
        num = (f(Value(x + eps)).data - f(Value(x - eps)).data) / (2 * eps)
        assert abs(g - num) < 1e-6, (f"on x**2 * x + tanh(3x)**2 the gradient is {g:.6g}, finite differences say "
                                     f"{num:.6g}: add into self.grad (+=) and multiply by out.grad")
    assert math.isfinite(g)
    return "matches k x^(k-1) and finite differences, also when x is used twice"


@exercise("1.2 the backward of Softplus")
def nb01_softplus(Softplus):
    import numpy as np
    import minigrad as mg
    rng = np.random.default_rng(1)
    for shape in ((5,), (3, 4), (2, 3, 2)):
        x = mg.tensor(rng.normal(0, 3, shape), dtype=mg.float64, requires_grad=True)
        try:
            mg.gradcheck(lambda t: Softplus()(t), (x,))
        except mg.GradcheckError as err:
            raise AssertionError(f"gradcheck failed on shape {shape}: {str(err).splitlines()[0]} "
                                 "(d softplus/dx = e^x / (1 + e^x) = sigmoid(x); times gy)") from None
    x = mg.tensor([-800.0, 0.0, 800.0], dtype=mg.float64, requires_grad=True)
    Softplus()(x).sum().backward()
    g = x.grad.numpy()
    assert np.all(np.isfinite(g)), ("the gradient at x = -800 or 800 is not finite: e^800 overflows; write sigmoid(x) "
                                    "in a stable form, e.g. np.exp(-np.logaddexp(0, -x)) or 0.5 * (1 + np.tanh(x / 2))")
    assert np.allclose(g, [0.0, 0.5, 1.0]), f"at x = -800, 0, 800 the gradient should be 0, 0.5, 1; got {g}"
    return "passes gradcheck on three shapes and stays finite at x = +-800"


@exercise("2.1 the size of the unrolled graph")
def nb02_graph_size(graph_size, measured):
    if graph_size(1) is None:
        raise NotImplementedError
    got = {T: graph_size(T) for T in measured}
    if got == measured:
        return f"{', '.join(f'T = {T}: {n}' for T, n in measured.items())} nodes, as viz.capture counts them"
    (T1, n1), (T2, n2) = sorted(measured.items())[:2]
    per_step = (n2 - n1) // (T2 - T1)
    slope = (graph_size(T2) - graph_size(T1)) / (T2 - T1)
    assert slope != per_step + 1, ("one node too many per step: x[t] of an input that needs no gradient is not "
                                   "recorded (GetItem appears only when x requires grad)")
    assert slope == per_step, (f"your count grows by {slope:g} per step; count the ops in one step of run(): "
                               "two MatMuls, the Adds, the Tanh")
    assert False, ("the count per step is right, but the total is off by a constant: what does the line after "
                   "the loop add?")


@exercise("2.2 dh_T/da, a sum over time")
def nb02_running_average_grad(dhT_da):
    import numpy as np
    import minigrad as mg
    rng = np.random.default_rng(2)
    if dhT_da([1.0, 2.0], 0.5) is None:
        raise NotImplementedError
    for T, a in ((1, 0.3), (5, 0.8), (30, 0.95)):
        xs = rng.normal(size=T).tolist()
        at = mg.tensor(a, dtype=mg.float64, requires_grad=True)
        h = mg.tensor(0.0, dtype=mg.float64)
        hs = [0.0]
        for x in xs:
            h = at * h + (1 - at) * x
            hs.append(h.item())
        h.backward()
        want, got = at.grad.item(), float(dhT_da(xs, a))
        if abs(got - want) < 1e-9 * max(1.0, abs(want)):
            continue
        last = hs[-2] - xs[-1]
        unweighted = sum(hs[t - 1] - xs[t - 1] for t in range(1, T + 1))
        assert abs(got - last) > 1e-12, ("that is the last step's use of a only: a is used at every step, "
                                         "and the gradient sums all the uses")
        assert abs(got - unweighted) > 1e-12, ("each step's share h_{t-1} - x_t must still travel to h_T: "
                                               "multiply it by a ** (T - t)")
        assert False, (f"for T = {T}, a = {a} autograd says dh_T/da = {want:.6g}, you have {got:.6g}: "
                       "sum over t of a ** (T - t) * (h_{t-1} - x_t), with h_0 = 0")
    return "matches autograd for T = 1, 5 and 30: one share per use of a, carried to h_T"

@exercise("3.1 the hidden states h_1..h_T")
def nb03_hidden_states(hidden_states):
    import numpy as np
    import minigrad as mg
    from minigrad import nn
    rng = np.random.default_rng(3)
    T, K, H = 5, 4, 3
    x = mg.tensor(np.eye(K)[rng.integers(0, K, T)], dtype=mg.float64)
    W_ih, W_hh, b = (mg.tensor(rng.normal(0, 0.8, s), requires_grad=True) for s in ((H, K), (H, H), (H,)))
    got = hidden_states(x, W_ih, W_hh, b)
    if got is None:
        raise NotImplementedError
    got = mg.stack(list(got)) if isinstance(got, (list, tuple)) else got
    rnn = nn.RNN(K, H, dtype=mg.float64)
    rnn.load_state_dict({"weight_ih_l0": W_ih.numpy(), "weight_hh_l0": W_hh.numpy(),
                         "bias_ih_l0": b.numpy(), "bias_hh_l0": np.zeros(H)})
    want = rnn(x.reshape(T, 1, K))[0][:, 0].numpy()
    g = np.asarray(got.numpy(), dtype=float)
    assert g.shape == (T, H), f"expected shape (T, H) = {(T, H)}, got {g.shape}: one row h_t per step"
    if np.allclose(g[1:], want[:-1]) and np.allclose(g[0], 0):
        raise AssertionError("your rows are h_0..h_{T-1}: collect h after computing it, so the rows are h_1..h_T")
    assert not np.allclose(g, np.arctanh(np.clip(want, -0.999999, 0.999999)), atol=1e-6), \
        "these look like the pre-activations a_t: apply tanh"
    assert np.allclose(g, want, atol=1e-10), ("the states differ from nn.RNN's: h_t = tanh(W_ih x_t + W_hh h_{t-1} "
                                             "+ b), with h_0 = 0 and h_{t-1} the state of the step before")
    assert got.grad_fn is not None, "the result has no graph: compute it with minigrad ops, not NumPy"
    return "h_1..h_T match nn.RNN's output, and carry a graph for backward"


@exercise("3.2 a negative log-likelihood that never overflows")
def nb03_nll(nll):
    import numpy as np
    import minigrad.nn.functional as F
    import minigrad as mg
    rng = np.random.default_rng(4)
    scores, targets = rng.normal(0, 2, (6, 5)), rng.integers(0, 5, 6)
    got = nll(scores, targets)
    if got is None:
        raise NotImplementedError
    want = F.cross_entropy(mg.tensor(scores), targets, reduction="sum").item()
    got = float(got)
    if abs(got - want / len(targets)) < 1e-9:
        raise AssertionError("that is the mean over time; the exercise asks for the sum over the T steps")
    assert abs(got + want) > 1e-9, "the sign is flipped: the loss is MINUS the log-probability of the target"
    assert abs(got - want) < 1e-9, (f"on random scores F.cross_entropy gives {want:.6f}, you have {got:.6f}: "
                                    "log(sum_j exp(o_j)) - o_y per step, summed")
    big = scores * 500 + 1000                       # scores in the thousands: e^o overflows float64
    with np.errstate(all="ignore"):
        got_big = float(nll(big, targets))
    want_big = F.cross_entropy(mg.tensor(big), targets, reduction="sum").item()
    assert np.isfinite(got_big), ("scores near 1000 give inf or nan: subtract m = max_j o_j before exp "
                                  "(log sum exp(o) = m + log sum exp(o - m))")
    assert abs(got_big - want_big) < 1e-6 * max(1.0, abs(want_big)), \
        f"on scores near 1000 F.cross_entropy gives {want_big:.4f}, you have {got_big:.4f}: add m back after the log"
    return "matches F.cross_entropy(reduction='sum'), scores near 1000 included"


# ---- notebooks 07-09

def _sigmoid(a):
    import numpy as np
    return 1 / (1 + np.exp(-a))


@exercise("7.1 the forget gate by hand")
def nb07_forget_gate(f, cell, x, h_prev):
    """f: the forget gate f_t of one LSTM step as a NumPy array (B, H), from cell's weights, x and h_prev."""
    import numpy as np
    H = cell.hidden_size
    a = x.numpy() @ cell.weight_ih.numpy().T + cell.bias_ih.numpy() + h_prev.numpy() @ cell.weight_hh.numpy().T \
        + cell.bias_hh.numpy()
    want = _sigmoid(a[:, H:2 * H])
    f = np.asarray(f.numpy() if hasattr(f, "numpy") else f, dtype=np.float64)
    assert f.shape == want.shape, (f"f should have shape {want.shape} (batch, hidden), got {f.shape}: take the "
                                   "second of the four blocks of the pre-activation")
    for block, name in ((0, "input gate i"), (2, "candidate g"), (3, "output gate o")):
        other = a[:, block * H:(block + 1) * H]
        if np.allclose(f, _sigmoid(other), atol=1e-5) or np.allclose(f, np.tanh(other), atol=1e-5):
            assert False, f"that is the {name}: the gates come in the order i, f, g, o, so f is columns H:2H"
    assert not np.allclose(f, a[:, H:2 * H], atol=1e-5), "that is the pre-activation a_f: apply the sigmoid"
    assert np.all((f > 0) & (f < 1)), "a gate is a sigmoid, so every entry lies strictly between 0 and 1"
    assert np.allclose(f, want, atol=1e-5), ("not the forget gate: a = x W_ih^T + b_ih + h_prev W_hh^T + b_hh, "
                                             "f = sigmoid(a[:, H:2H]); did you include both biases?")
    return f"matches: the forget gate keeps between {f.min():.2f} and {f.max():.2f} of each entry of c_prev"


@exercise("7.2 a coupled-gate LSTM cell in nn.Recurrent")
def nb07_coupled_cell(cell_class):
    """cell_class: an nn.Cell subclass for the LSTM with coupled gates (i = 1 - f), gate order f, g, o."""
    import numpy as np

    import minigrad as mg
    from minigrad import nn
    cell = cell_class()
    if cell.gates is ... or cell.state_size is ...:
        raise NotImplementedError
    assert isinstance(cell, nn.Cell), "subclass nn.Cell"
    assert cell.gates == 3, f"three gate blocks (f, g, o) share the weights: set gates = 3, not {cell.gates}"
    assert cell.state_size == 2, f"the state is (h, c): set state_size = 2, not {cell.state_size}"
    mg.manual_seed(7)
    layer = nn.Recurrent(cell, 3, 5, dtype=mg.float64)
    x = mg.randn(6, 2, 3, dtype=mg.float64)
    out, (h_n, c_n) = layer(x)
    w = {n: p.numpy() for n, p in layer.named_parameters()}
    H = 5
    h, c = np.zeros((2, H)), np.zeros((2, H))
    want = []
    for t in range(6):                                  # step t = 1..T reads x_t and makes h_t
        a = x.numpy()[t] @ w["weight_ih_l0"].T + w["bias_ih_l0"] + w["bias_hh_l0"] + h @ w["weight_hh_l0"].T
        f, g, o = _sigmoid(a[:, :H]), np.tanh(a[:, H:2 * H]), _sigmoid(a[:, 2 * H:])
        c = f * c + (1 - f) * g
        h = o * np.tanh(c)
        want.append(h)
    got = out.numpy()
    assert got.shape == (6, 2, H), f"the output should be (T, B, H) = (6, 2, {H}), got {got.shape}"
    assert np.allclose(c_n.numpy()[0], c, atol=1e-10), ("c_T differs from c_t = f c_{t-1} + (1 - f) g with "
                                                        "f, g, o the three blocks in that order: check c")
    assert np.allclose(got, np.stack(want), atol=1e-10), "c is right but h is not: h_t = o_t * tanh(c_t)"
    xg = mg.randn(3, 2, 3, dtype=mg.float64, requires_grad=True)
    mg.gradcheck(lambda v: layer(v)[0], [xg])
    return "matches the equations in NumPy to 1e-10 and passes gradcheck through the layer's loop"


@exercise("8.2 what h_n holds, read from output")
def nb08_bidirectional_final(forward_final, backward_final, out, h_n, lengths, b=1):
    """forward_final, backward_final: slices of `out` equal to h_n[0, b] and h_n[1, b] (a padded batch)."""
    import numpy as np
    H = h_n.shape[-1]
    n = lengths[b]
    fwd, bwd = (np.asarray(v.numpy() if hasattr(v, "numpy") else v) for v in (forward_final, backward_final))
    o = out.numpy()
    assert fwd.shape == (H,) and bwd.shape == (H,), (f"each should be one state of {H} numbers "
                                                     f"(out[t - 1, {b}, :H] or out[t - 1, {b}, H:] for a step t), "
                                                     f"got {fwd.shape}, {bwd.shape}")
    if np.allclose(fwd, o[-1, b, :H]) and not np.allclose(fwd, h_n.numpy()[0, b]):
        assert False, (f"out[-1] is a padded step of sequence {b} (zeros): its last real step is t = {n} "
                       f"(Python index {n - 1})")
    if np.allclose(fwd, h_n.numpy()[1, b]) or np.allclose(bwd, h_n.numpy()[0, b]):
        assert False, ("the halves are swapped: out[t - 1, b, :H] is the forward direction, out[t - 1, b, H:] "
                       "the backward")
    assert np.allclose(fwd, h_n.numpy()[0, b]), (f"the forward direction ends at sequence {b}'s last real step, "
                                                 f"t = {n} (Python index {n - 1}), in the first half :H")
    assert np.allclose(bwd, h_n.numpy()[1, b]), ("the backward direction ends after reading back to the first "
                                                 "step, t = 1 (Python index 0), in the second half H:")
    return (f"h_n[0, {b}] = out[{n - 1}, {b}, :H] (step {n}) and h_n[1, {b}] = out[0, {b}, H:] (step 1)")


@exercise("8.1 attention weights over a padded source")
def nb08_masked_attention(weights, scores, length):
    """weights: softmax of `scores` (S,) over the first `length` positions, exactly 0 at the padding."""
    import numpy as np
    e = np.asarray(scores.numpy() if hasattr(scores, "numpy") else scores, dtype=np.float64)
    a = np.asarray(weights.numpy() if hasattr(weights, "numpy") else weights, dtype=np.float64)
    assert a.shape == e.shape, f"one weight per source position: shape {e.shape}, got {a.shape}"
    full = np.exp(e - e.max())
    full /= full.sum()
    assert not np.allclose(a, full), ("that is the softmax over every position: the padding got weight; "
                                      f"leave positions {length}.. out of the softmax")
    assert np.all(a[length:] == 0), f"the padding (positions {length} to {len(e) - 1}) must get exactly 0"
    assert np.isclose(a.sum(), 1), f"the weights must sum to 1, yours sum to {a.sum():.4f}"
    want = np.exp(e[:length] - e[:length].max())
    want /= want.sum()
    assert np.allclose(a[:length], want), "the real positions: a_j = exp(e_j) / sum over real k of exp(e_k)"
    return f"sums to 1 over the {length} real positions, 0 at the padding; largest weight at position {a.argmax()}"


def _devices():
    import minigrad as mg
    return ["cpu"] + (["cuda"] if mg.cuda_is_available() else [])


@exercise("9.1 a device-agnostic zero state")
def nb09_zero_state(zero_state):
    """zero_state(x, hidden): zeros (x.shape[0], hidden) on x's device, in x's dtype."""
    import minigrad as mg
    for device in _devices():
        for dtype in (mg.float32, mg.float64):
            x = mg.randn(5, 3, dtype=dtype, device=device)
            h = zero_state(x, 7)
            if h is None:                              # the body is still `...`
                raise NotImplementedError
            assert isinstance(h, mg.Tensor), f"return a minigrad Tensor, got {type(h).__name__}"
            assert tuple(h.shape) == (5, 7), f"one row per example in x: shape (5, 7) here, got {tuple(h.shape)}"
            assert h.device == x.device, f"x is on {x.device} but the state is on {h.device}: pass device=x.device"
            assert h.dtype == x.dtype, (f"x is {x.dtype} but the state is {h.dtype}: pass dtype=x.dtype "
                                        "(a float64 model would otherwise mix dtypes)")
            assert not h.numpy().any(), "the initial state is all zeros"
    return f"right shape, dtype and device on {' and '.join(_devices())}"


@exercise("9.2 a checkpoint loaded on any device")
def nb09_load_on(load_on, make_model):
    """load_on(path, device) -> a make_model() with the saved weights, on `device`."""
    import os
    import tempfile

    import numpy as np

    import minigrad as mg
    mg.manual_seed(123)
    saved = make_model()
    for p in saved.parameters():                       # weights no fresh model has
        p.data += 0.5
    path = os.path.join(tempfile.mkdtemp(), "model.safetensors")
    mg.save(saved.state_dict(), path)
    for device in _devices():
        model = load_on(path, device)
        if model is None:                              # the body is still `...`
            raise NotImplementedError
        params = list(model.parameters())
        assert all(str(p.device).startswith(device) for p in params), \
            f"some parameters are not on {device}: call .to(device) on the model"
        same = all(np.array_equal(a.numpy(), b.numpy()) for a, b in zip(saved.parameters(), params))
        assert same, "the weights are not the saved ones: load_state_dict(mg.load(path)) before returning"
    return f"the saved weights, on {' and '.join(_devices())}"


# ---- notebook 10
@exercise("10.1 the probability of a text")
def nb10_log_prob(log_prob):
    """log_prob(probs, text, vocab) -> sum over t of log probs[t, id of text[t+1]] (natural log)."""
    import numpy as np

    from models.char_lm.data import Vocab
    vocab = Vocab.from_text("ab c\n")
    text = "a cab\nbca ba"
    probs = np.random.default_rng(10).dirichlet(np.ones(len(vocab)), size=len(text))
    got = log_prob(probs, text, vocab)
    if got is None:                                    # the body is still `...`
        raise NotImplementedError
    ids = vocab.encode(text)
    want = float(np.log(probs[np.arange(len(text) - 1), ids[1:]]).sum())
    same_char = float(np.log(probs[np.arange(len(text) - 1), ids[:-1]]).sum())
    assert np.ndim(got) == 0, f"return one number (the sum over the text), got an array of shape {np.shape(got)}"
    got = float(got)
    assert not np.isclose(got, same_char), ("row t is the distribution of the character AFTER text[t]: "
                                            "score text[t + 1] with probs[t]")
    assert not np.isclose(got, want / (len(text) - 1)), "sum the log-probabilities, do not average them"
    assert not np.isclose(got, want / np.log(2)), "use the natural log (np.log): the losses here are in nats"
    assert got < 0, "a log-probability is never positive: take np.log of the probabilities"
    assert np.isclose(got, want), (f"expected {want:.4f} nats, got {got:.4f}: {len(text) - 1} terms, "
                                   "log probs[t, vocab.index[text[t + 1]]] for t = 0 .. len(text) - 2")
    return f"{got:.4f} nats, the sum of {len(text) - 1} log-probabilities"


@exercise("10.2 a vowel cell")
def nb10_vowel_cell(vowel_feature, best_vowel_cell):
    """vowel_feature(text) -> 1.0 on a/e/i/o/u (either case), else 0.0; best_vowel_cell(states, feature) ->
    (value, layer, cell, r) of the cell whose activation correlates most strongly (|r|) with the feature."""
    import numpy as np
    text = "Ah, but Eve is out.\nOUR Ice! yes"
    f = vowel_feature(text)
    if f is None:                                      # the body is still `...`
        raise NotImplementedError
    want = np.array([ch in "aeiouAEIOU" for ch in text], dtype=np.float64)
    f = np.asarray(f, dtype=np.float64)
    assert f.shape == want.shape, f"one value per character: shape ({len(text)},), got {f.shape}"
    wrong = [repr(text[i]) for i in np.flatnonzero(f != want)]
    assert not wrong, f"wrong at {', '.join(wrong[:4])}: 1.0 on a e i o u in either case, 0.0 elsewhere"
    rng = np.random.default_rng(3)
    states = {"h": rng.standard_normal((len(text), 2, 6)), "c": np.tanh(rng.standard_normal((len(text), 2, 6)))}
    states["h"][:, 0, 2] += 2.0 * want                 # weakly vowel-like
    states["c"][:, 1, 4] = np.tanh(-3.0 * want + 0.3 * rng.standard_normal(len(text)))   # strongly, negative
    got = best_vowel_cell(states, want)
    if got is None:
        raise NotImplementedError
    value, layer, cell, r = got
    a = states[value][:, layer, cell]
    true_r = float(np.corrcoef(a, want)[0, 1])
    assert (value, layer, cell) == ("c", 1, 4), (f"{value} layer {layer} cell {cell} (r = {true_r:+.3f}) is not "
                                                 "the strongest: rank by |r| (a strongly negative r counts), over "
                                                 "both h and c and every layer")
    assert np.isclose(r, true_r), f"r should be that cell's Pearson r, {true_r:+.3f}, got {r}"
    return f"found c layer 1 cell 4, r = {r:+.3f} (a cell can track a feature by going negative)"
