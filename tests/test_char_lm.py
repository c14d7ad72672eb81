"""The character-level language model: data pipeline, model, training (learning, exact resume, divergence),
checkpoints and sampling. Tiny configs on a tiny corpus: the whole file runs in seconds."""
import importlib
import json
import math
import os

import numpy as np
import pytest

import minigrad as mg
import minigrad.nn.functional as F
import models.training
from models.char_lm import (Batches, CharLM, TrainConfig, TrainingDiverged, Vocab, detach_state, load_checkpoint,
                            load_model, next_char_distribution, sample, split, train)
from models.char_lm.__main__ import build_parser
from models.char_lm.__main__ import main as cli
from models.training import NonFiniteLoss

trainer = importlib.import_module("models.char_lm.train")        # the module (the package exports train())

TEXT = ("the cat sat on the mat. the dog sat on the log. a cat and a dog.\n" * 40)


def quiet(*args):
    pass


@pytest.fixture
def corpus(tmp_path):
    path = tmp_path / "corpus.txt"
    path.write_text(TEXT, encoding="utf-8")
    return str(path)


def tiny(corpus, out, **kw):
    base = dict(data=corpus, cell="lstm", layers=1, hidden=24, embed=12, seq_len=12, batch=4, steps=20,
                lr=1e-2, val_every=10, out=str(out), progress=False)
    base.update(kw)
    return TrainConfig(**base)


def read_metrics(out):
    with open(os.path.join(out, "metrics.jsonl")) as f:
        return [json.loads(line) for line in f]


# ----------------------------------------------------------------------------- data

def test_vocab_roundtrip_and_unknown_characters():
    v = Vocab.from_text("hello world")
    assert v.chars == " dehlorw"
    assert v.decode(v.encode("low hole")) == "low hole"
    with pytest.raises(ValueError, match="not in the vocabulary"):
        v.encode("help!")


def test_split_is_contiguous_ninety_ten():
    ids = np.arange(1000)
    train_ids, val_ids = split(ids, 0.1)
    assert len(train_ids) == 900 and len(val_ids) == 100
    np.testing.assert_array_equal(np.concatenate([train_ids, val_ids]), ids)


def test_batches_are_shifted_targets_and_windows_continue_each_stream():
    ids = np.arange(203)
    b = Batches(ids, batch_size=4, seq_len=7)
    per_stream = 203 // 4
    assert len(b) == math.ceil((per_stream - 1) / 7)
    seen, prev_y = [], None
    for x, y in b:
        assert x.shape[0] == 4 and x.shape == y.shape
        np.testing.assert_array_equal(y, x + 1)             # ids are positions: the target is the next one
        if prev_y is not None:
            np.testing.assert_array_equal(x[:, 0], prev_y[:, -1])   # the next window starts where this stopped
        prev_y = y
        seen.append(x)
    streams = np.concatenate(seen, axis=1)                  # every stream is read once, in order
    np.testing.assert_array_equal(streams[:, 0], np.arange(4) * per_stream)
    assert streams.shape[1] == per_stream - 1


# ----------------------------------------------------------------------------- model

@pytest.mark.parametrize("cell,embed", [("lstm", 8), ("gru", 8), ("rnn", 0)])
def test_model_shapes_and_state(cell, embed):
    model = CharLM(11, cell=cell, hidden=6, layers=2, embed=embed)
    ids = np.random.default_rng(0).integers(0, 11, (5, 3))
    logits, state = model(ids)
    assert logits.shape == (5, 3, 11)
    states = state if isinstance(state, tuple) else (state,)
    assert all(s.shape == (2, 3, 6) for s in states)
    assert all(s.grad_fn is None for s in (detach_state(state) if isinstance(state, tuple)
                                           else (detach_state(state),)))
    # carrying the state = running the concatenated sequence at once
    first, state = model(ids[:2])
    second, _ = model(ids[2:], state)
    np.testing.assert_allclose(np.concatenate([first.numpy(), second.numpy()]), logits.numpy(), atol=1e-5)


@pytest.mark.parametrize("embed", [0, 4])
def test_whole_model_gradient_matches_a_random_direction_difference(embed):
    """d loss / d all parameters, along one random direction, against central differences (float64)."""
    model = CharLM(5, cell="lstm", hidden=3, layers=2, embed=embed).double()
    ids = np.array([[0, 1], [2, 3], [4, 0]])
    targets = np.array([[1, 2], [3, 4], [0, 1]]).reshape(-1)
    params = list(model.parameters())

    def loss():
        logits, _ = model(ids)
        return F.cross_entropy(logits.reshape(-1, 5), targets)

    loss().backward()
    rng = np.random.default_rng(0)
    direction = [rng.standard_normal(p.shape) for p in params]
    analytic = sum(float((p.grad.numpy() * d).sum()) for p, d in zip(params, direction))
    eps, values = 1e-6, []
    for sign in (1, -1):
        for p, d in zip(params, direction):
            p.data += sign * eps * d
        with mg.no_grad():
            values.append(loss().item())
        for p, d in zip(params, direction):
            p.data -= sign * eps * d
    numeric = (values[0] - values[1]) / (2 * eps)
    assert abs(analytic - numeric) <= 1e-6 * max(1.0, abs(numeric))


# ----------------------------------------------------------------------------- training

def test_training_learns_and_writes_checkpoints(corpus, tmp_path):
    out = tmp_path / "run"
    result = train(tiny(corpus, out, steps=40), log=quiet)
    vocab_size = len(set(TEXT))
    assert result["step"] == 40
    assert result["best_val"] < 0.6 * math.log(vocab_size)     # well below the uniform guess
    rows = read_metrics(out)
    losses = [r["loss"] for r in rows if "loss" in r]
    vals = [r["val_loss"] for r in rows if "val_loss" in r]
    assert len(losses) == 40 and len(vals) == 4
    assert np.mean(losses[-5:]) < np.mean(losses[:5]) - 0.5
    ckpt = load_checkpoint(str(out / "last.ckpt"))
    assert ckpt["step"] == 40 and ckpt["vocab"] == "".join(sorted(set(TEXT)))
    assert set(ckpt["model"]) == {k for k, _ in CharLM(**ckpt["model_config"]).named_parameters()}
    assert os.path.exists(out / "best.ckpt")


def test_resume_continues_exactly(corpus, tmp_path):
    """6 steps + resume to 14 gives the same loss curve as 14 steps in one go (dropout included: RNG restored,
    and the carried state across the resume point too)."""
    kw = dict(layers=2, dropout=0.2, steps=14, val_every=4, seq_len=6)
    whole = tmp_path / "whole"
    train(tiny(corpus, whole, **kw), log=quiet)
    parts = tmp_path / "parts"
    train(tiny(corpus, parts, **{**kw, "steps": 6}), log=quiet)
    train(TrainConfig(steps=14, out=str(parts), progress=False), resume=True, log=quiet)
    a = [r["loss"] for r in read_metrics(whole) if "loss" in r]
    b = [r["loss"] for r in read_metrics(parts) if "loss" in r]
    assert len(a) == len(b) == 14
    np.testing.assert_allclose(b, a, rtol=1e-6, atol=0)
    wa, wb = load_checkpoint(str(whole / "last.ckpt")), load_checkpoint(str(parts / "last.ckpt"))
    for k in wa["model"]:
        np.testing.assert_allclose(wb["model"][k].numpy(), wa["model"][k].numpy(), rtol=1e-6, atol=1e-7)


def test_resume_drops_metrics_written_after_the_last_checkpoint(corpus, tmp_path):
    out = tmp_path / "run"
    train(tiny(corpus, out, steps=8, val_every=4), log=quiet)
    with open(out / "metrics.jsonl", "a") as f:                 # a killed run got further than its checkpoint
        f.write(json.dumps({"step": 9, "loss": 1.0, "time": 0}) + "\n")
    ckpt = load_checkpoint(str(out / "last.ckpt"))
    assert ckpt["step"] == 8
    train(TrainConfig(steps=10, out=str(out), progress=False), resume=True, log=quiet)
    steps = [r["step"] for r in read_metrics(out) if "loss" in r]
    assert steps == list(range(1, 11))


def test_divergence_stops_and_keeps_the_last_good_checkpoint(corpus, tmp_path, monkeypatch):
    out = tmp_path / "run"
    real = F.cross_entropy
    calls = {"n": 0}

    def blows_up_at_step_7(*args, **kw):
        loss = real(*args, **kw)
        if mg.is_grad_enabled():                     # training steps only, not validation
            calls["n"] += 1
            if calls["n"] == 7:
                return loss * float("nan")
        return loss

    monkeypatch.setattr(F, "cross_entropy", blows_up_at_step_7)
    with pytest.raises(TrainingDiverged, match=r"diverged at step 7: loss nan, gradient norm nan \(not finite\)\. "
                                               r"Stopped; the last good checkpoint is .*--clip \(now 5\.0\)\.$") as e:
        train(tiny(corpus, out, steps=20, val_every=5), log=quiet)
    assert isinstance(e.value.__cause__, NonFiniteLoss)          # found by the shared step, models.training
    assert load_checkpoint(str(out / "last.ckpt"))["step"] == 5


def test_clipping_goes_through_the_shared_step(corpus, tmp_path, monkeypatch):
    calls, real = [], models.training.clip_grad_norm_
    monkeypatch.setattr(models.training, "clip_grad_norm_", lambda params, max_norm: calls.append(max_norm)
                        or real(params, max_norm))
    train(tiny(corpus, tmp_path / "a", steps=3, clip=0.5), log=quiet)
    assert calls == [0.5] * 3
    train(tiny(corpus, tmp_path / "b", steps=3, clip=0.0), log=quiet)
    assert calls == [0.5] * 3                                     # --clip 0: no clipping


def test_cli_train_then_sample(corpus, tmp_path, capsys, monkeypatch):
    out = str(tmp_path / "cli")
    assert cli(["train", "--data", corpus, "--layers", "1", "--hidden", "16", "--embed", "8", "--seq-len", "10",
                "--batch", "4", "--steps", "6", "--val-every", "3", "--out", out, "--no-progress",
                "--optimizer", "rmsprop", "--dtype", "float64"]) == 0
    capsys.readouterr()
    assert cli(["sample", "--checkpoint", out, "--length", "50", "--prime", "the ", "--seed", "3"]) == 0
    text = capsys.readouterr().out.rstrip("\n")
    assert text.startswith("the ") and len(text) == 54
    assert set(text) <= set(TEXT)


# ----------------------------------------------------------------------------- teaching path / speed path

@pytest.fixture
def built(monkeypatch):
    """The models the trainer builds, as it builds them."""
    models_built, real = [], trainer.build

    def build(cfg, vocab_size):
        model, opt = real(cfg, vocab_size)
        models_built.append(model)
        return model, opt

    monkeypatch.setattr(trainer, "build", build)
    return models_built


def test_library_model_unrolls_and_the_trainer_takes_the_speed_path():
    assert CharLM(7, hidden=4, layers=1, embed=0).rnn.unroll is True
    assert CharLM(7, hidden=4, layers=1, embed=0, unroll=False).rnn.unroll is False
    assert TrainConfig().unroll is False


@pytest.mark.parametrize("flag, unroll", [([], False), (["--unroll"], True)])
def test_cli_builds_the_speed_path_unless_unroll_and_records_the_choice(corpus, tmp_path, monkeypatch, built,
                                                                         flag, unroll):
    out = str(tmp_path / "cli")
    assert cli(["train", "--data", corpus, "--layers", "1", "--hidden", "8", "--embed", "4", "--seq-len", "6",
                "--batch", "2", "--steps", "2", "--val-every", "2", "--out", out, "--no-progress"] + flag) == 0
    assert len(built) == 1 and built[0].rnn.unroll is unroll
    ckpt = load_checkpoint(out)
    assert ckpt["config"]["unroll"] is unroll                     # resume rebuilds the same path
    assert "unroll" not in ckpt["model_config"]                   # not needed to rebuild the weights


def test_help_describes_unroll():
    sub = build_parser()._subparsers._group_actions[0].choices["train"]
    text = " ".join(sub.format_help().split())
    assert "--unroll" in text and "teaching path" in text and "default: the speed path" in text


def test_resume_keeps_the_checkpoints_path(corpus, tmp_path, built):
    out = tmp_path / "run"
    train(tiny(corpus, out, steps=4, val_every=2, unroll=True), log=quiet)
    train(TrainConfig(steps=6, out=str(out), progress=False), resume=True, log=quiet)
    assert [m.rnn.unroll for m in built] == [True, True]
    assert load_checkpoint(str(out / "last.ckpt"))["config"]["unroll"] is True


@pytest.mark.parametrize("trained_unrolled", [False, True])
def test_a_checkpoint_loads_and_samples_on_either_path(corpus, tmp_path, trained_unrolled):
    out = tmp_path / "run"
    train(tiny(corpus, out, steps=6, val_every=3, unroll=trained_unrolled, dtype="float64"), log=quiet)
    teaching, vocab = load_model(str(out))
    speed, _ = load_model(str(out), unroll=False)
    assert teaching.rnn.unroll is True and speed.rnn.unroll is False
    assert list(teaching.state_dict()) == list(speed.state_dict())
    ids = vocab.encode("the cat sat").reshape(-1, 1)
    np.testing.assert_allclose(speed(ids)[0].numpy(), teaching(ids)[0].numpy(), rtol=1e-10, atol=1e-12)
    assert sample(speed, vocab, 30, 0.8, prime="the", seed=4) == sample(teaching, vocab, 30, 0.8, prime="the", seed=4)


# ----------------------------------------------------------------------------- sampling

def test_temperature_to_zero_approaches_argmax_and_top_k_keeps_k():
    logits = np.array([0.5, 2.0, 1.9, -1.0])
    for t, lo in ((1.0, 0.3), (0.1, 0.7), (0.01, 0.999)):
        assert next_char_distribution(logits, t)[1] > lo
    np.testing.assert_array_equal(next_char_distribution(logits, 0.0), [0, 1, 0, 0])
    p = next_char_distribution(logits, 1.0, top_k=2)
    assert (p > 0).sum() == 2 and p[1] > 0 and p[2] > 0
    assert abs(p.sum() - 1) < 1e-12
    hot = next_char_distribution(logits, 100.0)
    assert hot.max() - hot.min() < 0.05                          # high temperature flattens


def test_sampling_is_seeded_builds_no_graph_and_restores_mode(corpus, tmp_path):
    out = tmp_path / "run"
    train(tiny(corpus, out, steps=30), log=quiet)
    model, vocab = load_model(str(out))
    model.train()
    a = sample(model, vocab, length=80, temperature=0.8, prime="the", seed=1)
    b = sample(model, vocab, length=80, temperature=0.8, prime="the", seed=1)
    c = sample(model, vocab, length=80, temperature=0.8, prime="the", seed=2)
    assert a == b and a != c and len(a) == 83
    assert model.training
    greedy = sample(model, vocab, length=40, temperature=0.0, prime="the", seed=5)
    assert greedy == sample(model, vocab, length=40, temperature=0.0, prime="the", seed=9)
    assert "the" in greedy[3:] or "at" in greedy[3:]              # learned the corpus' words, not noise


def test_sample_checks_model_config_against_shapes_before_building(monkeypatch):
    sampling = importlib.import_module("models.char_lm.sample")
    model = CharLM(5, "gru", hidden=3, layers=2, embed=2)
    ckpt = {"model": model.state_dict(), "model_config": model.config(), "vocab": "abcde"}
    sampling.check_model_config(ckpt)                                   # the real thing passes
    monkeypatch.setattr(sampling, "CharLM", lambda *a, **k: pytest.fail("built before the check"))
    for change, match in (({"hidden": 10 ** 9}, "out of range"), ({"hidden": 4}, "do not match"),
                          ({"layers": 3}, "do not match"), ({"cell": "lstm"}, "do not match"),
                          ({"vocab_size": 6}, "vocabulary")):
        with pytest.raises(ValueError, match=match):
            sampling.load_model({**ckpt, "model_config": {**ckpt["model_config"], **change}})
