"""viz.text_heatmap: text coloured character by character, as HTML (one span per character) and as a PNG."""
import html
import re

import numpy as np
import pytest

import minigrad as mg
import viz
from viz.text_heatmap import diverging_color, hex_color, layout, sequential_color

SPAN = re.compile(r'<span style="background:(#[0-9a-f]{6})" title="([^"]*)">(.*?)</span>', re.S)


def spans(fragment):
    return SPAN.findall(fragment)


def test_one_span_per_character_with_its_colour_and_escaped_text():
    text = 'a<b>&"c\nd'
    values = np.linspace(-1, 1, len(text))
    out = viz.text_heatmap(text, values)
    found = spans(out)
    assert len(found) == len(text)
    assert [html.unescape(s) for _, _, s in found] == [" " if c == "\n" else c for c in text]
    assert [color for color, _, _ in found] == [hex_color(diverging_color(v)) for v in values]
    assert "<b>" not in out and "&lt;b&gt;" not in out and "&lt;" in out and "&amp;" in out
    assert out.count("<br>") == 1 and "</span><br>" in out          # the newline keeps its cell, then breaks


def test_diverging_scale_blue_white_red_and_sequential_white_green():
    assert hex_color(diverging_color(0.0)) == "#ffffff"
    r, g, b = diverging_color(1.0)
    assert r == 1 and g == b < 0.5                                   # red
    r, g, b = diverging_color(-1.0)
    assert b == 1 and r == g < 0.5                                   # blue
    assert hex_color(sequential_color(0.0)) == "#ffffff"
    r, g, b = sequential_color(1.0)
    assert g > r and g > b                                           # green
    assert sequential_color(float("nan")) == pytest.approx((0.85,) * 3)


def test_tooltips_and_confidence_become_titles():
    text = "ab\nc"
    out = viz.text_heatmap(text, [0, 0.5, -0.5, 1], tooltips=['x"1', "x2", "x3", "x4"],
                           confidence=[0.25, 1.0, 0.0, float("nan")])
    titles = [html.unescape(t) for _, t, _ in spans(out)]
    assert titles == ['x"1\np(next) = 0.250', "x2\np(next) = 1.000", "x3\np(next) = 0.000", "x4"]
    plain = [html.unescape(t) for _, t, _ in spans(viz.text_heatmap(text, [0, 0.5, -0.5, 1]))]
    assert plain == ["+0.000", "+0.500", "-0.500", "+1.000"]


def test_tensor_values_and_sequential_colours():
    out = viz.text_heatmap("xy", mg.tensor([0.0, 1.0]), colors="sequential")
    assert [c for c, _, _ in spans(out)] == [hex_color(sequential_color(0.0)), hex_color(sequential_color(1.0))]


def test_layout_wraps_at_newlines_and_width():
    assert layout("abc\nde", 2) == [(0, 0, "a"), (0, 1, "b"), (1, 0, "c"), (1, 1, "\n"), (2, 0, "d"), (2, 1, "e")]
    assert layout("\n\n", 5) == [(0, 0, "\n"), (1, 0, "\n")]


def test_writes_html_page_and_png(tmp_path):
    page, png = tmp_path / "t.html", tmp_path / "t.png"
    text = "def f(x):\n    return 'x'\n"
    fragment = viz.text_heatmap(text, np.tanh(np.arange(len(text)) - 10.0), html=str(page), png=str(png),
                                confidence=np.linspace(0, 1, len(text)), title="a <title>", width=8)
    written = page.read_text(encoding="utf-8")
    assert written.startswith("<!DOCTYPE html>") and fragment in written and 'charset="utf-8"' in written
    assert "a &lt;title&gt;" in written
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_png_wraps_at_width(tmp_path):
    from PIL import Image
    sizes = []
    for width in (40, 4):
        path = tmp_path / f"w{width}.png"
        viz.text_heatmap("abcdefghijklmnop", np.zeros(16), png=str(path), width=width)
        with Image.open(path) as im:
            sizes.append(im.size)
    (w1, h1), (w2, h2) = sizes
    assert w1 > w2 and h2 > h1                    # one row of 16 columns; 4 rows of 4


@pytest.mark.parametrize("kwargs, message", [
    (dict(text="abc", values=[0, 0]), "values must hold one number per character of text (3)"),
    (dict(text="abc", values=[[0, 0, 0]]), "values must hold one number per character"),
    (dict(text="abc", values=[0, np.nan, 0]), "values must be finite, got nan at character 1 ('b')"),
    (dict(text="abc", values=[0, np.inf, 0]), "values must be finite"),
    (dict(text="abc", values=[0, 2, 0]), "values must lie in [-1, 1]"),
    (dict(text="abc", values=[0, 0.5, 0], colors="sequential"), None),
    (dict(text="abc", values=[0, np.nan, 0], colors="sequential"), None),        # a probability that is not there
    (dict(text="abc", values=[0, -0.5, 0], colors="sequential"), "values must lie in [0, 1]"),
    (dict(text="abc", values=[0, 0, 0], colors="rainbow"), "colors must be one of"),
    (dict(text="abc", values=[0, 0, 0], confidence=[0.5, 1.5, 0]), "confidence must lie in [0, 1]"),
    (dict(text="abc", values=[0, 0, 0], confidence=[0.5]), "confidence must hold one number per character"),
    (dict(text="abc", values=[0, 0, 0], confidence=[0.5, np.inf, 0]), "confidence must be finite"),
    (dict(text="abc", values=[0, 0, 0], tooltips=["a"]), "tooltips must be a list of one string per character (3)"),
    (dict(text="abc", values=[0, 0, 0], tooltips="abc"), "tooltips must be a list"),
    (dict(text="abc", values=[0, 0, 0], width=0), "width must be an integer >= 1"),
    (dict(text="", values=[]), "text is empty"),
])
def test_bad_arguments_are_named(kwargs, message):
    if message is None:
        viz.text_heatmap(**kwargs)
        return
    with pytest.raises(ValueError, match=re.escape(message)):
        viz.text_heatmap(**kwargs)


def test_bad_types_are_named(tmp_path):
    with pytest.raises(TypeError, match="text must be a str"):
        viz.text_heatmap(b"abc", [0, 0, 0])
    with pytest.raises(TypeError, match="values must be numbers"):
        viz.text_heatmap("ab", ["x", "y"])
    with pytest.raises(FileNotFoundError, match="html="):
        viz.text_heatmap("ab", [0, 0], html=str(tmp_path / "missing" / "a.html"))
