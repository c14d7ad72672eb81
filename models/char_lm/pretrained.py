"""The model in the box: a character LSTM trained with minigrad itself on the bundled Tiny Shakespeare.

    models/pretrained/shakespeare_lstm.ckpt   the weights in float16 (half the bytes of float32; its loss
                                              differs from the float32 weights' by under 1e-3 nats/char)
    models/pretrained/metrics.jsonl           its training log: losses, validation losses, samples
    models/pretrained/README.md               the exact training command, the machine, the time, the result

`export` turns a training checkpoint into such a file: the weights, their config and the vocabulary, without
the optimizer's state (which would triple its size); `sample`, `inspect` and `--init-from` read it as they read
any checkpoint, and the weights load back into float32.
"""
import os

import numpy as np

import minigrad as mg

from .data import Batches, load_text, split
from .train import FORMAT, evaluate, load_checkpoint

FOLDER = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "pretrained")
PRETRAINED = os.path.join(FOLDER, "shakespeare_lstm.ckpt")
EXPORT_DTYPES = ("float16", "float32")


def export(checkpoint, out, dtype="float16"):
    """Write the sampling part of `checkpoint` (a file or a training --out DIR) to `out`, weights as `dtype`."""
    if dtype not in EXPORT_DTYPES:
        raise ValueError(f"export: dtype must be one of {EXPORT_DTYPES}, got {dtype!r}")
    from .sample import check_model_config
    ckpt = load_checkpoint(checkpoint)
    check_model_config(ckpt)
    weights = {k: np.asarray(v.numpy() if isinstance(v, mg.Tensor) else v).astype(dtype)
               for k, v in ckpt["model"].items()}
    mg.save({"format": FORMAT, "model": weights, "model_config": ckpt["model_config"], "vocab": ckpt["vocab"],
             "config": ckpt["config"], "step": ckpt["step"], "val_loss": ckpt["val_loss"],
             "best_val": ckpt["best_val"], "optimizer": None, "state": None, "rng": None, "scheduler": None}, out)
    return out


def load_pretrained(device="cpu"):
    """(model in eval mode, vocab) of the shipped model; FileNotFoundError when it is not there."""
    from .sample import load_model
    if not os.path.isfile(PRETRAINED):
        raise FileNotFoundError(f"no shipped model at {PRETRAINED}")
    return load_model(PRETRAINED, device, unroll=False)


def validation_loss(model, vocab, chars=100_000, text=None, val_fraction=0.1, streams=50, seq_len=100):
    """Mean nats/char on the first `chars` characters of the validation split (the last val_fraction of the
    text, as training splits it), read as `streams` parallel streams whose state carries across windows."""
    _, val_ids = split(vocab.encode(load_text() if text is None else text), val_fraction)
    return evaluate(model, Batches(val_ids[:chars], streams, seq_len))
