"""Packed sequences (PyTorch's nn.utils.rnn): a batch of sequences of different lengths without padding.

A PackedSequence keeps only the real steps. Sort the batch by decreasing length; `data` holds step 0 of
every sequence, then step 1 of every sequence still running, and so on (time-major), and `batch_sizes[t]`
says how many sequences are still running at step t. For lengths [2, 3, 1] (sorted: 3, 2, 1):

    padded (T=3, B=3)      sorted_indices = [1, 0, 2]      data = [b1 t0, b0 t0, b2 t0,   b1 t1, b0 t1,   b1 t2]
    b0: a0 a1 .                                           batch_sizes = [3, 2, 1]
    b1: c0 c1 c2
    b2: d0 .  .

Packing and unpacking are each one gather (`x[rows, cols]`; unpacking adds a `where` for the padding), so
gradients, and gradients of gradients, flow between the packed data and the padded batch or the sequences.
nn.RNN/LSTM/GRU run a PackedSequence (run_packed) by unpacking it and taking their padded path with
`lengths=`, which masks the padded steps: the same numbers as PyTorch's packed kernels, on every path.
"""
from typing import Iterable, NamedTuple

from ... import backend, ops
from ...tensor import Tensor

np = backend.xp_for("cpu")     # lengths, batch sizes and gather indices live on the host (NumPy)


class _PackedFields(NamedTuple):
    data: Tensor
    batch_sizes: Tensor
    sorted_indices: Tensor | None
    unsorted_indices: Tensor | None


class PackedSequence(_PackedFields):
    """(data, batch_sizes, sorted_indices, unsorted_indices), as PyTorch's; made by pack_padded_sequence or
    pack_sequence. data (N, *): the real steps, time-major, batch sorted by decreasing length.
    batch_sizes: int64 CPU tensor, sequences running at each step. sorted_indices[j]: the original index of
    the j-th longest sequence (None when the batch came sorted); unsorted_indices is its inverse."""

    def __new__(cls, data, batch_sizes=None, sorted_indices=None, unsorted_indices=None):
        if batch_sizes is None:                      # PyTorch's legacy form PackedSequence((data, batch_sizes))
            if not isinstance(data, (tuple, list)) or len(data) != 2:
                raise TypeError("PackedSequence: expected data and batch_sizes (or one pair of them), got "
                                f"{type(data).__name__} without batch_sizes")
            data, batch_sizes = data
        if not isinstance(data, Tensor):
            raise TypeError(f"PackedSequence: data must be a Tensor, got {type(data).__name__}")
        batch_sizes = _index_tensor("batch_sizes", batch_sizes, "cpu")
        if sorted_indices is not None:
            sorted_indices = _index_tensor("sorted_indices", sorted_indices, data.device)
            if unsorted_indices is None:
                unsorted_indices = _index_tensor("unsorted_indices", invert_permutation(sorted_indices), data.device)
        if unsorted_indices is not None:
            unsorted_indices = _index_tensor("unsorted_indices", unsorted_indices, data.device)
        return super().__new__(cls, data, batch_sizes, sorted_indices, unsorted_indices)

    def to(self, device=None, dtype=None) -> "PackedSequence":
        """data to a device and/or dtype (Tensor.to's arguments); the indices follow the data's device and
        batch_sizes stays on the CPU, as PyTorch's."""
        data = self.data.to(device, dtype)
        move = lambda t: None if t is None else t.to(data.device)   # noqa: E731
        return type(self)(data, self.batch_sizes, move(self.sorted_indices), move(self.unsorted_indices))

    def cpu(self) -> "PackedSequence":
        return self.to("cpu")

    def cuda(self) -> "PackedSequence":
        return self.to("cuda")

    def float(self) -> "PackedSequence":
        return self.to(dtype=backend.float32)

    def double(self) -> "PackedSequence":
        return self.to(dtype=backend.float64)

    @property
    def is_cuda(self) -> bool:
        return self.data.device == "cuda"


def invert_permutation(permutation: Tensor | None) -> Tensor | None:
    """The inverse permutation: out[permutation[i]] = i (None stays None)."""
    if permutation is None:
        return None
    p = _host(permutation)
    inverse = np.empty_like(p)
    inverse[p] = np.arange(len(p))
    return Tensor(inverse, dtype=backend.int64, device=permutation.device if isinstance(permutation, Tensor) else None)


# ----------------------------------------------------------------------------- the public functions

def pad_sequence(sequences: Iterable[Tensor], batch_first: bool = False, padding_value: float = 0.0,
                 padding_side: str = "right") -> Tensor:
    """Stack sequences of shapes (L_i, *) into one (T, B, *) tensor (or (B, T, *)), T = max L_i, padding
    with `padding_value` after each sequence (padding_side='right') or before it ('left')."""
    fn = "pad_sequence"
    sequences = _sequence_list(fn, sequences)
    if padding_side not in ("left", "right"):
        raise ValueError(f"{fn}: padding_side must be 'left' or 'right', got {padding_side!r}")
    lengths = np.array([s.shape[0] for s in sequences], dtype=np.int64)
    T, B = int(lengths.max()), len(sequences)
    flat = sequences[0] if B == 1 else ops.cat(sequences)         # every step of every sequence, in order
    if flat.shape[0] == 0:                                         # nothing but empty sequences
        shape = (B, T) if batch_first else (T, B)
        return Tensor(np.full(shape + flat.shape[1:], padding_value), dtype=flat.dtype, device=flat.device)
    rows = np.full((T, B), -1, dtype=np.int64)                     # rows[t, b]: the row of flat there (-1: pad)
    start = np.concatenate([[0], np.cumsum(lengths)[:-1]])
    for b, (n, s) in enumerate(zip(lengths, start)):
        first = 0 if padding_side == "right" else T - n
        rows[first:first + n, b] = np.arange(s, s + n)
    return _gather_rows(flat, rows.T if batch_first else rows, padding_value)


def pack_padded_sequence(input: Tensor, lengths, batch_first: bool = False,
                         enforce_sorted: bool = True) -> PackedSequence:
    """Pack a padded batch (T, B, *) (or (B, T, *)) whose sequence b has lengths[b] real steps.
    enforce_sorted=True: lengths must already decrease (sorted_indices None); False: sorted here."""
    return _pack("pack_padded_sequence", input, lengths, batch_first, enforce_sorted)


def pack_sequence(sequences: Iterable[Tensor], enforce_sorted: bool = True) -> PackedSequence:
    """Pack a list of sequences of shapes (L_i, *) (pad_sequence, then pack_padded_sequence)."""
    sequences = _sequence_list("pack_sequence", sequences)
    lengths = [s.shape[0] for s in sequences]
    return _pack("pack_sequence", pad_sequence(sequences), lengths, False, enforce_sorted)


def pad_packed_sequence(sequence: PackedSequence, batch_first: bool = False, padding_value: float = 0.0,
                        total_length: int | None = None) -> tuple[Tensor, Tensor]:
    """Undo packing -> (padded (T, B, *) or (B, T, *) in the original batch order, lengths: int64 CPU
    tensor). T is the longest length, or total_length (at least that) to pad further."""
    fn = "pad_packed_sequence"
    if not isinstance(sequence, PackedSequence):
        raise TypeError(f"{fn}: expected a PackedSequence (from pack_padded_sequence or pack_sequence), "
                        f"got {type(sequence).__name__}")
    steps, seqs, sorted_lengths = _layout(fn, sequence)
    T = len(sequence.batch_sizes)
    if total_length is not None:
        if isinstance(total_length, bool) or not isinstance(total_length, (int, np.integer)):
            raise TypeError(f"{fn}: total_length must be an int, got {type(total_length).__name__}")
        if total_length < T:
            raise ValueError(f"{fn}: expected total_length to be at least the length of the longest sequence "
                             f"({T}), got total_length={total_length}")
        T = int(total_length)
    rows = np.full((T, len(sorted_lengths)), -1, dtype=np.int64)
    rows[steps, seqs] = np.arange(len(steps))
    padded = _gather_rows(sequence.data, rows.T if batch_first else rows, padding_value)
    lengths = np.empty_like(sorted_lengths)
    lengths[_order(sequence)] = sorted_lengths
    return padded, Tensor(lengths, dtype=backend.int64)


def unpad_sequence(padded_sequences: Tensor, lengths, batch_first: bool = False) -> list[Tensor]:
    """The list of sequences (L_b, *) inside a padded batch (pad_sequence's inverse)."""
    fn = "unpad_sequence"
    if not isinstance(padded_sequences, Tensor) or padded_sequences.ndim < 2:
        raise ValueError(f"{fn}: expected a padded batch of at least 2 dimensions, got {_describe(padded_sequences)}")
    T, B = padded_sequences.shape[:2][::-1] if batch_first else padded_sequences.shape[:2]
    lengths = _int_array(fn, "lengths", lengths)
    if lengths.shape != (B,) or (B and (lengths.min() < 0 or lengths.max() > T)):
        raise ValueError(f"{fn}: lengths must be {B} integers in [0, {T}], got {lengths.tolist()}")
    return [padded_sequences[b, :n] if batch_first else padded_sequences[:n, b] for b, n in enumerate(lengths)]


def unpack_sequence(packed_sequences: PackedSequence) -> list[Tensor]:
    """The list of sequences (L_b, *) inside a PackedSequence, in the original order (pack_sequence's inverse)."""
    padded, lengths = pad_packed_sequence(packed_sequences, batch_first=True)
    return unpad_sequence(padded, lengths, batch_first=True)


# ----------------------------------------------------------------------------- recurrent layers

def run_packed(module, packed: PackedSequence, hx=None):
    """nn.RNN/LSTM/GRU on a PackedSequence -> (PackedSequence output, h_n or (h_n, c_n)).

    Unpack to the module's own layout, run its padded path with lengths= (padded steps are masked, so
    each direction sees exactly the real steps), and pack the output with the input's batch_sizes and
    sorted_indices. The batch stays in its original order throughout, so hx and h_n are in that order,
    as PyTorch's."""
    name = type(module).__name__
    data = packed.data
    if not isinstance(data, Tensor) or data.ndim != 2 or data.shape[1] != module.input_size:
        raise ValueError(f"{name}: expected PackedSequence data of shape (N, input_size={module.input_size}), "
                         f"got {_describe(data)}")
    padded, lengths = pad_packed_sequence(packed, batch_first=module.batch_first)
    output, state = module.forward(padded, hx, lengths=lengths)
    steps, seqs, _ = _layout(name, packed)
    out_data = output[(seqs, steps) if module.batch_first else (steps, seqs)]
    return PackedSequence(out_data, packed.batch_sizes, packed.sorted_indices, packed.unsorted_indices), state


# ----------------------------------------------------------------------------- helpers

def _pack(fn, padded, lengths, batch_first, enforce_sorted):
    """pack_padded_sequence's work; `fn` names the public function in errors."""
    if not isinstance(padded, Tensor) or padded.ndim < 2:
        raise ValueError(f"{fn}: expected a padded batch of shape {'(B, T, *)' if batch_first else '(T, B, *)'}, "
                         f"got {_describe(padded)}")
    T, B = padded.shape[:2][::-1] if batch_first else padded.shape[:2]
    if padded.numel() == 0:
        raise ValueError(f"{fn}: cannot pack an empty tensor (shape {padded.shape})")
    lengths = _int_array(fn, "lengths", lengths)
    if lengths.shape != (B,):
        raise ValueError(f"{fn}: expected one length per sequence (batch size {B}, input of shape "
                         f"{padded.shape}), got {len(lengths)} lengths {lengths.tolist()}")
    if lengths.min() <= 0:
        raise ValueError(f"{fn}: every length must be greater than 0, got lengths {lengths.tolist()}")
    if lengths.max() > T:
        raise ValueError(f"{fn}: lengths must not exceed the padded length {T} (input of shape "
                         f"{padded.shape}), got lengths {lengths.tolist()}")
    if enforce_sorted:
        if np.any(np.diff(lengths) > 0):
            raise ValueError(f"{fn}: lengths must be sorted in decreasing order when enforce_sorted=True, got "
                             f"{lengths.tolist()}; pass enforce_sorted=False to have them sorted here")
        order = np.arange(B)
    else:
        order = np.argsort(-lengths, kind="stable")       # longest first; ties keep their order
    sorted_lengths = lengths[order]
    batch_sizes = (sorted_lengths[None, :] > np.arange(sorted_lengths[0])[:, None]).sum(1)
    steps, seqs = _positions(batch_sizes, order)
    data = padded[(seqs, steps) if batch_first else (steps, seqs)]
    sorted_indices = None if enforce_sorted else Tensor(order, dtype=backend.int64, device=padded.device)
    return PackedSequence(data, batch_sizes, sorted_indices)


def _positions(batch_sizes, order):
    """For each row of packed data, its (step, sequence) in the padded batch (original batch indices)."""
    steps = np.repeat(np.arange(len(batch_sizes)), batch_sizes)
    slots = np.concatenate([np.arange(n) for n in batch_sizes])   # rank of the sequence among the sorted
    return steps, order[slots]


def _order(packed):
    """sorted_indices as a host array (the identity when the batch came sorted)."""
    n = int(packed.batch_sizes.numpy()[0])
    return np.arange(n) if packed.sorted_indices is None else _host(packed.sorted_indices)


def _layout(fn, packed):
    """Check a PackedSequence -> (steps, seqs) of its rows (as _positions) and the sorted lengths."""
    batch_sizes, data = packed.batch_sizes.numpy(), packed.data
    if batch_sizes.ndim != 1 or len(batch_sizes) == 0 or batch_sizes.min() <= 0 or np.any(np.diff(batch_sizes) > 0):
        raise ValueError(f"{fn}: batch_sizes must be positive and non-increasing, got {batch_sizes.tolist()}")
    if data.ndim < 1 or data.shape[0] != batch_sizes.sum():
        raise ValueError(f"{fn}: the PackedSequence's data has {_describe(data)} but batch_sizes "
                         f"{batch_sizes.tolist()} sum to {int(batch_sizes.sum())} rows")
    order = _order(packed)
    if sorted(order.tolist()) != list(range(batch_sizes[0])):
        raise ValueError(f"{fn}: sorted_indices must be a permutation of range({batch_sizes[0]}), "
                         f"got {order.tolist()}")
    sorted_lengths = (batch_sizes[None, :] > np.arange(batch_sizes[0])[:, None]).sum(1)
    return (*_positions(batch_sizes, order), sorted_lengths)


def _gather_rows(flat, rows, padding_value):
    """out[i, j] = flat[rows[i, j]], or padding_value (in flat's dtype, as PyTorch's) where rows[i, j] is -1
    (one gather, one where)."""
    valid = rows >= 0
    picked = flat[np.where(valid, rows, 0)]
    mask = backend.to_device(valid.reshape(valid.shape + (1,) * (flat.ndim - 1)), flat.device)
    return ops.where(mask, picked, Tensor(backend.scalar_array(padding_value, flat.dtype, flat.data)))


def _sequence_list(fn, sequences):
    """A non-empty list of Tensors (L_i, *) with equal trailing shapes, dtypes and devices."""
    if isinstance(sequences, Tensor) or not isinstance(sequences, Iterable):
        raise TypeError(f"{fn}: expected a list of Tensors, got {type(sequences).__name__}")
    sequences = list(sequences)
    if not sequences:
        raise ValueError(f"{fn}: received an empty list of sequences")
    for i, s in enumerate(sequences):
        if not isinstance(s, Tensor) or s.ndim < 1:
            raise TypeError(f"{fn}: sequence {i} must be a Tensor of shape (length, *), got {_describe(s)}")
    first = sequences[0]
    for i, s in enumerate(sequences):
        if s.shape[1:] != first.shape[1:] or s.dtype != first.dtype or s.device != first.device:
            raise ValueError(f"{fn}: every sequence must have shape (length, *{first.shape[1:]}) with dtype "
                             f"{first.dtype} on {first.device} (as sequence 0), sequence {i} is {_describe(s)}")
    return sequences


def _int_array(fn, arg, values):
    """A 1-D int64 host array from a list, array or CPU Tensor of integers."""
    if isinstance(values, Tensor):
        if values.device != "cpu":
            raise ValueError(f"{fn}: {arg} must be a list or a 1-D CPU int64 tensor, got a tensor on "
                             f"{values.device} (call .cpu() first)")
        values = values.numpy()
    array = np.asarray(values)
    if array.size == 0 and array.ndim == 1:
        array = array.astype(np.int64)
    if array.ndim != 1 or array.dtype.kind not in "iu":
        raise ValueError(f"{fn}: {arg} must be a 1-D list of integers, got {np.asarray(values).tolist()!r}")
    return array.astype(np.int64)


def _index_tensor(arg, indices, device):
    """A 1-D int64 index tensor on `device` from a Tensor (any device), list or array of integers; an
    index tensor that already is one is kept as it is (a repacked output shares the input's)."""
    if isinstance(indices, Tensor) and indices.dtype == backend.int64 and indices.ndim == 1 \
            and indices.device == device:
        return indices
    return Tensor(_int_array("PackedSequence", arg, _host(indices) if isinstance(indices, Tensor) else indices),
                  dtype=backend.int64, device=device)


def _host(indices):
    """Indices as a NumPy int64 array (a host copy for CUDA tensors)."""
    return indices.numpy().astype(np.int64) if isinstance(indices, Tensor) else np.asarray(indices, dtype=np.int64)


def _describe(x):
    return f"a tensor of shape {x.shape} ({x.dtype})" if isinstance(x, Tensor) else f"a {type(x).__name__}"
