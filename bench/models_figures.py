"""The reference models' figures: losses at given step counts (not speed), for the models issue.

    python bench/models_figures.py                        # everything (hours on a small CPU)
    python bench/models_figures.py --only charlm,reversal # some experiments
    python bench/models_figures.py --only adding --steps-scale 0.5

Experiments (the issue's protocol; PyTorch on the reference machine in brackets):
  charlm     2-layer LSTM-128, embedding 128, batch 50 x seq 50, Adam 2e-3, clip 5, no dropout, 90/10 split:
             val nats/char at 1k/2k/4k/6k steps  [1.706 / 1.615 / 1.580 / 1.564; target <= 1.65 @2k, <= 1.58 @6k]
  adding     T=100, hidden 128, batch 50, Adam 1e-3, clip 1, fresh batches: steps to MSE < 0.01
             [GRU 1,100; RNN and default-init LSTM on the 0.167 plateau for 4,000], plus LSTM forget bias 1.0
  adding200  GRU at T=200 [1,800 steps]
  copy       T=20 and T=50, 2,000 steps: loss / baseline and recall [T=20: LSTM 0.54 / 52%, GRU 0.35 / 70%,
             RNN 1.00 / 13%; T=50: 0.72 / 0.43 / 1.00]
  reversal   length 8 over 10 symbols, encoder-decoder LSTM-128, embedding 32, batch 64 [99% exact @ 1,950]

Results go to --out-dir (one JSON line per experiment, written as each finishes) and a summary is printed.

Measured with minigrad on the 2-core CPU (shared with other jobs, so seconds are only indicative), seed 0:
  charlm     val 1.706 @1k, 1.617 @2k, 1.567 @4k, 1.569 @6k (best 1.567); 6,000 steps in 700 s
  adding     GRU MSE < 0.01 at step 1,400 (104 s); RNN 0.166 after 4,000 (the plateau); LSTM default init:
             plateau until ~2,400, then 0.003 at 4,000 (seeds 1, 2: escapes at ~3,300 and ~2,800, < 0.01 at
             >4,000 and 3,600); LSTM forget bias 1.0: < 0.01 at 3,300 (seeds 1, 2: 3,200, 3,600)
  adding, --placement hochreiter (both marks in the first half, the first among the first 10 steps):
             GRU MSE < 0.01 at step 1,900 (seed 1: 1,300); RNN 0.167 after 4,000; LSTM default init 0.167 and
             0.168 after 4,000 (seeds 0, 1: the plateau, as PyTorch's for seeds 0 and 1 on this machine); LSTM
             forget bias 1.0: 0.167 after 4,000 (PyTorch: the same)
  PyTorch 2.13 with these generators (same protocol): LSTM default init leaves the plateau at 3,100 / 2,500 /
             2,500 (placement halves, seeds 0-2), 4,000 / 2,100 / 2,300 (anywhere), never in 4,000 steps
             (hochreiter, seeds 0-1); GRU < 0.01 at 1,200 (halves), 1,500 / 1,400 (hochreiter). When to leave
             the plateau is a seed-dependent event; bench/lockstep_torch.py shows minigrad and PyTorch equal
             step for step (float64, same init and batches) until they leave it in the same 100-step window.
  adding200  GRU MSE < 0.01 at step 2,000 (199 s)
  copy       T=20: loss/baseline GRU 0.34, LSTM 0.48, RNN 1.00; recall 71% / 57% / 13%
             T=50: GRU 0.44, LSTM 0.66, RNN 1.00; recall 62% / 44% / 13%  (last 100 steps, 2,000 steps each)
  reversal   exact match 98% @1,800, 97% @1,950 (256 fresh examples), token accuracy 99.7%; 58 s
"""
import os

for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):   # small matrices: one thread
    os.environ.setdefault(_var, "1")

import argparse  # noqa: E402
import json  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from models.char_lm import TrainConfig, train  # noqa: E402
from models.tasks import run_task  # noqa: E402

EXPERIMENTS = ("charlm", "adding", "adding200", "copy", "reversal")


def charlm(args, emit):
    steps = int(6000 * args.steps_scale)
    out = os.path.join(args.out_dir, "charlm")
    cfg = TrainConfig(cell="lstm", layers=2, hidden=128, embed=128, seq_len=50, batch=50, optimizer="adam", lr=2e-3,
                      clip=5.0, dropout=0.0, steps=steps, val_every=500, out=out, progress=False, seed=args.seed)
    start = time.perf_counter()
    result = train(cfg, log=lambda s: print("  charlm:", s, flush=True))
    with open(result["metrics"]) as f:
        rows = [json.loads(line) for line in f]
    curve = [(r["step"], round(r["val_loss"], 4), round(r["time"], 1)) for r in rows if "val_loss" in r]
    emit({"experiment": "charlm", "steps": steps, "seconds": round(time.perf_counter() - start, 1),
          "val_curve": curve, "best_val": result["best_val"]})


def _task(name, label, emit, args, **kw):
    steps = max(100, int(kw.pop("steps") * args.steps_scale))
    start = time.perf_counter()
    r = run_task(name, steps=steps, seed=args.seed, log=lambda s: print(f"  {label}: {s}", flush=True), **kw)
    last = r["curve"][-1]
    label += f" ({kw['placement']})" if kw.get("placement", "halves") != "halves" else ""
    emit({"experiment": label, "steps": last["step"], "seconds": round(time.perf_counter() - start, 1),
          "solved_at": r["solved_at"], "final": {k: v for k, v in last.items() if k not in ("step", "seconds")},
          "curve": r["curve"]})


def adding(args, emit):
    common = dict(T=100, hidden=128, batch=50, lr=1e-3, clip=1.0, eval_every=100, steps=4000, placement=args.placement)
    _task("adding", "adding T=100 gru", emit, args, cell="gru", stop_below=0.01, **common)
    _task("adding", "adding T=100 lstm forget-bias 1", emit, args, cell="lstm", forget_bias=1.0, stop_below=0.01,
          **common)
    _task("adding", "adding T=100 rnn", emit, args, cell="rnn", **common)
    _task("adding", "adding T=100 lstm", emit, args, cell="lstm", **common)


def adding200(args, emit):
    _task("adding", "adding T=200 gru", emit, args, cell="gru", T=200, hidden=128, batch=50, lr=1e-3, clip=1.0,
          eval_every=100, steps=4000, stop_below=0.01, placement=args.placement)


def copy(args, emit):
    for T in (20, 50):
        for cell in ("gru", "lstm", "rnn"):
            _task("copy", f"copy T={T} {cell}", emit, args, cell=cell, T=T, hidden=128, batch=50, lr=1e-3, clip=1.0,
                  eval_every=100, steps=2000)


def reversal(args, emit):
    _task("reversal", "reversal L=8 lstm", emit, args, cell="lstm", T=8, hidden=128, batch=64, lr=1e-3, clip=1.0,
          eval_every=50, steps=1950)


def summary_line(rec):
    if rec["experiment"] == "charlm":
        return (f"charlm 2x LSTM-128: {rec['steps']} steps, {rec['seconds']:.0f} s; val "
                + ", ".join(f"{v:.3f}@{s}" for s, v, _ in rec["val_curve"]))
    f = rec["final"]
    parts = [f"{rec['steps']} steps", f"{rec['seconds']:.0f} s"]
    if rec["solved_at"]:
        parts.append(f"MSE < 0.01 at step {rec['solved_at']}")
    parts += [f"{k} {v:.4g}" for k, v in f.items() if k != "loss" or len(f) == 1]
    return f"{rec['experiment']}: " + ", ".join(parts)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--only", default=",".join(EXPERIMENTS), help=f"comma-separated subset of {EXPERIMENTS}")
    p.add_argument("--steps-scale", type=float, default=1.0, help="scale every step budget (e.g. 0.25 for a look)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--placement", default="halves", help="adding: where the marks go (halves, hochreiter, anywhere)")
    p.add_argument("--out-dir", default=os.path.join("runs", "models_figures"))
    args = p.parse_args(argv)
    chosen = [e for e in args.only.split(",") if e]
    unknown = set(chosen) - set(EXPERIMENTS)
    if unknown:
        p.error(f"unknown experiments {sorted(unknown)}; choose from {EXPERIMENTS}")
    os.makedirs(args.out_dir, exist_ok=True)
    results_path = os.path.join(args.out_dir, f"results-{'-'.join(chosen)}.jsonl")
    records = []

    def emit(rec):
        records.append(rec)
        with open(results_path, "a") as f:
            f.write(json.dumps(rec) + "\n")
        print("RESULT " + summary_line(rec), flush=True)

    for name in chosen:
        globals()[name](args, emit)
    print("\n== summary ==")
    for rec in records:
        print(summary_line(rec))
    print(f"(JSON lines in {results_path})")


if __name__ == "__main__":
    main()
