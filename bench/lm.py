"""LSTM character language-model benchmark (torch-rnn's protocol against char-rnn).

    python bench/lm.py --quick                 # a 1-minute subset
    python bench/lm.py                         # the full grid: layers 1-3 x hidden 64-512
    python bench/lm.py --suite overhead|sweep|long
    python bench/lm.py --device cuda           # the same protocol on the GPU (CuPy; cuDNN if PyTorch is there)

Protocol: vocabulary 65 (the bundled corpus), embedding 64, batch 50, sequence length 50, no dropout,
float32, Adam; the time of one training iteration (forward + backward + step) after warm-up, the median
of several iterations, and the peak RSS, each configuration and implementation in its own process. The
implementations run interleaved, `--repeats` rounds, and each figure is the median over rounds.

Implementations: minigrad with fused cells, minigrad with fine-grained cells, the hand-written NumPy LSTM
of models/numpy_lstm_lm.py (hand-derived backward, flat-buffer Adam), and PyTorch when it is installed
(optional; never a dependency). Writes one JSON line per measurement to --out.
"""
import argparse
import json
import os
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
IMPLS = ("minigrad-fused", "minigrad-fine", "numpy", "torch")


# ----------------------------------------------------------------------------- one measurement (worker)

def corpus_batches(B, T, device="cpu"):
    """Endless (x, y) token batches (B, T) of the bundled corpus as NumPy int64 arrays."""
    import numpy as np
    with open(os.path.join(ROOT, "models", "data", "tinyshakespeare.txt"), encoding="utf-8") as f:
        text = f.read()
    chars = sorted(set(text))
    lut = {c: i for i, c in enumerate(chars)}
    tokens = np.array([lut[c] for c in text[:200_000]], dtype=np.int64)
    pos = 0
    while True:
        if pos + B * T + 1 > len(tokens):
            pos = 0
        chunk = tokens[pos:pos + B * T + 1]
        yield chunk[:-1].reshape(B, T), chunk[1:].reshape(B, T), len(chars)
        pos += B * T


def make_minigrad_step(vocab, E, H, L, fused, device, seed):
    import minigrad as mg
    from minigrad import nn, optim
    import minigrad.nn.functional as F
    mg.manual_seed(seed)

    class LM(nn.Module):
        def __init__(self):
            super().__init__()
            self.embedding = nn.Embedding(vocab, E)
            self.lstm = nn.LSTM(E, H, num_layers=L, fused=fused)
            self.decoder = nn.Linear(H, vocab)

        def forward(self, x):                       # x (B, T) -> logits (T*B, vocab)
            out, _ = self.lstm(self.embedding(x.T))
            return self.decoder(out.reshape(-1, H))

    model = LM().to(device)
    opt = optim.Adam(model.parameters(), lr=2e-3)

    def step(x, y):
        x, y = mg.tensor(x, device=device), mg.tensor(y.T.reshape(-1), device=device)
        loss = F.cross_entropy(model(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
        return loss.item()
    return step


def make_numpy_step(vocab, E, H, L, seed):
    from models.numpy_lstm_lm import NumpyLSTMLM
    model = NumpyLSTMLM(vocab, E, H, L, seed=seed, lr=2e-3)
    return lambda x, y: model.train_step(x, y)


def make_torch_step(vocab, E, H, L, device, seed):
    import torch
    torch.manual_seed(seed)
    dev = "cuda" if device == "cuda" else "cpu"
    emb, lstm, dec = torch.nn.Embedding(vocab, E), torch.nn.LSTM(E, H, L), torch.nn.Linear(H, vocab)
    mods = torch.nn.ModuleList([emb, lstm, dec]).to(dev)
    opt = torch.optim.Adam(mods.parameters(), lr=2e-3)

    def step(x, y):
        x, y = torch.from_numpy(x).to(dev), torch.from_numpy(y.T.reshape(-1).copy()).to(dev)
        out, _ = lstm(emb(x.T))
        loss = torch.nn.functional.cross_entropy(dec(out.reshape(-1, H)), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
        return loss.item()
    return step


def worker(args):
    """Time one implementation on one configuration; print one JSON line."""
    import resource
    cfg = json.loads(args.worker)
    impl, L, H, B, T, E, device = cfg["impl"], cfg["L"], cfg["H"], cfg["B"], cfg["T"], cfg["E"], cfg["device"]
    batches = corpus_batches(B, T)
    x, y, vocab = next(batches)
    if impl.startswith("minigrad"):
        step = make_minigrad_step(vocab, E, H, L, impl == "minigrad-fused", device, 0)
    elif impl == "numpy":
        step = make_numpy_step(vocab, E, H, L, 0)
    else:
        step = make_torch_step(vocab, E, H, L, device, 0)
    sync = _sync(impl, device)
    for _ in range(cfg["warmup"]):
        step(*next(batches)[:2])
    times, deadline = [], time.perf_counter() + cfg["max_seconds"]
    for i in range(cfg["iters"]):
        x, y, _ = next(batches)
        t0 = time.perf_counter()
        loss = step(x, y)
        sync()
        times.append(time.perf_counter() - t0)
        if time.perf_counter() > deadline and i >= 2:
            break
    times.sort()
    rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps(dict(cfg, ms=1e3 * times[len(times) // 2], iters_done=len(times),
                          tokens_per_s=B * T / times[len(times) // 2], peak_rss_mb=round(rss_mb, 1),
                          loss=loss)))


def _sync(impl, device):
    if device != "cuda":
        return lambda: None
    if impl == "torch":
        import torch
        return torch.cuda.synchronize
    import cupy
    return cupy.cuda.Device().synchronize


# ----------------------------------------------------------------------------- the driver

def available_impls(device):
    impls = ["minigrad-fused", "minigrad-fine"] + (["numpy"] if device == "cpu" else [])
    try:
        import torch  # noqa: F401
        impls.append("torch")
    except ImportError:
        pass
    return impls


def run_one(cfg, malloc_top_pad=None):
    env = dict(os.environ, PYTHONPATH=ROOT + os.pathsep + os.environ.get("PYTHONPATH", ""))
    if malloc_top_pad:                  # glibc keeps this much freed memory instead of faulting it back in
        env["MALLOC_TOP_PAD_"] = str(malloc_top_pad)
        cfg = dict(cfg, malloc_top_pad=malloc_top_pad)
    proc = subprocess.run([sys.executable, __file__, "--worker", json.dumps(cfg)], capture_output=True,
                          text=True, env=env, timeout=1800)
    if proc.returncode != 0:
        return dict(cfg, error=proc.stderr.strip().splitlines()[-1] if proc.stderr else "failed")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def suite_configs(args):
    base = dict(B=50, T=50, E=64, device=args.device, warmup=2, iters=args.iters, max_seconds=args.max_seconds)
    if args.suite == "overhead":
        return [dict(base, L=1, H=32, B=1, T=25, iters=max(args.iters, 200))]
    if args.suite == "sweep":
        return [dict(base, L=2, H=128, T=T, iters=min(args.iters, 5)) for T in (50, 200, 1000, 2000)]
    if args.suite == "long":
        return [dict(base, L=1, H=128, B=8, T=10_000, warmup=0, iters=1)]
    if args.quick:
        return [dict(base, L=L, H=H) for L, H in ((1, 128), (2, 256))] + \
               [dict(base, L=1, H=32, B=1, T=25, iters=200)]
    grid = [(L, H) for L in (1, 2, 3) for H in (64, 128, 256, 512)]
    if args.only:
        wanted = {tuple(int(v) for v in item.lower().split("x")) for item in args.only.split(",")}
        grid = [lh for lh in grid if lh in wanted]
    return [dict(base, L=L, H=H) for L, H in grid]


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--quick", action="store_true", help="a 1-minute subset")
    p.add_argument("--suite", choices=("grid", "overhead", "sweep", "long"), default="grid")
    p.add_argument("--device", default="cpu", choices=("cpu", "cuda"))
    p.add_argument("--only", default=None, help="grid subset as LAYERSxHIDDEN, e.g. 2x256,3x128")
    p.add_argument("--impls", default=None, help="comma-separated subset of " + ",".join(IMPLS))
    p.add_argument("--repeats", type=int, default=3, help="interleaved rounds; figures are medians over rounds")
    p.add_argument("--iters", type=int, default=10, help="timed iterations per process")
    p.add_argument("--max-seconds", type=float, default=20.0, help="stop timing a process after this long")
    p.add_argument("--malloc-top-pad", type=int, default=None, metavar="BYTES",
                   help="run every worker with MALLOC_TOP_PAD_=BYTES (glibc): freed memory is kept for reuse "
                        "instead of being returned to the OS and faulted in again (see PERF_NOTES)")
    p.add_argument("--out", default="bench/results.jsonl")
    p.add_argument("--worker", help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.worker:
        return worker(args)
    if args.quick:
        args.repeats, args.iters, args.max_seconds = min(args.repeats, 3), min(args.iters, 5), 5.0
    impls = args.impls.split(",") if args.impls else available_impls(args.device)
    threads = os.environ.get("OPENBLAS_NUM_THREADS") or os.environ.get("OMP_NUM_THREADS") or "default"
    pad = f", MALLOC_TOP_PAD_={args.malloc_top_pad}" if args.malloc_top_pad else ""
    print(f"# device {args.device}, BLAS threads {threads}, {os.cpu_count()} cores, {time.strftime('%Y-%m-%d')}{pad}")
    rows = []
    with open(args.out, "a") as f:
        for cfg in suite_configs(args):
            results = {impl: [] for impl in impls}
            for _ in range(args.repeats):
                for impl in impls:                  # interleaved: every round runs each implementation once
                    r = run_one(dict(cfg, impl=impl), args.malloc_top_pad)
                    f.write(json.dumps(r) + "\n")
                    f.flush()
                    if "error" in r:
                        print(f"  {impl}: {r['error']}")
                    else:
                        results[impl].append(r)
            rows.append((cfg, results))
            print_row(cfg, results)


def _median(values):
    values = sorted(values)
    return values[len(values) // 2] if values else float("nan")


def print_row(cfg, results):
    med = {impl: _median([r["ms"] for r in rs]) for impl, rs in results.items() if rs}
    rss = {impl: _median([r["peak_rss_mb"] for r in rs]) for impl, rs in results.items() if rs}
    base = med.get("numpy")
    head = f"L{cfg['L']} H{cfg['H']} B{cfg['B']} T{cfg['T']}"
    parts = []
    for impl, ms in med.items():
        ratio = f" ({ms / base:.2f}x numpy)" if base and impl != "numpy" else ""
        parts.append(f"{impl} {ms:.1f} ms{ratio} {rss[impl]:.0f} MB")
    print(f"{head:22s} | " + " | ".join(parts), flush=True)


if __name__ == "__main__":
    main()
