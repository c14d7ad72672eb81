"""Attention in Seq2Seq: masking of padded sources, the three score functions against NumPy, gradients by
finite differences, decode replayed by forward(return_attention=True), errors, and a short training run."""
import numpy as np
import pytest

import minigrad as mg
from models import decoding
from models.shapes import Seq2Seq, train_seq2seq
from models.shapes.attention import Attention, padding_mask
from models.tasks.data import reversal_batch, sort_batch


def model64(attention="additive", cell="lstm", bidirectional=True, layers=1, seed=0, **kw):
    mg.manual_seed(seed)
    return Seq2Seq(7, 5, embed=4, hidden=6, cell=cell, layers=layers, bidirectional=bidirectional,
                   attention=attention, **kw).double()


def padded_batch(seed=0):
    rng = np.random.default_rng(seed)
    lengths = np.array([5, 2, 4])
    src = rng.integers(0, 7, (3, 5))
    src[np.arange(5)[None, :] >= lengths[:, None]] = 0           # padding id 0 (a real token id: masking matters)
    return src, rng.integers(0, 5, (3, 4)), lengths


# ----------------------------------------------------------------------------- masking


@pytest.mark.parametrize("kind", ["additive", "general"])
@pytest.mark.parametrize("cell", ["lstm", "gru", "rnn"])
def test_weights_sum_to_one_and_are_exactly_zero_on_padding(kind, cell):
    model = model64(kind, cell)
    src, tgt_in, lengths = padded_batch()
    scores, w = model(src, tgt_in, lengths, return_attention=True)
    assert scores.shape == (3, 4, 5) and w.shape == (3, 4, 5)
    w = w.numpy()
    np.testing.assert_allclose(w.sum(axis=-1), 1.0, rtol=0, atol=1e-12)
    pad = np.arange(5)[None, None, :] >= lengths[:, None, None]
    assert (w[np.broadcast_to(pad, w.shape)] == 0.0).all()
    assert (w[~np.broadcast_to(pad, w.shape)] > 0).all()


@pytest.mark.parametrize("kind,bidirectional", [("additive", True), ("general", True), ("dot", False)])
def test_more_padding_changes_nothing(kind, bidirectional):
    model = model64(kind, bidirectional=bidirectional)
    src, tgt_in, lengths = padded_batch()
    scores, w = model(src, tgt_in, lengths, return_attention=True)
    wider = np.concatenate([src, np.full((3, 3), 6)], axis=1)     # three more pad positions, another pad id
    scores2, w2 = model(wider, tgt_in, lengths, return_attention=True)
    np.testing.assert_allclose(scores2.numpy(), scores.numpy(), rtol=0, atol=1e-12)
    np.testing.assert_allclose(w2.numpy()[..., :5], w.numpy(), rtol=0, atol=1e-12)
    assert (w2.numpy()[..., 5:] == 0).all()
    for b, n in enumerate(lengths):                               # each row as if it came alone, unpadded
        alone, wa = model(src[b:b + 1, :n], tgt_in[b:b + 1], return_attention=True)
        np.testing.assert_allclose(alone.numpy()[0], scores.numpy()[b], rtol=0, atol=1e-12)
        np.testing.assert_allclose(wa.numpy()[0], w.numpy()[b, :, :n], rtol=0, atol=1e-12)


def test_padding_mask_marks_positions_at_or_past_each_length():
    np.testing.assert_array_equal(padding_mask([3, 1], 4).numpy(), [[0, 0, 0, 1], [0, 1, 1, 1]])
    assert padding_mask(None, 4) is None


# ----------------------------------------------------------------------------- the scores against NumPy


def numpy_attention(kind, att, q, m, pad):
    P = {name: p.numpy() for name, p in att.named_parameters()}
    if kind == "additive":
        e = np.tanh(m @ P["key_proj.weight"].T + P["key_proj.bias"] + (q @ P["query_proj.weight"].T)[:, None, :])
        s = e @ P["v.weight"][0]
    elif kind == "general":
        s = np.einsum("bq,bsq->bs", q, m @ P["key_proj.weight"].T)
    else:
        s = np.einsum("bq,bsq->bs", q, m)
    s = np.where(pad, -np.inf, s)
    w = np.exp(s - s.max(axis=1, keepdims=True))
    w /= w.sum(axis=1, keepdims=True)
    return s, w, np.einsum("bs,bsm->bm", w, m)


@pytest.mark.parametrize("kind,Q,M", [("additive", 3, 5), ("general", 3, 5), ("dot", 4, 4)])
def test_scores_weights_and_context_equal_the_formulas(kind, Q, M):
    mg.manual_seed(1)
    att = Attention(Q, M, kind).double()
    rng = np.random.default_rng(2)
    q, m = rng.normal(size=(2, Q)), rng.normal(size=(2, 6, M))
    pad = padding_mask([6, 3], 6)
    s, w, c = numpy_attention(kind, att, q, m, pad.numpy())
    query, memory = mg.tensor(q), mg.tensor(m)
    np.testing.assert_allclose(att.scores(query, att.keys(memory)).numpy()[0], s[0], rtol=1e-12, atol=1e-12)
    context, weights = att(query, memory, pad)
    np.testing.assert_allclose(weights.numpy(), w, rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(context.numpy(), c, rtol=1e-12, atol=1e-12)
    context2, weights2 = att(query, memory, pad, keys=att.keys(memory))      # precomputed keys: the same
    np.testing.assert_array_equal(context2.numpy(), context.numpy())


# ----------------------------------------------------------------------------- gradients (float64, central differences)


@pytest.mark.parametrize("kind,Q,M", [("additive", 3, 4), ("general", 3, 4), ("dot", 3, 3)])
def test_gradcheck_through_the_attention_module(kind, Q, M):
    mg.manual_seed(3)
    att = Attention(Q, M, kind).double()
    rng = np.random.default_rng(4)
    q = mg.tensor(rng.normal(size=(2, Q)), requires_grad=True)
    m = mg.tensor(rng.normal(size=(2, 5, M)), requires_grad=True)
    pad = padding_mask([5, 2], 5)
    params = [p for _, p in att.named_parameters()]
    assert mg.gradcheck(lambda q, m, *_: att(q, m, pad), [q, m, *params])
    _, w = att(q, m, pad)
    (w[:, 2:] * mg.tensor(rng.normal(size=(2, 3)))).sum().backward()
    assert (m.grad.numpy()[1, 2:] == 0).all()              # nothing reaches a padded position of the memory


@pytest.mark.parametrize("cell", ["lstm", "gru"])
def test_gradcheck_through_a_tiny_attention_seq2seq(cell):
    model = model64("additive", cell, layers=1)
    src, tgt_in, lengths = padded_batch()
    params = [p for _, p in model.named_parameters()]
    assert mg.gradcheck(lambda *_: model(src, tgt_in, lengths, return_attention=True), params, directions=6)


# ----------------------------------------------------------------------------- decode, replayed


@pytest.mark.parametrize("kind,bidirectional", [("additive", True), ("general", False), ("dot", False)])
def test_forward_with_return_attention_replays_greedy_decoding(kind, bidirectional):
    model = model64(kind, bidirectional=bidirectional, seed=5)
    src, _, lengths = padded_batch(1)
    seen = []

    def recording_step(tokens, state):
        scores, state, w = model.attend_step(tokens, state)
        seen.append(w.numpy())
        return scores, state

    with mg.no_grad():
        ids = decoding.greedy(recording_step, model.start(src, lengths), np.full(3, model.bos), 6)
    np.testing.assert_array_equal(ids, model.decode(src, 6, src_lengths=lengths))
    tgt_in = np.concatenate([np.full((3, 1), model.bos), ids[:, :-1]], axis=1)
    scores, w = model(src, tgt_in, lengths, return_attention=True)
    np.testing.assert_array_equal(scores.numpy().argmax(axis=-1), ids)
    np.testing.assert_allclose(w.numpy(), np.stack(seen, axis=1), rtol=0, atol=1e-13)


def test_speed_path_equals_teaching_path_with_attention():
    slow, fast = model64("additive", layers=2), model64("additive", layers=2, unroll=False)
    fast.load_state_dict(slow.state_dict())
    src, tgt_in, lengths = padded_batch()
    a, wa = slow(src, tgt_in, lengths, return_attention=True)
    b, wb = fast(src, tgt_in, lengths, return_attention=True)
    np.testing.assert_allclose(b.numpy(), a.numpy(), rtol=0, atol=1e-12)
    np.testing.assert_allclose(wb.numpy(), wa.numpy(), rtol=0, atol=1e-12)


# ----------------------------------------------------------------------------- errors name the argument


def test_errors_name_the_argument():
    with pytest.raises(ValueError, match="attention must be None or one of"):
        Seq2Seq(5, 5, attention="luong")
    with pytest.raises(ValueError, match="kind must be one of"):
        Attention(3, 3, "bahdanau")
    with pytest.raises(ValueError, match="attention='dot' needs encoder outputs"):
        Seq2Seq(5, 5, hidden=4, bidirectional=True, attention="dot")
    with pytest.raises(ValueError, match="query_size == memory_size, got 3 and 4"):
        Attention(3, 4, "dot")
    with pytest.raises(ValueError, match="attn_size applies to kind='additive' only"):
        Attention(3, 4, "general", attn_size=8)
    att = Attention(3, 4)
    with pytest.raises(ValueError, match=r"expected query \(B, 3\) and memory \(B, S, 4\)"):
        att(mg.zeros((2, 3)), mg.zeros((2, 5, 3)))
    plain = Seq2Seq(7, 5, embed=4, hidden=6)
    src, tgt_in, lengths = padded_batch()
    with pytest.raises(ValueError, match="return_attention=True needs a model built with attention"):
        plain(src, tgt_in, lengths, return_attention=True)
    model = model64()
    for bad in ([5, 0, 4], [5, 6, 4]):
        with pytest.raises(ValueError, match=r"src_lengths must lie in \[1, 5\]"):
            model(src, tgt_in, bad)
    with pytest.raises(ValueError, match="src_lengths must be a list of integers"):
        model(src, tgt_in, [[5, 2, 4]])


# ----------------------------------------------------------------------------- learning


def test_a_short_reversal_run_lowers_the_loss():
    mg.manual_seed(0)
    model = Seq2Seq(6, 6, embed=8, hidden=16, bidirectional=True, attention="additive")
    rng = np.random.default_rng(0)

    def batch(step):
        src, tgt = reversal_batch(rng, 16, 6, vocab=6)
        return src, tgt, None
    losses = train_seq2seq(model, batch, 60, lr=1e-2, log=None)
    assert np.mean(losses[-10:]) < 0.6 * np.mean(losses[:10])


def test_sort_batches_the_experiment_uses():
    rng = np.random.default_rng(0)
    src, tgt = sort_batch(rng, 50, 12, vocab=40, distinct=True)
    assert src.shape == tgt.shape == (50, 12) and ((0 <= src) & (src < 40)).all()
    assert all(len(set(row)) == 12 for row in src)                     # distinct within a row
    np.testing.assert_array_equal(tgt, np.sort(src, axis=1))
    src, tgt = sort_batch(rng, 200, 30, vocab=10)
    assert any(len(set(row)) < 30 for row in src) and (np.diff(tgt, axis=1) >= 0).all()
    with pytest.raises(ValueError, match="distinct symbols need length <= vocab, got length 41 > vocab 40"):
        sort_batch(rng, 2, 41, vocab=40, distinct=True)
