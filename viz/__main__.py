"""Command line: draw a small recurrent network, or plot how its gradient flows back through time.

    python -m viz render --cell lstm --layers 2 --steps 4 --detail cell --out lstm.png
    python -m viz render --cell gru --steps 3 --rolled --out gru_rolled.svg
    python -m viz gradflow --steps 100 --out gradflow.png
"""
import argparse
import sys
import time
import warnings

import minigrad as mg
from minigrad.cli import check_out_file, nonneg_int, positive_float, positive_int, run

from . import demo
from .capture import retain_grads
from .gradflow import plot_grad_flow, step_states
from .render import DOT_TIMEOUT, FORMATS, render


GRADFLOW_FORMATS = (".png", ".svg", ".pdf")


def main(argv=None):
    parser = argparse.ArgumentParser(allow_abbrev=False, prog="python -m viz", description=__doc__.split("\n")[0])
    commands = parser.add_subparsers(dest="command", required=True, metavar="{render,gradflow}")

    p = commands.add_parser("render", allow_abbrev=False,
                            help="draw an unrolled (or rolled) RNN/LSTM/GRU with random weights",
                            description="Build a small network with random weights, run one forward and "
                                        "backward pass and draw its graph. The file extension picks the "
                                        f"format: {', '.join(sorted(FORMATS))}.")
    p.add_argument("--cell", choices=sorted(demo.LAYERS), default="lstm")
    p.add_argument("--layers", type=positive_int, default=1, metavar="L", help="stacked layers (default 1)")
    p.add_argument("--steps", type=positive_int, default=3, metavar="T", help="time steps (default 3)")
    p.add_argument("--bidirectional", action="store_true")
    p.add_argument("--detail", choices=("op", "cell"), default="op",
                   help="op: every gate operation (fine-grained cells); cell: one node per cell application")
    p.add_argument("--rolled", action="store_true", help="draw the recurrence as a cycle with a 1-step delay")
    p.add_argument("--grads", action="store_true", help="colour nodes by the norm of their gradient")
    p.add_argument("--max-steps", type=positive_int, default=None, metavar="k",
                   help="keep the first and last k steps, elide the middle")
    p.add_argument("--dot-timeout", type=positive_float, default=DOT_TIMEOUT, metavar="S",
                   help=f"seconds Graphviz may take before it is stopped (default {DOT_TIMEOUT:g})")
    p.add_argument("--rankdir", choices=("LR", "TB"), default="LR", help="the direction time runs")
    p.add_argument("--seed", type=nonneg_int, default=0)
    p.add_argument("--out", required=True, metavar="FILE", help="output file: .png .svg .pdf or .dot")

    g = commands.add_parser("gradflow", allow_abbrev=False, help="plot ||dL/dh_t|| against t for RNN, LSTM and GRU",
                            description="Random networks read one long random sequence; the loss looks at "
                                        "the last step only, so the plot shows how much gradient reaches "
                                        "each earlier step.")
    g.add_argument("--cells", default="rnn,lstm,gru", help="comma-separated, from rnn,lstm,gru")
    g.add_argument("--steps", type=positive_int, default=100, metavar="T")
    g.add_argument("--hidden", type=positive_int, default=32)
    g.add_argument("--seed", type=nonneg_int, default=0)
    g.add_argument("--out", required=True, metavar="FILE", help="image file (.png, .svg, .pdf)")

    args = parser.parse_args(argv)
    warnings.formatwarning = lambda message, *rest, **kw: f"warning: {message}\n"
    if args.command == "render":
        return _render(parser, args)
    return _gradflow(parser, args)


def _render(parser, args):
    if not any(args.out.lower().endswith(ext) for ext in FORMATS):
        parser.error(f"--out must end in one of {', '.join(sorted(FORMATS))}")
    check_out_file(args.out)
    start = time.perf_counter()
    model, loss, names = demo.build(args.cell, args.layers, args.steps, args.bidirectional,
                                    fused=args.detail == "cell", seed=args.seed, rolled=args.rolled)
    if args.grads:
        retain_grads(loss)
    loss.backward(retain_graph=True)
    built = time.perf_counter()
    render(loss, args.out, module=model, names=names, detail=args.detail, rolled=args.rolled, grads=args.grads,
           max_steps=args.max_steps, rankdir=args.rankdir, timeout=args.dot_timeout)
    done = time.perf_counter()
    print(f"wrote {args.out}: {args.cell.upper()}, {args.layers} layer(s), {args.steps} steps; "
          f"network {built - start:.2f} s, drawing {done - built:.2f} s")
    return 0


def _gradflow(parser, args):
    cells = [c.strip() for c in args.cells.split(",") if c.strip()]
    unknown = [c for c in cells if c not in demo.LAYERS]
    if unknown or not cells:
        parser.error(f"--cells: expected names from {sorted(demo.LAYERS)}, got {args.cells!r}")
    if not args.out.lower().endswith(GRADFLOW_FORMATS):
        parser.error(f"--out must end in one of {', '.join(GRADFLOW_FORMATS)}")
    check_out_file(args.out)
    lines = {}
    for cell in cells:
        mg.manual_seed(args.seed)
        layer = demo.LAYERS[cell](8, args.hidden)
        x = mg.randn(args.steps, 4, 8)
        out, _ = layer(x)
        loss = (out[-1] ** 2).sum()
        states = step_states(loss)
        loss.backward()
        lines[cell.upper()] = next(iter(states.values()))
    fig = plot_grad_flow(lines, title=f"Gradient reaching each step from a loss at t={args.steps}")
    fig.savefig(args.out, dpi=120, bbox_inches="tight")
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(run(main))
