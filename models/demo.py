"""`make demo`: train a character-level LSTM on Tiny Shakespeare for about two minutes, then sample from it.

One LSTM layer of 128 units over a 128-wide embedding, batches of 50 streams x 50 characters, Adam;
validation loss (nats per character) on the last 10% of the text. Writes runs/demo/{last,best}.ckpt and
metrics.jsonl; `python -m models.char_lm sample --checkpoint runs/demo` samples again.
"""
import os

# Small matrices: BLAS threads cost more than they give (and fight over a busy CPU). Set before NumPy loads.
for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import argparse  # noqa: E402
import sys  # noqa: E402

from models.char_lm import TrainConfig, load_model, sample, train  # noqa: E402

TARGET = 1.80     # nats/char the demo is expected to reach


def main(argv=None):
    p = argparse.ArgumentParser(prog="python -m models.demo", description=__doc__.split("\n")[0])
    p.add_argument("--minutes", type=float, default=2.0, help="training time budget")
    p.add_argument("--steps", type=int, default=None, help="or a number of steps")
    p.add_argument("--out", default=os.path.join("runs", "demo"))
    p.add_argument("--lr", type=float, default=5e-3)
    args = p.parse_args(argv)

    cfg = TrainConfig(cell="lstm", layers=1, hidden=128, embed=128, seq_len=50, batch=50, optimizer="adam",
                      lr=args.lr, clip=5.0, val_every=200, steps=args.steps,
                      minutes=None if args.steps else args.minutes, out=args.out, seed=0)
    print(f"== training a 1-layer LSTM-128 character model on Tiny Shakespeare "
          f"({f'{args.steps} steps' if args.steps else f'{args.minutes:g} minutes'}) ==")
    result = train(cfg)
    verdict = "reached" if result["best_val"] <= TARGET else "did NOT reach"
    print(f"\nvalidation loss {result['best_val']:.3f} nats/char after {result['step']} steps "
          f"({result['seconds']:.0f} s): {verdict} the demo's target of {TARGET}")

    model, vocab = load_model(args.out)
    print("\n== a sample (temperature 0.8, primed with 'ROMEO:') ==\n")
    print(sample(model, vocab, length=400, temperature=0.8, prime="ROMEO:", seed=0))

    print("\n== files written ==")
    for key in ("best", "last", "metrics"):
        print(f"  {result[key]}")
    print(f"  sample again:  python -m models.char_lm sample --checkpoint {args.out} --temperature 0.8")
    # viz hook: a picture of the unrolled graph is rendered here once viz provides it (see issue "viz").
    return 0


if __name__ == "__main__":
    sys.exit(main())
