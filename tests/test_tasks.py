"""Synthetic long-dependency tasks: the generators lay out what the docstrings promise, the baselines are what
a memoryless model scores, and small models learn each task past its baseline. Seconds in all."""
import math

import numpy as np
import pytest

import minigrad.nn.functional as F
import models.tasks.train
import models.training
from models.cells import CELLS
from models.tasks import (adding_baseline, adding_batch, build_model, copy_baseline, copy_batch, parity_batch,
                          reversal_batch, run_task)
from models.tasks.__main__ import main as cli
from models.tasks.__main__ import parse_args
from models.tasks.data import BLANK, DELIM, N_COPY
from models.training import NonFiniteLoss


def quiet(*args):
    pass


# ----------------------------------------------------------------------------- generators

@pytest.mark.parametrize("placement, first, second", [("halves", (0, 15), (15, 30)),
                                                       ("hochreiter", (0, 10), (10, 15)),
                                                       ("anywhere", (0, 29), (1, 30))])
def test_adding_batch_places_two_marks_and_targets_their_sum(placement, first, second):
    rng = np.random.default_rng(0)
    x, y = adding_batch(rng, 4000, 30, placement)
    assert x.shape == (4000, 30, 2) and y.shape == (4000,)
    assert ((x[..., 0] >= 0) & (x[..., 0] < 1)).all()
    marks = x[..., 1]
    assert set(np.unique(marks)) == {0.0, 1.0} and (marks.sum(axis=1) == 2).all()
    where = np.argwhere(marks == 1)[:, 1].reshape(-1, 2)          # (first, second) step of each row
    for pos, (lo, hi) in zip(where.T, (first, second)):
        assert pos.min() == lo and pos.max() == hi - 1              # the whole allowed range is used
    np.testing.assert_allclose(y, (x[..., 0] * marks).sum(axis=1), rtol=1e-6)


def test_adding_batch_rejects_unknown_placements_and_short_sequences():
    rng = np.random.default_rng(0)
    with pytest.raises(ValueError, match="placement must be one of"):
        adding_batch(rng, 2, 30, "middle")
    with pytest.raises(ValueError, match="T must be >= 22 for placement 'hochreiter'"):
        adding_batch(rng, 2, 21, "hochreiter")


def test_adding_baseline_is_what_answering_one_scores():
    x, y = adding_batch(np.random.default_rng(1), 200_000, 4)
    assert abs(np.mean((y - 1.0) ** 2) - adding_baseline()) < 0.003
    assert abs(adding_baseline() - 0.1667) < 1e-3


def test_copy_batch_layout():
    T = 7
    x, y = copy_batch(np.random.default_rng(0), 5, T)
    assert x.shape == y.shape == (5, T + 20)
    assert ((x[:, :N_COPY] >= 1) & (x[:, :N_COPY] <= 8)).all()
    assert (x[:, N_COPY:N_COPY + T - 1] == BLANK).all() and (x[:, N_COPY + T - 1] == DELIM).all()
    assert (x[:, N_COPY + T:] == BLANK).all()
    assert (y[:, :T + N_COPY] == BLANK).all()
    np.testing.assert_array_equal(y[:, -N_COPY:], x[:, :N_COPY])


def test_copy_baseline_is_what_a_memoryless_model_scores():
    """Blanks predicted with certainty, then a uniform guess among the 8 symbols."""
    T = 20
    x, y = copy_batch(np.random.default_rng(0), 100, T)
    p = np.zeros(y.shape + (10,))
    p[:, :T + N_COPY, BLANK] = 1.0
    p[:, T + N_COPY:, 1:9] = 1 / 8
    nll = -np.log(np.take_along_axis(p, y[..., None], axis=-1)).mean()
    assert math.isclose(nll, copy_baseline(T), rel_tol=1e-9)
    assert math.isclose(copy_baseline(T), 10 * math.log(8) / 40)


def test_parity_and_reversal_batches():
    bits, parity = parity_batch(np.random.default_rng(0), 50, 9)
    assert set(np.unique(bits)) <= {0, 1}
    np.testing.assert_array_equal(parity, bits.sum(axis=1) % 2)
    src, tgt = reversal_batch(np.random.default_rng(0), 6, 8, 10)
    assert src.shape == tgt.shape == (6, 8) and src.max() < 10
    np.testing.assert_array_equal(tgt, src[:, ::-1])


def test_generators_are_seeded():
    a = adding_batch(np.random.default_rng(5), 4, 10)
    b = adding_batch(np.random.default_rng(5), 4, 10)
    np.testing.assert_array_equal(a[0], b[0])


# ----------------------------------------------------------------------------- learning

def test_gru_learns_adding_below_the_baseline():
    r = run_task("adding", cell="gru", T=8, steps=150, batch=32, hidden=16, lr=1e-2, eval_every=50, log=quiet)
    assert r["curve"][0]["mse"] > 0.5 * adding_baseline()
    assert r["curve"][-1]["mse"] < 0.5 * adding_baseline()


def test_gru_starts_copying_past_the_memoryless_baseline():
    r = run_task("copy", cell="gru", T=2, steps=300, batch=32, hidden=64, embed=64, lr=1e-2, eval_every=100,
                 log=quiet)
    assert r["curve"][0]["loss_ratio"] > 0.95
    last = r["curve"][-1]
    assert last["loss_ratio"] < 0.88
    assert last["recall"] > 0.25                                  # twice chance (1/8)


def test_parity_is_learned():
    r = run_task("parity", cell="gru", T=4, steps=200, batch=32, hidden=32, lr=1e-2, eval_every=50, log=quiet)
    assert r["curve"][0]["accuracy"] < 0.8 and r["curve"][-1]["accuracy"] > 0.95
    assert r["curve"][-1]["loss"] < 0.2 * r["curve"][0]["loss"]


def test_one_hot_inputs_are_an_option():
    model = build_model("copy", "gru", hidden=8, embed=0)
    assert not any("embedding" in name for name, _ in model.named_parameters())
    assert any("embedding" in name for name, _ in build_model("copy", "gru", hidden=8).named_parameters())
    with pytest.raises(ValueError, match="embedding size"):
        build_model("reversal", "lstm", hidden=8, embed=0)


def test_reversal_is_learned_by_seq2seq():
    r = run_task("reversal", cell="lstm", T=4, steps=150, batch=32, hidden=32, lr=1e-2, eval_every=50, log=quiet)
    assert r["curve"][0]["exact_match"] < 0.7 and r["curve"][-1]["exact_match"] > 0.8


def test_stop_below_reports_the_step():
    r = run_task("adding", cell="gru", T=6, steps=400, batch=32, hidden=16, lr=1e-2, eval_every=20,
                 stop_below=0.05, log=quiet)
    assert r["solved_at"] is not None and r["curve"][-1]["step"] == r["solved_at"] < 400
    assert r["curve"][-1]["mse"] < 0.05


def test_forget_bias_option_reaches_every_lstm():
    model = build_model("reversal", "lstm", hidden=8, forget_bias=1.0)
    for name, p in model.named_parameters():
        if ".bias_ih" in name:
            np.testing.assert_array_equal(p.numpy()[8:16], 1.0)
    with pytest.raises(ValueError, match="LSTM option"):
        build_model("adding", "gru", hidden=8, forget_bias=1.0)


def test_cli_prints_the_curve(capsys, tmp_path, monkeypatch):
    out = tmp_path / "curve.jsonl"
    assert cli(["adding", "--cell", "lstm", "--T", "5", "--steps", "20", "--hidden", "8", "--eval-every", "10",
                "--forget-bias", "1.0", "--out", str(out)]) == 0
    text = capsys.readouterr().out
    assert "step 20" in text and "adding lstm T=5: 20 steps" in text
    assert len(out.read_text().splitlines()) == 2


# ----------------------------------------------------------------------------- the shared step, unroll

def test_a_non_finite_loss_stops_at_its_step_with_the_tasks_message(monkeypatch):
    real, calls = F.mse_loss, {"n": 0}

    def nan_at_step_3(*args, **kw):
        calls["n"] += 1
        return real(*args, **kw) * (float("nan") if calls["n"] == 3 else 1.0)

    monkeypatch.setattr(F, "mse_loss", nan_at_step_3)
    with pytest.raises(FloatingPointError, match=r"^adding: the loss became nan by step 3$") as e:
        run_task("adding", cell="gru", T=4, steps=10, batch=4, hidden=4, eval_every=5, log=quiet)
    assert isinstance(e.value.__cause__, NonFiniteLoss)           # found by the shared step, models.training
    assert calls["n"] == 3


def test_clipping_goes_through_the_shared_step(monkeypatch):
    calls, real = [], models.training.clip_grad_norm_
    monkeypatch.setattr(models.training, "clip_grad_norm_", lambda params, max_norm: calls.append(max_norm)
                        or real(params, max_norm))
    run_task("parity", cell="rnn", T=3, steps=3, batch=4, hidden=4, clip=0.3, eval_every=3, log=quiet)
    assert calls == [0.3] * 3
    run_task("parity", cell="rnn", T=3, steps=3, batch=4, hidden=4, clip=0, eval_every=3, log=quiet)
    assert calls == [0.3] * 3                                     # --clip 0: off


def unrolls(model):
    return [m.unroll for m in model.modules() if isinstance(m, tuple(CELLS.values()))]


def test_build_model_unrolls_by_default_and_run_task_takes_the_speed_path():
    assert unrolls(build_model("reversal", "gru", hidden=4)) == [True, True]
    assert unrolls(build_model("reversal", "gru", hidden=4, unroll=False)) == [False, False]
    r = run_task("reversal", cell="gru", T=3, steps=2, batch=4, hidden=4, eval_every=2, log=quiet)
    assert r["unroll"] is False and unrolls(r["model"]) == [False, False]
    r = run_task("adding", cell="lstm", T=3, steps=2, batch=4, hidden=4, eval_every=2, log=quiet, unroll=True)
    assert r["unroll"] is True and unrolls(r["model"]) == [True]


@pytest.mark.parametrize("flag, unroll", [([], False), (["--unroll"], True)])
def test_cli_builds_the_speed_path_unless_unroll(monkeypatch, flag, unroll):
    built, real = [], models.tasks.train.build_model

    def build_model(*args, **kw):
        built.append(real(*args, **kw))
        return built[-1]

    monkeypatch.setattr(models.tasks.train, "build_model", build_model)
    assert cli(["copy", "--cell", "gru", "--T", "2", "--steps", "2", "--hidden", "4", "--embed", "4",
                "--eval-every", "2"] + flag) == 0
    assert len(built) == 1 and unrolls(built[0]) == [unroll]


def test_help_describes_unroll(capsys):
    with pytest.raises(SystemExit):
        parse_args(["--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert "--unroll" in text and "teaching path" in text and "default: the speed path" in text


@pytest.mark.parametrize("name", ["T", "steps", "batch", "eval_every"])
def test_run_task_rejects_zero_instead_of_the_default(name):
    with pytest.raises(ValueError, match=name):
        models.tasks.train.run_task("copy", **{name: 0}, log=lambda *a: None)
