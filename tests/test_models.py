"""Every sequence shape (models.shapes): the right hidden state, padding, bridging, and each one learning a toy
task with its own training function; the shared training step (models.training) and the cell-name table
(models.cells). Tiny sizes; seconds in all."""
import numpy as np
import pytest

import minigrad as mg
from minigrad import nn
import models.training
from minigrad import optim
from models.cells import CELLS, layer_class
from models.char_lm import CharLM
from models.shapes import (IGNORE, Seq2Seq, SequenceClassifier, SequenceGenerator, SequenceTagger, classifier_loss,
                           fit, last_layer_final, make_optimizer, make_rnn, set_forget_bias, teacher_inputs,
                           train_classifier, train_generator, train_seq2seq, train_tagger)
from models.training import NonFiniteLoss, train_step


def padded(rng, batch, T, vocab, min_len=2):
    lengths = rng.integers(min_len, T + 1, batch)
    x = rng.integers(1, vocab, (batch, T))
    for b, n in enumerate(lengths):
        x[b, n:] = 0
    return x, lengths


# ----------------------------------------------------------------------------- many-to-one

@pytest.mark.parametrize("cell", ["lstm", "gru", "rnn"])
def test_classifier_uses_each_sequences_own_final_states(cell):
    """The dense layer sees [forward state at the last real step ; reverse state after reading back to step 0]."""
    rng = np.random.default_rng(0)
    model = SequenceClassifier(3, vocab_size=6, embed=4, hidden=5, cell=cell, layers=2, bidirectional=True)
    x, lengths = padded(rng, 4, 7, 6)
    x_emb = model.tokens(x, model.head.weight)
    output, state = model.rnn(x_emb, lengths=lengths)
    final = last_layer_final(state, model.rnn).numpy()
    out = output.numpy()
    for b, n in enumerate(lengths):
        np.testing.assert_allclose(final[b, :5], out[b, n - 1, :5], atol=1e-6)     # forward, last real step
        np.testing.assert_allclose(final[b, 5:], out[b, 0, 5:], atol=1e-6)         # reverse, at step 0
    # more padding changes nothing; dropping `lengths` does (the padding would be read as input)
    wider = np.concatenate([x, np.zeros((4, 3), dtype=x.dtype)], axis=1)
    np.testing.assert_allclose(model(wider, lengths).numpy(), model(x, lengths).numpy(), atol=1e-6)
    assert not np.allclose(model(wider).numpy(), model(x, lengths).numpy(), atol=1e-4)


def test_bidirectional_classifier_learns_the_first_token_of_padded_sequences():
    rng = np.random.default_rng(1)

    def batch(step):
        x, lengths = padded(rng, 32, 10, 4, min_len=3)
        return x, lengths, x[:, 0] - 1          # the class is the first token: the reverse direction's last read

    model = SequenceClassifier(3, vocab_size=4, embed=8, hidden=16, bidirectional=True)
    losses = train_classifier(model, batch, 120, lr=1e-2, log=None)
    assert np.mean(losses[-10:]) < 0.2 * np.mean(losses[:5])
    x, lengths, y = batch(0)
    assert (model(x, lengths).numpy().argmax(-1) == y).mean() > 0.9


def test_classifier_as_regressor_on_features():
    model = SequenceClassifier(1, input_size=2, hidden=8, cell="gru")
    x = np.random.default_rng(0).random((3, 5, 2), dtype=np.float32)
    assert model(x).shape == (3, 1)
    with pytest.raises(ValueError, match="exactly one"):
        SequenceClassifier(2, vocab_size=3, input_size=2)


# ----------------------------------------------------------------------------- many-to-many

def test_tagger_learns_previous_token_and_ignores_padding():
    rng = np.random.default_rng(2)

    def batch(step):
        x, lengths = padded(rng, 32, 8, 5, min_len=4)
        tags = np.concatenate([np.zeros((32, 1), dtype=np.int64), x[:, :-1]], axis=1)
        for b, n in enumerate(lengths):
            tags[b, n:] = IGNORE
        return x, lengths, tags

    model = SequenceTagger(5, vocab_size=5, hidden=16)
    losses = train_tagger(model, batch, 120, lr=1e-2, log=None)
    assert np.mean(losses[-10:]) < 0.15 * losses[0]
    x, lengths, tags = batch(0)
    pred = model(x, lengths).numpy().argmax(-1)
    real = tags != IGNORE
    assert (pred[real] == tags[real]).mean() > 0.95
    assert model(x, lengths).shape == (32, 8, 5)


# ----------------------------------------------------------------------------- one-to-many

@pytest.mark.parametrize("init_state", [True, False])
def test_generator_writes_the_sequence_its_context_asks_for(init_state):
    """Class k -> k, k+1, ... (mod 6): without the initial state, only the per-step context bias tells them apart."""
    rng = np.random.default_rng(3)

    def batch(step):
        k = rng.integers(0, 4, 32)
        return np.eye(4, dtype=np.float32)[k], (k[:, None] + np.arange(6)) % 6

    model = SequenceGenerator(4, 6, embed=8, hidden=16, init_state=init_state)
    losses = train_generator(model, batch, 120, lr=1e-2, log=None)
    assert np.mean(losses[-10:]) < 0.1 * losses[0]
    context, targets = batch(0)
    assert (model.generate(context, 6) == targets).mean() > 0.95


def test_teacher_inputs_shift_right_after_bos():
    np.testing.assert_array_equal(teacher_inputs(np.array([[4, 5, 6]]), 9), [[9, 4, 5]])


# ----------------------------------------------------------------------------- seq2seq

def test_seq2seq_bridge_shapes_and_padding():
    model = Seq2Seq(7, 5, embed=4, hidden=6, cell="lstm", layers=2, bidirectional=True)
    rng = np.random.default_rng(0)
    src, lengths = padded(rng, 3, 6, 7)
    h, c = model.encode(src, lengths)
    assert h.shape == (2, 3, 6) and c.shape == (2, 3, 6)
    wider = np.concatenate([src, np.zeros((3, 2), dtype=src.dtype)], axis=1)
    np.testing.assert_allclose(model.encode(wider, lengths)[0].numpy(), h.numpy(), atol=1e-6)
    assert model(src, teacher_inputs(np.zeros((3, 4), dtype=np.int64), model.bos), lengths).shape == (3, 4, 5)
    gru = Seq2Seq(7, 5, embed=4, hidden=6, cell="gru", bidirectional=True)
    assert gru.encode(src, lengths).shape == (1, 3, 6)


@pytest.mark.parametrize("bidirectional", [False, True])
def test_seq2seq_learns_to_reverse(bidirectional):
    rng = np.random.default_rng(4)

    def batch(step):
        src = rng.integers(0, 5, (32, 4))
        return src, src[:, ::-1].copy(), None

    model = Seq2Seq(5, 5, embed=8, hidden=32, bidirectional=bidirectional)
    losses = train_seq2seq(model, batch, 200, lr=1e-2, log=None)
    assert np.mean(losses[-10:]) < 0.15 * losses[0]
    src, tgt, _ = batch(0)
    assert (model.greedy(src, 4) == tgt).mean() > 0.9


# ----------------------------------------------------------------------------- helpers

def test_set_forget_bias_sets_only_the_forget_slices():
    lstm = nn.LSTM(3, 4, num_layers=2, bidirectional=True)
    before = {k: p.numpy().copy() for k, p in lstm.named_parameters()}
    set_forget_bias(lstm, 1.0)
    for k, p in lstm.named_parameters():
        now = p.numpy()
        if k.startswith("bias"):
            np.testing.assert_array_equal(now[4:8], 1.0 if k.startswith("bias_ih") else 0.0)
            np.testing.assert_array_equal(np.delete(now, np.s_[4:8]), np.delete(before[k], np.s_[4:8]))
        else:
            np.testing.assert_array_equal(now, before[k])
    # the forget gate opens: with zero input and state, f = sigmoid(1)
    cell_gates = lstm.bias_ih_l0.numpy() + lstm.bias_hh_l0.numpy()
    assert np.allclose(1 / (1 + np.exp(-cell_gates[4:8])), 1 / (1 + np.exp(-1.0)))
    with pytest.raises(TypeError, match="nn.LSTM"):
        set_forget_bias(nn.GRU(3, 4))


def test_make_optimizer_by_name():
    p = [nn.Linear(2, 2).weight]
    assert type(make_optimizer("rmsprop", p)).__name__ == "RMSprop"
    with pytest.raises(ValueError, match="optimizer must be one of"):
        make_optimizer("lbfgs", p)
    assert mg.is_grad_enabled()


# ----------------------------------------------------------------------------- the shared training step

def linear_problem():
    """A float64 nn.Linear, SGD(lr=1), and a loss whose gradient norm is far above 0.1."""
    layer = nn.Linear(3, 2).double()
    x = mg.tensor(np.random.default_rng(0).standard_normal((5, 3)))
    return layer, optim.SGD(list(layer.parameters()), lr=1.0), lambda: ((layer(x) - 3.0) ** 2).mean()


def test_train_step_zero_grads_clips_to_the_norm_and_steps():
    layer, opt, loss_fn = linear_problem()
    params = list(layer.parameters())
    before = [p.numpy().copy() for p in params]
    loss_fn().backward()
    grads = [p.grad.numpy().copy() for p in params]               # the true gradient of one loss
    norm = np.sqrt(sum((g ** 2).sum() for g in grads))
    assert norm > 1.0
    for p in params:
        p.grad.data[...] = 123.0                                  # stale gradients: train_step zeroes them
    loss = loss_fn()
    assert train_step(layer, opt, loss, clip=0.1) == loss.item()  # a Module or its parameters; the loss back
    for p, b, g in zip(params, before, grads):
        np.testing.assert_allclose(p.numpy(), b - g * 0.1 / (norm + 1e-6), rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("clip", [None, 0, 0.0])
def test_train_step_clip_none_or_zero_is_off(clip):
    layer, opt, loss_fn = linear_problem()
    params = list(layer.parameters())
    before = [p.numpy().copy() for p in params]
    loss = loss_fn()
    want = loss.item()
    assert train_step(params, opt, loss, clip=clip) == want
    for p, b in zip(params, before):
        np.testing.assert_allclose(p.numpy(), b - p.grad.numpy(), rtol=1e-12)   # the full step, not clipped
    with pytest.raises(ValueError, match="clip must be >= 0"):
        train_step(params, opt, loss_fn(), clip=-1.0)


def test_train_step_refuses_a_non_finite_loss_or_gradient_norm_before_updating():
    layer, opt, loss_fn = linear_problem()
    params = list(layer.parameters())
    before = [p.numpy().copy() for p in params]
    with pytest.raises(NonFiniteLoss, match="the loss became nan") as e:
        train_step(params, opt, loss_fn() * float("nan"), clip=1.0)
    assert np.isnan(e.value.loss) and isinstance(e.value, FloatingPointError)
    huge = (layer(mg.tensor(np.ones((2, 3)))) * 1e200).sum()     # finite loss and gradients, norm overflows
    with np.errstate(over="ignore"), pytest.raises(NonFiniteLoss, match=r"the gradient norm became inf \(loss "):
        train_step(params, opt, huge, clip=1.0)
    for p, b in zip(params, before):
        np.testing.assert_array_equal(p.numpy(), b)               # no update either time


def test_fit_raises_its_message_from_the_shared_step():
    model = SequenceClassifier(2, vocab_size=3, hidden=4)
    rng = np.random.default_rng(0)

    def batch(step):
        return rng.integers(0, 3, (4, 5)), None, rng.integers(0, 2, 4)

    calls = {"n": 0}

    def nan_at_step_3(model, b):
        calls["n"] += 1
        loss = classifier_loss(model, b)
        return loss * float("nan") if calls["n"] == 3 else loss

    message = r"^fit: the loss became nan at step 3; lower lr \(now 0.01\)$"
    with pytest.raises(FloatingPointError, match=message) as e:
        fit(model, nan_at_step_3, batch, 10, lr=0.01, log=None)
    assert isinstance(e.value.__cause__, NonFiniteLoss)


@pytest.fixture
def clip_calls(monkeypatch):
    """Every max_norm the shared training step clips to, in order."""
    calls, real = [], models.training.clip_grad_norm_
    monkeypatch.setattr(models.training, "clip_grad_norm_", lambda params, max_norm: calls.append(max_norm)
                        or real(params, max_norm))
    return calls


def test_fit_clips_through_the_shared_step(clip_calls):
    rng = np.random.default_rng(0)

    def batch(step):
        return rng.integers(0, 3, (4, 5)), None, rng.integers(0, 2, 4)

    train_classifier(SequenceClassifier(2, vocab_size=3, hidden=4), batch, 3, clip=0.25, log=None)
    assert clip_calls == [0.25] * 3
    train_classifier(SequenceClassifier(2, vocab_size=3, hidden=4), batch, 3, clip=0, log=None)
    assert clip_calls == [0.25] * 3                               # clip 0: off


# ----------------------------------------------------------------------------- cell names, unroll

def test_one_table_maps_cell_names_to_layers_everywhere():
    assert set(CELLS) == {"rnn", "lstm", "gru"}
    import models.shapes
    assert models.shapes.CELLS is CELLS
    for name, cls in CELLS.items():
        assert type(make_rnn(name, 3, 4)) is cls and layer_class(name) is cls
        assert type(CharLM(5, cell=name, hidden=4, layers=1, embed=0).rnn) is cls
    with pytest.raises(ValueError, match=r"CharLM: cell must be one of \['gru', 'lstm', 'rnn'\], got 'tcn'"):
        CharLM(5, cell="tcn")
    with pytest.raises(ValueError, match=r"^cell must be one of"):
        make_rnn("tcn", 3, 4)


def recurrent_layers(model):
    return [m for m in model.modules() if isinstance(m, tuple(CELLS.values()))]


@pytest.mark.parametrize("make", [
    lambda **kw: SequenceClassifier(2, vocab_size=3, hidden=4, **kw),
    lambda **kw: SequenceTagger(2, input_size=3, hidden=4, bidirectional=True, **kw),
    lambda **kw: SequenceGenerator(3, 4, embed=2, hidden=4, **kw),
    lambda **kw: Seq2Seq(4, 4, embed=2, hidden=4, cell="gru", bidirectional=True, **kw),
], ids=["classifier", "tagger", "generator", "seq2seq"])
def test_shapes_take_unroll_the_teaching_path_by_default(make):
    assert [m.unroll for m in recurrent_layers(make())] in ([True], [True, True])
    fast = make(unroll=False)
    assert [m.unroll for m in recurrent_layers(fast)] in ([False], [False, False])
    assert [k for k, _ in fast.named_parameters()] == [k for k, _ in make().named_parameters()]
