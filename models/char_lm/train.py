"""Training the character-level language model: truncated BPTT, validation, checkpoints, exact resume.

    for each step:
        window k = step % windows_per_epoch          (k == 0: a new epoch, the state restarts at zeros)
        logits, state = model(inputs, state)         state: carried over from the previous window
        loss = cross_entropy(logits, targets)        mean nats per character
        models.training.train_step: backward, clip, finite check, optimizer.step(), scheduler.step()
        state = state.detach()                       truncated BPTT: the next window's gradients stop here
        every val_every steps: validation loss (fresh state, no dropout), DIR/last, DIR/best if better
        every checkpoint_every steps: also DIR/step_000200.ckpt (numbered, never overwritten)
        every sample_every steps: a sample of SAMPLE_CHARS characters into metrics.jsonl

DIR/last.ckpt holds everything a run needs to go on exactly as if it had never stopped: weights,
optimizer and learning-rate schedule state, the carried state, the step, the random generator and the
config. DIR/metrics.jsonl holds one JSON line per step ({"step", "loss", "lr", "time"}: lr is the rate
that step used), per validation ({"step", "val_loss"}) and per sample ({"step", "sample"}: what the model
writes at that step, Karpathy's "at iteration 100 / 300 / 2000"). Sampling has its own random generator
(seeded by the step) and runs without dropout, so it changes nothing in the training run.

char-rnn's habits: lr_decay/lr_decay_every multiply the learning rate by lr_decay every lr_decay_every
steps (optim.lr_scheduler.StepLR, stepped once per step); init_from starts from another run's weights
(its model sizes and vocabulary) with a fresh optimizer and step count: a warm start on new text.
"""
import json
import math
import os
import time
from dataclasses import asdict, dataclass, fields

import minigrad as mg
import minigrad.nn.functional as F
from minigrad.optim.lr_scheduler import StepLR

from ..shapes.common import DEFAULT_LR, make_optimizer
from ..training import NonFiniteLoss, train_step
from .data import Batches, Vocab, load_text, split
from .model import CharLM, detach_state

FORMAT = "minigrad.char_lm/1"
LAST, BEST, METRICS = "last.ckpt", "best.ckpt", "metrics.jsonl"
NUMBERED = "step_{:06d}.ckpt"                 # --checkpoint-every's files: step_000200.ckpt, ...
SAMPLE_CHARS, SAMPLE_TEMPERATURE = 300, 0.8   # --sample-every's samples


@dataclass
class TrainConfig:
    data: str = None              # a UTF-8 text file; None: the bundled Tiny Shakespeare
    cell: str = "lstm"
    layers: int = 2
    hidden: int = 128
    embed: int = 128              # 0: one-hot inputs
    dropout: float = 0.0
    unroll: bool = False          # False: the speed path (a node per layer-direction); True: the teaching path
    seq_len: int = 50
    batch: int = 50
    steps: int = None             # stop after this many steps in all (counting those before a resume)
    minutes: float = None         # or after this much wall time in this run; neither given: 2000 steps
    optimizer: str = "adam"
    lr: float = None              # None: the optimizer's default here (models.sequence.DEFAULT_LR)
    clip: float = 5.0             # max gradient norm; 0 switches clipping off
    val_every: int = 200
    val_fraction: float = 0.1
    device: str = "cpu"
    dtype: str = "float32"
    seed: int = 0
    out: str = None
    progress: bool = True
    lr_decay: float = None        # multiply the lr by this, in (0, 1], ...
    lr_decay_every: int = None    # ... every this many steps (both or neither)
    checkpoint_every: int = None  # also keep DIR/step_000200.ckpt, ... every this many steps
    init_from: str = None         # a checkpoint (or --out DIR) whose weights, sizes and vocabulary to start from
    sample_every: int = None      # write a sample into metrics.jsonl every this many steps

    def __post_init__(self):
        if self.lr is None:
            self.lr = DEFAULT_LR[self.optimizer]
        if (self.lr_decay is None) != (self.lr_decay_every is None):
            raise ValueError(f"TrainConfig: lr_decay and lr_decay_every go together, got lr_decay={self.lr_decay}, "
                             f"lr_decay_every={self.lr_decay_every}")
        if self.lr_decay is not None and not 0 < self.lr_decay <= 1:
            raise ValueError(f"TrainConfig: lr_decay must be in (0, 1], got {self.lr_decay}")
        for name in ("lr_decay_every", "checkpoint_every", "sample_every"):
            value = getattr(self, name)
            if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 1):
                raise ValueError(f"TrainConfig: {name} must be an integer >= 1 (or None), got {value!r}")


class TrainingDiverged(RuntimeError):
    """The loss or the gradient norm became NaN/Inf; the last good checkpoint is kept."""


def build(cfg, vocab_size):
    """The model and its optimizer for a config (seeded by cfg.seed)."""
    mg.manual_seed(cfg.seed)
    model = CharLM(vocab_size, cfg.cell, cfg.hidden, cfg.layers, cfg.embed, cfg.dropout, unroll=cfg.unroll)
    model.to(cfg.device, dtype=cfg.dtype)
    return model, make_optimizer(cfg.optimizer, model.parameters(), cfg.lr)


def make_scheduler(cfg, opt):
    """StepLR(opt, lr_decay_every, lr_decay) when the config decays the learning rate, else None."""
    if cfg.lr_decay is None:
        return None
    return StepLR(opt, step_size=cfg.lr_decay_every, gamma=cfg.lr_decay)


def load_init(path, text):
    """The checkpoint a warm start begins from (`path`: a file or a training --out DIR), checked: sane model
    sizes, and the same vocabulary as `text` (ValueError naming the new and missing characters otherwise)."""
    from .sample import check_model_config
    ckpt = load_checkpoint(path)
    check_model_config(ckpt)
    differs = Vocab(ckpt["vocab"]).difference(text)
    if differs:
        raise ValueError(f"init_from {path}: {differs}; a warm start needs the same vocabulary")
    return ckpt


def overwritten_by(path, out):
    """The checkpoint file `path` resolves to when a new run into folder `out` would write over it (it is that
    folder's last.ckpt or best.ckpt), else None: a warm start must not destroy the weights it starts from."""
    file = os.path.realpath(checkpoint_file(path))
    if os.path.dirname(file) == os.path.realpath(out) and os.path.basename(file) in (LAST, BEST):
        return file
    return None


def numbered_checkpoints(folder):
    """The names of the numbered checkpoints (step_000200.ckpt, ...) in `folder`, sorted."""
    if not os.path.isdir(folder):
        return []
    return sorted(n for n in os.listdir(folder) if n.startswith("step_") and n.endswith(".ckpt")
                  and n[5:-5].isdigit())


def evaluate(model, batches):
    """Mean cross-entropy (nats/char) over a whole split, state carried from zeros, no dropout, no graph."""
    was_training = model.training
    model.eval()
    total, count, state = 0.0, 0, None
    with mg.no_grad():
        for x, y in batches:
            logits, state = model(x.T, state)
            targets = mg.tensor(y.T.reshape(-1), device=logits.device)
            total += F.cross_entropy(logits.reshape(-1, logits.shape[-1]), targets, reduction="sum").item()
            count += y.size
    model.train(was_training)
    return total / count


def train(cfg, resume=False, log=print):
    """Train (or with resume=True go on from cfg.out/last.ckpt); returns a summary dict.

    With resume, every setting comes from the checkpoint except steps, minutes, device, progress and
    sample_every (none of which changes the numbers).
    With cfg.init_from (and no resume), the model starts from that checkpoint's weights: its cell, hidden,
    layers and embed replace cfg's, the text must have its vocabulary; optimizer, schedule and step start fresh.
    With cfg.checkpoint_every, a fresh run refuses a folder that already holds numbered checkpoints, and no
    numbered checkpoint is ever overwritten.
    Raises TrainingDiverged (after keeping the last good checkpoint) when the loss stops being finite.
    """
    if cfg.out is None:
        raise ValueError("train: an output folder (--out DIR) is needed for checkpoints and metrics")
    os.makedirs(cfg.out, exist_ok=True)
    ckpt = None
    if resume:
        ckpt = load_checkpoint(os.path.join(cfg.out, LAST))
        keep = {k: getattr(cfg, k) for k in ("steps", "minutes", "device", "progress", "out", "sample_every")}
        cfg = TrainConfig(**{**{f.name: ckpt["config"][f.name] for f in fields(TrainConfig)
                                if f.name in ckpt["config"]}, **keep})
        if cfg.steps is None and cfg.minutes is None:
            cfg.steps, cfg.minutes = ckpt["config"]["steps"], ckpt["config"]["minutes"]
    if cfg.steps is None and cfg.minutes is None:
        cfg.steps = 2000

    if not resume and cfg.checkpoint_every and numbered_checkpoints(cfg.out):
        found = numbered_checkpoints(cfg.out)
        raise ValueError(f"train: {cfg.out} already holds numbered checkpoints ({found[0]} ... {found[-1]}) "
                         f"from another run; checkpoint_every never overwrites them: use another output folder")
    text = load_text(cfg.data)
    init = None
    if cfg.init_from is not None and not resume:
        doomed = overwritten_by(cfg.init_from, cfg.out)
        if doomed:
            raise ValueError(f"train: init_from {cfg.init_from} is {doomed}, which this run would write over; "
                             f"use another output folder")
        init = load_init(cfg.init_from, text)
        sizes = {k: init["model_config"][k] for k in ("cell", "hidden", "layers", "embed")}
        cfg = TrainConfig(**{**asdict(cfg), **sizes})
    source = ckpt or init
    vocab = Vocab(source["vocab"]) if source else Vocab.from_text(text)
    train_ids, val_ids = split(vocab.encode(text), cfg.val_fraction)
    train_batches = Batches(train_ids, cfg.batch, cfg.seq_len)
    val_batches = Batches(val_ids, min(cfg.batch, max(1, len(val_ids) // (cfg.seq_len + 1))), cfg.seq_len) \
        if len(val_ids) > 2 else None
    if val_batches is None:
        log(f"warning: no validation split ({len(val_ids)} val chars with --val-fraction {cfg.val_fraction}); "
            f"no val loss is reported and {BEST} is not written")
    model, opt = build(cfg, len(vocab))
    if init:
        model.load_state_dict(init["model"])
        model.to(cfg.device, dtype=cfg.dtype)
    params = list(model.parameters())

    step, state, best, val_loss = 0, None, math.inf, None
    metrics_path = os.path.join(cfg.out, METRICS)
    if ckpt:
        model.load_state_dict(ckpt["model"])
        opt.load_state_dict(ckpt["optimizer"])
    scheduler = make_scheduler(cfg, opt)          # after the optimizer's state: it reads the loaded lr
    if ckpt:
        if scheduler is not None:
            if not isinstance(ckpt.get("scheduler"), dict):
                raise ValueError(f"{os.path.join(cfg.out, LAST)}: lr_decay is set but the checkpoint holds no "
                                 f"learning-rate schedule state")
            scheduler.load_state_dict(ckpt["scheduler"])
        step, best, val_loss = ckpt["step"], ckpt["best_val"], ckpt["val_loss"]
        state = _to_device(ckpt["state"], cfg.device)
        if ckpt["rng"] is not None:
            mg.set_rng_state(ckpt["rng"])
        _truncate_metrics(metrics_path, step)
        log(f"resuming from {os.path.join(cfg.out, LAST)} at step {step}")
    else:
        open(metrics_path, "w").close()
    if init:
        log(f"starting from the weights of {cfg.init_from} (its step {init['step']}): a fresh optimizer, step 0")

    def checkpoint(path):
        save_checkpoint(path, model, opt, vocab, cfg, step, state, val_loss, best, scheduler)

    def numbered():
        path = os.path.join(cfg.out, NUMBERED.format(step))
        if os.path.exists(path):                       # written before a resume's checkpoint: kept as it is
            log(f"kept the existing {path} (never overwritten)")
        else:
            checkpoint(path)

    n_params = sum(p.numel() for p in params)
    log(f"{cfg.cell.upper()} {cfg.layers}x{cfg.hidden}, {n_params:,} parameters, vocab {len(vocab)}, "
        f"{len(train_ids):,} train / {len(val_ids):,} val chars, {len(train_batches)} windows per epoch")
    bar = _progress(cfg, step, log)
    chars_per_step = cfg.batch * cfg.seq_len
    start = time.perf_counter()
    steps_here, step_seconds = 0, 0.0                    # step_seconds: time in training steps (not validation)
    with open(metrics_path, "a") as metrics:
        while (cfg.steps is None or step < cfg.steps) and \
                (cfg.minutes is None or time.perf_counter() - start < 60 * cfg.minutes):
            tick = time.perf_counter()
            k = step % len(train_batches)
            if k == 0:
                state = None                                   # a new epoch starts from zeros
            x, y = train_batches[k]
            lr = opt.param_groups[0]["lr"]                     # the rate this step uses
            logits, state = model(x.T, state)
            targets = mg.tensor(y.T.reshape(-1), device=cfg.device)
            loss = F.cross_entropy(logits.reshape(-1, len(vocab)), targets)
            try:
                loss_value = train_step(params, opt, loss, cfg.clip, scheduler)
            except NonFiniteLoss as e:
                bar.close()
                raise TrainingDiverged(_diverged_message(cfg, step + 1, e.loss, e.norm)) from e
            state = detach_state(state)
            step += 1
            steps_here += 1
            now = time.perf_counter()
            step_seconds += now - tick
            elapsed = now - start
            speed = steps_here * chars_per_step / step_seconds
            metrics.write(json.dumps({"step": step, "loss": loss_value, "lr": lr, "time": round(elapsed, 3)}) + "\n")
            bar.update(1)
            bar.set_postfix(loss=f"{loss_value:.3f}", chars_s=f"{speed:,.0f}", refresh=False)
            if step % cfg.val_every == 0 or step == cfg.steps:
                if val_batches:
                    val_loss = evaluate(model, val_batches)
                    metrics.write(json.dumps({"step": step, "val_loss": val_loss, "time": round(elapsed, 3)}) + "\n")
                    bar.write(f"step {step}: train {loss_value:.4f}, val {val_loss:.4f} nats/char")
                else:
                    bar.write(f"step {step}: train {loss_value:.4f} nats/char (no validation split)")
                metrics.flush()
                if val_loss is not None and val_loss < best:
                    best = val_loss
                    checkpoint(os.path.join(cfg.out, BEST))
                checkpoint(os.path.join(cfg.out, LAST))
            if cfg.checkpoint_every and step % cfg.checkpoint_every == 0:
                numbered()
            if cfg.sample_every and step % cfg.sample_every == 0:
                from .sample import sample                     # here: sample.py imports this module
                text = sample(model, vocab, SAMPLE_CHARS, SAMPLE_TEMPERATURE, seed=step)
                metrics.write(json.dumps({"step": step, "sample": text, "time": round(elapsed, 3)}) + "\n")
                metrics.flush()
        bar.close()
        if step % cfg.val_every and step != cfg.steps:       # stopped by the clock between validations
            if val_batches:
                val_loss = evaluate(model, val_batches)
                metrics.write(json.dumps({"step": step, "val_loss": val_loss,
                                          "time": round(time.perf_counter() - start, 3)}) + "\n")
            if val_loss is not None and val_loss < best:
                best = val_loss
                checkpoint(os.path.join(cfg.out, BEST))
            checkpoint(os.path.join(cfg.out, LAST))
    wall = time.perf_counter() - start
    val_text = "no validation" if val_loss is None else f"val {val_loss:.4f} nats/char (best {best:.4f})"
    log(f"done: {step} steps, {val_text}, {wall:.1f} s this run; checkpoints in {cfg.out}")
    return {"step": step, "val_loss": val_loss, "best_val": best, "seconds": wall, "out": cfg.out,
            "last": os.path.join(cfg.out, LAST), "best": os.path.join(cfg.out, BEST), "metrics": metrics_path}


# ----------------------------------------------------------------------------- checkpoints

def save_checkpoint(path, model, opt, vocab, cfg, step, state, val_loss, best, scheduler=None):
    """Everything needed to sample from the model or to resume training exactly, written atomically."""
    try:
        rng = mg.get_rng_state()
    except NotImplementedError:
        rng = None
    mg.save({"format": FORMAT, "model": model.state_dict(), "model_config": model.config(),
             "optimizer": opt.state_dict(), "vocab": vocab.chars, "config": asdict(cfg), "step": step,
             "state": state, "rng": rng if cfg.device == "cpu" else None,
             "val_loss": val_loss, "best_val": best,
             "scheduler": None if scheduler is None else scheduler.state_dict()}, path)


def checkpoint_file(path):
    """`path` itself, or DIR/best.ckpt (else DIR/last.ckpt) for a folder: the file load_checkpoint reads."""
    if os.path.isdir(path):
        for name in (BEST, LAST):
            if os.path.exists(os.path.join(path, name)):
                return os.path.join(path, name)
        raise FileNotFoundError(f"no checkpoint in {path!r}: expected {BEST} or {LAST} there "
                                f"(written by `python -m models.char_lm train --out {path}`)")
    return path


def load_checkpoint(path):
    """A char-LM checkpoint: `path` itself, or DIR/best.ckpt (else DIR/last.ckpt) for a folder."""
    path = checkpoint_file(path)
    ckpt = mg.load(path)
    if not isinstance(ckpt, dict) or ckpt.get("format") != FORMAT:
        raise ValueError(f"{path!r} is not a char-LM checkpoint (format {FORMAT!r})")
    return ckpt


def _to_device(state, device):
    if state is None:
        return None
    if isinstance(state, (tuple, list)):
        return tuple(s.to(device) for s in state)
    return state.to(device)


def _truncate_metrics(path, step):
    """Drop the lines a killed run wrote after its last checkpoint, so the file reads as one run."""
    if not os.path.exists(path):
        return
    with open(path) as f:
        lines = [line for line in f if line.strip() and json.loads(line)["step"] <= step]
    with open(path, "w") as f:
        f.writelines(lines)


def _diverged_message(cfg, step, loss, norm):
    last = os.path.join(cfg.out, LAST)
    kept = f"the last good checkpoint is {last}" if os.path.exists(last) else \
        "no checkpoint had been written yet"
    grad = "" if norm is None else f", gradient norm {norm}"
    return (f"training diverged at step {step}: loss {loss}{grad} (not finite). "
            f"Stopped; {kept}. Try a smaller --lr (now {cfg.lr}) or a tighter --clip (now {cfg.clip}).")


def _progress(cfg, step, log):
    if cfg.progress:
        import sys

        from tqdm import tqdm
        # redrawn often on a terminal; into a log file (CI, `make demo > log`) only every 30 s
        every = 0.1 if sys.stderr.isatty() else 30.0
        return tqdm(total=cfg.steps, initial=step, unit="step", dynamic_ncols=True, leave=True, mininterval=every)
    return _Quiet(log)


class _Quiet:
    """No bar: validation lines still go to `log`."""
    def __init__(self, log): self.write = log
    def update(self, n): pass
    def set_postfix(self, **kw): pass
    def close(self): pass
