"""`python -m models.char_lm train|sample|export|inspect|corpus ...`: train a character-level language model, sample
from one, export a checkpoint's weights as a small file to share (models/pretrained/ ships one), look inside one
(inspect), or write a source-code corpus (corpus)."""
import argparse
import os
import sys

from ..cells import CELLS
from minigrad.cli import (UsageError, check_device, check_out_dir, check_out_file, device, finite_float, fraction,
                          nonneg_float, nonneg_int, positive_float, positive_int, run)
from .pretrained import EXPORT_DTYPES, export
from .train import NUMBERED, TrainConfig, TrainingDiverged, numbered_checkpoints, overwritten_by, train


def unit_interval(text):
    """An argparse type: a number in (0, 1] (a decay factor, a probability mass)."""
    value = finite_float(text)
    if not 0 < value <= 1:
        raise argparse.ArgumentTypeError(f"must be in (0, 1], got {value}")
    return value


def build_parser():
    p = argparse.ArgumentParser(allow_abbrev=False, prog="python -m models.char_lm", description=__doc__.strip("`"))
    sub = p.add_subparsers(dest="command", required=True)

    t = sub.add_parser("train", allow_abbrev=False,
                       help="train on a text file; checkpoints and metrics.jsonl go to --out DIR")
    t.add_argument("--data", default=None, help="a UTF-8 text file (default: the bundled Tiny Shakespeare)")
    t.add_argument("--cell", choices=tuple(CELLS), default="lstm")
    t.add_argument("--layers", type=positive_int, default=2)
    t.add_argument("--hidden", type=positive_int, default=128)
    t.add_argument("--embed", type=nonneg_int, default=128, help="embedding size; 0 feeds one-hot characters")
    t.add_argument("--seq-len", type=positive_int, default=50, help="BPTT window length T")
    t.add_argument("--batch", type=positive_int, default=50, help="parallel streams B")
    t.add_argument("--steps", type=positive_int, default=None, help="total steps (default 2000 unless --minutes)")
    t.add_argument("--minutes", type=positive_float, default=None, help="stop after this much wall time")
    t.add_argument("--optimizer", choices=("adam", "adagrad", "rmsprop", "sgd"), default="adam")
    t.add_argument("--lr", type=positive_float, default=None, help="learning rate (default: adam/rmsprop 2e-3, "
                                                          "adagrad 0.1, sgd 1.0)")
    t.add_argument("--clip", type=nonneg_float, default=5.0,
                   help="max gradient norm; 0 switches clipping off (default 5)")
    t.add_argument("--dropout", type=fraction, default=0.0)
    t.add_argument("--unroll", action="store_true",
                   help="the teaching path: one graph node per time step, as the pictures draw it (default: the "
                        "speed path, one node per layer and direction; both train the same model and checkpoint)")
    t.add_argument("--val-every", type=positive_int, default=200, help="validate and checkpoint every K steps")
    t.add_argument("--val-fraction", type=fraction, default=0.1,
                   help="the final part of the text kept for validation, in [0, 1); 0: no validation, no best.ckpt")
    t.add_argument("--device", type=device, default="cpu", help="cpu or cuda")
    t.add_argument("--dtype", choices=("float32", "float64"), default="float32")
    t.add_argument("--seed", type=nonneg_int, default=0)
    t.add_argument("--out", required=True, help="folder for last.ckpt, best.ckpt and metrics.jsonl")
    t.add_argument("--resume", action="store_true",
                   help="go on from DIR/last.ckpt exactly, with its settings: only --steps/--minutes/--device/"
                        "--sample-every may change; any other flag that differs from the checkpoint is refused")
    t.add_argument("--no-progress", action="store_true", help="no progress bar")
    t.add_argument("--lr-decay", type=unit_interval, default=None, metavar="GAMMA",
                   help="multiply the learning rate by GAMMA in (0, 1] every --lr-decay-every steps")
    t.add_argument("--lr-decay-every", type=positive_int, default=None, metavar="N",
                   help="steps between two --lr-decay multiplications (both flags or neither)")
    t.add_argument("--checkpoint-every", type=positive_int, default=None, metavar="N",
                   help=f"also keep a numbered checkpoint every N steps ({NUMBERED.format(200)}, ...) beside "
                        f"last/best; never overwritten")
    t.add_argument("--sample-every", type=positive_int, default=None, metavar="N",
                   help="write a sample into metrics.jsonl every N steps (may change on --resume)")
    t.add_argument("--init-from", default=None, metavar="CKPT",
                   help="start from this checkpoint's weights (a .ckpt file, or a training --out DIR: its "
                        "best.ckpt, else last.ckpt) on --data with the same vocabulary; its model sizes, a fresh "
                        "optimizer and step 0")

    s = sub.add_parser("sample", allow_abbrev=False, help="generate text from a checkpoint")
    s.add_argument("--checkpoint", required=True, help="a training --out DIR (uses best.ckpt) or a .ckpt file")
    s.add_argument("--length", type=positive_int, default=500, help="characters to generate")
    s.add_argument("--temperature", type=nonneg_float, default=0.8,
                   help="divides the logits: <1 sharper, 0 = argmax (greedy), >1 flatter")
    s.add_argument("--top-k", type=positive_int, default=None, help="sample among the k likeliest characters only")
    s.add_argument("--top-p", type=unit_interval, default=None, metavar="P",
                   help="nucleus sampling: draw among the likeliest characters whose probabilities sum to P")
    s.add_argument("--beam", type=positive_int, default=None, metavar="K",
                   help="beam search with K beams (1: greedy) instead of drawing")
    s.add_argument("--prime", default=None, help="text to start from (default: a newline)")
    s.add_argument("--prime-file", default=None, metavar="FILE", help="start from the text of a UTF-8 file")
    s.add_argument("--seed", type=nonneg_int, default=0)
    s.add_argument("--device", type=device, default="cpu", help="cpu or cuda")

    e = sub.add_parser("export", allow_abbrev=False,
                       help="write a checkpoint's weights, sizes and vocabulary (no optimizer state) to a file")
    e.add_argument("--checkpoint", required=True, help="a training --out DIR (uses best.ckpt) or a .ckpt file")
    e.add_argument("--out", required=True, help="the file to write (e.g. models/pretrained/shakespeare_lstm.ckpt)")
    e.add_argument("--dtype", choices=EXPORT_DTYPES, default="float16",
                   help="how the weights are stored (they load back into float32)")
    add_inspect_and_corpus(sub)
    return p


def add_inspect_and_corpus(sub):
    """The `inspect` (cells and confidence as heatmaps) and `corpus` (a source-code text) subcommands."""
    i = sub.add_parser("inspect", allow_abbrev=False,
                       help="colour a text by one cell's activation and by the model's confidence (HTML, PNG); "
                            "find the cells that track line position, quotes, brackets, indentation ...")
    i.add_argument("--checkpoint", required=True, help="a training --out DIR (uses best.ckpt) or a .ckpt file")
    i.add_argument("--text", required=True, help="a UTF-8 text file to read")
    i.add_argument("--out", required=True, help="the HTML file to write")
    i.add_argument("--png", default=None, help="also a PNG of the cell, the confidence under each line")
    i.add_argument("--cell", type=nonneg_int, default=None, help="the cell to show (default: the one that "
                                                                 "correlates best with a text feature)")
    i.add_argument("--layer", type=nonneg_int, default=None, help="its layer (default: the last; with no --cell, "
                                                                  "the search keeps to --layer)")
    i.add_argument("--value", choices=("c", "h"), default=None,
                   help="c: tanh of the LSTM's cell state, h: the hidden state (default: c for an LSTM)")
    i.add_argument("--top", type=nonneg_int, default=3, help="also render the N most feature-like cells")
    i.add_argument("--chars", type=positive_int, default=2000, help="read the first N characters of --text")
    i.add_argument("--device", type=device, default="cpu", help="cpu or cuda")

    c = sub.add_parser("corpus", allow_abbrev=False, help="write a corpus that needs no download")
    c.add_argument("kind", choices=("python-source",),
                   help="python-source: this Python's standard library sources, concatenated")
    c.add_argument("--out", required=True, help="the text file to write")
    c.add_argument("--max-chars", type=positive_int, default=None, help="stop after N characters")


RESUMABLE = ("steps", "minutes", "device", "out", "resume", "no_progress", "sample_every")  # may differ on --resume
MODEL_SIZES = ("cell", "hidden", "layers", "embed")          # --init-from takes these from its checkpoint


def given_flags(parser, argv):
    """The dests of the train options written out in argv (not taken from their defaults)."""
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction)).choices["train"]
    tokens = [t.split("=", 1)[0] for t in argv]
    return {a.dest for a in sub._actions if any(o in tokens for o in a.option_strings)}


def check_data(path):
    """--data must be a UTF-8 text file of at least 2 characters (UsageError otherwise)."""
    if path is None:
        return
    if not os.path.exists(path):
        raise UsageError(f"--data {path}: no such file")
    if os.path.isdir(path):
        raise UsageError(f"--data {path}: is a folder; give a UTF-8 text file")
    with open(path, "rb") as f:
        raw = f.read()
    if b"\0" in raw:
        raise UsageError(f"--data {path}: a binary file; give a UTF-8 text file")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as e:
        raise UsageError(f"--data {path}: not UTF-8 text (byte {e.start}); convert it to UTF-8") from None
    if len(text) < 2:
        raise UsageError(f"--data {path}: holds {len(text)} character(s); a language model needs more text")


def read_text_file(path, flag):
    """The text of a UTF-8 file that must exist and hold something (UsageError naming `flag` otherwise)."""
    if not os.path.exists(path):
        raise UsageError(f"{flag} {path}: no such file")
    if os.path.isdir(path):
        raise UsageError(f"{flag} {path}: is a folder; give a UTF-8 text file")
    try:
        with open(path, "rb") as f:
            raw = f.read()
    except OSError as e:
        raise UsageError(f"{flag} {path}: not readable ({e.strerror or e})") from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as e:
        raise UsageError(f"{flag} {path}: not UTF-8 text (byte {e.start}); convert it to UTF-8") from None
    if not text:
        raise UsageError(f"{flag} {path}: the file is empty")
    return text


def check_schedule(args):
    """--lr-decay and --lr-decay-every come together."""
    if (args.lr_decay is None) != (args.lr_decay_every is None):
        given, missing = ("--lr-decay", "--lr-decay-every N") if args.lr_decay is not None else \
            ("--lr-decay-every", "--lr-decay GAMMA")
        raise UsageError(f"{given} needs {missing} too (the lr is multiplied by GAMMA every N steps)")


def check_numbered(args):
    """A fresh run with --checkpoint-every must not meet another run's numbered checkpoints in --out."""
    found = numbered_checkpoints(args.out) if args.checkpoint_every and not args.resume else []
    if found:
        raise UsageError(f"--checkpoint-every: {args.out} already holds numbered checkpoints ({found[0]} ... "
                         f"{found[-1]}) from another run, which are never overwritten; use another --out")


def check_init_from(args, given):
    """--init-from: a char-LM checkpoint whose model sizes the flags given do not contradict and whose vocabulary
    is the new text's; fills args' model sizes (and dropout, dtype unless given) from it."""
    from .data import Vocab, load_text
    from .sample import check_model_config
    from .train import load_checkpoint
    path = args.init_from
    if args.resume:
        raise UsageError("--init-from and --resume exclude each other: --resume goes on with the run in --out, "
                         "--init-from starts a new run from another run's weights")
    if not os.path.exists(path):
        raise UsageError(f"--init-from {path}: no such file or folder")
    doomed = overwritten_by(path, args.out)
    if doomed:
        raise UsageError(f"--init-from {path}: {doomed} would be written over by this run; use another --out")
    ckpt = load_checkpoint(path)
    check_model_config(ckpt)
    config = ckpt["model_config"]
    conflicts = [f"--{k} {getattr(args, k)} (checkpoint: {config[k]})" for k in MODEL_SIZES
                 if k in given and getattr(args, k) != config[k]]
    if conflicts:
        raise UsageError(f"--init-from {path}: flags contradict the checkpoint's model: " + "; ".join(conflicts)
                         + " (the model's sizes come from the checkpoint)")
    differs = Vocab(ckpt["vocab"]).difference(load_text(args.data))
    if differs:
        raise UsageError(f"--init-from {path}: {differs}; a warm start needs the same vocabulary")
    for k in MODEL_SIZES:
        setattr(args, k, config[k])
    if "dropout" not in given:
        args.dropout = config["dropout"]
    if "dtype" not in given:
        stored = next(iter(ckpt["model"].values())).dtype
        args.dtype = "float32" if stored.itemsize < 4 else str(stored)    # exported float16: storage only


def check_prime(args):
    """The prime text from --prime or --prime-file (not both), or None."""
    if args.prime_file is None:
        return args.prime
    if args.prime is not None:
        raise UsageError("--prime-file and --prime exclude each other: give the prime text one way")
    return read_text_file(args.prime_file, "--prime-file")


def check_resume(args, given):
    """The checkpoint to resume from must exist, and flags given must agree with its settings."""
    from .train import LAST, load_checkpoint
    path = os.path.join(args.out, LAST)
    if not os.path.isfile(path):
        raise UsageError(f"--resume: no {path} to go on from; train without --resume first")
    from .sample import check_model_config
    ckpt = load_checkpoint(path)
    check_model_config(ckpt)                      # sane sizes that match the tensors, before anything is built
    saved, model_config = ckpt.get("config"), ckpt["model_config"]
    if not isinstance(saved, dict) or any(saved.get(k) != model_config[k] for k in ("cell", "hidden", "layers",
                                                                                   "embed")):
        raise ValueError(f"{path}: the training config does not match the model in the checkpoint")
    conflicts = []
    for dest in sorted(given - set(RESUMABLE)):
        new, old = getattr(args, dest), saved.get(dest)
        if dest == "data" and new is not None and old is not None:
            same = os.path.abspath(new) == os.path.abspath(old)
        else:
            same = new == old
        if not same:
            conflicts.append(f"--{dest.replace('_', '-')} {new} (checkpoint: {old})")
    if conflicts:
        raise UsageError("--resume: flags contradict the checkpoint: " + "; ".join(conflicts)
                         + " (only --steps/--minutes/--device/--sample-every may change)")


def main(argv=None):
    argv = sys.argv[1:] if argv is None else list(argv)
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command == "inspect":
        from .inspect_cells import run_inspect
        return run_inspect(args, read_text_file(args.text, "--text"))
    if args.command == "corpus":
        from .corpus import run_corpus
        return run_corpus(args)
    if args.command != "export":
        check_device(args.device)
    if args.command == "train":
        check_schedule(args)
        check_data(args.data)
        check_out_dir(args.out)
        check_numbered(args)
        given = given_flags(parser, argv)
        if args.init_from is not None:
            check_init_from(args, given)
        if args.resume:
            check_resume(args, given)
        cfg = TrainConfig(data=args.data, cell=args.cell, layers=args.layers, hidden=args.hidden, embed=args.embed,
                          dropout=args.dropout, unroll=args.unroll, seq_len=args.seq_len, batch=args.batch,
                          steps=args.steps, minutes=args.minutes, optimizer=args.optimizer, lr=args.lr, clip=args.clip,
                          val_every=args.val_every, val_fraction=args.val_fraction, device=args.device,
                          dtype=args.dtype, seed=args.seed, out=args.out, progress=not args.no_progress,
                          lr_decay=args.lr_decay, lr_decay_every=args.lr_decay_every,
                          checkpoint_every=args.checkpoint_every, init_from=args.init_from,
                          sample_every=args.sample_every)
        try:
            train(cfg, resume=args.resume)
        except TrainingDiverged as e:
            print(f"error: {e}", file=sys.stderr)
            return 1
        except KeyboardInterrupt:
            print(f"\ninterrupted; `--resume` goes on from {os.path.join(args.out, 'last.ckpt')}", file=sys.stderr)
            return 130
        return 0
    if args.command == "export":
        if not os.path.exists(args.checkpoint):
            raise UsageError(f"--checkpoint {args.checkpoint}: no such file or folder")
        check_out_file(args.out)
        export(args.checkpoint, args.out, args.dtype)
        print(f"wrote {args.out} ({os.path.getsize(args.out) / 1e6:.1f} MB, {args.dtype} weights)")
        return 0
    from .sample import load_model, sample
    prime = check_prime(args)
    if args.beam is not None and (args.top_k is not None or args.top_p is not None):
        drawing = " and ".join(f for f, v in (("--top-k", args.top_k), ("--top-p", args.top_p)) if v is not None)
        raise UsageError(f"--beam and {drawing} exclude each other: beam search keeps the likeliest continuations, "
                         f"{drawing} shape random draws")
    if not os.path.exists(args.checkpoint):
        raise UsageError(f"--checkpoint {args.checkpoint}: no such file or folder")
    model, vocab = load_model(args.checkpoint, args.device)
    if prime:
        unknown = sorted(set(prime) - set(vocab.index))
        if unknown:
            flag = "--prime" if args.prime_file is None else f"--prime-file {args.prime_file}"
            raise UsageError(f"{flag}: characters not in the model's vocabulary: {''.join(unknown)!r}")
    decoding = {k: v for k, v in (("top_p", args.top_p), ("beam", args.beam)) if v is not None}
    print(sample(model, vocab, args.length, args.temperature, args.top_k, prime, args.seed, **decoding))
    return 0


if __name__ == "__main__":
    sys.exit(run(main))
