"""Characters in, batches out: the vocabulary, the train/val split and truncated-BPTT batches.

How a text becomes batches (B parallel streams, windows of T characters):

    text   : abcdefghijklmnopqrstuvwxyz0123456789...          N characters (one split)
    streams: B rows, each a contiguous slice of N // B characters (the tail is dropped)
             row 0: a b c d e f g h i j k l ...
             row 1: M N O P Q R S T U V W X ...
             ...
    window k: inputs  = rows[:, k*T     : k*T + T]          (B, T)
              targets = rows[:, k*T + 1 : k*T + T + 1]      (B, T), the next character of each input

Window k+1 of row b continues exactly where window k of row b stopped, so the hidden state at the end of
window k is the right initial state for window k+1: the trainer carries it over (detached: gradients
stop at the window boundary, which is truncated BPTT) and resets it to zeros when an epoch starts over.
"""
import os

import numpy as np

DEFAULT_CORPUS = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "data",
                              "tinyshakespeare.txt")


class Vocab:
    """The sorted set of characters of a text; encode: str -> int64 array, decode: ints -> str."""

    def __init__(self, chars):
        chars = "".join(chars)
        if not chars:
            raise ValueError("Vocab: the text has no characters")
        if len(set(chars)) != len(chars):
            raise ValueError("Vocab: characters must be distinct")
        self.chars = chars
        self.index = {c: i for i, c in enumerate(chars)}

    @classmethod
    def from_text(cls, text):
        return cls(sorted(set(text)))

    def __len__(self):
        return len(self.chars)

    def encode(self, text):
        unknown = sorted(set(text) - set(self.index))
        if unknown:
            raise ValueError(f"Vocab.encode: characters not in the vocabulary: {''.join(unknown)!r} "
                             f"(the vocabulary has {len(self)} characters from the training text)")
        return np.fromiter((self.index[c] for c in text), dtype=np.int64, count=len(text))

    def decode(self, ids):
        return "".join(self.chars[int(i)] for i in ids)

    def difference(self, text):
        """None when `text` has exactly this vocabulary's characters, else a phrase naming those that are new
        (in the text, not here) and missing (here, not in the text): a warm start needs the same vocabulary."""
        have = set(text)
        new, missing = "".join(sorted(have - set(self.index))), "".join(sorted(set(self.index) - have))
        if not new and not missing:
            return None
        parts = [f"{len(new)} new character(s) {new!r} not in the checkpoint"] if new else []
        if missing:
            parts.append(f"{len(missing)} character(s) of the checkpoint missing from the text {missing!r}")
        return "the text's vocabulary differs from the checkpoint's: " + ", ".join(parts)


def load_text(path=None):
    """The text of a UTF-8 file (the bundled Tiny Shakespeare when path is None)."""
    path = DEFAULT_CORPUS if path is None else path
    with open(path, encoding="utf-8") as f:
        text = f.read()
    if len(text) < 2:
        raise ValueError(f"load_text: {path!r} holds {len(text)} character(s); a language model needs more")
    return text


def split(ids, val_fraction=0.1):
    """Contiguous split: the first (1 - val_fraction) of the ids for training, the rest for validation."""
    if not 0 <= val_fraction < 1:
        raise ValueError(f"split: val_fraction must be in [0, 1), got {val_fraction}")
    n_val = int(round(len(ids) * val_fraction))
    return ids[:len(ids) - n_val], ids[len(ids) - n_val:]


class Batches:
    """The windows of one split laid out as B streams: `batches[k]` -> (inputs, targets), each (B, T) int64.

    len(batches) windows make one epoch; the last window may be shorter than T (it never crosses the end).
    """

    def __init__(self, ids, batch_size, seq_len):
        if batch_size < 1 or seq_len < 1:
            raise ValueError(f"Batches: batch_size and seq_len must be >= 1, got {batch_size}, {seq_len}")
        per_stream = len(ids) // batch_size
        if per_stream < 2:
            raise ValueError(f"Batches: {len(ids)} characters cannot fill {batch_size} streams of at least "
                             f"2 characters; use a smaller --batch or a longer text")
        self.streams = np.asarray(ids[:per_stream * batch_size], dtype=np.int64).reshape(batch_size, per_stream)
        self.batch_size, self.seq_len = batch_size, seq_len
        self.n = -(-(per_stream - 1) // seq_len)           # windows per epoch (ceil)

    def __len__(self):
        return self.n

    def __getitem__(self, k):
        if not 0 <= k < self.n:
            raise IndexError(f"Batches: window {k} out of range [0, {self.n})")
        start = k * self.seq_len
        stop = min(start + self.seq_len, self.streams.shape[1] - 1)
        return self.streams[:, start:stop], self.streams[:, start + 1:stop + 1]

    def __iter__(self):
        return (self[k] for k in range(self.n))
