"""Seeing inside a char-LM (issue 18): text features, cell-feature correlation, per-step states and confidence,
and `python -m models.char_lm inspect` end to end on tiny models trained for a few steps by the train CLI."""
import html
import os
import re

import numpy as np
import pytest

import minigrad as mg
from minigrad.cli import run
from models.char_lm import inspect_cells as ic
from models.char_lm.__main__ import main
from models.char_lm.sample import load_model

TEXT = 'ROMEO:\nThe cat (sat [on]) the "mat".\n\nFirst Citizen:\nA dog\'s log.\n' * 12
TINY = ["--layers", "2", "--hidden", "6", "--embed", "4", "--seq-len", "8", "--batch", "2", "--no-progress",
        "--steps", "4", "--val-every", "2"]


def cli(*argv):
    try:
        return run(main, list(argv))
    except SystemExit as e:
        return e.code


def mask(marks):
    """A feature written under its text: '1' for 1, anything else 0."""
    return np.array([m == "1" for m in marks], dtype=np.float64)


# ----------------------------------------------------------------------------- features, exactly

def test_line_position_counts_characters_since_the_newline():
    np.testing.assert_array_equal(ic.text_features("ab\ncd\n\ne")["line_position"], [0, 1, 2, 0, 1, 2, 0, 0])


def test_quotes_open_at_the_opening_quote_and_close_at_the_closing_one():
    text = 'a"bc"d"e'
    np.testing.assert_array_equal(ic.text_features(text)["in_quotes"], mask(".111..11"))


def test_bracket_depth_nests_and_never_goes_below_zero():
    f = ic.text_features(")f(a[b]{c})x")
    np.testing.assert_array_equal(f["bracket_depth"], [0, 0, 1, 1, 2, 2, 1, 2, 2, 1, 0, 0])
    np.testing.assert_array_equal(f["in_brackets"], mask("..11111111.."))


def test_speaker_name_lines():
    text = "ROMEO:\nO, she doth:\nFirst Citizen:\nKING RICHARD III:\n  ALL:\nWhereof I spoke:\n:\n"
    want = ("111111." + "." * 13 + "1" * 14 + "." + "1" * 17 + "." + "." * 7 + "." * 17 + "..")
    np.testing.assert_array_equal(ic.text_features(text)["speaker_name"], mask(want))
    assert ic.is_speaker("All:") and ic.is_speaker("DUKE VINCENTIO:") and not ic.is_speaker("ROMEO")


def test_indent_counts_leading_whitespace_read_so_far():
    np.testing.assert_array_equal(ic.text_features("a:\n  b c\n \n")["indent"], [0, 0, 0, 1, 2, 2, 2, 2, 2, 1, 1])


def test_leading_ws_marks_only_the_whitespace_before_a_lines_first_other_character():
    text = "a b\n  x = 1\n\t y\n \nz"
    want = "...." + "11" + "......" + "11" + ".." + "1" + "." + "."
    assert len(text) == len(want)
    np.testing.assert_array_equal(ic.text_features(text)["leading_ws"], mask(want))


def test_string_literals_know_quotes_escapes_comments_and_triple_quotes():
    cases = [
        ("x='a#b' # it's\n", "..1111........."),
        ('y="q\\"r"+z\n', "..11111...."),
        ("s='''a\n'b'''\nt", "..1111111....."),
        ("u = 'open\nv", "....11111.."),
        ('""+r"\\\\"', "1...111."),
    ]
    for text, want in cases:
        assert len(text) == len(want), text
        np.testing.assert_array_equal(ic.string_literals(text), mask(want), err_msg=repr(text))


def test_every_feature_has_a_value_per_character():
    f = ic.text_features(TEXT)
    assert list(f) == list(ic.FEATURES)
    assert all(v.shape == (len(TEXT),) and v.dtype == np.float64 for v in f.values())


# ----------------------------------------------------------------------------- correlation

def test_correlations_are_pearson_and_zero_for_constant_columns():
    rng = np.random.default_rng(0)
    feature = rng.normal(size=50)
    acts = np.stack([feature, -3 * feature + 1, np.ones(50), rng.normal(size=50)], axis=1)
    r = ic.correlations(acts, feature)
    assert r[0] == pytest.approx(1.0, abs=1e-12) and r[1] == pytest.approx(-1.0, abs=1e-12) and r[2] == 0
    assert r[3] == pytest.approx(np.corrcoef(acts[:, 3], feature)[0, 1], abs=1e-12)


def test_a_cell_equal_to_a_feature_is_found_with_r_one():
    features = ic.text_features(TEXT)
    rng = np.random.default_rng(1)
    states = {"h": np.tanh(rng.normal(size=(len(TEXT), 2, 5))), "c": np.tanh(rng.normal(size=(len(TEXT), 2, 5)))}
    states["c"][:, 1, 3] = features["bracket_depth"] / 2
    states["h"][:, 0, 4] = -features["speaker_name"]
    rows = {r["feature"]: r for r in ic.best_cells(states, features)}
    assert (rows["bracket_depth"]["value"], rows["bracket_depth"]["layer"], rows["bracket_depth"]["cell"]) == \
        ("c", 1, 3)
    assert rows["bracket_depth"]["r"] == pytest.approx(1.0, abs=1e-12)
    assert (rows["speaker_name"]["value"], rows["speaker_name"]["layer"], rows["speaker_name"]["cell"]) == \
        ("h", 0, 4)
    assert rows["speaker_name"]["r"] == pytest.approx(-1.0, abs=1e-12)
    assert rows["indent"]["r"] is None and rows["indent"]["cell"] is None        # constant: no leading spaces
    only = {r["feature"]: r for r in ic.best_cells(states, features, layer=0, value="c")}
    assert (only["bracket_depth"]["value"], only["bracket_depth"]["layer"]) == ("c", 0)
    assert abs(only["bracket_depth"]["r"]) < 1
    with pytest.raises(ValueError, match="no cells with value='c', layer=5"):
        ic.best_cells(states, features, layer=5, value="c")
    assert ic.choose_cell(list(rows.values()), states, None, None, None) in {("c", 1, 3), ("h", 0, 4)}
    assert ic.choose_cell(list(rows.values()), states, 0, "h", 2) == ("h", 0, 2)


def test_table_lists_every_feature():
    rows = [{"feature": "indent", "value": None, "layer": None, "cell": None, "r": None},
            {"feature": "in_quotes", "value": "c", "layer": 1, "cell": 7, "r": 0.81234}]
    lines = ic.table(rows)
    assert lines[1] == "indent         (constant on this text)"
    assert lines[2].split() == ["in_quotes", "layer", "1", "tanh(c)[7]", "+0.812"]


# ----------------------------------------------------------------------------- the model, step by step

@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    d = tmp_path_factory.mktemp("inspect")
    paths = {"text": str(d / "text.txt"), "lstm": str(d / "lstm"), "gru": str(d / "gru"),
             "f16": str(d / "lstm16.ckpt"), "foreign": str(d / "foreign.txt"), "d": d}
    with open(paths["text"], "w", encoding="utf-8") as f:
        f.write(TEXT)
    with open(paths["foreign"], "w", encoding="utf-8") as f:
        f.write("ROMEO: \u20ac and Z\n")
    assert cli("train", "--data", paths["text"], *TINY, "--out", paths["lstm"]) == 0
    assert cli("train", "--data", paths["text"], *TINY, "--cell", "gru", "--out", paths["gru"]) == 0
    assert cli("export", "--checkpoint", paths["lstm"], "--out", paths["f16"]) == 0
    return paths


def test_step_by_step_states_and_probabilities_match_one_whole_run(runs):
    model, vocab = load_model(runs["lstm"])
    whole, _ = load_model(runs["lstm"], unroll=False)                        # the speed path, all steps at once
    text = TEXT[:40]
    states, probs = ic.run_model(model, vocab, text)
    assert states["h"].shape == states["c"].shape == (40, 2, 6)
    with mg.no_grad():
        logits, (h_n, c_n) = whole(vocab.encode(text).reshape(-1, 1))
    z = logits.numpy()[:, 0].astype(np.float64)
    want = np.exp(z - z.max(axis=1, keepdims=True))
    np.testing.assert_allclose(probs, want / want.sum(axis=1, keepdims=True), atol=1e-6)
    np.testing.assert_allclose(states["h"][-1], h_n.numpy()[:, 0], atol=1e-6)
    np.testing.assert_allclose(states["c"][-1], np.tanh(c_n.numpy()[:, 0]), atol=1e-6)
    p_next, tips = ic.confidence(text, None, probs, vocab)
    np.testing.assert_allclose(p_next[:-1], probs[np.arange(39), vocab.encode(text[1:])])
    assert np.isnan(p_next[-1]) and "the end of the text" in tips[-1]
    top = np.argsort(-probs[0])[:5]
    assert tips[0].startswith(f"R → next O: p = {p_next[0]:.3f}\ntop 5: ")
    assert tips[0].endswith(", ".join(f"{ic.show(vocab.chars[j])} {probs[0, j]:.3f}" for j in top))
    gru, _ = load_model(runs["gru"], unroll=False)
    assert set(ic.run_model(gru, vocab, text)[0]) == {"h"}


def titles(page):
    return [html.unescape(t) for t in re.findall(r'title="([^"]*)"', page)]


def test_inspect_writes_html_and_png(runs, capsys):
    out, png = str(runs["d"] / "cells.html"), str(runs["d"] / "cells.png")
    assert cli("inspect", "--checkpoint", runs["lstm"], "--text", runs["text"], "--out", out, "--png", png,
               "--chars", "150", "--top", "2") == 0
    printed = capsys.readouterr().out.splitlines()
    assert printed[0].split() == ["feature", "best", "cell", "r"]
    assert [line.split()[0] for line in printed[1:1 + len(ic.FEATURES)]] == list(ic.FEATURES)
    assert "indent         (constant on this text)" in printed
    assert printed[-1] == f"wrote {out} and {png}"
    page = open(out, encoding="utf-8").read()
    assert page.startswith("<!DOCTYPE html>") and page.index("<table>") < page.index("text-heatmap")
    assert page.count('<div class="text-heatmap"') == 2 + 2                   # cell, confidence, the top 2
    tips = titles(page)
    assert sum(t.count("top 5: ") for t in tips) == 150                       # every character of the confidence map
    first = next(t for t in tips if "top 5: " in t)
    assert first.startswith("R → next O: p = ") and len(first.split("top 5: ")[1].split(", ")) == 5
    assert open(png, "rb").read(8) == b"\x89PNG\r\n\x1a\n"
    shown = re.search(r"shown: (layer \d (?:h|tanh\(c\))\[\d\])", "\n".join(printed)).group(1)
    assert f"<h2>Cell {shown}</h2>" in page


def test_inspect_cell_layer_value_and_the_exported_float16_file(runs, capsys):
    out = str(runs["d"] / "c.html")
    assert cli("inspect", "--checkpoint", runs["f16"], "--text", runs["text"], "--out", out, "--chars", "60",
               "--cell", "3", "--layer", "0", "--value", "h", "--top", "0") == 0
    assert "shown: layer 0 h[3]" in capsys.readouterr().out
    page = open(out, encoding="utf-8").read()
    assert "<h2>Cell layer 0 h[3]</h2>" in page and page.count('<div class="text-heatmap"') == 2
    f16, vocab = load_model(runs["f16"], unroll=False)
    f32, _ = load_model(runs["lstm"], unroll=False)
    h16, h32 = (ic.run_model(m, vocab, TEXT[:60])[0]["h"][:, 0, 3] for m in (f16, f32))
    np.testing.assert_allclose(h16, h32, atol=5e-3)                          # float16 storage, float32 compute
    first = next(t for t in titles(page) if "layer 0 h[3] = " in t)
    assert first.startswith(f"R: layer 0 h[3] = {h16[0]:+.3f}")
    assert cli("inspect", "--checkpoint", runs["gru"], "--text", runs["text"], "--out", out, "--chars", "60") == 0
    assert " tanh(c)" not in capsys.readouterr().out


def test_inspect_a_text_shorter_than_chars_ends_without_a_next_character(runs, capsys):
    short = str(runs["d"] / "short.txt")
    with open(short, "w") as f:
        f.write("ROMEO:\nThe")
    out = str(runs["d"] / "s.html")
    assert cli("inspect", "--checkpoint", runs["lstm"], "--text", short, "--out", out) == 0
    confidence = [t for t in titles(open(out, encoding="utf-8").read()) if "top 5: " in t]
    assert len(confidence) == 10 and confidence[-1].startswith("e: the end of the text\ntop 5: ")
    assert "mean p(next)" in capsys.readouterr().out


def check(capsys, status, names, *argv):
    assert cli(*argv) == status
    err = capsys.readouterr().err.strip().splitlines()
    assert err and names in err[-1], err
    if not err[0].startswith("usage:"):
        assert len(err) == 1 and err[0].startswith("error: "), err


def test_inspect_errors_are_one_line(runs, capsys, tmp_path):
    base = ["inspect", "--checkpoint", runs["lstm"], "--text", runs["text"], "--out", str(tmp_path / "x.html")]
    check(capsys, 2, "--checkpoint nowhere: no such file", "inspect", "--checkpoint", "nowhere", "--text",
          runs["text"], "--out", str(tmp_path / "x.html"))
    check(capsys, 2, "--text nowhere.txt: no such file", "inspect", "--checkpoint", runs["lstm"], "--text",
          "nowhere.txt", "--out", str(tmp_path / "x.html"))
    check(capsys, 2, "--cell 6: the model has 6 cells per layer, 0..5", *base, "--cell", "6")
    check(capsys, 2, "--layer 2: the model has 2 layer(s), 0..1", *base, "--layer", "2")
    check(capsys, 2, "--value c: a gru has no cell state c", "inspect", "--checkpoint", runs["gru"], "--text",
          runs["text"], "--out", str(tmp_path / "x.html"), "--value", "c")
    check(capsys, 2, "characters not in the model's vocabulary: 'Z\u20ac'", "inspect", "--checkpoint", runs["lstm"],
          "--text", runs["foreign"], "--out", str(tmp_path / "x.html"))
    check(capsys, 2, "--png", *base, "--png", str(tmp_path / "x.jpg"))
    check(capsys, 2, "--out", "inspect", "--checkpoint", runs["lstm"], "--text", runs["text"], "--out",
          str(tmp_path))
    check(capsys, 2, "--png", *base, "--png", str(tmp_path / "missing" / "x.png"))
    check(capsys, 2, "--chars", *base, "--chars", "0")
    check(capsys, 2, "--value", *base, "--value", "x")
    check(capsys, 2, "--cell", *base, "--cell", "-1")
    check(capsys, 1, "is not a valid checkpoint", "inspect", "--checkpoint", runs["text"], "--text", runs["text"],
          "--out", str(tmp_path / "x.html"))
    assert not os.path.exists(tmp_path / "x.html")
