"""Regenerate tests/data/torch_training_golden.npz: short PyTorch training runs, for tests/test_training_vs_torch.py.

Run by hand only, with PyTorch installed in a scratch environment OUTSIDE the project (PyTorch is never a
dependency of minigrad, not even of its tests):

    /tmp/torchvenv/bin/python tests/data/make_torch_training_golden.py

Each case trains a small model of models/ in float64 with Adam and gradient-norm clipping on fixed batches of
a synthetic task, the protocol of models/tasks, and stores under '<case>/':

    config          JSON text: task, cell, sizes, optimizer settings
    param/<name>    the initial weights (PyTorch's default init), named as the minigrad model names them
    x, y            the batches, stacked (steps, B, T, ...)
    loss            the loss of every step, measured before that step's update
    final/<name>    the weights after the last update

The test loads the initial weights into the minigrad model, replays the batches and requires the same losses
and final weights: same math and init give the same curve.
"""
import json
import os
import sys

import numpy as np
import torch

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, ROOT)
from models.tasks import data  # noqa: E402  (NumPy only)

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "torch_training_golden.npz")
STEPS, B, HIDDEN, LR, CLIP = 40, 4, 12, 1e-2, 1.0
CASES = [("adding_lstm", "adding", "lstm"), ("adding_gru", "adding", "gru"), ("adding_rnn", "adding", "rnn"),
         ("copy_lstm", "copy", "lstm")]
T = {"adding": 24, "copy": 3}
EMBED, VOCAB = 6, 10


def build(task, cell):
    Rnn = {"lstm": torch.nn.LSTM, "gru": torch.nn.GRU, "rnn": torch.nn.RNN}[cell]
    mods = {}
    if task == "copy":
        mods["tokens.embedding"] = torch.nn.Embedding(VOCAB, EMBED)
    mods["rnn"] = Rnn(EMBED if task == "copy" else 2, HIDDEN, batch_first=True)
    mods["head"] = torch.nn.Linear(HIDDEN, 1 if task == "adding" else VOCAB)
    return {k: m.double() for k, m in mods.items()}


def loss_of(task, cell, mods, x, y):
    if task == "adding":
        state = mods["rnn"](torch.from_numpy(x))[1]
        h = state[0] if cell == "lstm" else state
        return torch.nn.functional.mse_loss(mods["head"](h[-1])[:, 0], torch.from_numpy(y))
    out, _ = mods["rnn"](mods["tokens.embedding"](torch.from_numpy(x)))
    scores = mods["head"](out)
    return torch.nn.functional.cross_entropy(scores.reshape(-1, VOCAB), torch.from_numpy(y).reshape(-1))


def weights(mods):
    return {f"{k}.{n}": p.detach().numpy().copy() for k, m in mods.items() for n, p in m.state_dict().items()}


def main():
    entries = {}
    for i, (case, task, cell) in enumerate(CASES):
        torch.manual_seed(i)
        rng = np.random.default_rng(i)
        mods = build(task, cell)
        params = [p for m in mods.values() for p in m.parameters()]
        opt = torch.optim.Adam(params, lr=LR)
        batches = [data.adding_batch(rng, B, T[task]) if task == "adding" else data.copy_batch(rng, B, T[task])
                   for _ in range(STEPS)]
        xs = np.stack([b[0] for b in batches])
        ys = np.stack([b[1] for b in batches])
        if task == "adding":
            xs, ys = xs.astype(np.float64), ys.astype(np.float64)
        entries[f"{case}/config"] = np.array(json.dumps(dict(task=task, cell=cell, hidden=HIDDEN, embed=EMBED,
                                                             lr=LR, clip=CLIP, steps=STEPS)))
        for name, w in weights(mods).items():
            entries[f"{case}/param/{name}"] = w
        losses = []
        for x, y in zip(xs, ys):
            loss = loss_of(task, cell, mods, x, y)
            opt.zero_grad()
            loss.backward()
            torch.nn.utils.clip_grad_norm_(params, CLIP)
            opt.step()
            losses.append(loss.item())
        entries[f"{case}/x"], entries[f"{case}/y"], entries[f"{case}/loss"] = xs, ys, np.array(losses)
        for name, w in weights(mods).items():
            entries[f"{case}/final/{name}"] = w
        print(f"{case}: loss {losses[0]:.4f} -> {losses[-1]:.4f}")
    np.savez_compressed(OUT, **entries)
    print(f"wrote {OUT} ({os.path.getsize(OUT) // 1024} KB), torch {torch.__version__}")


if __name__ == "__main__":
    main()
