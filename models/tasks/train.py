"""Training on the synthetic tasks: one model per task, fresh batches every step, a curve out.

    task       model (models.shapes)                         loss            reported
    adding     SequenceClassifier(1 output, 2 features)       MSE             mse (baseline 0.167)
    copy       SequenceTagger(10 tags, embedding 128)         cross-entropy   loss / baseline, recall accuracy
    parity     SequenceClassifier(2 classes, embedding 128)   cross-entropy   accuracy
    reversal   Seq2Seq(embedding 32)                          cross-entropy   greedy exact match, token accuracy

Token inputs go through an embedding (N(0, 1) init, as nn.Embedding's) by default; embed=0 feeds one-hot
vectors instead, which learn far more slowly here: their tiny input weights (U(+-1/sqrt(H))) make the
symbols a faint signal next to the recurrent state (copy, T=20, GRU, 2,000 steps: loss/baseline 0.96 one-hot,
0.37 with embedding 128).

Every batch is new, so the loss of a batch measured before its update is a held-out estimate: the
curve averages it over the last `eval_every` steps.
"""
import json
import time

import numpy as np

import minigrad as mg
import minigrad.nn.functional as F
from minigrad import nn

from ..shapes import Seq2Seq, SequenceClassifier, SequenceTagger, make_optimizer, set_forget_bias, teacher_inputs
from ..training import NonFiniteLoss, train_step
from . import data

DEFAULTS = {  # T (or length), steps, batch, embedding size of the token inputs (0: one-hot)
    "adding": dict(T=100, steps=4000, batch=50, embed=None),
    "copy": dict(T=20, steps=2000, batch=50, embed=128),
    "parity": dict(T=10, steps=2000, batch=50, embed=128),
    "reversal": dict(T=8, steps=2000, batch=64, embed=32),
}
TASKS = tuple(DEFAULTS)


def build_model(task, cell="lstm", hidden=128, forget_bias=None, embed=None, vocab=10, unroll=True):
    """The model for a task; embed None: the task's default; forget_bias (LSTM only): the forget gates' bias;
    unroll=False: recurrent layers on the speed path (run_task's default), True: one node per step."""
    if task in DEFAULTS and embed is None:
        embed = DEFAULTS[task]["embed"]
    if task == "adding":
        model = SequenceClassifier(1, input_size=2, hidden=hidden, cell=cell, unroll=unroll)
    elif task == "copy":
        model = SequenceTagger(10, vocab_size=10, embed=embed, hidden=hidden, cell=cell, unroll=unroll)
    elif task == "parity":
        model = SequenceClassifier(2, vocab_size=2, embed=embed, hidden=hidden, cell=cell, unroll=unroll)
    elif task == "reversal":
        if not embed:
            raise ValueError("reversal: the seq2seq model needs an embedding size >= 1 (--embed)")
        model = Seq2Seq(vocab, vocab, embed=embed, hidden=hidden, cell=cell, unroll=unroll)
    else:
        raise ValueError(f"unknown task {task!r}; expected one of {TASKS}")
    if forget_bias is not None:
        if cell != "lstm":
            raise ValueError(f"forget_bias is an LSTM option; the cell is {cell!r}")
        for rnn in (m for m in model.modules() if isinstance(m, nn.LSTM)):
            set_forget_bias(rnn, forget_bias)
    return model


def task_step(task, model, rng, batch, T, placement="halves"):
    """One fresh batch through the model -> (loss Tensor, {metric: value}); placement: the adding marks'."""
    if task == "adding":
        return task_loss(task, model, *data.adding_batch(rng, batch, T, placement))
    if task == "copy":
        return task_loss(task, model, *data.copy_batch(rng, batch, T))
    if task == "parity":
        return task_loss(task, model, *data.parity_batch(rng, batch, T))
    return task_loss(task, model, *data.reversal_batch(rng, batch, T))


def task_loss(task, model, x, y):
    """The loss of one batch (x, y) of `task` -> (loss Tensor, {metric: value})."""
    if task == "adding":
        loss = F.mse_loss(model(x)[:, 0], mg.tensor(y, dtype=model.head.weight.dtype))
        return loss, {"mse": loss.item()}
    if task == "copy":
        scores = model(x)
        loss = F.cross_entropy(scores.reshape(-1, scores.shape[-1]), y.reshape(-1))
        recall = (scores.numpy()[:, -data.N_COPY:].argmax(-1) == y[:, -data.N_COPY:]).mean()
        return loss, {"loss_ratio": loss.item() / data.copy_baseline(x.shape[1] - 2 * data.N_COPY),
                      "recall": float(recall)}
    if task == "parity":
        scores = model(x)
        return F.cross_entropy(scores, y), {"accuracy": float((scores.numpy().argmax(-1) == y).mean())}
    scores = model(x, teacher_inputs(y, model.bos))
    loss = F.cross_entropy(scores.reshape(-1, scores.shape[-1]), y.reshape(-1))
    return loss, {"token_accuracy": float((scores.numpy().argmax(-1) == y).mean())}


def run_task(task, cell="lstm", T=None, steps=None, batch=None, hidden=128, lr=1e-3, clip=1.0, seed=0,
             forget_bias=None, eval_every=100, stop_below=None, out=None, log=print, embed=None, placement="halves",
             unroll=False):
    """Train a fresh model on `task`; returns {"curve": [{step, loss, metrics...}], "model", "seconds", ...}.

    placement: where the adding problem's marks go ('halves', 'hochreiter', 'anywhere'; see models.tasks.data).
    unroll: False trains on the speed path (one node per layer-direction), True on the teaching path.

    stop_below: stop once the windowed loss (MSE for adding) falls below it, and report that step.
    out: a path for the curve as JSON lines.
    """
    if task not in DEFAULTS:
        raise ValueError(f"unknown task {task!r}; expected one of {TASKS}")
    d = DEFAULTS[task]
    T, steps, batch = (d[k] if v is None else v for k, v in (("T", T), ("steps", steps), ("batch", batch)))
    for name, value in (("T", T), ("steps", steps), ("batch", batch), ("eval_every", eval_every)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(f"run_task: {name} must be an int >= 1, got {value!r}")
    mg.manual_seed(seed)
    rng, eval_rng = np.random.default_rng(seed), np.random.default_rng([seed, 1])
    model = build_model(task, cell, hidden, forget_bias, embed, unroll=unroll)
    opt = make_optimizer("adam", model.parameters(), lr)
    params = list(model.parameters())
    window, curve, solved, start = [], [], None, time.perf_counter()
    sink = open(out, "w") if out else None
    try:
        for step in range(1, steps + 1):
            loss, metrics = task_step(task, model, rng, batch, T, placement)
            try:
                value = train_step(params, opt, loss, clip)
            except NonFiniteLoss as e:
                raise FloatingPointError(f"{task}: {e} by step {step}") from e
            window.append(dict(metrics, loss=value))
            if step % eval_every == 0 or step == steps:
                point = {"step": step, "seconds": round(time.perf_counter() - start, 1)}
                point.update({k: float(np.mean([w[k] for w in window])) for k in window[0]})
                if task == "reversal":
                    point["exact_match"] = exact_match(model, eval_rng, 256, T)
                window = []
                curve.append(point)
                log(" ".join(f"{k} {v:.4g}" if isinstance(v, float) else f"{k} {v}" for k, v in point.items()))
                if sink:
                    sink.write(json.dumps(point) + "\n")
                    sink.flush()
                if stop_below is not None and point["loss"] < stop_below:
                    solved = step
                    break
    finally:
        if sink:
            sink.close()
    return {"task": task, "cell": cell, "T": T, "unroll": unroll, "curve": curve, "solved_at": solved,
            "model": model, "seconds": time.perf_counter() - start}


def exact_match(model, rng, batch, length):
    """Fraction of fresh reversal examples whose greedy decoding is entirely right."""
    src, tgt = data.reversal_batch(rng, batch, length)
    return float((model.greedy(src, length) == tgt).all(axis=1).mean())
