"""Sampling text from a trained character model, one character at a time.

    state <- the prime text run through the model
    repeat: p = softmax(logits / temperature), keep the top k, draw a character, feed it back

Runs under no_grad and keeps only the recurrent state between steps, so memory stays flat however long
the sample. The temperature divides the logits: 1 samples the model's own distribution, below 1 sharpens
it, and as it goes to 0 every draw approaches the argmax (temperature 0 IS the argmax: greedy decoding,
which tends to loop); above 1 flattens it toward uniform noise.
"""
import numpy as np

import minigrad as mg

from .data import Vocab
from .model import CharLM
from .train import load_checkpoint


def load_model(checkpoint, device="cpu", unroll=True):
    """(model in eval mode on `device`, vocab) from a checkpoint file or a training --out folder.

    unroll: the path the loaded model runs on, whichever one trained it (the weights are the same)."""
    ckpt = checkpoint if isinstance(checkpoint, dict) else load_checkpoint(checkpoint)
    model = CharLM(**ckpt["model_config"], unroll=unroll)
    model.load_state_dict(ckpt["model"])
    dtype = next(iter(ckpt["model"].values())).dtype
    model.to(device, dtype=dtype)
    return model.eval(), Vocab(ckpt["vocab"])


def next_char_distribution(logits, temperature=1.0, top_k=None):
    """Probabilities (float64, on the host) from one row of logits: softmax(logits / temperature), top k kept."""
    z = np.asarray(logits, dtype=np.float64).reshape(-1)
    if temperature < 0:
        raise ValueError(f"sample: temperature must be >= 0, got {temperature}")
    if top_k is not None and top_k < 1:
        raise ValueError(f"sample: top_k must be >= 1, got {top_k}")
    if top_k is not None and top_k < z.size:
        cut = np.partition(z, -top_k)[-top_k]
        z = np.where(z >= cut, z, -np.inf)
    if temperature == 0:
        p = np.zeros_like(z)
        p[np.argmax(z)] = 1.0
        return p
    z = z / temperature
    p = np.exp(z - z.max())
    return p / p.sum()


def sample(model, vocab, length=500, temperature=0.8, top_k=None, prime=None, seed=0):
    """The prime followed by `length` sampled characters."""
    if prime is None or prime == "":
        prime = "\n" if "\n" in vocab.index else vocab.chars[0]
    ids = vocab.encode(prime)
    rng = np.random.default_rng(seed)
    device = model.decoder.weight.device
    was_training = model.training
    model.eval()
    out = []
    with mg.no_grad():
        logits, state = model(mg.tensor(ids.reshape(-1, 1), device=device))     # (T, 1) -> state after the prime
        last = logits[-1, 0]
        for _ in range(length):
            p = next_char_distribution(last.numpy(), temperature, top_k)
            c = int(rng.choice(p.size, p=p))
            out.append(c)
            logits, state = model(mg.tensor([[c]], device=device), state)
            last = logits[0, 0]
    model.train(was_training)
    return prime + vocab.decode(out)
