"""`make demo` (python -m models.demo): trains, samples, draws, and samples the shipped model when there is one."""
import pytest

import models.demo as demo
from minigrad.cli import run
from models.char_lm.__main__ import main as char_lm
from models.char_lm.sample import load_model


@pytest.mark.parametrize("shipped", [False, True])
def test_demo_runs_and_samples_the_shipped_model_when_present(tmp_path, monkeypatch, capsys, shipped):
    pytest.importorskip("graphviz")
    fake = tmp_path / "shipped.ckpt"
    if shipped:                                   # a stand-in for models/pretrained/: a tiny run, exported
        text = tmp_path / "t.txt"
        text.write_text("ROMEO: the cat sat on the mat.\n" * 40)
        assert run(char_lm, ["train", "--data", str(text), "--layers", "1", "--hidden", "8", "--embed", "4",
                             "--seq-len", "8", "--batch", "4", "--steps", "4", "--val-every", "2", "--no-progress",
                             "--out", str(tmp_path / "tiny")]) == 0
        assert run(char_lm, ["export", "--checkpoint", str(tmp_path / "tiny"), "--out", str(fake)]) == 0
    monkeypatch.setattr(demo, "PRETRAINED", str(fake))
    monkeypatch.setattr(demo, "load_pretrained", lambda: load_model(str(fake)))
    assert demo.main(["--steps", "2", "--out", str(tmp_path / "demo")]) == 0
    out = capsys.readouterr().out
    assert "a sample (temperature 0.8, primed with 'ROMEO:')" in out and (tmp_path / "demo" / "grad_flow.png").exists()
    assert ("== the shipped model" in out) == shipped
