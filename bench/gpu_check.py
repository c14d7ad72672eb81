"""Part "kernels" of bench/gpu_check.sh: the CUDA kernels against the CPU path, on the same numbers.

    python bench/gpu_check.py kernels --out OUTDIR/kernels.json [--quick] [--device auto|cpu]
    python bench/gpu_check.py bench-summary OUTDIR/lm-cuda.jsonl OUTDIR/lm-cpu.jsonl
    python bench/gpu_check.py lm-summary OUTDIR/char-lm

`kernels` builds nn.RNN (tanh, relu), nn.LSTM and nn.GRU in float32 and float64 on each of the three paths
(unroll=True with fused steps, unroll=True with fine-grained steps, unroll=False: the speed path), one layer
two bidirectional layers over a padded batch (lengths=, with initial states), and one wider layer (hidden 192,
batch 40: many thread blocks per kernel). Each layer runs forward and
backward on CUDA and on the CPU from identical weights and inputs; for every output, final state and gradient
it records the largest absolute difference and that difference relative to the largest CPU value. A
configuration passes when every difference is within the tolerance of its dtype (TOLERANCE, relative to
max(1, largest value)). Without CUDA the same configurations compare each path against the fused teaching path
on the CPU, so the code is exercised where no GPU is.

`bench-summary` and `lm-summary` turn the files of parts 4 and 5 into the summary's key figures.
Prints one line per configuration and a last line starting "kernels:"; exits 1 if any configuration fails.
"""
import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
import minigrad as mg  # noqa: E402
from minigrad import nn  # noqa: E402

TOLERANCE = {"float64": 1e-10, "float32": 1e-4}
MODES = ["rnn_tanh", "rnn_relu", "lstm", "gru"]
PATHS = {"fused": dict(unroll=True, fused=True), "fine": dict(unroll=True, fused=False),
         "layer": dict(unroll=False)}
SHAPES = {"1 layer": dict(num_layers=1, bidirectional=False, padded=False, hidden=24, batch=4),
          "2 layers, bidirectional, padded": dict(num_layers=2, bidirectional=True, padded=True, hidden=24, batch=4),
          "1 layer, hidden 192, batch 40": dict(num_layers=1, bidirectional=False, padded=False, hidden=192,
                                                batch=40)}     # many thread blocks per kernel launch
INPUT, T = 7, 9


def build(mode, path, shape, dtype, device):
    """The same layer on any device: the weights come from one seed, drawn on the CPU."""
    mg.manual_seed(7)
    kw = dict(num_layers=shape["num_layers"], bidirectional=shape["bidirectional"], dtype=dtype, **PATHS[path])
    if mode.startswith("rnn"):
        layer = nn.RNN(INPUT, shape["hidden"], nonlinearity=mode[4:], **kw)
    else:
        layer = (nn.LSTM if mode == "lstm" else nn.GRU)(INPUT, shape["hidden"], **kw)
    return layer.to(device)


def forward_backward(layer, shape, dtype, device):
    """-> {name: NumPy array} of the output, final states and the gradients of input, states and parameters."""
    rng = np.random.default_rng(3)
    D, B, H = 2 if shape["bidirectional"] else 1, shape["batch"], shape["hidden"]
    x = mg.tensor(rng.standard_normal((T, B, INPUT)), dtype=dtype, device=device, requires_grad=True)
    states = []
    if shape["padded"]:
        states = [mg.tensor(rng.standard_normal((shape["num_layers"] * D, B, H)), dtype=dtype, device=device,
                            requires_grad=True) for _ in range(layer.cell.state_size)]
    hx = None if not states else states[0] if len(states) == 1 else tuple(states)
    lengths = [T, 6, 1, 0] if shape["padded"] else None
    out, h_n = layer(x, hx, lengths=lengths)
    finals = h_n if isinstance(h_n, tuple) else (h_n,)
    weights = mg.tensor(rng.standard_normal(out.shape), dtype=dtype, device=device)
    loss = (out * weights).sum() + sum((s * s).sum() for s in finals)
    loss.backward()
    arrays = {"output": out}
    arrays.update({f"state {i}": s for i, s in enumerate(finals)})
    arrays["grad input"] = x.grad
    arrays.update({f"grad initial state {i}": s.grad for i, s in enumerate(states)})
    arrays.update({f"grad {name}": p.grad for name, p in layer.named_parameters()})
    return {name: t.numpy().astype(np.float64) for name, t in arrays.items()}


def compare(got, expected, dtype):
    """-> per-array differences, the worst relative one, and whether all are within the dtype's tolerance."""
    diffs, worst, ok = {}, 0.0, got.keys() == expected.keys()
    for name in expected:
        a, b = got.get(name), expected[name]
        if a is None or a.shape != b.shape:
            diffs[name], ok = {"error": "missing or wrong shape"}, False
            continue
        scale = float(np.abs(b).max()) if b.size else 0.0
        abs_diff = float(np.abs(a - b).max()) if b.size else 0.0
        rel = abs_diff / max(scale, 1e-30)
        passed = bool(np.isfinite(a).all()) and abs_diff <= TOLERANCE[dtype] * max(1.0, scale)
        diffs[name] = {"max_abs": abs_diff, "max_rel": rel, "pass": passed}
        worst, ok = max(worst, rel), ok and passed
    return diffs, worst, ok


def kernels(args):
    cuda = args.device != "cpu" and mg.cuda_is_available()
    what = "cuda against cpu, same path" if cuda else "no CUDA device: each path against the fused path, on cpu"
    print(f"# kernels: {what}; tolerance float64 {TOLERANCE['float64']:g}, float32 {TOLERANCE['float32']:g} "
          f"(relative to max(1, largest value))", flush=True)
    modes = MODES[::3] if args.quick else MODES                     # quick: rnn_tanh and gru
    results, start = [], time.perf_counter()
    for dtype in ("float64", "float32"):
        for mode in modes:
            for shape_name, shape in SHAPES.items():
                reference = None if cuda else forward_backward(build(mode, "fused", shape, dtype, "cpu"), shape,
                                                               dtype, "cpu")
                for path in PATHS:
                    t0 = time.perf_counter()
                    try:
                        if cuda:
                            expected = forward_backward(build(mode, path, shape, dtype, "cpu"), shape, dtype, "cpu")
                            got = forward_backward(build(mode, path, shape, dtype, "cuda"), shape, dtype, "cuda")
                        else:
                            expected = reference
                            got = forward_backward(build(mode, path, shape, dtype, "cpu"), shape, dtype, "cpu")
                        diffs, worst, ok = compare(got, expected, dtype)
                        error = None
                    except Exception as e:                          # recorded, and the other configurations go on
                        diffs, worst, ok, error = {}, float("nan"), False, f"{type(e).__name__}: {e}"
                    results.append(dict(mode=mode, path=path, shape=shape_name, dtype=dtype, pass_=ok,
                                        worst_rel=worst, error=error, seconds=round(time.perf_counter() - t0, 3),
                                        arrays=diffs))
                    print(f"{'pass' if ok else 'FAIL'}  {dtype}  {mode:8s} {path:5s} {shape_name:31s} "
                          f"worst rel {worst:.2e}" + (f"  {error}" if error else ""), flush=True)
    passed = sum(r["pass_"] for r in results)
    worst = {d: max((r["worst_rel"] for r in results if r["dtype"] == d), default=0.0) for d in TOLERANCE}
    summary = (f"{passed}/{len(results)} configurations pass ({'cuda vs cpu' if cuda else 'cpu only, no CUDA'}); "
               f"worst rel float64 {worst['float64']:.1e}, float32 {worst['float32']:.1e}; "
               f"{time.perf_counter() - start:.0f} s")
    report = dict(cuda=cuda, comparison=what, tolerance=TOLERANCE, sizes=dict(input=INPUT, T=T, shapes=SHAPES),
                  passed=passed, total=len(results), all_pass=passed == len(results), summary=summary,
                  results=[{("pass" if k == "pass_" else k): v for k, v in r.items()} for r in results])
    if args.out:
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(json.dumps(report, indent=1) + "\n")
    print(f"kernels: {summary}")
    return 0 if report["all_pass"] else 1


def bench_summary(args):
    """Median ms per (device, configuration, implementation) from bench/lm.py's files, and GPU/CPU ratios."""
    ms = {}
    for file in args.files:
        if Path(file).exists():
            for line in Path(file).read_text().splitlines():
                r = json.loads(line) if line.startswith("{") else {}
                if "ms" in r:
                    ms.setdefault((r["device"], f"{r['L']}x{r['H']}", r["impl"]), []).append(r["ms"])
    ms = {k: float(np.median(v)) for k, v in ms.items()}
    parts = []
    for config in sorted({c for _, c, _ in ms}, key=lambda c: tuple(map(int, c.split("x")))):
        cpu = ms.get(("cpu", config, "minigrad-layer"))
        cells = []
        for impl in ("minigrad-layer", "minigrad-fused", "minigrad-fine", "torch"):
            gpu = ms.get(("cuda", config, impl))
            if gpu is not None:
                cells.append(f"{impl.replace('minigrad-', '')} {gpu:.1f} ms")
        gpu = ms.get(("cuda", config, "minigrad-layer"))
        if gpu and cpu:
            cells.append(f"speed path {cpu / gpu:.1f}x its cpu ({cpu:.0f} ms)")
        elif cpu:
            cells.append(f"cpu speed path {cpu:.1f} ms")
        parts.append(f"{config}: " + ", ".join(cells))
    print("; ".join(parts) if parts else "no measurements")


def lm_summary(args):
    """The last training loss, the last validation loss and the sample's first characters."""
    folder = Path(args.folder)
    rows = [json.loads(x) for x in (folder / "metrics.jsonl").read_text().splitlines() if x.strip()] \
        if (folder / "metrics.jsonl").exists() else []
    train = [r for r in rows if "loss" in r]
    val = [r for r in rows if "val_loss" in r]
    text = []
    if train:
        text.append(f"step {train[-1]['step']} loss {train[0]['loss']:.2f} -> {train[-1]['loss']:.2f}")
    if val:
        text.append(f"val {val[-1]['val_loss']:.2f} nats/char")
    sample = folder / "sample.txt"
    if sample.exists():
        text.append("sample " + repr(sample.read_text()[:50]))
    print(", ".join(text) if text else "no metrics")


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    k = sub.add_parser("kernels", help="CUDA against CPU (or, without CUDA, the paths against each other on CPU)")
    k.add_argument("--out", help="write the report here (JSON)")
    k.add_argument("--quick", action="store_true", help="two of the four cells only")
    k.add_argument("--device", choices=["auto", "cpu"], default="auto", help="cpu: the CPU-only comparison")
    b = sub.add_parser("bench-summary", help="key figures of bench/lm.py's JSON lines")
    b.add_argument("files", nargs="+")
    s = sub.add_parser("lm-summary", help="key figures of a char-LM training folder")
    s.add_argument("folder")
    args = parser.parse_args()
    return {"kernels": kernels, "bench-summary": bench_summary, "lm-summary": lm_summary}[args.command](args) or 0


if __name__ == "__main__":
    sys.exit(main())
