"""Command-line mistakes end in one short line (or argparse's usage + error), never a traceback (issue 15).

Each case runs the command line as a subprocess: (args, exit status, what the last stderr line must name).
Exit status 2: a bad argument (argparse's, or `error: ...` from the checks after parsing); 1: failed work.
"""
import os
import pickle
import subprocess
import sys

import pytest

import minigrad as mg

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TINY = ["--hidden", "4", "--layers", "1", "--embed", "0", "--seq-len", "5", "--batch", "2", "--no-progress"]
TEXT = "hello world, a tiny text to train on.\n" * 8


def cli(*args, timeout=120):
    return subprocess.run([sys.executable, "-m", *args], cwd=ROOT, capture_output=True, text=True, timeout=timeout)


def check(done, status, names):
    """Exit status `status`, no traceback; argparse usage + error naming `names`, or one `error:` line naming it."""
    err = done.stderr.strip().splitlines()
    assert "Traceback" not in done.stderr, done.stderr
    assert done.returncode == status, (done.returncode, done.stderr)
    assert err, "nothing on stderr"
    if err[0].startswith("usage:"):
        assert status == 2 and "error:" in err[-1] and names in err[-1], err
    else:
        assert len(err) == 1 and err[0].startswith("error:") and names in err[0], err


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    d = tmp_path_factory.mktemp("cli")
    paths = {}
    for name, data in {"text": TEXT.encode(), "empty": b"", "one": b"x", "binary": b"ab\0cd" * 20,
                       "latin1": "caf\xe9 na\xefve ".encode("latin-1") * 10,
                       "pickle": pickle.dumps({"model": [1, 2, 3]})}.items():
        paths[name] = str(d / f"{name}.txt")
        with open(paths[name], "wb") as f:
            f.write(data)
    paths["folder"] = str(d / "folder")
    os.mkdir(paths["folder"])
    paths["png_folder"] = str(d / "folder.png")
    os.mkdir(paths["png_folder"])
    paths["run"] = str(d / "run")
    done = cli("models.char_lm", "train", "--data", paths["text"], *TINY, "--steps", "2", "--out", paths["run"])
    assert done.returncode == 0, done.stderr
    paths["ckpt"] = os.path.join(paths["run"], "last.ckpt")
    ckpt = mg.load(paths["ckpt"])
    paths["foreign"] = str(d / "foreign")
    os.mkdir(paths["foreign"])
    mg.save({"format": "something/else", "weights": mg.zeros(2)}, os.path.join(paths["foreign"], "last.ckpt"))
    paths["garbage"] = str(d / "garbage")
    os.mkdir(paths["garbage"])
    with open(os.path.join(paths["garbage"], "last.ckpt"), "wb") as f:
        f.write(b"\x00garbage" * 10)
    for name, change in {"huge": {"hidden": 10 ** 9}, "mismatch": {"hidden": 8}}.items():
        paths[name] = str(d / f"{name}.ckpt")
        mg.save({**ckpt, "model_config": {**ckpt["model_config"], **change}}, paths[name])
    paths["crafted"] = str(d / "crafted")
    os.mkdir(paths["crafted"])
    mg.save({**ckpt, "model_config": {**ckpt["model_config"], "hidden": 10 ** 9},
             "config": {**ckpt["config"], "hidden": 10 ** 9}}, os.path.join(paths["crafted"], "last.ckpt"))
    return paths


TRAIN = [  # (extra args, status, named)  -- {name} is a path from `files`
    (["--data", "{folder}/nope.txt"], 2, "no such file"),
    (["--data", "{empty}"], 2, "--data"),
    (["--data", "{one}"], 2, "1 character"),
    (["--data", "{binary}"], 2, "binary"),
    (["--data", "{latin1}"], 2, "UTF-8"),
    (["--data", "{folder}"], 2, "folder"),
    (["--hidden", "0"], 2, "--hidden"),
    (["--hidden", "x"], 2, "--hidden"),
    (["--layers", "0"], 2, "--layers"),
    (["--embed", "-1"], 2, "--embed"),
    (["--seq-len", "0"], 2, "--seq-len"),
    (["--batch", "-2"], 2, "--batch"),
    (["--lr", "0"], 2, "--lr"),
    (["--lr", "nan"], 2, "--lr"),
    (["--val-fraction", "1"], 2, "--val-fraction"),
    (["--dropout", "1.5"], 2, "--dropout"),
    (["--val-every", "0"], 2, "--val-every"),
    (["--val-every", "-1"], 2, "--val-every"),
    (["--steps", "0"], 2, "--steps"),
    (["--steps", "-5"], 2, "--steps"),
    (["--minutes", "-1"], 2, "--minutes"),
    (["--clip", "-1"], 2, "--clip"),
    (["--device", "tpu"], 2, "--device"),
    (["--batch", "400"], 1, "--batch"),
]


@pytest.mark.parametrize("extra,status,named", TRAIN, ids=[" ".join(c[0]) for c in TRAIN])
def test_train_arguments(files, tmp_path, extra, status, named):
    extra = [a.format(**files) for a in extra]
    args = ["--data", files["text"], *TINY, "--steps", "1", "--out", str(tmp_path / "out")]
    check(cli("models.char_lm", "train", *args, *extra), status, named)


def test_train_cuda_without_cupy(files, tmp_path):
    if mg.cuda_is_available():
        pytest.skip("CuPy and a GPU are here")
    done = cli("models.char_lm", "train", "--data", files["text"], *TINY, "--device", "cuda", "--out", str(tmp_path))
    check(done, 2, "--device cuda")


@pytest.mark.parametrize("out,named", [("{text}", "is a file"), ("{text}/sub", "not writable")])
def test_train_bad_out(files, out, named):
    check(cli("models.char_lm", "train", "--data", files["text"], *TINY, "--out", out.format(**files)), 2, named)


@pytest.mark.skipif(not hasattr(os, "geteuid") or os.geteuid() == 0, reason="root writes into read-only folders")
def test_train_read_only_out_fails_at_start(files, tmp_path):
    out = tmp_path / "ro"
    out.mkdir()
    out.chmod(0o500)
    try:
        check(cli("models.char_lm", "train", "--data", files["text"], *TINY, "--out", str(out)), 2, "not writable")
    finally:
        out.chmod(0o700)


@pytest.mark.parametrize("out,extra,status,named", [
    ("{folder}", [], 2, "--resume"),                        # no last.ckpt
    ("{garbage}", [], 1, "error"),
    ("{foreign}", [], 1, "not a char-LM checkpoint"),
    ("{crafted}", [], 1, "hidden"),
    ("{run}", ["--hidden", "8"], 2, "--hidden 8"),
    ("{run}", ["--cell", "gru", "--layers", "3"], 2, "--layers 3"),
    ("{run}", ["--data", "{latin1}"], 2, "--data"),         # checked first: not UTF-8
    ("{run}", ["--data", "{binary}/x"], 2, "no such file"),
])
def test_train_resume(files, out, extra, status, named):
    extra = [a.format(**files) for a in extra]
    check(cli("models.char_lm", "train", "--resume", "--out", out.format(**files), "--no-progress", *extra),
          status, named)


def test_resume_conflicts_name_each_flag(files):
    done = cli("models.char_lm", "train", "--resume", "--out", files["run"], "--cell", "gru", "--hidden", "9")
    check(done, 2, "--cell gru")
    assert "--hidden 9" in done.stderr


def test_resume_may_change_steps(files, tmp_path):
    import shutil
    run = shutil.copytree(files["run"], tmp_path / "run")
    done = cli("models.char_lm", "train", "--resume", "--out", str(run), "--steps", "3", "--hidden", "4",
               "--no-progress")
    assert done.returncode == 0, done.stderr


def test_no_validation_split_writes_no_best(files, tmp_path):
    done = cli("models.char_lm", "train", "--data", files["text"], *TINY, "--steps", "2", "--val-fraction", "0",
               "--out", str(tmp_path))
    assert done.returncode == 0, done.stderr
    assert "no validation split" in done.stdout
    assert not (tmp_path / "best.ckpt").exists() and (tmp_path / "last.ckpt").exists()
    assert "val_loss" not in (tmp_path / "metrics.jsonl").read_text()


SAMPLE = [
    (["--checkpoint", "{folder}/none.ckpt"], 2, "--checkpoint"),
    (["--checkpoint", "{folder}"], 1, "no checkpoint"),
    (["--checkpoint", "{text}"], 1, "error"),
    (["--checkpoint", "{pickle}"], 1, "error"),
    (["--checkpoint", "{huge}"], 1, "hidden"),
    (["--checkpoint", "{mismatch}"], 1, "do not match"),
    (["--checkpoint", "{run}", "--temperature", "-1"], 2, "--temperature"),
    (["--checkpoint", "{run}", "--temperature", "nan"], 2, "--temperature"),
    (["--checkpoint", "{run}", "--top-k", "0"], 2, "--top-k"),
    (["--checkpoint", "{run}", "--length", "-5"], 2, "--length"),
    (["--checkpoint", "{run}", "--prime", "\u20ac"], 2, "--prime"),
    (["--checkpoint", "{run}", "--device", "tpu"], 2, "--device"),
]


@pytest.mark.parametrize("args,status,named", SAMPLE, ids=[" ".join(c[0]) for c in SAMPLE])
def test_sample_arguments(files, args, status, named):
    check(cli("models.char_lm", "sample", *[a.format(**files) for a in args]), status, named)


TASKS = [
    (["adding", "--eval-every", "0"], 2, "--eval-every"),
    (["adding", "--steps", "-1"], 2, "--steps"),
    (["adding", "--steps", "0"], 2, "--steps"),
    (["adding", "--T", "0"], 2, "--T"),
    (["adding", "--T", "-3"], 2, "--T"),
    (["adding", "--T", "1"], 2, "--T 1"),
    (["adding", "--T", "10", "--placement", "hochreiter"], 2, "--T 10"),
    (["copy", "--batch", "0"], 2, "--batch"),
    (["copy", "--hidden", "0"], 2, "--hidden"),
    (["copy", "--lr", "inf"], 2, "--lr"),
    (["reversal", "--embed", "0"], 2, "--embed"),
    (["copy", "--cell", "gru", "--forget-bias", "1"], 2, "--forget-bias"),
    (["copy", "--out", "{folder}"], 2, "--out"),
    (["copy", "--out", "{text}/sub.json"], 2, "--out"),
]


@pytest.mark.parametrize("args,status,named", TASKS, ids=[" ".join(c[0]) for c in TASKS])
def test_tasks_arguments(files, args, status, named):
    check(cli("models.tasks", *[a.format(**files) for a in args]), status, named)


VIZ = [
    (["render", "--out", "{text}/sub.png"], 2, "--out"),
    (["render", "--out", "{png_folder}"], 2, "folder"),
    (["render", "--max-steps", "0", "--out", "{folder}/a.dot"], 2, "--max-steps"),
    (["render", "--max-steps", "-1", "--out", "{folder}/a.dot"], 2, "--max-steps"),
    (["render", "--steps", "0", "--out", "{folder}/a.dot"], 2, "--steps"),
    (["render", "--out", "{folder}/a.xyz"], 2, "--out"),
    (["gradflow", "--steps", "0", "--out", "{folder}/g.png"], 2, "--steps"),
    (["gradflow", "--hidden", "0", "--out", "{folder}/g.png"], 2, "--hidden"),
    (["gradflow", "--out", "{folder}/g.xyz"], 2, "--out"),
    (["gradflow", "--out", "{text}/g.png"], 2, "--out"),
]


@pytest.mark.parametrize("args,status,named", VIZ, ids=[" ".join(c[0]) for c in VIZ])
def test_viz_arguments(files, args, status, named):
    check(cli("viz", *[a.format(**files) for a in args]), status, named)


def test_viz_draws_long_op_detail_graphs_by_eliding_steps(files):
    """2,000 steps at op detail: over the node budget, viz keeps both ends and says so in one line."""
    big = cli("viz", "render", "--steps", "2000", "--detail", "op", "--out", f"{files['folder']}/big.svg")
    assert big.returncode == 0 and "Traceback" not in big.stderr
    assert big.stderr.count("\n") == 1 and big.stderr.startswith("warning:") and "--max-steps" in big.stderr
    chosen = cli("viz", "render", "--steps", "200", "--detail", "op", "--max-steps", "5",
                 "--out", f"{files['folder']}/b.svg")
    assert chosen.returncode == 0 and chosen.stderr == ""
    with open(os.path.join(files["folder"], "b.svg")) as f:
        assert "⋯ 190 steps ⋯" in f.read()              # 200 steps, the first and last 5 drawn
