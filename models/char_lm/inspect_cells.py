"""Seeing inside a trained char-LM: every cell's activation per character, the model's confidence, and the cells
that track simple features of the text (Karpathy, Johnson & Fei-Fei 2015: the quote cell, the line-length cell).

    text ──> the model, one character at a time ──> per step: h and tanh(c) of every layer's cells,
                                                              p(actual next character), the top-5 candidates
    text ──> text_features: line position, quotes, brackets, speaker names, indentation, string literals
    correlate every cell with every feature (Pearson r) ──> the best cell per feature ──> heatmaps (viz)

A feature's value at character i describes the text after reading characters 0..i (what the state after
step i could know): an opening quote is inside the quotes, a closing one is outside again.
"""
import html
import os

import numpy as np

import minigrad as mg

FEATURES = {
    "line_position": "characters since the last newline",
    "in_quotes": 'inside "double quotes"',
    "in_brackets": "inside (), [] or {}",
    "bracket_depth": "nesting depth of (), [] and {}",
    "speaker_name": "on a speaker's name line (Shakespeare's 'ROMEO:', 'First Citizen:')",
    "indent": "leading whitespace read so far on the line (source code)",
    "leading_ws": "on the line's leading whitespace, before its first other character (source code)",
    "in_string": "inside a Python string literal, from its opening quote to before its closing one",
}
OPEN, CLOSE = "([{", ")]}"


# ----------------------------------------------------------------------------- text features

def text_features(text):
    """{feature name: float64 array of len(text)}, one value per character (see FEATURES)."""
    n = len(text)
    position, quotes, depth, indent, leading_ws = (np.zeros(n) for _ in range(5))
    col, inside, level, lead, leading = 0, False, 0, 0, True
    for i, ch in enumerate(text):
        position[i] = col
        inside ^= ch == '"'
        quotes[i] = inside
        level = level + 1 if ch in OPEN else max(level - 1, 0) if ch in CLOSE else level
        depth[i] = level
        leading = leading and ch in " \t"
        lead += leading
        indent[i] = lead
        leading_ws[i] = leading
        col += 1
        if ch == "\n":
            col, lead, leading = 0, 0, True
    return {"line_position": position, "in_quotes": quotes, "in_brackets": (depth > 0).astype(np.float64),
            "bracket_depth": depth, "speaker_name": speaker_lines(text), "indent": indent,
            "leading_ws": leading_ws, "in_string": string_literals(text)}


def is_speaker(line):
    """A play's speaker line: words that each start with a capital, then ':' ('ROMEO:', 'First Citizen:')."""
    words = line[:-1].split(" ")
    return line.endswith(":") and all(w and w[0].isupper() and all(c.isalpha() or c in "'-." for c in w)
                                      for w in words)


def speaker_lines(text):
    """1 on every character of a speaker line (its newline excluded), 0 elsewhere."""
    out, start = np.zeros(len(text)), 0
    for line in text.split("\n"):
        if is_speaker(line):
            out[start:start + len(line)] = 1
        start += len(line) + 1
    return out


def string_literals(text):
    """1 on the characters of Python string literals: the opening quote(s) and the contents, not the closing
    quote(s). Knows ' " ''' \"\"\", backslash escapes and # comments; an unterminated '...' ends at the newline."""
    out, i, n = np.zeros(len(text)), 0, len(text)
    while i < n:
        ch = text[i]
        if ch == "#":
            end = text.find("\n", i)
            i = n if end < 0 else end
        elif ch in "'\"":
            quote = text[i:i + 3] if text[i:i + 3] in ('"""', "'''") else ch
            j = i + len(quote)
            while j < n and not text.startswith(quote, j) and not (len(quote) == 1 and text[j] == "\n"):
                j += 2 if text[j] == "\\" else 1
            j = min(j, n)
            out[i:j] = 1
            i = j + len(quote) if text.startswith(quote, j) else j
        else:
            i += 1
    return out


# ----------------------------------------------------------------------------- correlation

def correlations(acts, feature):
    """Pearson r of each column of acts (N, K) with feature (N,), float64; 0 for a constant column."""
    a = np.asarray(acts, dtype=np.float64)
    a = a - a.mean(axis=0)
    f = np.asarray(feature, dtype=np.float64)
    f = f - f.mean()
    denom = np.sqrt((a * a).sum(axis=0) * (f * f).sum())
    return np.divide(a.T @ f, denom, out=np.zeros(a.shape[1]), where=denom > 0)


def cell_name(value, layer, cell):
    return f"layer {layer} {'tanh(c)' if value == 'c' else 'h'}[{cell}]"


def best_cells(states, features, layer=None, value=None):
    """Per feature, the cell (of `layer`/`value` if given) whose activation correlates most strongly with it:
    [{"feature", "value", "layer", "cell", "r"}] in FEATURES order; cell and r are None for a feature that is
    constant on the text. states: {"h": (N, L, H), "c": tanh(c) (N, L, H)}."""
    columns, labels = [], []
    for v, a in states.items():
        for k in range(a.shape[1]):
            if (value is None or v == value) and (layer is None or k == layer):
                columns.append(a[:, k])
                labels += [(v, k, i) for i in range(a.shape[2])]
    if not columns:
        raise ValueError(f"best_cells: no cells with value={value!r}, layer={layer!r} in states {sorted(states)} "
                         f"of {next(iter(states.values())).shape[1]} layer(s)")
    acts = np.concatenate(columns, axis=1)
    rows = []
    for name, feature in features.items():
        row = {"feature": name, "value": None, "layer": None, "cell": None, "r": None}
        if np.ptp(feature) > 0:
            r = correlations(acts, feature)
            best = int(np.argmax(np.abs(r)))
            row.update(zip(("value", "layer", "cell"), labels[best]), r=float(r[best]))
        rows.append(row)
    return rows


def table(rows):
    """The best cells as text lines: feature, cell, r."""
    lines = [f"{'feature':<15}{'best cell':<24}{'r':>7}"]
    for row in rows:
        cell = "(constant on this text)" if row["r"] is None else cell_name(row["value"], row["layer"], row["cell"])
        lines.append((f"{row['feature']:<15}{cell:<24}" + ("" if row["r"] is None else f"{row['r']:+7.3f}")).rstrip())
    return lines


# ----------------------------------------------------------------------------- running the model

def run_model(model, vocab, text, next_char=None):
    """Read `text` one character at a time, the state carried: (states, probs), states {"h": (N, L, H)} plus
    "c": tanh(c) for an LSTM, probs (N, V) float64 the distribution of the character after each one."""
    ids = vocab.encode(text)
    device = model.decoder.weight.device
    hs, cs, probs = [], [], np.zeros((len(ids), len(vocab)))
    with mg.no_grad():
        state = None
        for t, i in enumerate(ids):
            logits, state = model(mg.tensor(np.array([[i]]), device=device), state)
            z = logits.numpy()[0, 0].astype(np.float64)
            e = np.exp(z - z.max())
            probs[t] = e / e.sum()
            h, c = state if isinstance(state, tuple) else (state, None)
            hs.append(h.numpy()[:, 0].astype(np.float64))
            if c is not None:
                cs.append(np.tanh(c.numpy()[:, 0].astype(np.float64)))
    states = {"h": np.stack(hs)}
    if cs:
        states["c"] = np.stack(cs)
    return states, probs


def show(ch):
    return repr(ch)[1:-1] if ch not in " '" else {" ": "␣", "'": "'"}[ch]


def confidence(text, next_char, probs, vocab, top=5):
    """(p_next (N,), tooltips): the probability the model gave to the actual next character (NaN after the
    last one when next_char is None) and, per character, that and the `top` likeliest candidates."""
    following = text[1:] + (next_char or "")
    p_next = np.full(len(text), np.nan)
    tips = []
    for t, ch in enumerate(text):
        best = np.argsort(-probs[t], kind="stable")[:top]
        cands = ", ".join(f"{show(vocab.chars[j])} {probs[t, j]:.3f}" for j in best)
        if t < len(following):
            p_next[t] = probs[t, vocab.index[following[t]]]
            tips.append(f"{show(ch)} → next {show(following[t])}: p = {p_next[t]:.3f}\ntop {top}: {cands}")
        else:
            tips.append(f"{show(ch)}: the end of the text\ntop {top}: {cands}")
    return p_next, tips


# ----------------------------------------------------------------------------- the report

def cell_values(states, value, layer, cell):
    return states[value][:, layer, cell]


def cell_tips(text, values, name):
    return [f"{show(ch)}: {name} = {v:+.3f}" for ch, v in zip(text, values)]


def report(text, states, rows, chosen, p_next, conf_tips, top, heading, png=None):
    """The HTML page: the feature table, the chosen cell (and the PNG of it), the confidence, the top cells."""
    import viz
    from viz.text_heatmap import html_page
    name = cell_name(*chosen)
    values = cell_values(states, *chosen)
    parts = [f"<h1>{html.escape(heading)}</h1>\n<p>Colours: blue negative, white 0, red positive (tanh(c) or h of "
             f"one cell); green: the probability the model gave to the next character. Hover for numbers.</p>\n",
             "<h2>The best cell for each feature (Pearson r)</h2>\n<table>\n<tr><th>feature</th><th>meaning</th>"
             "<th>best cell</th><th>r</th></tr>\n"]
    for row in rows:
        cell = "constant on this text" if row["r"] is None else cell_name(row["value"], row["layer"], row["cell"])
        r = "" if row["r"] is None else f"{row['r']:+.3f}"
        parts.append(f"<tr><td>{row['feature']}</td><td>{html.escape(FEATURES[row['feature']])}</td>"
                     f"<td>{cell}</td><td>{r}</td></tr>\n")
    parts.append("</table>\n<h2>Cell " + name + "</h2>\n")
    parts.append(viz.text_heatmap(text, values, tooltips=cell_tips(text, values, name), confidence=p_next,
                                  png=png, title=f"{name}, confidence under each line" if png else None))
    parts.append("<h2>Confidence: p(actual next character), the top 5 on hover</h2>\n")
    parts.append(viz.text_heatmap(text, p_next, tooltips=conf_tips, colors="sequential"))
    ranked = sorted((r for r in rows if r["r"] is not None), key=lambda r: -abs(r["r"]))[:top]
    if ranked:
        parts.append("<h2>The most feature-like cells</h2>\n")
    for row in ranked:
        which = (row["value"], row["layer"], row["cell"])
        title = f"{row['feature']}: {cell_name(*which)}, r = {row['r']:+.3f}"
        v = cell_values(states, *which)
        parts.append(viz.text_heatmap(text, v, tooltips=cell_tips(text, v, cell_name(*which)), title=title))
    return html_page("".join(parts), heading)


def choose_cell(rows, states, layer, value, cell):
    """(value, layer, cell) to show: the one asked for, else the best-correlated of any feature (of `layer` and
    `value` if given), else cell 0 of the last layer when every feature is constant."""
    value = value or ("c" if "c" in states else "h")
    layer = states["h"].shape[1] - 1 if layer is None else layer
    if cell is not None:
        return value, layer, cell
    found = [r for r in rows if r["r"] is not None]
    if not found:
        return value, layer, 0
    best = max(found, key=lambda r: abs(r["r"]))
    return best["value"], best["layer"], best["cell"]


def run_inspect(args, full_text):
    """`python -m models.char_lm inspect`: check the arguments (UsageError), run the model, print the table,
    write --out (HTML) and --png; returns the exit status."""
    from minigrad.cli import UsageError, check_device, check_out_file
    from .sample import load_model
    check_device(args.device)
    if not os.path.exists(args.checkpoint):
        raise UsageError(f"--checkpoint {args.checkpoint}: no such file or folder")
    check_out_file(args.out, "--out")
    if args.png is not None:
        check_out_file(args.png, "--png")
        if not args.png.lower().endswith(".png"):
            raise UsageError(f"--png {args.png}: the file name must end in .png")
    text = full_text[:args.chars]
    next_char = full_text[args.chars] if len(full_text) > args.chars else None
    model, vocab = load_model(args.checkpoint, args.device)      # one step at a time: the teaching path is quicker
    unknown = sorted(set(text + (next_char or "")) - set(vocab.index))
    if unknown:
        raise UsageError(f"--text {args.text}: characters not in the model's vocabulary: {''.join(unknown)!r}")
    layers, hidden = model.layers, model.hidden
    if args.layer is not None and not 0 <= args.layer < layers:
        raise UsageError(f"--layer {args.layer}: the model has {layers} layer(s), 0..{layers - 1}")
    if args.cell is not None and not 0 <= args.cell < hidden:
        raise UsageError(f"--cell {args.cell}: the model has {hidden} cells per layer, 0..{hidden - 1}")
    if args.value == "c" and model.cell != "lstm":
        raise UsageError(f"--value c: a {model.cell} has no cell state c (only an lstm); use --value h")
    states, probs = run_model(model, vocab, text)
    p_next, conf_tips = confidence(text, next_char, probs, vocab)
    rows = best_cells(states, text_features(text), args.layer, args.value)
    chosen = choose_cell(rows, states, args.layer, args.value, args.cell)
    print("\n".join(table(rows)))
    scored = p_next[~np.isnan(p_next)]
    mean = f"; mean p(next) {scored.mean():.3f} over {len(scored)} characters" if scored.size else ""
    print(f"shown: {cell_name(*chosen)}{mean}")
    heading = f"{os.path.basename(os.path.normpath(args.checkpoint))} reading {os.path.basename(args.text)}"
    page = report(text, states, rows, chosen, p_next, conf_tips, args.top, heading, png=args.png)
    with open(args.out, "w", encoding="utf-8") as f:
        f.write(page)
    print(f"wrote {args.out}" + (f" and {args.png}" if args.png else ""))
    return 0
