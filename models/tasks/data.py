"""Synthetic long-dependency tasks: seeded batch generators (NumPy, no downloads) and their baselines.

adding (Hochreiter & Schmidhuber 1997)
    input (B, T, 2): channel 0 values ~ U[0, 1], channel 1 marks two steps with 1.
    target (B,): the sum of the two marked values; loss MSE. Always answering 1 scores
    Var(u1 + u2) = 2/12 = 0.167: a model below that has learned to find and add the marked values.
    Where the marks go (`placement`) sets how long the model must remember, and so how long it sits on
    the 0.167 plateau before it finds the marks:
      'halves'     one in each half (the common modern variant; the default)
      'hochreiter' the first among the first 10 steps, the second elsewhere in the first half (the
                   original: both are at least T/2 steps from the end, the hardest of the three)
      'anywhere'   two distinct steps anywhere

copy / memory (Arjovsky et al. 2016), alphabet 0 = blank, 1..8 = symbols, 9 = delimiter
    input  (B, T+20): 10 symbols, T-1 blanks, the delimiter, 10 blanks
    target (B, T+20): T+10 blanks, then the 10 symbols, in order
    loss: cross-entropy averaged over all T+20 steps. A model without memory predicts blanks perfectly
    and guesses the 10 symbols: 10 ln 8 / (T+20) (the baseline); chance recall is 1/8 = 12.5%.

parity
    input (B, T) bits; target (B,): their sum mod 2 (many-to-one, 2 classes; chance 50%).

reversal (for seq2seq)
    source (B, L) over V symbols; target (B, L): the source reversed.

sort (for seq2seq)
    source (B, L) symbols 0..V-1 (with distinct=True: L different ones); target (B, L): them in ascending order.
"""
import math

import numpy as np

BLANK, DELIM, N_SYMBOLS, N_COPY = 0, 9, 8, 10


ADDING_PLACEMENTS = ("halves", "hochreiter", "anywhere")


def adding_batch(rng, batch, T, placement="halves"):
    """(inputs (B, T, 2) float32, targets (B,) float32); `placement` of the two marks: see the module text."""
    if placement not in ADDING_PLACEMENTS:
        raise ValueError(f"adding_batch: placement must be one of {ADDING_PLACEMENTS}, got {placement!r}")
    low = 22 if placement == "hochreiter" else 2
    if T < low:
        raise ValueError(f"adding_batch: T must be >= {low} for placement {placement!r}, got {T}")
    values = rng.random((batch, T), dtype=np.float32)
    marks = np.zeros((batch, T), dtype=np.float32)
    rows = np.arange(batch)
    if placement == "halves":
        first, second = rng.integers(0, T // 2, batch), rng.integers(T // 2, T, batch)
    elif placement == "hochreiter":
        first, second = rng.integers(0, 10, batch), rng.integers(10, T // 2, batch)
    else:
        first, second = np.sort(rng.random((batch, T)).argsort(axis=1)[:, :2], axis=1).T
    marks[rows, first] = 1.0
    marks[rows, second] = 1.0
    return np.stack([values, marks], axis=-1), values[rows, first] + values[rows, second]


def adding_baseline():
    return 2.0 / 12.0


def copy_batch(rng, batch, T):
    """(inputs (B, T+20) ints, targets (B, T+20) ints): remember 10 symbols over T steps."""
    if T < 1:
        raise ValueError(f"copy_batch: T must be >= 1, got {T}")
    symbols = rng.integers(1, N_SYMBOLS + 1, (batch, N_COPY))
    n = T + 2 * N_COPY
    inputs = np.full((batch, n), BLANK, dtype=np.int64)
    inputs[:, :N_COPY] = symbols
    inputs[:, N_COPY + T - 1] = DELIM
    targets = np.full((batch, n), BLANK, dtype=np.int64)
    targets[:, -N_COPY:] = symbols
    return inputs, targets


def copy_baseline(T):
    return N_COPY * math.log(N_SYMBOLS) / (T + 2 * N_COPY)


def parity_batch(rng, batch, T):
    """(bits (B, T) ints, parity (B,) ints)."""
    bits = rng.integers(0, 2, (batch, T))
    return bits, bits.sum(axis=1) % 2


def reversal_batch(rng, batch, length=8, vocab=10):
    """(source (B, L) ints, target (B, L) ints = source reversed)."""
    src = rng.integers(0, vocab, (batch, length))
    return src, np.ascontiguousarray(src[:, ::-1])


def sort_batch(rng, batch, length=8, vocab=10, distinct=False):
    """(source (B, L) ints, target (B, L) ints = source sorted ascending); distinct: no symbol twice in a row
    of the source (length <= vocab), so sorting cannot be done by counting each symbol."""
    if distinct and length > vocab:
        raise ValueError(f"sort_batch: distinct symbols need length <= vocab, got length {length} > vocab {vocab}")
    if distinct:
        src = np.argsort(rng.random((batch, vocab)), axis=1)[:, :length]       # a random subset per row
    else:
        src = rng.integers(0, vocab, (batch, length))
    return src, np.sort(src, axis=1)
