"""char-rnn's command-line habits in `python -m models.char_lm` (issue 17): learning-rate decay (saved and resumed),
numbered checkpoints, warm starts from another run's weights (--init-from), and sample --prime-file/--beam/--top-p.
Run in-process (main through minigrad.cli.run) on tiny corpora: a few training steps each."""
import importlib
import inspect
import json
import os

import numpy as np
import pytest

import minigrad as mg
from minigrad.cli import run
from models.char_lm import TrainConfig, load_checkpoint, train
from models.char_lm.__main__ import build_parser, main

trainer = importlib.import_module("models.char_lm.train")
sampling = importlib.import_module("models.char_lm.sample")

TEXT = "the cat sat on the mat. the dog sat on the log. a cat and a dog.\n" * 30
OTHER = "a dog and a cat sat on the log. the mat. on the cat the dog sat.\n" * 30   # same characters, new text
TINY = ["--layers", "1", "--hidden", "8", "--embed", "4", "--seq-len", "6", "--batch", "2", "--no-progress"]


@pytest.fixture(scope="module")
def corpora(tmp_path_factory):
    d = tmp_path_factory.mktemp("corpora")
    paths = {}
    for name, data in {"text": TEXT.encode(), "other": OTHER.encode(),
                       "new_chars": (TEXT + "Zq!\n").encode(), "fewer_chars": TEXT.replace("g", "c").encode(),
                       "prime": b"the dog\nsat ", "empty": b"", "latin1": "caf\xe9".encode("latin-1"),
                       "foreign_prime": "the \u20ac cat".encode()}.items():
        paths[name] = str(d / f"{name}.txt")
        with open(paths[name], "wb") as f:
            f.write(data)
    paths["folder"] = str(d / "folder")
    os.mkdir(paths["folder"])
    paths["run"] = str(d / "run")                 # a trained run to sample from and start from
    assert cli("train", "--data", paths["text"], *TINY, "--steps", "6", "--val-every", "3", "--out",
               paths["run"]) == 0
    return paths


def cli(*argv):
    """The exit status of `python -m models.char_lm argv` (argparse's exit included), run in this process."""
    try:
        return run(main, list(argv))
    except SystemExit as e:
        return e.code


def check(capsys, status, names, *argv):
    """Exit status `status` and one `error:` line naming `names` (or argparse's usage, then its error line)."""
    assert cli(*argv) == status
    err = capsys.readouterr().err.strip().splitlines()
    assert err, "nothing on stderr"
    if err[0].startswith("usage:"):
        assert status == 2 and err[-1].startswith("python -m models.char_lm") and names in err[-1], err
    else:
        assert len(err) == 1 and err[0].startswith("error: ") and names in err[0], err


def metrics(out):
    with open(os.path.join(out, "metrics.jsonl")) as f:
        return [json.loads(line) for line in f]


def steps_of(out, key="loss"):
    return [r[key] for r in metrics(out) if "loss" in r]


# ----------------------------------------------------------------------------- --lr-decay / --lr-decay-every

def test_lr_decays_by_gamma_every_n_steps(corpora, tmp_path):
    out = str(tmp_path / "run")
    assert cli("train", "--data", corpora["text"], *TINY, "--steps", "10", "--val-every", "5", "--optimizer", "sgd",
               "--lr", "0.4", "--lr-decay", "0.5", "--lr-decay-every", "3", "--out", out) == 0
    want = [0.4 * 0.5 ** ((s - 1) // 3) for s in range(1, 11)]         # the rate step s (1-based) used
    np.testing.assert_allclose(steps_of(out, "lr"), want, rtol=1e-12)
    ckpt = load_checkpoint(os.path.join(out, "last.ckpt"))
    assert ckpt["config"]["lr_decay"] == 0.5 and ckpt["config"]["lr_decay_every"] == 3
    assert ckpt["scheduler"]["last_epoch"] == 10
    assert ckpt["optimizer"]["param_groups"][0]["lr"] == pytest.approx(0.4 * 0.5 ** 3, rel=1e-12)


def test_the_optimizer_steps_with_the_decayed_rate(corpora, tmp_path, monkeypatch):
    """SGD without momentum: each update is -lr * grad, with lr the scheduled rate of that step."""
    seen = []
    real_step = trainer.train_step

    def recording(params, opt, loss, clip=None, scheduler=None):
        before = [p.numpy().copy() for p in params]
        value = real_step(params, opt, loss, clip, scheduler)
        p, g = params[0], params[0].grad.numpy()
        seen.append(float(np.sum((before[0] - p.numpy()) * g) / np.sum(g * g)))    # the lr that moved p
        return value

    monkeypatch.setattr(trainer, "train_step", recording)
    train(TrainConfig(data=corpora["text"], layers=1, hidden=8, embed=4, seq_len=6, batch=2, steps=6, val_every=6,
                      optimizer="sgd", lr=0.3, clip=0.0, dtype="float64", lr_decay=0.1, lr_decay_every=2,
                      out=str(tmp_path / "run"), progress=False), log=lambda *a: None)
    np.testing.assert_allclose(seen, [0.3, 0.3, 0.03, 0.03, 0.003, 0.003], rtol=1e-9)


def test_resume_continues_the_schedule_exactly(corpora, tmp_path):
    """7 steps + resume to 14 = 14 steps in one go: the same rates (the schedule's state is in last.ckpt, the
    resume lands mid-period) and the same losses."""
    decay = ["--lr-decay", "0.7", "--lr-decay-every", "3", "--val-every", "7"]
    whole, parts = str(tmp_path / "whole"), str(tmp_path / "parts")
    assert cli("train", "--data", corpora["text"], *TINY, *decay, "--steps", "14", "--out", whole) == 0
    assert cli("train", "--data", corpora["text"], *TINY, *decay, "--steps", "7", "--out", parts) == 0
    assert cli("train", "--resume", "--out", parts, "--steps", "14", "--no-progress") == 0
    assert len(steps_of(parts, "lr")) == 14
    np.testing.assert_allclose(steps_of(parts, "lr"), steps_of(whole, "lr"), rtol=1e-12)
    np.testing.assert_allclose(steps_of(parts), steps_of(whole), rtol=1e-6)
    assert steps_of(parts, "lr")[-1] == pytest.approx(2e-3 * 0.7 ** 4, rel=1e-12)


def test_resume_refuses_a_different_schedule(corpora, tmp_path, capsys):
    out = str(tmp_path / "run")
    assert cli("train", "--data", corpora["text"], *TINY, "--steps", "2", "--lr-decay", "0.5", "--lr-decay-every",
               "2", "--out", out) == 0
    capsys.readouterr()
    check(capsys, 2, "--lr-decay 0.9 (checkpoint: 0.5)", "train", "--resume", "--out", out, "--lr-decay", "0.9",
          "--lr-decay-every", "2")


def test_train_config_checks_the_schedule():
    with pytest.raises(ValueError, match="lr_decay and lr_decay_every go together"):
        TrainConfig(lr_decay=0.5)
    with pytest.raises(ValueError, match=r"lr_decay must be in \(0, 1\]"):
        TrainConfig(lr_decay=1.5, lr_decay_every=2)
    with pytest.raises(ValueError, match="checkpoint_every must be an integer >= 1"):
        TrainConfig(checkpoint_every=0)
    assert TrainConfig(lr_decay=1.0, lr_decay_every=1).lr_decay == 1.0


# ----------------------------------------------------------------------------- --checkpoint-every

def test_numbered_checkpoints_beside_last_and_best(corpora, tmp_path, capsys):
    out = str(tmp_path / "run")
    assert cli("train", "--data", corpora["text"], *TINY, "--steps", "10", "--val-every", "5",
               "--checkpoint-every", "4", "--out", out) == 0
    assert sorted(os.listdir(out)) == ["best.ckpt", "last.ckpt", "metrics.jsonl", "step_000004.ckpt",
                                       "step_000008.ckpt"]
    assert [load_checkpoint(os.path.join(out, f"step_00000{k}.ckpt"))["step"] for k in (4, 8)] == [4, 8]
    capsys.readouterr()
    assert cli("sample", "--checkpoint", os.path.join(out, "step_000004.ckpt"), "--length", "5") == 0
    # a fresh run never writes over another run's numbered checkpoints
    check(capsys, 2, "already holds numbered checkpoints (step_000004.ckpt ... step_000008.ckpt)",
          "train", "--data", corpora["text"], *TINY, "--steps", "4", "--checkpoint-every", "4", "--out", out)


def test_resume_keeps_numbered_checkpoints_it_finds(corpora, tmp_path, capsys):
    """A killed run may have written step_000012.ckpt after last.ckpt (step 10): the resume keeps that file."""
    out = str(tmp_path / "run")
    assert cli("train", "--data", corpora["text"], *TINY, "--steps", "10", "--val-every", "5",
               "--checkpoint-every", "4", "--out", out) == 0
    tail = os.path.join(out, "step_000012.ckpt")
    with open(os.path.join(out, "step_000004.ckpt"), "rb") as src, open(tail, "wb") as dst:
        dst.write(src.read())
    with open(tail, "rb") as f:
        saved = f.read()
    capsys.readouterr()
    assert cli("train", "--resume", "--out", out, "--steps", "17", "--no-progress") == 0
    assert "kept the existing" in capsys.readouterr().out
    with open(tail, "rb") as f:
        assert f.read() == saved
    assert load_checkpoint(os.path.join(out, "step_000016.ckpt"))["step"] == 16
    assert not [n for n in os.listdir(out) if n.endswith(".tmp")]          # atomic writes leave no temp files


# ----------------------------------------------------------------------------- --init-from

def test_init_from_trains_on_new_text_from_the_old_weights(corpora, tmp_path, monkeypatch):
    start = load_checkpoint(corpora["run"])                     # a folder: its best.ckpt, as sample takes it
    first = []
    real_step = trainer.train_step

    def recording(params, opt, loss, clip=None, scheduler=None):
        if not first:
            first.append([p.numpy().copy() for p in params])
        return real_step(params, opt, loss, clip, scheduler)

    monkeypatch.setattr(trainer, "train_step", recording)
    out = str(tmp_path / "warm")
    # no model sizes given: they come from the checkpoint (the flags' defaults, 2x128 LSTM, would not fit)
    assert cli("train", "--data", corpora["other"], "--seq-len", "6", "--batch", "2", "--no-progress",
               "--steps", "4", "--val-every", "2", "--init-from", corpora["run"], "--out", out) == 0
    names = [k for k in start["model"]]
    weights = dict(zip(names, first[0]))                      # parameters() and the state dict share the order
    for k in names:
        np.testing.assert_array_equal(weights[k], start["model"][k].numpy())        # step 0: the old weights
    ckpt = load_checkpoint(os.path.join(out, "last.ckpt"))
    assert ckpt["step"] == 4 and [r["step"] for r in metrics(out) if "loss" in r] == [1, 2, 3, 4]
    assert {s["step"] for s in ckpt["optimizer"]["state"].values()} == {4}               # a fresh optimizer
    assert ckpt["model_config"] == start["model_config"] and ckpt["vocab"] == start["vocab"]
    assert ckpt["config"]["init_from"] == corpora["run"] and ckpt["config"]["data"] == corpora["other"]
    assert any(not np.array_equal(ckpt["model"][k].numpy(), start["model"][k].numpy()) for k in names)   # trained


def test_init_from_a_file_with_matching_sizes_and_another_dtype(corpora, tmp_path):
    out = str(tmp_path / "warm")
    assert cli("train", "--data", corpora["text"], *TINY, "--steps", "2", "--dtype", "float64",
               "--init-from", os.path.join(corpora["run"], "last.ckpt"), "--out", out) == 0
    ckpt = load_checkpoint(out)
    assert str(next(iter(ckpt["model"].values())).dtype) == "float64"


def test_init_from_refuses_to_write_over_its_own_checkpoint(corpora, tmp_path, capsys):
    out = str(tmp_path / "run")
    assert cli("train", "--data", corpora["text"], *TINY, "--steps", "2", "--out", out) == 0
    before = load_checkpoint(out)
    capsys.readouterr()
    check(capsys, 2, "would be written over by this run", "train", "--data", corpora["other"], "--init-from", out,
          "--steps", "2", "--out", out)
    check(capsys, 2, "would be written over", "train", "--data", corpora["other"], "--init-from",
          os.path.join(out, "last.ckpt"), "--steps", "2", "--out", out)
    with pytest.raises(ValueError, match="this run would write over"):
        train(TrainConfig(data=corpora["other"], steps=1, init_from=out, out=out, progress=False), log=print)
    assert load_checkpoint(out)["step"] == before["step"] == 2


def test_a_warm_started_run_resumes_without_its_source(corpora, tmp_path):
    source, out = str(tmp_path / "source"), str(tmp_path / "warm")
    assert cli("train", "--data", corpora["text"], *TINY, "--steps", "2", "--out", source) == 0
    assert cli("train", "--data", corpora["other"], "--seq-len", "6", "--batch", "2", "--no-progress", "--steps", "3",
               "--init-from", source, "--out", out) == 0
    for name in os.listdir(source):
        os.remove(os.path.join(source, name))
    assert cli("train", "--resume", "--out", out, "--steps", "5", "--no-progress") == 0
    assert load_checkpoint(out)["step"] == 5 and [r["step"] for r in metrics(out) if "loss" in r] == [1, 2, 3, 4, 5]


@pytest.mark.parametrize("data,named", [
    ("new_chars", "3 new character(s) '!Zq' not in the checkpoint"),
    ("fewer_chars", "1 character(s) of the checkpoint missing from the text 'g'"),
])
def test_init_from_refuses_another_vocabulary(corpora, tmp_path, capsys, data, named):
    check(capsys, 2, named, "train", "--data", corpora[data], *TINY, "--steps", "2", "--init-from",
          corpora["run"], "--out", str(tmp_path / "warm"))
    with pytest.raises(ValueError, match="a warm start needs the same vocabulary"):       # the library too
        train(TrainConfig(data=corpora[data], steps=1, init_from=corpora["run"], out=str(tmp_path / "lib"),
                          progress=False), log=lambda *a: None)


# ----------------------------------------------------------------------------- --sample-every

def test_samples_land_in_the_metrics_and_change_nothing_else(corpora, tmp_path):
    """Samples every 3 steps: prime + SAMPLE_CHARS characters of the text's alphabet at steps 3, 6, 9; the
    losses equal a run without samples (own generator, no dropout), and --resume may change --sample-every."""
    from models.char_lm.train import SAMPLE_CHARS
    plain, sampled = str(tmp_path / "plain"), str(tmp_path / "sampled")
    common = ["--data", corpora["text"], *TINY, "--dropout", "0.2", "--val-every", "5"]
    assert cli("train", *common, "--steps", "9", "--out", plain) == 0
    assert cli("train", *common, "--steps", "5", "--sample-every", "3", "--out", sampled) == 0
    assert cli("train", "--resume", "--out", sampled, "--steps", "9", "--sample-every", "2", "--no-progress") == 0
    samples = {r["step"]: r["sample"] for r in metrics(sampled) if "sample" in r}
    assert sorted(samples) == [3, 6, 8]                    # every 3 up to step 5, then every 2 after the resume
    for text in samples.values():
        assert text.startswith("\n") and len(text) == 1 + SAMPLE_CHARS and set(text) <= set(TEXT)
    assert len(set(samples.values())) == 3                 # the weights move between samples
    assert steps_of(sampled) == steps_of(plain)            # the training run itself is untouched


def test_sample_every_must_be_a_positive_int(corpora, tmp_path, capsys):
    for bad in ("0", "-2", "x"):
        check(capsys, 2, "--sample-every", "train", "--data", corpora["text"], *TINY, "--steps", "1",
              "--sample-every", bad, "--out", str(tmp_path / "out"))


# ----------------------------------------------------------------------------- sample --prime-file, --beam, --top-p

def test_prime_file_sampling_starts_with_the_files_text(corpora, capsys):
    capsys.readouterr()
    assert cli("sample", "--checkpoint", corpora["run"], "--prime-file", corpora["prime"], "--length", "20",
               "--seed", "2") == 0
    text = capsys.readouterr().out[:-1]                     # print's newline
    assert text.startswith("the dog\nsat ") and len(text) == len("the dog\nsat ") + 20
    assert cli("sample", "--checkpoint", corpora["run"], "--prime", "the dog\nsat ", "--length", "20",
               "--seed", "2") == 0
    assert capsys.readouterr().out[:-1] == text                 # the same as giving the text with --prime


def test_beam_and_top_p_reach_sample(corpora, capsys, monkeypatch):
    calls = []
    monkeypatch.setattr(sampling, "sample", lambda *args, **kw: calls.append((args, kw)) or "x")
    assert cli("sample", "--checkpoint", corpora["run"], "--beam", "3", "--length", "7") == 0
    assert cli("sample", "--checkpoint", corpora["run"], "--top-p", "1") == 0
    assert cli("sample", "--checkpoint", corpora["run"]) == 0
    assert [kw for _, kw in calls] == [{"beam": 3}, {"top_p": 1.0}, {}]
    assert calls[0][0][2] == 7


@pytest.mark.skipif({"beam", "top_p"} - set(inspect.signature(sampling.sample).parameters) != set(),
                    reason="sample.sample(..., beam=, top_p=) has not landed yet")
def test_beam_and_top_p_sample_end_to_end(corpora, capsys):
    capsys.readouterr()
    for extra in (["--beam", "2"], ["--top-p", "0.5"], ["--beam", "1"]):
        assert cli("sample", "--checkpoint", corpora["run"], "--prime", "the ", "--length", "12", *extra) == 0
        text = capsys.readouterr().out[:-1]
        assert text.startswith("the ") and len(text) == 16 and set(text) <= set(TEXT)


# ----------------------------------------------------------------------------- bad arguments: one line, exit != 0

TRAIN_BAD = [  # (extra args, status, named); {name}: a path from `corpora`
    (["--lr-decay", "0"], 2, "--lr-decay"),
    (["--lr-decay", "1.5"], 2, "--lr-decay"),
    (["--lr-decay", "-0.5"], 2, "--lr-decay"),
    (["--lr-decay", "nan"], 2, "--lr-decay"),
    (["--lr-decay", "x"], 2, "--lr-decay"),
    (["--lr-decay", "0.5"], 2, "--lr-decay needs --lr-decay-every"),
    (["--lr-decay-every", "3"], 2, "--lr-decay-every needs --lr-decay"),
    (["--lr-decay", "0.5", "--lr-decay-every", "0"], 2, "--lr-decay-every"),
    (["--lr-decay", "0.5", "--lr-decay-every", "1.5"], 2, "--lr-decay-every"),
    (["--checkpoint-every", "0"], 2, "--checkpoint-every"),
    (["--checkpoint-every", "-4"], 2, "--checkpoint-every"),
    (["--init-from", "{folder}/nope.ckpt"], 2, "--init-from"),
    (["--init-from", "{folder}"], 1, "no checkpoint"),
    (["--init-from", "{text}"], 1, "error"),
    (["--init-from", "{run}", "--resume"], 2, "--init-from and --resume"),
    (["--init-from", "{run}", "--cell", "gru", "--layers", "3"], 2, "--cell gru (checkpoint: lstm); --layers 3"),
    (["--init-from", "{run}", "--hidden", "9"], 2, "--hidden 9 (checkpoint: 8)"),
    (["--init-from", "{run}", "--embed", "0"], 2, "--embed 0 (checkpoint: 4)"),
]


@pytest.mark.parametrize("extra,status,named", TRAIN_BAD, ids=[" ".join(c[0]) for c in TRAIN_BAD])
def test_train_bad_arguments(corpora, tmp_path, capsys, extra, status, named):
    extra = [a.format(**corpora) for a in extra]
    sizes = [] if "--init-from" in extra else TINY
    capsys.readouterr()
    check(capsys, status, named, "train", "--data", corpora["text"], *sizes, "--seq-len", "6", "--batch", "2",
          "--steps", "1", "--out", str(tmp_path / "out"), *extra)
    assert not os.path.exists(tmp_path / "out" / "last.ckpt")


SAMPLE_BAD = [
    (["--prime-file", "{folder}/nope.txt"], 2, "--prime-file"),
    (["--prime-file", "{folder}"], 2, "is a folder"),
    (["--prime-file", "{empty}"], 2, "is empty"),
    (["--prime-file", "{latin1}"], 2, "not UTF-8"),
    (["--prime-file", "{prime}", "--prime", "the"], 2, "--prime-file and --prime"),
    (["--prime-file", "{foreign_prime}"], 2, "characters not in the model's vocabulary: '\u20ac'"),
    (["--beam", "0"], 2, "--beam"),
    (["--beam", "x"], 2, "--beam"),
    (["--top-p", "0"], 2, "--top-p"),
    (["--top-p", "1.5"], 2, "--top-p"),
    (["--top-p", "nan"], 2, "--top-p"),
    (["--beam", "3", "--top-p", "0.9"], 2, "--beam and --top-p exclude each other"),
    (["--beam", "3", "--top-k", "5"], 2, "--beam and --top-k exclude each other"),
    (["--beam", "2", "--top-k", "5", "--top-p", "0.5"], 2, "--beam and --top-k and --top-p exclude each other"),
]


@pytest.mark.parametrize("extra,status,named", SAMPLE_BAD, ids=[" ".join(c[0]) for c in SAMPLE_BAD])
def test_sample_bad_arguments(corpora, capsys, extra, status, named):
    capsys.readouterr()
    check(capsys, status, named, "sample", "--checkpoint", corpora["run"], *[a.format(**corpora) for a in extra])


@pytest.mark.skipif(not hasattr(os, "geteuid") or os.geteuid() == 0, reason="root reads unreadable files")
def test_unreadable_prime_file(corpora, tmp_path, capsys):
    path = tmp_path / "secret.txt"
    path.write_text("the ")
    path.chmod(0)
    try:
        capsys.readouterr()
        check(capsys, 2, "not readable", "sample", "--checkpoint", corpora["run"], "--prime-file", str(path))
    finally:
        path.chmod(0o600)


def test_prime_file_that_cannot_be_read(corpora, capsys, monkeypatch):
    """Root reads anything: an OSError while reading (permission, I/O) is simulated, and named in one line."""
    cli_module = importlib.import_module("models.char_lm.__main__")

    def refuse(path, *args, **kw):
        raise PermissionError(13, "Permission denied", path)

    monkeypatch.setattr(cli_module, "open", refuse, raising=False)
    capsys.readouterr()
    check(capsys, 2, f"--prime-file {corpora['prime']}: not readable (Permission denied)", "sample", "--checkpoint",
          corpora["run"], "--prime-file", corpora["prime"])


def test_help_lists_the_new_flags():
    subs = build_parser()._subparsers._group_actions[0].choices
    train_help, sample_help = (" ".join(subs[k].format_help().split()) for k in ("train", "sample"))
    for flag in ("--lr-decay GAMMA", "--lr-decay-every N", "--checkpoint-every N", "--init-from CKPT",
                 "--sample-every N"):
        assert flag in train_help
    for flag in ("--prime-file FILE", "--beam K", "--top-p P"):
        assert flag in sample_help


def test_checkpoints_without_a_schedule_still_resume(corpora, tmp_path):
    """A checkpoint written before schedules existed (no 'scheduler', no lr_decay in its config) resumes."""
    out = tmp_path / "old"
    assert cli("train", "--data", corpora["text"], *TINY, "--steps", "2", "--out", str(out)) == 0
    ckpt = load_checkpoint(str(out / "last.ckpt"))
    del ckpt["scheduler"]
    for k in ("lr_decay", "lr_decay_every", "checkpoint_every", "init_from"):
        del ckpt["config"][k]
    mg.save(ckpt, str(out / "last.ckpt"))
    assert cli("train", "--resume", "--out", str(out), "--steps", "3", "--no-progress") == 0
    assert load_checkpoint(str(out / "last.ckpt"))["step"] == 3
