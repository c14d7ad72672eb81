"""Packed sequences (nn.utils.rnn): layout, round trips, gradients and PyTorch's numbers for packed RNN/LSTM/GRU.

The PyTorch numbers come from tests/data/torch_packed_golden.npz, written by
tests/data/make_torch_packed_golden.py (run by hand in a scratch environment); PyTorch is never imported here.
"""
import json
import os

import numpy as np
import pytest
from hypothesis import given, strategies as st

import minigrad as mg
from minigrad import nn
from minigrad.nn.utils.rnn import (PackedSequence, invert_permutation, pack_padded_sequence, pack_sequence,
                                   pad_packed_sequence, pad_sequence, unpack_sequence, unpad_sequence)

F64 = mg.float64
GOLDEN = os.path.join(os.path.dirname(__file__), "data", "torch_packed_golden.npz")
_golden = np.load(GOLDEN, allow_pickle=False)
CASES = sorted({k.split("/")[0] for k in _golden.files if "/" in k} - {"util"})
PATHS = {"unroll_fused": dict(unroll=True, fused=True), "unroll_fine": dict(unroll=True, fused=False),
         "speed": dict(unroll=False)}
CLASSES = {"rnn": nn.RNN, "lstm": nn.LSTM, "gru": nn.GRU}


def t64(array, device="cpu", requires_grad=False):
    return mg.tensor(np.asarray(array, dtype=np.float64), dtype=F64, device=device, requires_grad=requires_grad)


# ----------------------------------------------------------------------------- layout and PyTorch's utilities

def test_the_docstring_example_layout():
    # lengths [2, 3, 1]: sorted 3, 2, 1 -> data is b1 t0, b0 t0, b2 t0, b1 t1, b0 t1, b1 t2
    x = t64(np.arange(9.0).reshape(3, 3, 1))              # x[t, b] = 3t + b
    packed = pack_padded_sequence(x, [2, 3, 1], enforce_sorted=False)
    assert isinstance(packed, tuple) and packed._fields == ("data", "batch_sizes", "sorted_indices",
                                                            "unsorted_indices")
    assert packed.data.numpy().ravel().tolist() == [1, 0, 2, 4, 3, 7]
    assert packed.batch_sizes.dtype == mg.int64 and packed.batch_sizes.device == "cpu"
    assert packed.batch_sizes.tolist() == [3, 2, 1]
    assert packed.sorted_indices.tolist() == [1, 0, 2] and packed.unsorted_indices.tolist() == [1, 0, 2]
    sorted_packed = pack_padded_sequence(x, [3, 2, 1])
    assert sorted_packed.sorted_indices is None and sorted_packed.unsorted_indices is None
    assert sorted_packed.data.numpy().ravel().tolist() == [0, 1, 2, 3, 4, 6]


def _golden_sequences():
    return [t64(_golden[f"util/seq{i}"]) for i in range(4)]


@pytest.mark.parametrize("batch_first", [False, True])
@pytest.mark.parametrize("side", ["right", "left"])
def test_pad_sequence_equals_pytorch(batch_first, side):
    seqs = _golden_sequences() + [t64(_golden["util/empty"])]
    out = pad_sequence(seqs, batch_first=batch_first, padding_value=-1.5, padding_side=side)
    np.testing.assert_array_equal(out.numpy(), _golden[f"util/pad/{'bf' if batch_first else 'tf'}_{side}"])


@pytest.mark.parametrize("dtype", [mg.int64, mg.float32])
def test_padding_keeps_the_sequences_dtype(dtype):
    """Token ids stay integers (an Embedding needs them), with the padding value cast, as PyTorch's."""
    seqs = [mg.tensor([1, 2, 3], dtype=dtype), mg.tensor([4], dtype=dtype)]
    padded = pad_sequence(seqs, batch_first=True, padding_value=-100)
    assert padded.dtype == dtype and padded.tolist() == [[1, 2, 3], [4, -100, -100]]
    assert pad_sequence([mg.zeros(0, dtype=dtype)], padding_value=-1).dtype == dtype
    unpacked, _ = pad_packed_sequence(pack_sequence(seqs), padding_value=7)
    assert unpacked.dtype == dtype and unpacked.tolist() == [[1, 4], [2, 7], [3, 7]]


def test_pack_sequence_and_pad_packed_sequence_equal_pytorch():
    packed = pack_sequence(_golden_sequences(), enforce_sorted=False)      # lengths 2, 4, 1, 4: a tie
    for field in ("data", "batch_sizes", "sorted_indices", "unsorted_indices"):
        np.testing.assert_array_equal(getattr(packed, field).numpy(), _golden["util/pack/" + field], err_msg=field)
    padded, lengths = pad_packed_sequence(packed, batch_first=True, padding_value=9.0, total_length=6)
    np.testing.assert_array_equal(padded.numpy(), _golden["util/unpack/padded"])
    assert lengths.dtype == mg.int64 and lengths.device == "cpu"
    np.testing.assert_array_equal(lengths.numpy(), _golden["util/unpack/lengths"])


@given(lengths=st.lists(st.integers(1, 5), min_size=1, max_size=5), batch_first=st.booleans(),
       enforce_sorted=st.booleans(), extra=st.integers(0, 2))
def test_pack_then_pad_gives_back_the_padded_batch(lengths, batch_first, enforce_sorted, extra):
    if enforce_sorted:
        lengths = sorted(lengths, reverse=True)
    T, B = max(lengths) + extra, len(lengths)
    rng = np.random.default_rng(len(lengths))
    x = rng.standard_normal((B, T, 2) if batch_first else (T, B, 2))
    valid = np.arange(T)[:, None] < np.array(lengths)[None, :]               # (T, B)
    valid = (valid.T if batch_first else valid)[..., None]
    packed = pack_padded_sequence(t64(x), lengths, batch_first=batch_first, enforce_sorted=enforce_sorted)
    assert packed.data.shape == (sum(lengths), 2)
    assert packed.batch_sizes.tolist() == [sum(n > t for n in lengths) for t in range(max(lengths))]
    padded, got_lengths = pad_packed_sequence(packed, batch_first=batch_first, padding_value=7.0, total_length=T)
    np.testing.assert_array_equal(padded.numpy(), np.where(valid, x, 7.0))
    assert got_lengths.tolist() == lengths
    seqs = unpad_sequence(t64(x), lengths, batch_first=batch_first)
    assert [s.shape[0] for s in seqs] == lengths
    np.testing.assert_array_equal(pad_sequence(seqs, batch_first=batch_first, padding_value=7.0).numpy(),
                                  np.where(valid, x, 7.0)[(slice(None),) * (1 if batch_first else 0)
                                                          + (slice(0, max(lengths)),)])
    back = unpack_sequence(pack_sequence(seqs, enforce_sorted=enforce_sorted))
    for a, b in zip(back, seqs):
        np.testing.assert_array_equal(a.numpy(), b.numpy())


def test_packed_sequence_is_built_as_pytorchs():
    data = t64(np.arange(6.0))
    packed = PackedSequence(data, [3, 2, 1], sorted_indices=[2, 0, 1])
    assert packed.unsorted_indices.tolist() == [1, 2, 0]                    # computed: the inverse permutation
    assert invert_permutation(packed.sorted_indices).tolist() == [1, 2, 0]
    legacy = PackedSequence((data, mg.tensor([3, 2, 1])))
    assert legacy.batch_sizes.tolist() == [3, 2, 1] and legacy.sorted_indices is None
    data, batch_sizes, sorted_indices, unsorted_indices = packed                # a 4-tuple, as PyTorch's
    as32 = packed.float()
    assert as32.data.dtype == mg.float32 and as32.sorted_indices.tolist() == [2, 0, 1]
    assert not packed.is_cuda and packed.cpu().data.device == "cpu"


def test_utilities_run_on_the_device(device):
    seqs = [mg.tensor(np.ones((n, 2)), dtype=F64, device=device) for n in (2, 3)]
    packed = pack_sequence(seqs, enforce_sorted=False)
    assert packed.data.device == device and packed.sorted_indices.device == device
    assert packed.batch_sizes.device == "cpu"
    padded, lengths = pad_packed_sequence(packed)
    assert padded.device == device and lengths.device == "cpu" and lengths.tolist() == [2, 3]


# ----------------------------------------------------------------------------- gradients

def test_gradients_flow_back_to_the_sequences_and_twice():
    rng = np.random.default_rng(0)
    seqs = [t64(rng.standard_normal((n, 2)), requires_grad=True) for n in (2, 4, 1)]

    def fn(*s):
        padded, _ = pad_packed_sequence(pack_sequence(list(s), enforce_sorted=False), batch_first=True,
                                        padding_value=0.5, total_length=5)
        return padded * padded                       # something non-linear, for the second derivative
    assert mg.gradcheck(fn, seqs)
    assert mg.gradgradcheck(fn, seqs)


def test_gradients_reach_only_the_real_steps_of_the_padded_input():
    x = t64(np.ones((4, 3, 2)), requires_grad=True)
    packed = pack_padded_sequence(x, [4, 1, 2], enforce_sorted=False)
    (packed.data * 2.0).sum().backward()
    expected = 2.0 * (np.arange(4)[:, None] < np.array([4, 1, 2]))[..., None] * np.ones((4, 3, 2))
    np.testing.assert_array_equal(x.grad.numpy(), expected)


@pytest.mark.parametrize("path", list(PATHS))
def test_gradcheck_through_pack_lstm_pad(path):
    mg.manual_seed(0)
    m = nn.LSTM(2, 2, bidirectional=True, batch_first=True, dtype=F64, **PATHS[path])
    rng = np.random.default_rng(1)
    x = t64(rng.standard_normal((3, 4, 2)), requires_grad=True)
    h0 = t64(rng.standard_normal((2, 3, 2)), requires_grad=True)
    c0 = t64(rng.standard_normal((2, 3, 2)), requires_grad=True)

    def fn(x, h0, c0, *params):
        out, (h_n, c_n) = m(pack_padded_sequence(x, [2, 4, 1], batch_first=True, enforce_sorted=False), (h0, c0))
        padded, _ = pad_packed_sequence(out, batch_first=True)
        return padded, h_n, c_n
    assert mg.gradcheck(fn, [x, h0, c0] + list(m.parameters()))


@pytest.mark.parametrize("path", list(PATHS))
def test_second_derivatives_through_a_packed_gru(path):
    mg.manual_seed(0)
    m = nn.GRU(2, 2, bidirectional=True, dtype=F64, **PATHS[path])
    rng = np.random.default_rng(2)
    x = t64(rng.standard_normal((3, 3, 2)), requires_grad=True)

    def fn(x, weight):
        out, h_n = m(pack_padded_sequence(x, [1, 3, 2], enforce_sorted=False))
        return out.data, h_n
    assert mg.gradgradcheck(fn, [x, m.weight_hh_l0], directions=4)


# ----------------------------------------------------------------------------- packed layers: PyTorch's numbers

def test_golden_file_covers_three_cells_sorted_unsorted_bidirectional():
    configs = [json.loads(str(_golden[c + "/config"])) for c in CASES]
    seen = {(c["mode"], c["enforce_sorted"], bool(c["kwargs"].get("bidirectional"))) for c in configs}
    assert seen == {(m, s, b) for m in CLASSES for s in (True, False) for b in (True, False)}
    assert any(c["state"] for c in configs) and any(c["kwargs"].get("batch_first") for c in configs)
    assert os.path.getsize(GOLDEN) < 1_000_000


def _run_golden(case, path, device):
    """The golden case through minigrad -> {name: array} of everything the file records."""
    get = lambda k: _golden[f"{case}/{k}"]                                 # noqa: E731
    has = lambda k: f"{case}/{k}" in _golden.files                       # noqa: E731
    cfg = json.loads(str(get("config")))
    x = get("x")
    m = CLASSES[cfg["mode"]](x.shape[-1], get("param/weight_hh_l0").shape[1], dtype=F64, **cfg["kwargs"],
                             **PATHS[path])
    prefix = f"{case}/param/"
    m.load_state_dict({k[len(prefix):]: _golden[k] for k in _golden.files if k.startswith(prefix)})
    m.to(device)
    ins = {k: t64(get(k), device, requires_grad=True) for k in ("x", "h0", "c0") if has(k)}
    state = None
    if "h0" in ins:
        state = (ins["h0"], ins["c0"]) if cfg["mode"] == "lstm" else ins["h0"]
    packed = pack_padded_sequence(ins["x"], mg.tensor(get("lengths")), batch_first=m.batch_first,
                                  enforce_sorted=cfg["enforce_sorted"])
    out, hn = m(packed, state)
    assert type(out) is PackedSequence and out.data.device == device
    assert out.batch_sizes is packed.batch_sizes and out.sorted_indices is packed.sorted_indices
    h_n, c_n = hn if cfg["mode"] == "lstm" else (hn, None)
    loss = (out.data * t64(get("w_out"), device)).sum() + (h_n * t64(get("w_h"), device)).sum()
    if c_n is not None:
        loss = loss + (c_n * t64(get("w_c"), device)).sum()
    loss.backward()
    got = {"out_data": out.data, "batch_sizes": out.batch_sizes, "h_n": h_n, "c_n": c_n,
           "sorted_indices": out.sorted_indices}
    got.update({"grad_" + k: t.grad for k, t in ins.items()})
    got.update({"grad/" + k: p.grad for k, p in m.named_parameters()})
    return {k: v.numpy() for k, v in got.items() if v is not None}


@pytest.mark.parametrize("case", CASES)
@pytest.mark.parametrize("path", list(PATHS))
def test_packed_layer_equals_pytorch(case, path, device):
    got = _run_golden(case, path, device)
    expected = {k[len(case) + 1:] for k in _golden.files if k.startswith(case + "/")}
    expected -= {"config", "lengths", "x", "h0", "c0", "w_out", "w_h", "w_c"}
    expected -= {k for k in expected if k.startswith("param/")}
    assert set(got) == expected
    for k in sorted(expected):
        np.testing.assert_allclose(got[k], _golden[f"{case}/{k}"], rtol=0, atol=1e-10, err_msg=f"{case} {path}: {k}")


def test_h_n_is_in_the_original_batch_order():
    # sequence b alone (a batch of one) gives the same h_n column as inside the unsorted packed batch
    mg.manual_seed(0)
    m = nn.GRU(2, 3, num_layers=2, bidirectional=True, dtype=F64)
    rng = np.random.default_rng(0)
    seqs = [t64(rng.standard_normal((n, 2))) for n in (2, 5, 3)]
    h0 = t64(rng.standard_normal((4, 3, 3)))
    _, h_n = m(pack_sequence(seqs, enforce_sorted=False), h0)
    for b, s in enumerate(seqs):
        _, alone = m(s[:, None, :], h0[:, b:b + 1])
        np.testing.assert_allclose(h_n.numpy()[:, b:b + 1], alone.numpy(), rtol=0, atol=1e-12)


# ----------------------------------------------------------------------------- errors

@pytest.mark.parametrize("call, error, match", [
    (lambda x: pack_padded_sequence(x, [2, 4, 1]), ValueError,
     r"pack_padded_sequence: lengths must be sorted in decreasing order when enforce_sorted=True, got \[2, 4, 1\]"
     r".*enforce_sorted=False"),
    (lambda x: pack_padded_sequence(x, [4, 0, 0], enforce_sorted=False), ValueError,
     r"pack_padded_sequence: every length must be greater than 0, got lengths \[4, 0, 0\]"),
    (lambda x: pack_padded_sequence(x, [4, 2]), ValueError,
     r"pack_padded_sequence: expected one length per sequence \(batch size 3.*got 2 lengths"),
    (lambda x: pack_padded_sequence(x, [5, 2, 1]), ValueError,
     r"pack_padded_sequence: lengths must not exceed the padded length 4"),
    (lambda x: pack_padded_sequence(x, [4.0, 2.0, 1.0]), ValueError,
     r"pack_padded_sequence: lengths must be a 1-D list of integers"),
    (lambda x: pack_padded_sequence(x[0, 0], [1]), ValueError,
     r"pack_padded_sequence: expected a padded batch of shape \(T, B, \*\), got a tensor of shape \(2,\)"),
    (lambda x: pack_padded_sequence(x[:, :0], []), ValueError, r"pack_padded_sequence: cannot pack an empty"),
    (lambda x: pad_packed_sequence(pack_padded_sequence(x, [4, 2, 1]), total_length=3), ValueError,
     r"pad_packed_sequence: expected total_length to be at least the length of the longest sequence \(4\), "
     r"got total_length=3"),
    (lambda x: pad_packed_sequence(x), TypeError, r"pad_packed_sequence: expected a PackedSequence.*got Tensor"),
    (lambda x: pad_packed_sequence(PackedSequence(x[0], [2, 2])), ValueError,
     r"pad_packed_sequence: the PackedSequence's data has a tensor of shape \(3, 2\).*sum to 4 rows"),
    (lambda x: pad_sequence([]), ValueError, r"pad_sequence: received an empty list of sequences"),
    (lambda x: pad_sequence(x), TypeError, r"pad_sequence: expected a list of Tensors, got Tensor"),
    (lambda x: pad_sequence([x[:, 0], x[:, 0, :1]]), ValueError,
     r"pad_sequence: every sequence must have shape \(length, \*\(2,\)\).*sequence 1 is a tensor of shape \(4, 1\)"),
    (lambda x: pad_sequence([x[:, 0]], padding_side="middle"), ValueError,
     r"pad_sequence: padding_side must be 'left' or 'right', got 'middle'"),
    (lambda x: pack_sequence([x[:2, 0], x[:, 0]]), ValueError,
     r"pack_sequence: lengths must be sorted in decreasing order"),
    (lambda x: nn.LSTM(3, 2)(pack_padded_sequence(x, [4, 2, 1])), ValueError,
     r"LSTM: expected PackedSequence data of shape \(N, input_size=3\), got a tensor of shape \(7, 2\)"),
])
def test_bad_input_gives_a_clear_error(call, error, match):
    x = t64(np.zeros((4, 3, 2)))
    with pytest.raises(error, match=match):
        call(x)


def test_hx_of_the_wrong_shape_is_rejected_by_the_layer():
    packed = pack_sequence([t64(np.zeros((3, 2))), t64(np.zeros((1, 2)))])
    with pytest.raises(ValueError, match=r"GRU: expected initial state of shape \(1, 2, 4\)"):
        nn.GRU(2, 4, dtype=F64)(packed, t64(np.zeros((1, 3, 4))))
