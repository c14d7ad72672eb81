"""LSTM character language-model benchmark (torch-rnn's protocol against char-rnn).

    python bench/lm.py --quick                 # a 1-minute subset
    python bench/lm.py                         # the full grid: layers 1-3 x hidden 64-512
    python bench/lm.py --suite overhead|sweep|long
    python bench/lm.py --device cuda           # the same protocol on the GPU (CuPy; cuDNN if PyTorch is there)
    python bench/lm.py --paired --iters 1 --repeats 30   # the README's table

Protocol: vocabulary 65 (the bundled corpus), embedding 64, batch 50, sequence length 50, no dropout,
float32, Adam; the time of one training iteration (forward + backward + step) after warm-up, the median
of several iterations, and the peak RSS, each configuration and implementation in its own process. The
implementations run interleaved, `--repeats` rounds; a time is the median over rounds, a ratio the median
of the ratios measured within each round. `--paired` runs all implementations of a configuration in one
process, taking turns every round (with `--iters 1` a round is one iteration of each): the steadiest ratios
on a noisy machine (peak RSS is then shared). Not for PyTorch: its OpenMP threads keep spinning after each op
and slow whatever runs next in the process (minigrad's ratio to NumPy at hidden 128 rose from 1.08 to 1.2-1.27
with PyTorch taking turns beside them); time it in processes of its own.

Implementations: minigrad's speed path (minigrad-layer: nn.LSTM(unroll=False), one node per layer), minigrad
with fused cells, minigrad with fine-grained cells, the hand-written NumPy LSTM of models/numpy_lstm_lm.py
(hand-derived backward, flat-buffer Adam), and PyTorch when it is installed (optional; never a dependency).
Writes one JSON line per measurement to --out, with the BLAS library and the kernel it runs ("blas").
"""
import argparse
import json
import os
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
IMPLS = ("minigrad-layer", "minigrad-fused", "minigrad-fine", "numpy", "torch")


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


def make_minigrad_step(vocab, E, H, L, fused, device, seed, unroll=True):
    import minigrad as mg
    from minigrad import nn, optim
    import minigrad.nn.functional as F
    mg.manual_seed(seed)

    class LM(nn.Module):
        def __init__(self):
            super().__init__()
            self.embedding = nn.Embedding(vocab, E)
            self.lstm = nn.LSTM(E, H, num_layers=L, fused=fused, unroll=unroll)
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


def make_step(impl, vocab, E, H, L, device):
    if impl == "minigrad-layer":                    # the speed path: one node per layer (unroll=False)
        return make_minigrad_step(vocab, E, H, L, True, device, 0, unroll=False)
    if impl.startswith("minigrad"):
        return make_minigrad_step(vocab, E, H, L, impl == "minigrad-fused", device, 0)
    if impl == "numpy":
        return make_numpy_step(vocab, E, H, L, 0)
    return make_torch_step(vocab, E, H, L, device, 0)


def time_iterations(step, sync, batches, n, deadline):
    """Median seconds of n training iterations (stopping early past the deadline once 3 are done); last loss."""
    times = []
    for i in range(n):
        x, y, _ = next(batches)
        t0 = time.perf_counter()
        loss = step(x, y)
        sync()
        times.append(time.perf_counter() - t0)
        if time.perf_counter() > deadline and i >= 2:
            break
    times.sort()
    return times[len(times) // 2], len(times), loss


def worker(args):
    """Time one implementation on one configuration, or (impl "paired": cfg["impls"]) several in the same
    process, taking turns `rounds` times; print one JSON line per implementation."""
    import resource
    cfg = json.loads(args.worker)
    L, H, B, T, E, device = cfg["L"], cfg["H"], cfg["B"], cfg["T"], cfg["E"], cfg["device"]
    batches = corpus_batches(B, T)
    vocab = next(batches)[2]
    impls = cfg["impls"] if cfg["impl"] == "paired" else [cfg["impl"]]
    steps = {impl: (make_step(impl, vocab, E, H, L, device), _sync(impl, device)) for impl in impls}
    for step, _ in steps.values():
        for _ in range(cfg["warmup"]):
            step(*next(batches)[:2])
    rounds = {impl: [] for impl in impls}
    for _ in range(cfg.get("rounds", 1)):
        for impl, (step, sync) in steps.items():   # taking turns: slow spells of the machine hit all alike
            deadline = time.perf_counter() + cfg["max_seconds"]
            rounds[impl].append(time_iterations(step, sync, batches, cfg["iters"], deadline))
    rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    blas = blas_kernel()
    for impl, rs in rounds.items():
        ms = [1e3 * seconds for seconds, _, _ in rs]
        print(json.dumps(dict(cfg, impl=impl, blas=blas, ms=_median(ms), round_ms=ms, iters_done=sum(r[1] for r in rs),
                              tokens_per_s=B * T / (_median(ms) / 1e3), peak_rss_mb=round(rss_mb, 1),
                              loss=rs[-1][2])))


def blas_kernel():
    """'scipy-openblas 0.3.31.188.0, kernel SkylakeX': NumPy's BLAS and, for OpenBLAS, the core type whose kernels it
    picked at load time (it follows OPENBLAS_CORETYPE when set)."""
    import ctypes
    import numpy as np
    try:
        cfg = np.show_config(mode="dicts")["Build Dependencies"]["blas"]
        name = f"{cfg['name']} {cfg['version']}"
    except Exception:           # show_config's layout is not a stable API
        name = "BLAS unknown"
    try:
        with open("/proc/self/maps") as f:
            libs = {line.split()[-1] for line in f if "openblas" in line.rsplit("/", 1)[-1].lower()}
    except OSError:
        libs = set()
    for lib in sorted(libs):
        for symbol in ("openblas_get_corename", "scipy_openblas_get_corename64_", "openblas_get_corename64_"):
            fn = getattr(ctypes.CDLL(lib), symbol, None)
            if fn is not None:
                fn.restype = ctypes.c_char_p
                return f"{name}, kernel {fn().decode()}"
    return name


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
    impls = ["minigrad-layer", "minigrad-fused", "minigrad-fine"] + (["numpy"] if device == "cpu" else [])
    try:
        import torch  # noqa: F401
        impls.append("torch")
    except ImportError:
        pass
    return impls


def run_one(cfg):
    env = dict(os.environ, PYTHONPATH=ROOT + os.pathsep + os.environ.get("PYTHONPATH", ""))
    proc = subprocess.run([sys.executable, __file__, "--worker", json.dumps(cfg)], capture_output=True,
                          text=True, env=env, timeout=1800)
    if proc.returncode != 0:
        error = proc.stderr.strip().splitlines()[-1] if proc.stderr else "failed"
        return [dict(cfg, impl=impl, error=error) for impl in cfg.get("impls", [cfg["impl"]])]
    return [json.loads(line) for line in proc.stdout.strip().splitlines() if line.startswith("{")]


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
    p.add_argument("--paired", action="store_true",
                   help="time the implementations in one process per configuration, taking turns each round "
                        "(steadier ratios on a noisy machine; the peak RSS is then that of all of them together)")
    p.add_argument("--out", default="bench/results.jsonl")
    p.add_argument("--worker", help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.worker:
        return worker(args)
    if args.quick:
        args.repeats, args.iters, args.max_seconds = min(args.repeats, 3), min(args.iters, 5), 5.0
    impls = args.impls.split(",") if args.impls else available_impls(args.device)
    if args.paired and "torch" in impls:
        print("# PyTorch's OpenMP threads spin after its ops and slow the next implementation in the same process: "
              "its figures and the others' are skewed under --paired; time PyTorch without it")
    threads = os.environ.get("OPENBLAS_NUM_THREADS") or os.environ.get("OMP_NUM_THREADS") or "default"
    print(f"# device {args.device}, {blas_kernel()}, BLAS threads {threads}, {os.cpu_count()} cores, "
          f"{time.strftime('%Y-%m-%d')}")
    with open(args.out, "a") as f:
        for cfg in suite_configs(args):
            if args.paired:                         # one process, the implementations taking turns
                batches = [run_one(dict(cfg, impl="paired", impls=impls, rounds=args.repeats))]
            else:                                   # a process each, interleaved: every round runs each once
                batches = [run_one(dict(cfg, impl=impl, round=k)) for k in range(args.repeats) for impl in impls]
            results = {impl: [] for impl in impls}
            for batch in batches:
                for r in batch:
                    f.write(json.dumps(r) + "\n")
                    if "error" in r:
                        print(f"  {r['impl']}: {r['error']}")
                    else:
                        results[r["impl"]].append(r)
            f.flush()
            print_row(cfg, results)


def _median(values):
    values = sorted(values)
    return values[len(values) // 2] if values else float("nan")


def round_times(results):
    """impl -> {round: ms}. A worker of its own reports its round; a paired one all of its rounds at once."""
    times = {}
    for impl, rs in results.items():
        by_round = {}
        for r in rs:
            by_round.update({r["round"]: r["ms"]} if "round" in r else enumerate(r["round_ms"]))
        if by_round:
            times[impl] = by_round
    return times


def round_ratio(times, impl, base):
    """' (1.05x numpy, rounds 0.98-1.12)': the median over rounds of impl's time over base's in the same round
    (robust to the machine's slow spells, which hit a whole round); '' when they share no round."""
    shared = sorted(set(times.get(impl, ())) & set(times.get(base, ())))
    if impl == base or not shared:
        return ""
    ratios = [times[impl][k] / times[base][k] for k in shared]
    return f" ({_median(ratios):.2f}x {base}, rounds {min(ratios):.2f}-{max(ratios):.2f})"


def print_row(cfg, results):
    """Median time per implementation, its ratio to NumPy and (fine-grained cells) to fused cells."""
    times = round_times(results)
    rss = {impl: _median([r["peak_rss_mb"] for r in rs]) for impl, rs in results.items() if rs}
    head = f"L{cfg['L']} H{cfg['H']} B{cfg['B']} T{cfg['T']}"
    parts = []
    for impl, by_round in times.items():
        part = f"{impl} {_median(list(by_round.values())):.1f} ms" + round_ratio(times, impl, "numpy")
        if impl == "minigrad-fine":
            part += round_ratio(times, impl, "minigrad-fused")
        parts.append(f"{part} {rss[impl]:.0f} MB")
    print(f"{head:22s} | " + " | ".join(parts), flush=True)


if __name__ == "__main__":
    main()
