"""Attention against the plain encoder-decoder: exact match against source length, on lengths beyond training.

    python bench/attention.py                 # every task, writes bench/results_attention.json and the picture
    python bench/attention.py --steps 300 --tasks reversal --out /tmp/a.json --picture ''   # a quick look

Protocol: both models have the same bidirectional LSTM encoder (embedding 32, hidden 64) and the same
decoder size; the attention model adds additive (Bahdanau) scores with Luong's input feeding. Both see the
same batches (batch 32, one source length per batch drawn from 5..25, so no padding) for the same number
of Adam steps (lr 3e-3, gradient norm clipped at 1), one seed. Evaluation: greedy decoding of 100 fresh
sources per length 5..35 (26..35 never seen in training); exact match = every output token right.

    reversal      digits 0..9, the target is the source reversed: the last target is the first source token
    sort          distinct numbers from 0..39, the target is them in ascending order
    sort-digits   digits 0..9 with repeats, sorted: ten counts summarise any source, so the plain model's
                  final state suffices here (the contrast: attention helps when no small summary exists)
"""
import os

os.environ.setdefault("OMP_NUM_THREADS", "1")         # tiny matrices: BLAS threads only fight each other
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import argparse  # noqa: E402
import json  # noqa: E402
import platform  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from functools import partial  # noqa: E402

import numpy as np  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import minigrad as mg  # noqa: E402
from models.shapes import Seq2Seq, train_seq2seq  # noqa: E402
from models.tasks.data import reversal_batch, sort_batch  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
TASKS = {"reversal": (partial(reversal_batch, vocab=10), 10),           # name: (batch(rng, B, L), vocabulary)
         "sort": (partial(sort_batch, vocab=40, distinct=True), 40),
         "sort-digits": (partial(sort_batch, vocab=10), 10)}
TRAIN_LENGTHS = (5, 25)
BUCKETS = ((5, 9), (10, 14), (15, 19), (20, 25), (26, 30), (31, 35))     # the last two: longer than any in training
PROTOCOL = {"batch": 32, "train_lengths": list(TRAIN_LENGTHS), "eval_lengths": [5, 35], "eval_per_length": 100,
            "embed": 32, "hidden": 64, "cell": "lstm", "bidirectional": True, "optimizer": "adam", "lr": 3e-3,
            "clip": 1.0, "decoding": "greedy", "metric": "exact match (every target token right)",
            "tasks": {"reversal": "digits 0..9 reversed", "sort": "distinct numbers 0..39 sorted ascending",
                      "sort-digits": "digits 0..9 (repeats) sorted ascending"}}


def train(task, attention, steps, seed):
    """A fresh model trained on `task`; every model of a task sees the same batches."""
    make, vocab = TASKS[task]
    mg.manual_seed(seed)
    model = Seq2Seq(vocab, vocab, embed=PROTOCOL["embed"], hidden=PROTOCOL["hidden"], cell="lstm",
                    bidirectional=True, attention=attention)
    rng = np.random.default_rng(seed)

    def make_batch(step):
        src, tgt = make(rng, PROTOCOL["batch"], int(rng.integers(TRAIN_LENGTHS[0], TRAIN_LENGTHS[1] + 1)))
        return src, tgt, None

    start = time.perf_counter()
    losses = train_seq2seq(model, make_batch, steps, lr=PROTOCOL["lr"], clip=PROTOCOL["clip"], log=None)
    return model, losses, time.perf_counter() - start


def exact_match_by_length(model, task, seed):
    """{length: fraction of fresh sources decoded entirely right}, greedy, for every length in BUCKETS."""
    make, _ = TASKS[task]
    rng = np.random.default_rng([seed, 1])
    out = {}
    for low, high in BUCKETS:
        for length in range(low, high + 1):
            src, tgt = make(rng, PROTOCOL["eval_per_length"], length)
            out[length] = float((model.greedy(src, length) == tgt).all(axis=1).mean())
    return out


def bucketed(by_length):
    return {f"{low}-{high}": round(float(np.mean([by_length[n] for n in range(low, high + 1)])), 4)
            for low, high in BUCKETS}


def save_picture(model, path, length=12, seed=3):
    """The reversal model's attention on one fresh source: the anti-diagonal, one output token per row."""
    import matplotlib
    matplotlib.use("Agg")
    import viz
    src, _ = TASKS["reversal"][0](np.random.default_rng(seed), 1, length)
    ids = model.greedy(src, length)
    with mg.no_grad():
        _, w = model(src, np.concatenate([[[model.bos]], ids[:, :-1]], axis=1), return_attention=True)
    fig = viz.plot_attention(w[0], [str(t) for t in src[0]], [str(t) for t in ids[0]],
                             title=f"Reversal, additive attention (source length {length})")
    fig.savefig(path, dpi=80, bbox_inches="tight")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", nargs="+", default=list(TASKS), choices=list(TASKS))
    parser.add_argument("--steps", type=int, default=2000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--attention", default="additive", choices=("additive", "dot", "general"))
    parser.add_argument("--out", default=os.path.join(HERE, "results_attention.json"))
    parser.add_argument("--picture", default=os.path.join(HERE, "..", "docs", "attention_reversal.png"),
                        help="where the reversal model's attention picture goes ('' for none)")
    args = parser.parse_args(argv)
    results = {"protocol": {**PROTOCOL, "steps": args.steps, "seed": args.seed, "attention": args.attention,
                            "machine": f"{platform.machine()}, {os.cpu_count()} cores, shared with a background "
                                       "training job at nice 19", "python": platform.python_version()},
               "runs": []}
    start = time.perf_counter()
    for task in args.tasks:
        for attention in (None, args.attention):
            model, losses, seconds = train(task, attention, args.steps, args.seed)
            by_length = exact_match_by_length(model, task, args.seed)
            run = {"task": task, "model": attention or "plain", "train_seconds": round(seconds, 1),
                   "final_loss": round(float(np.mean(losses[-50:])), 5), "exact_match": bucketed(by_length),
                   "exact_match_by_length": by_length}
            results["runs"].append(run)
            print(f"{task:11s} {run['model']:9s} {seconds:6.1f}s loss {run['final_loss']:.4f}  " +
                  "  ".join(f"{k}: {v:.2f}" for k, v in run["exact_match"].items()), flush=True)
            if task == "reversal" and attention and args.picture:
                save_picture(model, args.picture)
    results["wall_seconds"] = round(time.perf_counter() - start, 1)
    with open(args.out, "w") as f:
        json.dump(results, f, indent=1)
    print_table(results)


def print_table(results):
    """The Markdown table: exact match per source-length bucket, a row per task and model."""
    trained = results["protocol"]["train_lengths"]
    heads = [f"{low}-{high}" + ("" if high <= trained[1] else " *") for low, high in BUCKETS]
    print("| task | model | " + " | ".join(heads) + " |")
    print("|---|---|" + "---:|" * len(BUCKETS))
    for run in results["runs"]:
        print(f"| {run['task']} | {run['model']} | " + " | ".join(f"{v:.0%}" for v in run["exact_match"].values())
              + " |")
    print(f"\n\\* longer than any source in training ({trained[0]}..{trained[1]})")


if __name__ == "__main__":
    main()
