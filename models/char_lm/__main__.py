"""`python -m models.char_lm train|sample ...`: train a character-level language model, or sample from one."""
import argparse
import os
import sys


from ..cells import CELLS
from .train import TrainConfig, TrainingDiverged, train


def build_parser():
    p = argparse.ArgumentParser(prog="python -m models.char_lm", description=__doc__.strip("`"))
    sub = p.add_subparsers(dest="command", required=True)

    t = sub.add_parser("train", help="train on a text file; checkpoints and metrics.jsonl go to --out DIR")
    t.add_argument("--data", default=None, help="a UTF-8 text file (default: the bundled Tiny Shakespeare)")
    t.add_argument("--cell", choices=tuple(CELLS), default="lstm")
    t.add_argument("--layers", type=int, default=2)
    t.add_argument("--hidden", type=int, default=128)
    t.add_argument("--embed", type=int, default=128, help="embedding size; 0 feeds one-hot characters")
    t.add_argument("--seq-len", type=int, default=50, help="BPTT window length T")
    t.add_argument("--batch", type=int, default=50, help="parallel streams B")
    t.add_argument("--steps", type=int, default=None, help="total steps (default 2000 unless --minutes)")
    t.add_argument("--minutes", type=float, default=None, help="stop after this much wall time")
    t.add_argument("--optimizer", choices=("adam", "adagrad", "rmsprop", "sgd"), default="adam")
    t.add_argument("--lr", type=float, default=None, help="learning rate (default: adam/rmsprop 2e-3, "
                                                          "adagrad 0.1, sgd 1.0)")
    t.add_argument("--clip", type=float, default=5.0, help="max gradient norm (0: no clipping)")
    t.add_argument("--dropout", type=float, default=0.0)
    t.add_argument("--unroll", action="store_true",
                   help="the teaching path: one graph node per time step, as the pictures draw it (default: the "
                        "speed path, one node per layer and direction; both train the same model and checkpoint)")
    t.add_argument("--val-every", type=int, default=200, help="validate and checkpoint every K steps")
    t.add_argument("--val-fraction", type=float, default=0.1, help="the final part of the text kept for validation")
    t.add_argument("--device", default="cpu", help="cpu or cuda")
    t.add_argument("--dtype", choices=("float32", "float64"), default="float32")
    t.add_argument("--seed", type=int, default=0)
    t.add_argument("--out", required=True, help="folder for last.ckpt, best.ckpt and metrics.jsonl")
    t.add_argument("--resume", action="store_true",
                   help="go on from DIR/last.ckpt exactly (its settings; only --steps/--minutes/--device apply)")
    t.add_argument("--no-progress", action="store_true", help="no progress bar")

    s = sub.add_parser("sample", help="generate text from a checkpoint")
    s.add_argument("--checkpoint", required=True, help="a training --out DIR (uses best.ckpt) or a .ckpt file")
    s.add_argument("--length", type=int, default=500)
    s.add_argument("--temperature", type=float, default=0.8,
                   help="divides the logits: <1 sharper, 0 = argmax (greedy), >1 flatter")
    s.add_argument("--top-k", type=int, default=None, help="sample among the k likeliest characters only")
    s.add_argument("--prime", default=None, help="text to start from (default: a newline)")
    s.add_argument("--seed", type=int, default=0)
    s.add_argument("--device", default="cpu")
    return p


def main(argv=None):
    args = build_parser().parse_args(argv)
    if args.command == "train":
        cfg = TrainConfig(data=args.data, cell=args.cell, layers=args.layers, hidden=args.hidden, embed=args.embed,
                          dropout=args.dropout, unroll=args.unroll, seq_len=args.seq_len, batch=args.batch,
                          steps=args.steps, minutes=args.minutes, optimizer=args.optimizer, lr=args.lr, clip=args.clip,
                          val_every=args.val_every, val_fraction=args.val_fraction, device=args.device,
                          dtype=args.dtype, seed=args.seed, out=args.out, progress=not args.no_progress)
        try:
            train(cfg, resume=args.resume)
        except TrainingDiverged as e:
            print(f"error: {e}", file=sys.stderr)
            return 1
        except KeyboardInterrupt:
            print(f"\ninterrupted; `--resume` goes on from {os.path.join(args.out, 'last.ckpt')}", file=sys.stderr)
            return 130
        return 0
    from .sample import load_model, sample
    model, vocab = load_model(args.checkpoint, args.device)
    print(sample(model, vocab, args.length, args.temperature, args.top_k, args.prime, args.seed))
    return 0


if __name__ == "__main__":
    sys.exit(main())
