"""minigrad and PyTorch side by side on the adding problem: same initial weights, same batches, float64.

Needs PyTorch, which the project never depends on: run it by hand where PyTorch happens to be installed, e.g.

    OPENBLAS_NUM_THREADS=1 /tmp/torchvenv/bin/python bench/lockstep_torch.py --steps 3500 --cell lstm

Both models start from PyTorch's default initialisation (copied into minigrad with load_state_dict), see the
same fresh batch every step, and train with Adam and gradient-norm clipping (the protocol of models/tasks).
Every 100 steps it prints both windowed losses and the largest relative difference of a step's loss so far:
as long as it stays near 1e-15 the two are computing the same function, step for step.

Measured 2026-11-22 (LSTM-128, T=100, placement 'halves', seed 0): equal to 2e-15 through step 2,900 and 2e-14
at 3,000; both leave the 0.167 plateau in the same window (3,001-3,100: 0.14676 / 0.14679), where the escape
amplifies rounding differences and the runs part (3,500: 0.027 / 0.023, both solving the task).
"""
import argparse
import json
import os
import sys
import time

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
import minigrad as mg  # noqa: E402
import minigrad.nn.functional as F  # noqa: E402
from minigrad.nn.utils import clip_grad_norm_  # noqa: E402
from models.shapes import make_optimizer  # noqa: E402
from models.tasks import build_model, data  # noqa: E402


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--steps", type=int, default=1000)
    p.add_argument("--cell", choices=("lstm", "gru", "rnn"), default="lstm")
    p.add_argument("--T", type=int, default=100)
    p.add_argument("--hidden", type=int, default=128)
    p.add_argument("--placement", choices=data.ADDING_PLACEMENTS, default="halves")
    p.add_argument("--seed", type=int, default=0)
    a = p.parse_args(argv)
    torch.set_num_threads(1)
    torch.manual_seed(a.seed)
    Rnn = {"lstm": torch.nn.LSTM, "gru": torch.nn.GRU, "rnn": torch.nn.RNN}[a.cell]
    rnn, head = Rnn(2, a.hidden, batch_first=True).double(), torch.nn.Linear(a.hidden, 1).double()
    t_params = list(rnn.parameters()) + list(head.parameters())
    t_opt = torch.optim.Adam(t_params, 1e-3)
    model = build_model("adding", a.cell, a.hidden).to(dtype=mg.float64)
    weights = {f"rnn.{k}": v for k, v in rnn.state_dict().items()}
    weights.update({f"head.{k}": v for k, v in head.state_dict().items()})
    model.load_state_dict({k: mg.tensor(v.detach().numpy()) for k, v in weights.items()})
    m_params = list(model.parameters())
    m_opt = make_optimizer("adam", m_params, 1e-3)
    rng = np.random.default_rng(a.seed)
    worst, window, start = 0.0, [], time.perf_counter()
    for step in range(1, a.steps + 1):
        x, y = (v.astype(np.float64) for v in data.adding_batch(rng, 50, a.T, a.placement))
        state = rnn(torch.from_numpy(x))[1]
        h = state[0] if a.cell == "lstm" else state
        t_loss = torch.nn.functional.mse_loss(head(h[-1])[:, 0], torch.from_numpy(y))
        t_opt.zero_grad()
        t_loss.backward()
        torch.nn.utils.clip_grad_norm_(t_params, 1.0)
        t_opt.step()
        m_loss = F.mse_loss(model(x)[:, 0], mg.tensor(y))
        m_opt.zero_grad()
        m_loss.backward()
        clip_grad_norm_(m_params, 1.0)
        m_opt.step()
        a_, b_ = t_loss.item(), m_loss.item()
        worst = max(worst, abs(a_ - b_) / abs(a_))
        window.append((a_, b_))
        if step % 100 == 0:
            tl, ml = np.mean(window, axis=0)
            print(json.dumps({"step": step, "torch": round(float(tl), 5), "minigrad": round(float(ml), 5),
                              "max_rel_diff_so_far": float(f"{worst:.3g}"),
                              "seconds": round(time.perf_counter() - start)}), flush=True)
            window = []


if __name__ == "__main__":
    main()
