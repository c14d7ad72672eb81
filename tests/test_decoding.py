"""Decoding strategies (models.decoding): greedy, sampling (temperature, top-k, top-p), beam search with GNMT's
length penalty, eos; on hand-built step functions with known answers, on Seq2Seq and on the character LM."""
import numpy as np
import pytest

import minigrad as mg
from models import decoding
from models.char_lm.data import Vocab
from models.char_lm.model import CharLM
from models.char_lm.sample import sample as lm_sample
from models.shapes import Seq2Seq


# ----------------------------------------------------------------------------- hand-built models

def table_step(table):
    """A step function over a fixed table {prefix tuple: probabilities} (uniform past the table); the state
    is each row's prefix."""
    def step(tokens, state):
        prefixes = [p + (int(t),) if p is not None else () for p, t in zip(state, tokens)]
        return np.log([table.get(p, [1 / 3] * 3) for p in prefixes]), prefixes
    return step


def reorder_rows(state, index):
    return [state[i] for i in index]


START = [None]          # one row; the first step's prefix is ()

# greedy takes 0 (0.5), then the best after 0 is 0.35: 0.175; beam finds 1 then 0: 0.4 * 0.9 = 0.36
TRAP = {(): [0.5, 0.4, 0.1], (0,): [0.35, 0.35, 0.3], (1,): [0.9, 0.05, 0.05], (2,): [1 / 3] * 3}


def test_beam_search_finds_the_most_probable_sequence_greedy_misses():
    step = table_step(TRAP)
    np.testing.assert_array_equal(decoding.greedy(step, START, [9], 2), [[0, 0]])
    ids, logp = decoding.beam_search(step, START, [9], 2, 2, reorder_rows)
    np.testing.assert_array_equal(ids, [[1, 0]])
    np.testing.assert_allclose(logp, [np.log(0.36)], rtol=1e-12)
    every = {(a, b): TRAP[()][a] * TRAP[(a,)][b] for a in range(3) for b in range(3) if (a,) in TRAP}
    assert max(every, key=every.get) == (1, 0)                       # the known optimum, by enumeration
    np.testing.assert_array_equal(decoding.beam_search(step, START, [9], 2, 1, reorder_rows)[0], [[0, 0]])


# eos = 2: [eos] has p 0.4 (length 1); [0, 1, eos] has 0.5 * 0.8 * 0.8 = 0.32 (length 3)
LENGTHS = {(): [0.5, 0.1, 0.4], (0,): [0.1, 0.8, 0.1], (1,): [0.2, 0.2, 0.6], (0, 0): [0.1, 0.1, 0.8],
           (0, 1): [0.1, 0.1, 0.8]}


@pytest.mark.parametrize("alpha", [0.0, 0.5, 1.0, 2.0])
def test_length_normalisation_picks_the_winner_the_formula_says(alpha):
    def penalised(p, n):
        return np.log(p) / ((5 + n) / 6) ** alpha
    expected = [2, 2, 2] if penalised(0.4, 1) > penalised(0.32, 3) else [0, 1, 2]
    ids, logp = decoding.beam_search(table_step(LENGTHS), START, [9], 3, 2, reorder_rows, eos=2, alpha=alpha)
    np.testing.assert_array_equal(ids, [expected])
    np.testing.assert_allclose(logp, [np.log(0.4 if expected[0] == 2 else 0.32)], rtol=1e-12)
    assert (expected == [2, 2, 2]) == (alpha <= 0.5)         # the case does flip, between alpha 0.5 and 1


def test_length_penalty_is_gnmts():
    np.testing.assert_allclose(decoding.length_penalty([1, 3, 10], 0.6), ((5 + np.array([1, 3, 10])) / 6) ** 0.6)
    np.testing.assert_array_equal(decoding.length_penalty([1, 7], 0.0), [1, 1])


# ----------------------------------------------------------------------------- greedy, and what equals it

def random_step(V=6, seed=0):
    """Scores from a fixed random map of (previous token, step); the state counts the steps."""
    table = np.random.default_rng(seed).normal(size=(V + 1, 50, V)) * 2

    def step(tokens, state):
        t = 0 if state is None else state
        return table[np.asarray(tokens), t], t + 1
    return step


def test_beam_one_top_k_one_tiny_top_p_and_temperature_zero_equal_greedy():
    step, start = random_step(), np.arange(7) % 6
    g = decoding.greedy(step, None, start, 12)
    np.testing.assert_array_equal(decoding.beam_search(step, None, start, 12, 1, lambda s, i: s)[0], g)
    for kw in ({"top_k": 1}, {"top_p": 1e-9}, {"temperature": 0.0}, {"temperature": 0.0, "top_p": 0.5}):
        np.testing.assert_array_equal(decoding.sample(step, None, start, 12, rng=3, **kw), g)
    assert not (decoding.sample(step, None, start, 12, rng=3) == g).all()       # plain sampling is not greedy


def test_top_p_one_and_top_k_all_equal_plain_sampling_with_the_same_seed():
    step, start = random_step(), np.arange(7) % 6
    plain = decoding.sample(step, None, start, 12, temperature=0.7, rng=5)
    for kw in ({"top_p": 1.0}, {"top_k": 6}, {"top_k": 60}, {"top_k": 6, "top_p": 1.0}):
        np.testing.assert_array_equal(decoding.sample(step, None, start, 12, temperature=0.7, rng=5, **kw), plain)


# ----------------------------------------------------------------------------- sampling frequencies

CHI2_999 = {4: 18.467, 2: 13.816}        # the chi-square distribution's 99.9% points for 4 and 2 degrees of freedom


def draws(scores, n, **kw):
    step = lambda tokens, state: (np.tile(scores, (tokens.size, 1)), state)      # noqa: E731
    return np.bincount(decoding.sample(step, None, np.zeros(n, dtype=np.int64), 1, rng=11, **kw)[:, 0],
                       minlength=len(scores))


def chi_square(counts, p):
    keep = p > 0
    assert (counts[~keep] == 0).all()                     # nothing is ever drawn outside the kept set
    expected = counts.sum() * p[keep]
    return float(((counts[keep] - expected) ** 2 / expected).sum()), int(keep.sum()) - 1


@pytest.mark.parametrize("kw,kept", [({"temperature": 1.0}, [0, 1, 2, 3, 4]), ({"temperature": 0.5}, [0, 1, 2, 3, 4]),
                                     ({"temperature": 2.0, "top_k": 3}, [0, 2, 4]),
                                     ({"temperature": 1.0, "top_p": 0.8}, [0, 2, 4])])
def test_sampling_frequencies_match_the_filtered_softmax(kw, kept):
    scores = np.array([1.0, -1.0, 0.5, -2.0, 1.5])
    z = scores / kw["temperature"]
    p = np.where(np.isin(np.arange(5), kept), np.exp(z - z.max()), 0.0)
    p /= p.sum()
    np.testing.assert_allclose(decoding.filter_distribution(scores, **kw)[0], p, rtol=1e-12)
    counts = draws(scores, 20000, **kw)
    stat, dof = chi_square(counts, p)
    assert stat < CHI2_999[dof], (stat, dof)
    if kw != {"temperature": 1.0}:     # the test can fail: these draws are far from the unfiltered softmax(scores)
        q = np.exp(scores - scores.max()) / np.exp(scores - scores.max()).sum()
        assert ((counts - 20000 * q) ** 2 / (20000 * q)).sum() > CHI2_999[4]


def test_nucleus_keeps_the_token_that_crosses_top_p():
    p = decoding.filter_distribution(np.log([0.3, 0.5, 0.05, 0.15]), top_p=0.75)[0]    # 0.5 + 0.3 crosses 0.75
    np.testing.assert_allclose(p, [0.3 / 0.8, 0.5 / 0.8, 0, 0], rtol=1e-12)
    p = decoding.filter_distribution(np.log([0.3, 0.5, 0.05, 0.15]), top_p=0.85)[0]    # then 0.15 crosses 0.85
    np.testing.assert_allclose(p, [0.3 / 0.95, 0.5 / 0.95, 0, 0.15 / 0.95], rtol=1e-12)
    p = decoding.filter_distribution(np.log([0.3, 0.5, 0.05, 0.15]), top_p=0.3)[0]     # the likeliest alone
    np.testing.assert_array_equal(p, [0, 1, 0, 0])


# ----------------------------------------------------------------------------- eos

def test_eos_finishes_a_row_and_fills_the_rest():
    def step(tokens, state):                              # row 0 says eos (3) at once, row 1 counts up to it
        rows, t = state
        scores = np.full((rows.size, 4), -5.0)
        scores[np.arange(rows.size), np.where(rows == 0, 3, min(t, 3))] = 0.0
        return scores, (rows, t + 1)

    def reorder(state, index):
        return state[0][index], state[1]
    start = (np.array([0, 1]), 0)
    np.testing.assert_array_equal(decoding.greedy(step, start, [0, 0], 6, eos=3), [[3, 3, 3, 3, 3, 3],
                                                                                   [0, 1, 2, 3, 3, 3]])
    np.testing.assert_array_equal(decoding.sample(step, start, [0, 0], 6, temperature=0, eos=3, rng=0),
                                  [[3, 3, 3, 3, 3, 3], [0, 1, 2, 3, 3, 3]])
    ids, logp = decoding.beam_search(step, start, [0, 0], 6, 2, reorder, eos=3)
    np.testing.assert_array_equal(ids, [[3, 3, 3, 3, 3, 3], [0, 1, 2, 3, 3, 3]])
    per_step = -np.log1p(3 * np.exp(-5.0))               # log-probability of the 0-score token among -5s
    np.testing.assert_allclose(logp, [per_step, 4 * per_step], rtol=1e-12)
    np.testing.assert_array_equal(decoding.greedy(step, start, [0, 0], 6)[1], [0, 1, 2, 3, 3, 3])  # no eos: on


# ----------------------------------------------------------------------------- errors name the argument

@pytest.mark.parametrize("call,named", [
    (lambda s: decoding.greedy(s, None, [0], -1), "max_len must be an int >= 0"),
    (lambda s: decoding.greedy(s, None, [0], 2.5), "max_len must be an int >= 0"),
    (lambda s: decoding.sample(s, None, [0], 2, top_k=0), "top_k must be an int >= 1"),
    (lambda s: decoding.sample(s, None, [0], 2, top_p=0), r"top_p must be in \(0, 1\]"),
    (lambda s: decoding.sample(s, None, [0], 2, top_p=1.5), r"top_p must be in \(0, 1\]"),
    (lambda s: decoding.sample(s, None, [0], 2, top_p=float("nan")), "top_p must be a finite number"),
    (lambda s: decoding.sample(s, None, [0], 2, temperature=-1), "temperature must be >= 0"),
    (lambda s: decoding.sample(s, None, [0], 2, temperature=None), "temperature must be a finite number"),
    (lambda s: decoding.beam_search(s, None, [0], 2, 0, lambda x, i: x), "beam must be an int >= 1"),
    (lambda s: decoding.beam_search(s, None, [0], 2, 2, lambda x, i: x, alpha=-1), "alpha must be >= 0"),
    (lambda s: decoding.greedy(s, None, [0], 2, eos=6), "eos must be a token id below the vocabulary size 6"),
    (lambda s: decoding.greedy(s, None, [0], 2, eos=-1), "eos must be an int >= 0"),
    (lambda s: decoding.decode(s, None, [0], 2, "nucleus"), "strategy must be one of"),
    (lambda s: decoding.decode(s, None, [0], 2, "sample", beam=3), "beam given, but strategy='sample'"),
    (lambda s: decoding.decode(s, None, [0], 2, top_p=0.9), "top_p given, but strategy='greedy'"),
    (lambda s: decoding.decode(s, None, [0], 2, "beam", reorder=lambda x, i: x), "strategy='beam' needs beam=K"),
    (lambda s: decoding.decode(s, None, [0], 2, "beam", beam=2), "needs reorder"),
    (lambda s: decoding.greedy(lambda t, st: (np.zeros(6), st), None, [0], 2), r"scores of shape \(1, V\)"),
])
def test_argument_errors_name_the_argument(call, named):
    with pytest.raises(ValueError, match=named):
        call(random_step())


# ----------------------------------------------------------------------------- Seq2Seq.decode

def seq2seq(attention, cell="lstm", bidirectional=True, layers=1):
    mg.manual_seed(7)
    return Seq2Seq(8, 6, embed=5, hidden=7, cell=cell, layers=layers, bidirectional=bidirectional,
                   attention=attention).double()


def padded_sources():
    rng = np.random.default_rng(3)
    lengths = np.array([6, 3, 5, 1])
    src = rng.integers(0, 8, (4, 6))
    src[np.arange(6)[None, :] >= lengths[:, None]] = 0
    return src, lengths


def sequence_log_prob(model, src, lengths, ids):
    """The teacher-forced log-probability of ids under the model (forward, log-softmax, picked)."""
    tgt_in = np.concatenate([np.full((len(ids), 1), model.bos), ids[:, :-1]], axis=1)
    scores = model(src, tgt_in, lengths).numpy()
    logp = scores - scores.max(-1, keepdims=True)
    logp -= np.log(np.exp(logp).sum(-1, keepdims=True))
    return np.take_along_axis(logp, ids[..., None], axis=-1)[..., 0].sum(axis=1)


@pytest.mark.parametrize("attention,cell,bidirectional", [(None, "lstm", True), (None, "gru", False),
                                                          ("additive", "lstm", True), ("general", "gru", True),
                                                          ("dot", "rnn", False)])
def test_seq2seq_decodes_a_padded_batch_with_every_strategy(attention, cell, bidirectional):
    model = seq2seq(attention, cell, bidirectional)
    src, lengths = padded_sources()
    g = model.decode(src, 5, src_lengths=lengths)
    assert g.shape == (4, 5) and g.dtype == np.int64 and ((0 <= g) & (g < 6)).all()
    np.testing.assert_array_equal(model.greedy(src, 5, lengths), g)
    np.testing.assert_array_equal(model.decode(src, 5, "beam", lengths, beam=1), g)
    np.testing.assert_array_equal(model.decode(src, 5, "sample", lengths, temperature=0.0, seed=1), g)
    for b, n in enumerate(lengths):                        # a padded row decodes as it would alone
        np.testing.assert_array_equal(model.decode(src[b:b + 1, :n], 5)[0], g[b])
    s = model.decode(src, 5, "sample", lengths, temperature=1.5, top_k=4, top_p=0.95, seed=2)
    np.testing.assert_array_equal(model.decode(src, 5, "sample", lengths, temperature=1.5, top_k=4, top_p=0.95,
                                               seed=2), s)
    with mg.no_grad():
        ids, logp = decoding.beam_search(model.step, model.start(src, lengths), np.full(4, model.bos), 5, 3,
                                         model.reorder)
        np.testing.assert_allclose(logp, sequence_log_prob(model, src, lengths, ids), rtol=1e-10)
        np.testing.assert_array_equal(model.decode(src, 5, "beam", lengths, beam=3), ids)


@pytest.mark.parametrize("attention,cell,bidirectional", [(None, "lstm", False), (None, "gru", True),
                                                          ("additive", "lstm", True), ("general", "gru", False)])
def test_reorder_picks_the_states_batch_rows(attention, cell, bidirectional):
    model = seq2seq(attention, cell, bidirectional, layers=2)
    src, lengths = padded_sources()
    index = np.array([2, 0, 0, 3, 1])
    tokens = np.array([6, 1, 2, 3])
    with mg.no_grad():
        state = model.start(src, lengths)
        scores, after = model.step(tokens, state)
        scores2, after2 = model.step(tokens[index], model.reorder(state, index))
        np.testing.assert_allclose(scores2.numpy(), scores.numpy()[index], rtol=1e-13, atol=1e-15)  # BLAS rounding
        for a, b in zip(flat(model.reorder(after, index)), flat(after2), strict=True):
            np.testing.assert_allclose(b, a, rtol=1e-13, atol=1e-15)


def flat(state):
    if isinstance(state, tuple):
        return [x for s in state for x in flat(s)]
    return [] if state is None else [state.numpy()]


# ----------------------------------------------------------------------------- the character LM

@pytest.mark.parametrize("cell", ["lstm", "gru"])
def test_char_lm_beam_one_is_greedy_and_beam_search_scores_at_least_as_well(cell):
    mg.manual_seed(2)
    vocab = Vocab("abcde\n")
    model = CharLM(len(vocab.chars), cell=cell, hidden=8, layers=2, embed=4).double()
    greedy = lm_sample(model, vocab, 15, temperature=0.0, prime="ab")
    assert lm_sample(model, vocab, 15, prime="ab", beam=1) == greedy
    assert lm_sample(model, vocab, 15, prime="ab", top_k=1, seed=4) == greedy
    assert lm_sample(model, vocab, 15, prime="ab", top_p=1e-9, seed=4) == greedy
    beam = lm_sample(model, vocab, 15, prime="ab", beam=4)
    assert beam.startswith("ab") and len(beam) == 17

    def log_prob(text):
        ids = vocab.encode(text)
        with mg.no_grad():
            logits = model(ids[:-1].reshape(-1, 1))[0].numpy()[:, 0]
        logp = logits - logits.max(-1, keepdims=True)
        logp -= np.log(np.exp(logp).sum(-1, keepdims=True))
        return logp[np.arange(1, len(ids) - 1), ids[2:]].sum()       # the generated part only
    assert log_prob(beam) >= log_prob(greedy) - 1e-12 or beam == greedy


def test_char_lm_sample_names_its_arguments():
    vocab = Vocab("ab")
    model = CharLM(2, hidden=4, layers=1, embed=2)
    with pytest.raises(ValueError, match="length must be an int >= 0"):
        lm_sample(model, vocab, -3)
    with pytest.raises(ValueError, match=r"top_k \(2\) and top_p \(None\) apply to drawing only"):
        lm_sample(model, vocab, 3, top_k=2, beam=2)
    with pytest.raises(ValueError, match="beam must be an int >= 1"):
        lm_sample(model, vocab, 3, beam=0)
