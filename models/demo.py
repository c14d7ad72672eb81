"""`make demo`: train a character-level LSTM on Tiny Shakespeare for about two minutes, then sample from it,
and from the model shipped in models/pretrained/ (a 2x512 LSTM trained for 42 minutes) when it is there.

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
from models.char_lm.pretrained import PRETRAINED, load_pretrained  # noqa: E402

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

    if os.path.isfile(PRETRAINED):
        shipped, shipped_vocab = load_pretrained()
        print(f"\n== the shipped model ({PRETRAINED}: validation {shipped_loss(PRETRAINED):.3f} nats/char), "
              f"same prime and temperature ==\n")
        print(sample(shipped, shipped_vocab, length=400, temperature=0.8, prime="ROMEO:", seed=0))

    pictures = draw_pictures(model, vocab, args.out)

    print("\n== files written ==")
    for path in [result[key] for key in ("best", "last", "metrics")] + pictures:
        print(f"  {path}")
    print(f"  sample again:  python -m models.char_lm sample --checkpoint {args.out} --temperature 0.8")
    return 0


def shipped_loss(path):
    """The validation loss recorded in the shipped file (its best during training)."""
    import minigrad as mg
    return mg.load(path)["best_val"]


def draw_pictures(model, vocab, out, text="ROMEO:\nBut soft", long_steps=200):
    """The trained model unrolled over a few characters (cell detail), and how its gradient flows back
    through time over a longer window. viz is imported here only: models does not depend on it."""
    import numpy as np

    import minigrad.nn.functional as F
    import viz
    from models.char_lm.data import load_text

    def loss_of(chars):
        ids = np.asarray(vocab.encode(chars), dtype=np.int64)[:, None]          # (T + 1, batch 1)
        logits, _ = model(ids[:-1])
        return F.cross_entropy(logits.reshape(-1, len(vocab)), ids[1:].reshape(-1))

    unrolled = viz.render(loss_of(text), os.path.join(out, "unrolled.svg"), module=model, detail="cell")
    loss = loss_of(load_text()[:long_steps + 1])
    states = viz.step_states(loss)
    loss.backward()
    figure = viz.plot_grad_flow({"LSTM-128 (trained)": states}, title="||dL/dh_t|| over 200 characters")
    flow = os.path.join(out, "grad_flow.png")
    figure.savefig(flow, dpi=100)
    return [unrolled, flow]


if __name__ == "__main__":
    sys.exit(main())
