"""Decoding strategies over a step function, shared by Seq2Seq and the character LM.

    step(tokens (B,) int64 NumPy, state) -> (scores (B, V), state)

`scores` are log-probabilities or unnormalised logits (a Tensor or an array): each strategy normalises
what it needs, and greedy takes the argmax of exactly what it is given. Everything here is NumPy on the
host; the model behind `step` can live on any device.

    greedy        the argmax at every step (cheap, often repetitive)
    sample        draw from softmax(scores / temperature), optionally cut to the top k tokens and then to
                  the nucleus: the fewest most-probable tokens whose probabilities add up to top_p
    beam_search   keep the `beam` best partial sequences by total log-probability; pick the winner by
                  log-probability / length penalty, GNMT's ((5 + length) / 6) ** alpha (alpha=0: none)

With `eos`, a sequence that emits it is finished: its later positions are `eos` and (in beam search) it
keeps its score and length while it stays in the beam. Beam search needs reorder(state, index) -> state,
the state with its batch rows picked by `index`: only the model knows which axis of its state is the batch.
"""
import numpy as np

STRATEGIES = ("greedy", "sample", "beam")


def to_numpy(scores, rows, eos=None):
    """A step's scores as a float64 (rows, V) NumPy array (from a Tensor on any device, or an array)."""
    if hasattr(scores, "numpy"):
        scores = scores.numpy()
    scores = np.asarray(scores, dtype=np.float64)
    if scores.ndim != 2 or scores.shape[0] != rows:
        raise ValueError(f"decoding: step must return scores of shape ({rows}, V), got shape {scores.shape}")
    if eos is not None and eos >= scores.shape[1]:
        raise ValueError(f"decoding: eos must be a token id below the vocabulary size {scores.shape[1]}, got {eos}")
    return scores


def log_softmax(z):
    """Rows of scores -> log-probabilities (the max subtracted first, so large scores stay finite)."""
    z = z - z.max(axis=-1, keepdims=True)
    return z - np.log(np.exp(z).sum(axis=-1, keepdims=True))


def check_args(who, max_len, temperature=1.0, top_k=None, top_p=None, beam=None, alpha=0.0, eos=None,
               length_name="max_len"):
    """A ValueError naming the argument for a length, temperature, top_k, top_p, beam, alpha or eos out of range."""
    def integer(name, value, low):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < low:
            raise ValueError(f"{who}: {name} must be an int >= {low}, got {value!r}")

    def number(name, value):
        if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)) \
                or not np.isfinite(value):
            raise ValueError(f"{who}: {name} must be a finite number, got {value!r}")
    integer(length_name, max_len, 0)
    for name, value in (("top_k", top_k), ("beam", beam)):
        if value is not None:
            integer(name, value, 1)
    if eos is not None:
        integer("eos", eos, 0)
    number("temperature", temperature)
    number("alpha", alpha)
    if top_p is not None:
        number("top_p", top_p)
    if temperature < 0:
        raise ValueError(f"{who}: temperature must be >= 0, got {temperature}")
    if top_p is not None and not 0 < top_p <= 1:
        raise ValueError(f"{who}: top_p must be in (0, 1], got {top_p}")
    if alpha < 0:
        raise ValueError(f"{who}: alpha must be >= 0, got {alpha}")


def filter_distribution(scores, temperature=1.0, top_k=None, top_p=None):
    """Probabilities (B, V) float64: softmax(scores / temperature), then the top k kept (ties at the k-th
    value kept too), then the nucleus kept: tokens in order of probability until their sum reaches top_p
    (the token that crosses it included), renormalised. temperature 0 is the argmax, one-hot."""
    z = np.array(scores, dtype=np.float64, ndmin=2)
    if top_k is not None and top_k < z.shape[-1]:
        cut = np.partition(z, -top_k, axis=-1)[:, -top_k:].min(axis=-1, keepdims=True)
        z = np.where(z >= cut, z, -np.inf)
    if temperature == 0:
        p = np.zeros_like(z)
        p[np.arange(z.shape[0]), z.argmax(axis=-1)] = 1.0
        return p
    z = z / temperature
    p = np.exp(z - z.max(axis=-1, keepdims=True))
    p /= p.sum(axis=-1, keepdims=True)
    if top_p is not None and top_p < 1:
        order = np.argsort(-p, axis=-1, kind="stable")
        sorted_p = np.take_along_axis(p, order, axis=-1)
        before = np.cumsum(sorted_p, axis=-1) - sorted_p     # mass of the more probable tokens
        keep = np.zeros_like(p, dtype=bool)
        np.put_along_axis(keep, order, before < top_p, axis=-1)
        p = np.where(keep, p, 0.0)
        p /= p.sum(axis=-1, keepdims=True)
    return p


def _finish(ids, eos):
    """(B, t) ids -> (B,) bool: which rows have emitted eos."""
    return np.zeros(ids.shape[0], dtype=bool) if eos is None or ids.shape[1] == 0 else (ids == eos).any(axis=1)


def greedy(step, state, start, max_len, eos=None):
    """ids (B, max_len): start tokens (B,) in, then each step's argmax fed back; after eos, eos."""
    check_args("greedy", max_len, eos=eos)
    return one_token_at_a_time(step, state, start, max_len, lambda scores: scores.argmax(axis=-1), eos)


def sample(step, state, start, max_len, temperature=1.0, top_k=None, top_p=None, rng=None, eos=None):
    """ids (B, max_len) drawn one step at a time from filter_distribution(...); rng: a NumPy Generator
    (or a seed). Row b's draw is rng.choice(V, p=p[b]), row after row: reproducible for a given seed."""
    check_args("sample", max_len, temperature, top_k, top_p, eos=eos)
    rng = rng if isinstance(rng, np.random.Generator) else np.random.default_rng(rng)

    def draw(scores):
        p = filter_distribution(scores, temperature, top_k, top_p)
        return np.array([rng.choice(row.size, p=row) for row in p], dtype=np.int64)
    return one_token_at_a_time(step, state, start, max_len, draw, eos)


def one_token_at_a_time(step, state, start, max_len, choose, eos):
    """The loop of greedy and sample: choose(scores (B, V)) -> tokens (B,), fed back as the next input;
    a row that has emitted eos keeps emitting it, and the loop stops when every row has."""
    tokens = np.asarray(start, dtype=np.int64).reshape(-1)
    out = np.full((tokens.size, max_len), -1 if eos is None else eos, dtype=np.int64)
    done = np.zeros(tokens.size, dtype=bool)
    for t in range(max_len):
        scores, state = step(tokens, state)
        tokens = choose(to_numpy(scores, tokens.size, eos))
        if eos is not None:
            tokens = np.where(done, eos, tokens)
            done |= tokens == eos
        out[:, t] = tokens
        if done.all():
            break
    return out


def length_penalty(length, alpha):
    """GNMT's length penalty ((5 + length) / 6) ** alpha: dividing by it favours longer sequences as alpha grows."""
    return ((5.0 + np.asarray(length, dtype=np.float64)) / 6.0) ** alpha


def beam_search(step, state, start, max_len, beam, reorder, eos=None, alpha=0.0):
    """(ids (B, max_len), log_probs (B,)): for each row, the best of `beam` hypotheses kept by total
    log-probability, chosen at the end by log_prob / length_penalty(length, alpha). beam=1 is greedy.

    Every step scores all beam x V continuations of each row and keeps the `beam` best (ties: the lower
    beam, then the lower token). A finished hypothesis (it emitted eos) has one continuation, eos at no
    cost and no extra length, so it competes with the live ones on its final score.
    """
    check_args("beam_search", max_len, beam=beam, alpha=alpha, eos=eos)
    start = np.asarray(start, dtype=np.int64).reshape(-1)
    B, K = start.size, beam
    rows = np.repeat(np.arange(B), K)                     # hypothesis b*K + k belongs to row b
    state = reorder(state, rows)
    tokens = start[rows]
    total = np.tile(np.r_[0.0, np.full(K - 1, -np.inf)], B)   # one live hypothesis per row at first
    length = np.zeros(B * K, dtype=np.int64)
    done = np.zeros(B * K, dtype=bool)
    seqs = np.zeros((B * K, 0), dtype=np.int64)
    for _ in range(max_len):
        scores, state = step(tokens, state)
        logp = log_softmax(to_numpy(scores, tokens.size, eos))
        V = logp.shape[1]
        if eos is not None:                               # finished: eos costs nothing, nothing else allowed
            logp[done] = -np.inf
            logp[done, eos] = 0.0
        cand = (total[:, None] + logp).reshape(B, K * V)
        best = np.argsort(-cand, axis=1, kind="stable")[:, :K]   # (B, K) flat indices into beam x V
        parent = (np.arange(B)[:, None] * K + best // V).reshape(-1)
        tokens = (best % V).reshape(-1)
        total = np.take_along_axis(cand, best, axis=1).reshape(-1)
        was_done = done[parent]
        length = length[parent] + ~was_done
        done = was_done | (tokens == eos) if eos is not None else was_done
        seqs = np.concatenate([seqs[parent], tokens[:, None]], axis=1)
        state = reorder(state, parent)
        if done.all():
            break
    final = (total / length_penalty(np.maximum(length, 1), alpha)).reshape(B, K)
    pick = np.arange(B) * K + np.argmax(final, axis=1)
    ids = np.full((B, max_len), -1 if eos is None else eos, dtype=np.int64)
    ids[:, :seqs.shape[1]] = seqs[pick]
    return ids, total[pick]


def decode(step, state, start, max_len, strategy="greedy", *, reorder=None, beam=None, temperature=1.0,
           top_k=None, top_p=None, rng=None, eos=None, alpha=0.0):
    """ids (B, max_len) by `strategy`: 'greedy', 'sample' (temperature, top_k, top_p, rng) or 'beam'
    (beam=K, alpha, reorder). An argument of another strategy is an error, not silently ignored."""
    if strategy not in STRATEGIES:
        raise ValueError(f"decode: strategy must be one of {STRATEGIES}, got {strategy!r}")
    foreign = {"sample": {"beam": beam, "alpha": alpha or None},
               "beam": {"top_k": top_k, "top_p": top_p, "temperature": None if temperature == 1.0 else temperature,
                        "rng": rng},
               "greedy": {"beam": beam, "alpha": alpha or None, "top_k": top_k, "top_p": top_p,
                          "temperature": None if temperature == 1.0 else temperature, "rng": rng}}[strategy]
    given = [name for name, value in foreign.items() if value is not None]
    if given:
        raise ValueError(f"decode: {' and '.join(given)} given, but strategy={strategy!r} does not use it")
    if strategy == "greedy":
        return greedy(step, state, start, max_len, eos)
    if strategy == "sample":
        return sample(step, state, start, max_len, temperature, top_k, top_p, rng, eos)
    if beam is None:
        raise ValueError("decode: strategy='beam' needs beam=K (the number of hypotheses kept)")
    if reorder is None:
        raise ValueError("decode: strategy='beam' needs reorder(state, index), which picks the state's batch rows")
    return beam_search(step, state, start, max_len, beam, reorder, eos, alpha)[0]
