"""Text coloured character by character: one value per character (a cell's activation, a probability),
Karpathy-style (Karpathy, Johnson & Fei-Fei 2015, "Visualizing and Understanding Recurrent Networks").

    html = viz.text_heatmap(text, np.tanh(c[:, 37]))                 # an HTML fragment: one <span> per character
    viz.text_heatmap(text, values, html="cell.html", png="cell.png",  # files as well
                     tooltips=[...], confidence=p_next)               # hover text; a confidence strip in the PNG

values lie in [-1, 1] and are drawn on a diverging scale: blue negative, white 0, red positive
(colors="sequential": values in [0, 1], white to green, for probabilities). A newline keeps its coloured cell
and breaks the line; the PNG also wraps at `width` characters.
"""
import html as html_lib
import os

import numpy as np

from minigrad import Tensor

from .gradflow import _pyplot

COLORS = ("diverging", "sequential")
NO_VALUE = (0.85, 0.85, 0.85)                    # the grey of a confidence that is NaN (nothing to predict)


def text_heatmap(text, values, html=None, png=None, tooltips=None, confidence=None, width=100, title=None,
                 colors="diverging"):
    """The HTML fragment (a <div>, one <span> per character, its background the character's value) of `text`
    coloured by `values` (one per character); writes a whole page to `html` and a picture to `png` if given.
    tooltips: one string per character (the span's title). confidence: one probability in [0, 1] per character
    (NaN: none, as in sequential values), drawn as a green strip under each line of the PNG and in the tooltips."""
    if not isinstance(text, str):
        raise TypeError(f"viz.text_heatmap: text must be a str, got {type(text).__name__}")
    if not text:
        raise ValueError("viz.text_heatmap: text is empty; there is nothing to colour")
    if colors not in COLORS:
        raise ValueError(f"viz.text_heatmap: colors must be one of {COLORS}, got {colors!r}")
    if isinstance(width, bool) or not isinstance(width, (int, np.integer)) or width < 1:
        raise ValueError(f"viz.text_heatmap: width must be an integer >= 1, got {width!r}")
    low = -1.0 if colors == "diverging" else 0.0
    values = _per_char("values", values, text, low, allow_nan=colors == "sequential")    # NaN: grey, no value
    if confidence is not None:
        confidence = _per_char("confidence", confidence, text, 0.0, allow_nan=True)
    if tooltips is not None:
        if isinstance(tooltips, str) or not hasattr(tooltips, "__len__") or len(tooltips) != len(text):
            got = len(tooltips) if hasattr(tooltips, "__len__") and not isinstance(tooltips, str) else \
                type(tooltips).__name__
            raise ValueError(f"viz.text_heatmap: tooltips must be a list of one string per character "
                             f"({len(text)}), got {got}")
        tooltips = [str(t) for t in tooltips]
    rgb = [diverging_color(v) if colors == "diverging" else sequential_color(v) for v in values]
    fragment = _html_fragment(text, rgb, _titles(values, tooltips, confidence), title)
    if html is not None:
        _write_page(html, fragment, title)
    if png is not None:
        fig = plot_text_heatmap(text, rgb, confidence, width, title)
        fig.savefig(png, dpi=110)
        _pyplot().close(fig)
    return fragment


def diverging_color(v):
    """(r, g, b) in [0, 1] for v in [-1, 1]: blue (-1), white (0), red (+1), light enough to read text on."""
    return (1.0, 1.0 - 0.8 * v, 1.0 - 0.8 * v) if v >= 0 else (1.0 + 0.8 * v, 1.0 + 0.8 * v, 1.0)


def sequential_color(p):
    """(r, g, b) in [0, 1] for p in [0, 1]: white (0) to green (1); grey for NaN."""
    if p != p:
        return NO_VALUE
    return (1.0 - 0.75 * p, 1.0 - 0.3 * p, 1.0 - 0.75 * p)


def hex_color(rgb):
    return "#" + "".join(f"{round(255 * c):02x}" for c in rgb)


def _per_char(name, values, text, low, allow_nan):
    """values as a float64 array of len(text) in [low, 1] (NaN only if allow_nan), else a ValueError naming them."""
    if isinstance(values, Tensor):
        values = values.numpy()
    try:
        a = np.asarray(values, dtype=np.float64)
    except (TypeError, ValueError):
        raise TypeError(f"viz.text_heatmap: {name} must be numbers, one per character") from None
    if a.ndim != 1 or len(a) != len(text):
        raise ValueError(f"viz.text_heatmap: {name} must hold one number per character of text ({len(text)}), "
                         f"got shape {a.shape}")
    bad = np.isinf(a) | (np.isnan(a) if not allow_nan else False)
    if bad.any():
        i = int(np.argmax(bad))
        raise ValueError(f"viz.text_heatmap: {name} must be finite, got {a[i]} at character {i} ({text[i]!r})")
    finite = a[~np.isnan(a)]
    if finite.size and (finite.min() < low or finite.max() > 1):
        hint = " (e.g. tanh(c) or h; scale other numbers first)" if low < 0 else " (probabilities)"
        raise ValueError(f"viz.text_heatmap: {name} must lie in [{low:g}, 1]{hint}, got [{finite.min():.4g}, "
                         f"{finite.max():.4g}]")
    return a


def _titles(values, tooltips, confidence):
    """The hover text of each character: its tooltip (or value) and its confidence, if given."""
    titles = list(tooltips) if tooltips is not None else [f"{v:+.3f}" for v in values]
    if confidence is not None:
        titles = [t if p != p else f"{t}\np(next) = {p:.3f}" for t, p in zip(titles, confidence)]
    return titles


def _html_fragment(text, rgb, titles, title):
    spans = []
    for ch, color, tip in zip(text, rgb, titles):
        shown = " " if ch == "\n" else html_lib.escape(ch)
        spans.append(f'<span style="background:{hex_color(color)}" title="{html_lib.escape(tip, quote=True)}">'
                     f'{shown}</span>' + ("<br>\n" if ch == "\n" else ""))
    head = f'<div class="text-heatmap-title"><b>{html_lib.escape(title)}</b></div>\n' if title else ""
    return (head + '<div class="text-heatmap" style="font-family:monospace;white-space:pre-wrap;'
            'word-break:break-all;line-height:1.45">' + "".join(spans) + "</div>\n")


def html_page(body, title=None):
    """A whole UTF-8 HTML page around `body` (fragments of text_heatmap and others)."""
    head = f"<title>{html_lib.escape(title)}</title>" if title else ""
    return (f'<!DOCTYPE html>\n<html><head><meta charset="utf-8">{head}</head>\n'
            f'<body style="font-family:sans-serif;max-width:70em">\n{body}</body></html>\n')


def _write_page(path, fragment, title):
    folder = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(folder):
        raise FileNotFoundError(f"viz.text_heatmap: html={path!r}: folder {folder} does not exist")
    with open(path, "w", encoding="utf-8") as f:
        f.write(html_page(fragment, title))


def layout(text, width):
    """[(row, column, character)] of text laid out in lines: a new row after each newline and after `width`
    characters (the newline keeps a cell at the end of its row)."""
    cells, row, col = [], 0, 0
    for ch in text:
        if col == width:
            row, col = row + 1, 0
        cells.append((row, col, ch))
        if ch == "\n":
            row, col = row + 1, 0
        else:
            col += 1
    return cells


def plot_text_heatmap(text, rgb, confidence=None, width=100, title=None):
    """A matplotlib Figure: the characters in a monospace grid on their colours (rgb: one (r, g, b) each),
    with a thinner strip of per-character confidence under each line when `confidence` is given."""
    from matplotlib.collections import PatchCollection
    from matplotlib.patches import Rectangle
    cells = layout(text, width)
    strip = 0.45 if confidence is not None else 0.0
    pitch = 1.0 + strip + 0.2                              # one line: characters, confidence strip, a gap
    rows = cells[-1][0] + 1
    cols = max(c for _, c, _ in cells) + 1
    w_in, h_in, top_in = 0.105 * cols, 0.2 * pitch * rows, 0.35 if title else 0.0    # inches: cells, title
    fig = _pyplot().figure(figsize=(w_in + 0.4, h_in + top_in + 0.3))
    ax = fig.add_axes((0.2 / (w_in + 0.4), 0.15 / (h_in + top_in + 0.3), w_in / (w_in + 0.4),
                       h_in / (h_in + top_in + 0.3)))
    patches, faces = [], []
    for (row, col, ch), color in zip(cells, rgb):
        patches.append(Rectangle((col, row * pitch), 1, 1))
        faces.append(color)
    if confidence is not None:
        for (row, col, _), p in zip(cells, confidence):
            patches.append(Rectangle((col, row * pitch + 1.0), 1, strip))
            faces.append(sequential_color(p))
    ax.add_collection(PatchCollection(patches, facecolors=faces, edgecolors="none"))
    for row, col, ch in cells:
        if not ch.isspace():
            ax.text(col + 0.5, row * pitch + 0.55, ch, ha="center", va="center", family="monospace", fontsize=8.5)
    ax.set_xlim(0, cols)
    ax.set_ylim(rows * pitch, 0)
    ax.axis("off")
    if title:
        ax.set_title(title, fontsize=10, loc="left")
    return fig
