"""Sampling text from a trained character model, one character at a time.

    state <- the prime text run through the model
    repeat: p = softmax(logits / temperature), keep the top k (and/or the top-p nucleus), draw a character,
            feed it back                                      (or: beam=K, a beam search; models.decoding)

Runs under no_grad and keeps only the recurrent state between steps, so memory stays flat however long
the sample. The temperature divides the logits: 1 samples the model's own distribution, below 1 sharpens
it, and as it goes to 0 every draw approaches the argmax (temperature 0 IS the argmax: greedy decoding,
which tends to loop); above 1 flattens it toward uniform noise.
"""
import numpy as np

import minigrad as mg

from .. import decoding
from ..cells import CELLS
from .data import Vocab
from .model import CharLM
from .train import load_checkpoint


def load_model(checkpoint, device="cpu", unroll=True):
    """(model in eval mode on `device`, vocab) from a checkpoint file or a training --out folder.

    unroll: the path the loaded model runs on, whichever one trained it (the weights are the same)."""
    ckpt = checkpoint if isinstance(checkpoint, dict) else load_checkpoint(checkpoint)
    check_model_config(ckpt)
    model = CharLM(**ckpt["model_config"], unroll=unroll)
    model.load_state_dict(ckpt["model"])
    dtype = next(iter(ckpt["model"].values())).dtype
    model.to(device, dtype=mg.float32 if dtype.itemsize < 4 else dtype)    # float16 (export) is storage only
    return model.eval(), Vocab(ckpt["vocab"])


LIMITS = {"vocab_size": 1 << 20, "hidden": 1 << 14, "layers": 64, "embed": 1 << 14}


def expected_shapes(config):
    """{name: shape} of CharLM(**config)'s state dict, computed without building it."""
    V, H, L, E = config["vocab_size"], config["hidden"], config["layers"], config["embed"]
    cell = CELLS[config["cell"]](1, 1).cell         # the layer's cell knows its weight layout
    shapes = {"decoder.weight": (V, H), "decoder.bias": (V,)}
    if E:
        shapes["embedding.weight"] = (V, E)
    for k in range(L):
        for kind, shape in cell.parameter_shapes((E or V) if k == 0 else H, H).items():
            shapes[f"rnn.{kind}_l{k}"] = shape
    return shapes


def check_model_config(ckpt):
    """ValueError unless the checkpoint's model_config is sane and matches its tensors' shapes and vocabulary;
    runs before any model is built, so a crafted file cannot make loading allocate more than it holds."""
    config, weights, vocab = ckpt.get("model_config"), ckpt.get("model"), ckpt.get("vocab")
    bad = "checkpoint: "
    if not isinstance(config, dict) or not isinstance(weights, dict) or not isinstance(vocab, str):
        raise ValueError(bad + "model_config, model and vocab are missing or malformed")
    if set(config) != {"vocab_size", "cell", "hidden", "layers", "embed", "dropout"} or config["cell"] not in CELLS:
        raise ValueError(bad + f"unexpected model_config {config!r}")
    for key, top in LIMITS.items():
        value = config[key]
        if isinstance(value, bool) or not isinstance(value, int) or not (key == "embed" and value == 0 or
                                                                         1 <= value <= top):
            raise ValueError(bad + f"model_config {key}={value!r} is out of range [1, {top}]")
    if not isinstance(config["dropout"], (int, float)) or not 0 <= config["dropout"] < 1:
        raise ValueError(bad + f"model_config dropout={config['dropout']!r} is not in [0, 1)")
    if len(vocab) != config["vocab_size"]:
        raise ValueError(bad + f"vocabulary of {len(vocab)} characters, model_config says {config['vocab_size']}")
    want = expected_shapes(config)
    have = {k: tuple(getattr(v, "shape", ())) for k, v in weights.items()}
    if have != want:
        diff = sorted(set(have) ^ set(want)) or [k for k in sorted(want) if have[k] != want[k]]
        raise ValueError(bad + f"tensors do not match model_config (first: {diff[0]})")


def next_char_distribution(logits, temperature=1.0, top_k=None, top_p=None):
    """Probabilities (float64, on the host) from one row of logits: softmax(logits / temperature), the top k
    kept, then the nucleus (top_p) kept; models.decoding.filter_distribution does the work."""
    decoding.check_args("sample", 0, temperature, top_k, top_p)
    return decoding.filter_distribution(np.asarray(logits, dtype=np.float64).reshape(-1), temperature, top_k, top_p)[0]


def sample(model, vocab, length=500, temperature=0.8, top_k=None, prime=None, seed=0, top_p=None, beam=None):
    """The prime followed by `length` characters: drawn (temperature, top_k, top_p, seed), or with beam=K
    the most probable continuation a beam search of width K finds (deterministic: temperature and seed
    do not apply, and top_k/top_p may not be given)."""
    if beam is not None and (top_k is not None or top_p is not None):
        raise ValueError(f"sample: beam search keeps the likeliest continuations; top_k ({top_k}) and top_p "
                         f"({top_p}) apply to drawing only")
    decoding.check_args("sample", length, temperature, top_k, top_p, beam, length_name="length")
    if prime is None or prime == "":
        prime = "\n" if "\n" in vocab.index else vocab.chars[0]
    ids = vocab.encode(prime)
    device = model.decoder.weight.device

    def step(tokens, state):                       # tokens (B,) -> (logits (B, V), state): one character each
        logits, state = model(mg.tensor(tokens.reshape(1, -1), device=device), state)
        return logits[0], state

    was_training = model.training
    model.eval()
    with mg.no_grad():
        state = None                               # the prime but its last character read; decoding feeds that one
        if len(ids) > 1:
            _, state = model(mg.tensor(ids[:-1].reshape(-1, 1), device=device))
        if beam is not None:
            out = decoding.beam_search(step, state, ids[-1:], length, beam, reorder_state)[0][0]
        else:
            out = decoding.sample(step, state, ids[-1:], length, temperature, top_k, top_p,
                                  np.random.default_rng(seed))[0]
    model.train(was_training)
    return prime + vocab.decode(out)


def reorder_state(state, index):
    """The LM state with its batch rows picked by `index` (beam search): axis 1 of h (and c), (layers, B, H)."""
    if state is None:
        return None
    if isinstance(state, tuple):
        return tuple(s[:, index] for s in state)
    return state[:, index]
