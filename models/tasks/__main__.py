"""`python -m models.tasks TASK [options]`: train one model on a synthetic task and print its curve."""
import argparse
import sys

from ..cells import CELLS
from minigrad.cli import (UsageError, check_out_file, finite_float, nonneg_float, nonneg_int, positive_float,
                          positive_int, run)
from .data import ADDING_PLACEMENTS
from .train import DEFAULTS, TASKS, run_task


def parse_args(argv=None):
    p = argparse.ArgumentParser(allow_abbrev=False, prog="python -m models.tasks", description=__doc__.strip("`"))
    p.add_argument("task", choices=TASKS)
    p.add_argument("--cell", choices=tuple(CELLS), default="lstm")
    p.add_argument("--T", type=positive_int, default=None,
                   help="sequence length (adding, parity), delay (copy) or length (reversal); "
                        + ", ".join(f"{k} {v['T']}" for k, v in DEFAULTS.items()))
    p.add_argument("--steps", type=positive_int, default=None, help="training steps (default per task)")
    p.add_argument("--batch", type=positive_int, default=None, help="batch size (default 50; reversal 64)")
    p.add_argument("--hidden", type=positive_int, default=128)
    p.add_argument("--embed", type=nonneg_int, default=None,
                   help="embedding size of token inputs, 0 for one-hot (default: copy/parity 128, reversal 32)")
    p.add_argument("--lr", type=positive_float, default=1e-3, help="Adam's learning rate")
    p.add_argument("--clip", type=nonneg_float, default=1.0, help="max gradient norm (0: off)")
    p.add_argument("--unroll", action="store_true",
                   help="the teaching path: one graph node per time step, as the pictures draw it (default: the "
                        "speed path, one node per layer and direction; same numbers)")
    p.add_argument("--forget-bias", type=finite_float, default=None,
                   help="LSTM only: initial forget-gate bias (e.g. 1.0); default: the standard init")
    p.add_argument("--placement", choices=ADDING_PLACEMENTS, default="halves",
                   help="adding only: where the two marks go (hochreiter: both in the first half, the first among "
                        "the first 10 steps; the hardest)")
    p.add_argument("--eval-every", type=positive_int, default=100, help="print the windowed curve every K steps")
    p.add_argument("--stop-below", type=finite_float, default=None, help="stop once the windowed loss is below this")
    p.add_argument("--seed", type=nonneg_int, default=0)
    p.add_argument("--out", default=None, help="write the curve as JSON lines to this file")
    return p.parse_args(argv)


def main(argv=None):
    a = parse_args(argv)
    low = (22 if a.placement == "hochreiter" else 2) if a.task == "adding" else 1
    if a.T is not None and a.T < low:
        where = f" with --placement {a.placement}" if a.task == "adding" else ""
        raise UsageError(f"--T {a.T}: {a.task} needs T >= {low}{where}")
    if a.forget_bias is not None and a.cell != "lstm":
        raise UsageError(f"--forget-bias is an LSTM option; the cell is {a.cell}")
    if a.task == "reversal" and a.embed == 0:
        raise UsageError("--embed 0: reversal's seq2seq model needs an embedding size >= 1")
    if a.out:
        check_out_file(a.out)
    result = run_task(a.task, a.cell, a.T, a.steps, a.batch, a.hidden, a.lr, a.clip, a.seed, a.forget_bias,
                      a.eval_every, a.stop_below, a.out, embed=a.embed,
                      placement=a.placement, unroll=a.unroll)
    last = result["curve"][-1]
    where = f", below {a.stop_below} at step {result['solved_at']}" if result["solved_at"] else ""
    print(f"{a.task} {a.cell} T={result['T']}: {last['step']} steps in {result['seconds']:.0f} s{where}; final "
          + ", ".join(f"{k} {v:.4g}" for k, v in last.items() if k not in ("step", "seconds")))
    return 0


if __name__ == "__main__":
    sys.exit(run(main))
