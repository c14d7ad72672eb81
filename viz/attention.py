"""The alignment heatmap of an attention model: which source tokens each output token looked at.

    scores, weights = model(src, tgt_in, src_lengths, return_attention=True)    # weights (B, T, S)
    viz.plot_attention(weights[0], source_tokens, target_tokens)               # one example: (T, S)

Row t is output token t's weights over the source (they sum to 1); a reversal model draws the anti-diagonal.
"""
import numpy as np

from minigrad import Tensor

from .gradflow import _pyplot


def plot_attention(weights, source_tokens, target_tokens, ax=None, title="Attention weights", cmap="Blues",
                   colorbar=True):
    """A matplotlib Figure: the (T, S) weights as an image, rows the target tokens, columns the source tokens
    (each tick labelled with its token), colours from 0 to 1. `weights`: a Tensor or array of shape
    (len(target_tokens), len(source_tokens)); `ax`: draw into these axes instead of a new figure."""
    w = weights.numpy() if isinstance(weights, Tensor) else np.asarray(weights)
    source, target = _tokens("source_tokens", source_tokens), _tokens("target_tokens", target_tokens)
    if w.ndim != 2:
        raise ValueError(f"viz.plot_attention: weights must be 2-D (target x source) for one example, got shape "
                         f"{w.shape}" + ("; pick one: weights[b]" if w.ndim == 3 else ""))
    if w.shape != (len(target), len(source)):
        raise ValueError(f"viz.plot_attention: weights of shape {w.shape} do not match {len(target)} "
                         f"target_tokens x {len(source)} source_tokens")
    if ax is None:
        fig, ax = _pyplot().subplots(figsize=(1.2 + 0.32 * len(source), 1.0 + 0.32 * len(target)))
    else:
        fig = ax.figure
    image = ax.imshow(w.astype(np.float64), cmap=cmap, vmin=0.0, vmax=1.0, aspect="equal", interpolation="nearest")
    ax.set_xticks(range(len(source)), source)
    ax.set_yticks(range(len(target)), target)
    ax.tick_params(top=True, labeltop=True, bottom=False, labelbottom=False, length=0)
    ax.set_xlabel("source")
    ax.xaxis.set_label_position("top")
    ax.set_ylabel("output")
    if title:
        ax.set_title(title, pad=18)
    if colorbar:
        fig.colorbar(image, ax=ax, fraction=0.046, pad=0.04)
    return fig


def _tokens(name, tokens):
    if isinstance(tokens, str) or not hasattr(tokens, "__len__"):
        raise TypeError(f"viz.plot_attention: {name} must be a sequence of tokens (a list), got "
                        f"{type(tokens).__name__}")
    return [str(t) for t in tokens]
