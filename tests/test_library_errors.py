"""Issue 15: every user mistake gets a clear error naming the op/module, the argument and what was expected
(never an internal NumPy/Python error), and the edge sizes that have a meaning give a defined result.

Each error case is (callable, exception type, fragments the message must contain); the fragments name the
module or op, the argument and the expected thing."""
import json

import numpy as np
import pytest

import minigrad as mg
from minigrad import nn, optim


def check_raises(fn, exc, fragments):
    with pytest.raises(Exception) as info:
        fn()
    assert type(info.value) is exc, f"expected {exc.__name__}, got {type(info.value).__name__}: {info.value}"
    message = str(info.value)
    for fragment in fragments:
        assert fragment in message, f"{fragment!r} not in the message {message!r}"


def x2():
    return mg.randn(2, 3)


def z(*shape):
    return mg.zeros(*shape)


# ----------------------------------------------------------------------------- cells check their state

CELL_STATE_CASES = {
    # LSTMCell given h only: used to unpack the (2, 4) tensor by rows as (h, c)
    "lstm_h_only": (lambda: nn.LSTMCell(3, 4)(x2(), z(2, 4)), TypeError, ["LSTMCell", "tuple (h, c)", "(2, 4)"]),
    "lstm_3_tuple": (lambda: nn.LSTMCell(3, 4)(x2(), (z(2, 4),) * 3), TypeError,
                     ["LSTMCell", "tuple (h, c)", "a tuple of 3"]),
    "lstm_1_tuple": (lambda: nn.LSTMCell(3, 4)(x2(), (z(2, 4),)), TypeError, ["LSTMCell", "(h, c)"]),
    # a (1, H) state used to broadcast over batch 2
    "lstm_state_batch_1": (lambda: nn.LSTMCell(3, 4)(x2(), (z(1, 4), z(1, 4))), ValueError,
                           ["LSTMCell", "state of shape (2, 4)", "(batch, hidden_size)", "got (1, 4)"]),
    "lstm_c_wrong": (lambda: nn.LSTMCell(3, 4)(x2(), (z(2, 4), z(2, 5))), ValueError,
                     ["LSTMCell", "(2, 4)", "got (2, 5)"]),
    "lstm_unfused_state_batch_1": (lambda: nn.LSTMCell(3, 4, fused=False)(x2(), (z(1, 4), z(1, 4))), ValueError,
                                   ["LSTMCell", "state of shape (2, 4)"]),
    "gru_wrong_hidden": (lambda: nn.GRUCell(3, 4)(x2(), z(2, 5)), ValueError,
                         ["GRUCell", "state of shape (2, 4)", "got (2, 5)"]),
    "gru_state_batch_1": (lambda: nn.GRUCell(3, 4)(x2(), z(1, 4)), ValueError, ["GRUCell", "(2, 4)", "got (1, 4)"]),
    "gru_tuple_state": (lambda: nn.GRUCell(3, 4)(x2(), (z(2, 4), z(2, 4))), TypeError,
                        ["GRUCell", "one tensor h", "got tuple"]),
    "rnn_1d_state": (lambda: nn.RNNCell(3, 4)(x2(), z(4)), ValueError, ["RNNCell", "(2, 4)", "got (4,)"]),
    "rnn_3d_state": (lambda: nn.RNNCell(3, 4)(x2(), z(1, 2, 4)), ValueError, ["RNNCell", "(2, 4)", "got (1, 2, 4)"]),
    "rnn_array_state": (lambda: nn.RNNCell(3, 4)(x2(), np.zeros((2, 4))), TypeError,
                        ["RNNCell", "one tensor h", "ndarray"]),
    "rnn_unbatched_state_batched": (lambda: nn.RNNCell(3, 4)(mg.randn(3), z(2, 4)), ValueError,
                                    ["RNNCell", "state of shape (4,)", "(hidden_size,)"]),
    "rnn_state_dtype": (lambda: nn.RNNCell(3, 4)(x2(), mg.zeros(2, 4, dtype=mg.float64)), TypeError,
                        ["RNNCell", "dtype", "float32", "float64"]),
    "rnn_input_array": (lambda: nn.RNNCell(3, 4)(np.zeros((2, 3))), ValueError, ["RNNCell", "(batch, 3)", "ndarray"]),
}


@pytest.mark.parametrize("case", list(CELL_STATE_CASES))
def test_cells_check_their_state(case):
    fn, exc, fragments = CELL_STATE_CASES[case]
    check_raises(fn, exc, fragments)


@pytest.mark.parametrize("cls", [nn.RNNCell, nn.GRUCell, nn.LSTMCell])
def test_cells_take_a_right_state_batched_and_unbatched(cls):
    cell = cls(3, 4)
    lstm = cls is nn.LSTMCell
    state = (z(2, 4), z(2, 4)) if lstm else z(2, 4)
    out = cell(x2(), state)
    assert (out[0] if lstm else out).shape == (2, 4)
    out = cell(mg.randn(3), (z(4), z(4)) if lstm else z(4))
    assert (out[0] if lstm else out).shape == (4,)
    out = cell(x2(), [z(2, 4), z(2, 4)] if lstm else None)      # a list (h, c) and the default zeros work
    assert (out[0] if lstm else out).shape == (2, 4)


# ----------------------------------------------------------------------------- constructor arguments

CONSTRUCTOR_CASES = {
    "lstm_dropout_str": (lambda: nn.LSTM(3, 4, dropout="0.5"), TypeError, ["LSTM", "dropout", "float", "'0.5'"]),
    "gru_dropout_1": (lambda: nn.GRU(3, 4, dropout=1.0), ValueError, ["GRU", "dropout", "[0, 1)"]),
    "lstm_num_layers_float": (lambda: nn.LSTM(3, 4, num_layers=1.5), TypeError, ["LSTM", "num_layers", "int", "1.5"]),
    "rnn_num_layers_str": (lambda: nn.RNN(3, 4, num_layers="2"), TypeError, ["RNN", "num_layers", "int", "'2'"]),
    "gru_hidden_float": (lambda: nn.GRU(3, 4.0), TypeError, ["GRU", "hidden_size", "int", "4.0"]),
    "lstm_input_none": (lambda: nn.LSTM(None, 4), TypeError, ["LSTM", "input_size", "int", "None"]),
    "rnn_num_layers_bool": (lambda: nn.RNN(3, 4, num_layers=True), TypeError, ["RNN", "num_layers", "int"]),
    "gru_cell_hidden_float": (lambda: nn.GRUCell(3, 4.0), TypeError, ["GRUCell", "hidden_size", "int", "4.0"]),
    "rnn_cell_input_str": (lambda: nn.RNNCell("3", 4), TypeError, ["RNNCell", "input_size", "int", "'3'"]),
    "lstm_cell_hidden_float": (lambda: nn.LSTMCell(3, 4.0), TypeError, ["LSTMCell", "hidden_size", "int"]),
    "linear_out_float": (lambda: nn.Linear(3, 4.0), TypeError, ["Linear", "out_features", "int", "4.0"]),
    "linear_in_str": (lambda: nn.Linear("3", 4), TypeError, ["Linear", "in_features", "int"]),
    "linear_negative": (lambda: nn.Linear(3, -1), ValueError, ["Linear", "out_features", ">= 0", "-1"]),
    "embedding_dim_float": (lambda: nn.Embedding(10, 4.0), TypeError, ["Embedding", "embedding_dim", "int", "4.0"]),
    "embedding_num_str": (lambda: nn.Embedding("10", 4), TypeError, ["Embedding", "num_embeddings", "int"]),
    "dropout_p_str": (lambda: nn.Dropout("0.5"), TypeError, ["Dropout", "p", "float", "'0.5'"]),
    "dropout_p_negative": (lambda: nn.Dropout(-0.1), ValueError, ["Dropout", "p", "[0, 1)"]),
    "gru_bias_str": (lambda: nn.GRU(3, 4, bias="no"), TypeError, ["GRU", "bias", "True or False", "'no'"]),
    "lstm_bidirectional_2": (lambda: nn.LSTM(3, 4, bidirectional=2), TypeError, ["LSTM", "bidirectional"]),
    "rnn_batch_first_none": (lambda: nn.RNN(3, 4, batch_first=None), TypeError, ["RNN", "batch_first", "None"]),
    "cell_fused_str": (lambda: nn.LSTMCell(3, 4, fused="yes"), TypeError, ["LSTMCell", "fused", "True or False"]),
    "linear_bias_str": (lambda: nn.Linear(3, 4, bias="False"), TypeError, ["Linear", "bias", "True or False"]),
}


@pytest.mark.parametrize("case", list(CONSTRUCTOR_CASES))
def test_constructor_arguments_are_checked(case):
    fn, exc, fragments = CONSTRUCTOR_CASES[case]
    check_raises(fn, exc, fragments)


def test_numpy_integers_and_floats_are_accepted():
    lstm = nn.LSTM(np.int64(3), np.int32(4), num_layers=np.int64(2), dropout=np.float64(0.25))
    assert (lstm.input_size, lstm.hidden_size, lstm.num_layers, lstm.dropout) == (3, 4, 2, 0.25)
    assert type(lstm.hidden_size) is int
    assert nn.Linear(np.int64(3), 2).weight.shape == (2, 3)
    assert nn.Dropout(0).p == 0.0
    assert nn.GRU(3, 4, bias=np.bool_(False), bidirectional=1).bias is False


# ----------------------------------------------------------------------------- edge sizes

EDGE_CASES = {
    "lstm_hidden_0": (lambda: nn.LSTM(3, 0), ValueError, ["LSTM", "hidden_size", ">= 1", "got 0"]),
    "gru_hidden_0": (lambda: nn.GRU(3, 0), ValueError, ["GRU", "hidden_size", ">= 1"]),
    "rnn_cell_hidden_0": (lambda: nn.RNNCell(3, 0), ValueError, ["RNNCell", "hidden_size", ">= 1", "got 0"]),
    "lstm_cell_hidden_0": (lambda: nn.LSTMCell(3, 0), ValueError, ["LSTMCell", "hidden_size", ">= 1"]),
    "rnn_input_0": (lambda: nn.RNN(0, 4), ValueError, ["RNN", "input_size", ">= 1", "got 0"]),
    "gru_cell_input_0": (lambda: nn.GRUCell(0, 4), ValueError, ["GRUCell", "input_size", ">= 1"]),
    "lstm_num_layers_0": (lambda: nn.LSTM(3, 4, num_layers=0), ValueError, ["LSTM", "num_layers", ">= 1"]),
    "lstm_T_0": (lambda: nn.LSTM(3, 4)(z(0, 2, 3)), ValueError, ["LSTM", "at least one step", "(0, 2, 3)"]),
    "gru_T_0_batch_first": (lambda: nn.GRU(3, 4, batch_first=True)(z(2, 0, 3)), ValueError,
                            ["GRU", "at least one step"]),
    "lengths_wrong_count": (lambda: nn.GRU(3, 4)(z(5, 0, 3), lengths=[1]), ValueError,
                            ["GRU", "lengths", "0 integers"]),
    "layer_h0_dtype": (lambda: nn.GRU(3, 4)(z(5, 2, 3), mg.zeros(1, 2, 4, dtype=mg.float64)), TypeError,
                       ["GRU", "initial state", "float32", "float64"]),
    "layer_h0_array": (lambda: nn.RNN(3, 4)(z(5, 2, 3), np.zeros((1, 2, 4))), TypeError,
                       ["RNN", "initial state", "one tensor h0", "(1, 2, 4)", "ndarray"]),
    "lstm_hx_3_list": (lambda: nn.LSTM(3, 4)(z(5, 2, 3), [z(1, 2, 4)] * 3), TypeError,
                       ["LSTM", "tuple of 2 tensors (h0, c0)", "list of 3"]),
    "batch_0_h0_wrong": (lambda: nn.GRU(3, 4)(z(5, 0, 3), z(1, 2, 4)), ValueError,
                         ["GRU", "initial state of shape (1, 0, 4)"]),
}


@pytest.mark.parametrize("case", list(EDGE_CASES))
def test_edge_sizes_that_mean_nothing_are_clear_errors(case):
    fn, exc, fragments = EDGE_CASES[case]
    check_raises(fn, exc, fragments)


@pytest.mark.parametrize("unroll", [True, False])
@pytest.mark.parametrize("cls", [nn.RNN, nn.GRU, nn.LSTM])
def test_batch_0_gives_empty_output_and_h0_back(cls, unroll):
    layer = cls(3, 4, num_layers=2, bidirectional=True, unroll=unroll)
    lstm = cls is nn.LSTM
    h0 = mg.zeros(4, 0, 4)
    for hx in (None, (h0, h0) if lstm else h0):
        for lengths in (None, [], np.array([], dtype=np.int64)):
            out, h = layer(z(5, 0, 3), hx, lengths=lengths)
            assert out.shape == (5, 0, 8)
            for part in (h if lstm else (h,)):
                assert part.shape == (4, 0, 4)
    out, h = cls(3, 4, batch_first=True, unroll=unroll)(z(0, 5, 3), lengths=[])
    assert out.shape == (0, 5, 4)


def test_cell_batch_0():
    assert nn.GRUCell(3, 4)(z(0, 3)).shape == (0, 4)
    h, c = nn.LSTMCell(3, 4)(z(0, 3), (z(0, 4), z(0, 4)))
    assert h.shape == c.shape == (0, 4)


def test_linear_and_embedding_with_size_0_work():
    assert nn.Linear(0, 2)(z(5, 0)).shape == (5, 2)
    assert nn.Embedding(3, 0)(mg.tensor([0, 2])).shape == (2, 0)


# ----------------------------------------------------------------------------- float16 in constructors

@pytest.mark.parametrize("dtype", [mg.float16, np.float16, "float16"], ids=["mg", "numpy", "name"])
@pytest.mark.parametrize("make", [
    lambda d: nn.LSTM(3, 4, dtype=d), lambda d: nn.GRU(3, 4, num_layers=2, dtype=d),
    lambda d: nn.RNNCell(3, 4, dtype=d), lambda d: nn.LSTMCell(3, 4, dtype=d),
    lambda d: nn.Linear(3, 4, dtype=d), lambda d: nn.Embedding(5, 4, dtype=d),
], ids=["LSTM", "GRU", "RNNCell", "LSTMCell", "Linear", "Embedding"])
def test_float16_modules(make, dtype):
    mg.manual_seed(0)
    module = make(dtype)
    params = list(module.parameters())
    assert params and all(p.dtype == np.float16 for p in params)
    assert all(np.isfinite(p.numpy()).all() and p.numpy().any() for p in params)
    mg.manual_seed(0)
    ref = list(make(None).parameters())                 # the same draws as float32, rounded
    for p, r in zip(params, ref):
        np.testing.assert_array_equal(p.numpy(), r.numpy().astype(np.float16))


def test_float16_layer_runs_and_matches_to():
    mg.manual_seed(1)
    a = nn.GRU(3, 4, dtype="float16")
    mg.manual_seed(1)
    b = nn.GRU(3, 4).to(mg.float32).to("float16")
    x = mg.randn(5, 2, 3).to("float16")
    out_a, _ = a(x)
    out_b, _ = b(x)
    assert out_a.dtype == np.float16
    np.testing.assert_array_equal(out_a.numpy(), out_b.numpy())


# ----------------------------------------------------------------------------- mg.tensor and unbind

TENSOR_CASES = {
    "complex_array": (lambda: mg.tensor(np.zeros(3, dtype=complex)), TypeError,
                      ["tensor", "complex128", "float, int or bool"]),
    "string_array": (lambda: mg.tensor(np.array(["a", "b"])), TypeError, ["tensor", "<U1", "float, int or bool"]),
    "object_array": (lambda: mg.tensor(np.array([1, None], dtype=object)), TypeError, ["tensor", "object"]),
    "datetime_array": (lambda: mg.tensor(np.array(["2020-01-01"], dtype="datetime64[D]")), TypeError,
                       ["tensor", "datetime64"]),
    "timedelta_array": (lambda: mg.tensor(np.array([1], dtype="timedelta64[s]")), TypeError,
                        ["tensor", "timedelta64"]),
    "string_list": (lambda: mg.tensor(["a", "b"]), TypeError, ["tensor", "expected numbers"]),
    "python_complex": (lambda: mg.tensor([1 + 2j]), TypeError, ["tensor"]),
    "string_dtype": (lambda: mg.tensor([1.0], dtype=str), TypeError, ["tensor", "dtype", "float, int, bool"]),
    "complex_dtype": (lambda: mg.tensor([1.0], dtype="complex64"), TypeError, ["tensor", "dtype", "complex64"]),
    "ragged_list": (lambda: mg.tensor([[1, 2], [3]]), ValueError, ["tensor", "rectangular"]),
    "ragged_tensors": (lambda: mg.tensor([mg.zeros(2), mg.zeros(3)]), ValueError, ["tensor", "one shape"]),
    "unbind_0d": (lambda: mg.tensor(1.0).unbind(0), ValueError, ["Unbind", "0-d", "shape ()"]),
}


@pytest.mark.parametrize("case", list(TENSOR_CASES))
def test_tensor_rejects_what_it_cannot_hold(case):
    fn, exc, fragments = TENSOR_CASES[case]
    check_raises(fn, exc, fragments)


def test_tensor_from_0d_tensors():
    t = mg.tensor([mg.tensor(1.0), mg.tensor(2.0), mg.tensor(3.0)])
    assert t.shape == (3,) and t.dtype == mg.float32 and t.is_leaf and not t.requires_grad
    np.testing.assert_array_equal(t.numpy(), [1, 2, 3])
    assert mg.tensor([mg.tensor(1.0, dtype=mg.float64)] * 2).dtype == mg.float64   # their dtype is kept
    assert mg.tensor([[mg.tensor(1), mg.tensor(2)], [mg.tensor(3), mg.tensor(4)]]).shape == (2, 2)
    assert mg.tensor([mg.tensor(1.0), 2.5]).dtype == mg.float32
    assert mg.tensor([mg.tensor(1.0)], dtype=mg.float64).dtype == mg.float64
    w = mg.tensor(2.0, requires_grad=True)
    assert not mg.tensor([w * 3, w]).requires_grad                     # a copy of the values, as PyTorch
    assert mg.tensor([mg.randn(2), mg.randn(2)]).shape == (2, 2)       # 1-d tensors stack too


# ----------------------------------------------------------------------------- Optimizer.load_state_dict

def trained(cls=optim.Adam, **kwargs):
    params = [nn.Parameter(mg.tensor(np.ones((2, 3)))), nn.Parameter(mg.tensor(np.ones(4)))]
    opt = cls(params, lr=0.1, **kwargs)
    for p in params:
        p.grad = mg.ones_like(p)
    opt.step()
    return params, opt


def edited(edit, cls=optim.Adam, **kwargs):
    """The state dict of a trained `cls`, changed by `edit`, loaded into a fresh `cls`."""
    def load():
        params, opt = trained(cls, **kwargs)
        sd = opt.state_dict()
        edit(sd)
        cls(params, lr=0.1, **kwargs).load_state_dict(sd)
    return load


def other_class(sd):
    _, sgd = trained(optim.SGD, momentum=0.9)
    sd.clear()
    sd.update(sgd.state_dict())


def other_class_old(sd):
    other_class(sd)
    del sd["optimizer"]                         # an old checkpoint: the hyperparameter keys tell
    sd["param_groups"][0].pop("betas", None)


LOAD_CASES = {
    "not_a_dict": (lambda: optim.Adam([nn.Parameter(z(2))]).load_state_dict([1, 2]), ValueError,
                   ["Adam.load_state_dict", "'state' and 'param_groups'", "list"]),
    "missing_state": (edited(lambda sd: sd.pop("state")), ValueError,
                      ["Adam.load_state_dict", "'state' and 'param_groups'"]),
    "other_class": (edited(other_class), ValueError, ["Adam.load_state_dict", "'SGD'", "'Adam'"]),
    "other_class_old_checkpoint": (edited(other_class_old), ValueError,
                                   ["Adam.load_state_dict", "lacks", "betas"]),
    "group_lacks_lr": (edited(lambda sd: sd["param_groups"][0].pop("lr")), ValueError,
                       ["Adam.load_state_dict", "parameter group 0", "lacks", "'lr'"]),
    "param_groups_not_list": (edited(lambda sd: sd.update(param_groups={"lr": 1})), ValueError,
                              ["Adam.load_state_dict", "'param_groups' must be a list of dicts"]),
    "group_not_dict": (edited(lambda sd: sd.update(param_groups=[[0, 1]])), ValueError,
                       ["'param_groups' must be a list of dicts"]),
    "group_without_params": (edited(lambda sd: sd["param_groups"][0].pop("params")), ValueError,
                             ["parameter group 0", "'params'", "parameter indices"]),
    "params_not_ints": (edited(lambda sd: sd["param_groups"][0].update(params=["a", "b"])), ValueError,
                        ["parameter group 0", "'params'", "ints"]),
    "duplicate_ids": (edited(lambda sd: sd["param_groups"][0].update(params=[0, 0])), ValueError,
                      ["Adam.load_state_dict", "parameter index 0", "more than once"]),
    "state_not_dict": (edited(lambda sd: sd.update(state=[1])), ValueError, ["'state' must be a dict", "list"]),
    "state_key_not_index": (edited(lambda sd: sd["state"].update(x={"step": 1})), ValueError,
                            ["'state' keys", "parameter indices", "'x'"]),
    "state_unknown_param": (edited(lambda sd: sd["state"].update({7: sd["state"][0]})), ValueError,
                            ["state for parameter 7", "no group lists"]),
    "state_entry_not_dict": (edited(lambda sd: sd["state"].update({0: 3})), ValueError,
                             ["state of parameter 0", "'step'", "int"]),
    "state_without_step": (edited(lambda sd: sd["state"][0].pop("step")), ValueError,
                           ["state of parameter 0", "'step'", "exp_avg"]),
    "step_not_int": (edited(lambda sd: sd["state"][0].update(step="one")), ValueError,
                     ["state of parameter 0", "step='one'", "int >= 0"]),
    "step_negative": (edited(lambda sd: sd["state"][0].update(step=-1)), ValueError, ["step=-1", "int >= 0"]),
    "state_array_wrong_shape": (edited(lambda sd: sd["state"][0].update(exp_avg=np.zeros(5))), ValueError,
                                ["state 'exp_avg'", "shape (5,)", "(2, 3)"]),
    "state_array_not_numbers": (edited(lambda sd: sd["state"][0].update(exp_avg="zeros")), ValueError,
                                ["state 'exp_avg'", "array", "str"]),
    "bad_hyperparameter": (edited(lambda sd: sd["param_groups"][0].update(lr=-1.0)), ValueError, ["lr", "-1.0"]),
}


@pytest.mark.parametrize("case", list(LOAD_CASES))
def test_load_state_dict_rejects_malformed_dicts(case):
    fn, exc, fragments = LOAD_CASES[case]
    check_raises(fn, exc, fragments)


def test_a_rejected_load_changes_nothing():
    params, opt = trained()
    before = json.dumps(opt.state_dict(), default=lambda a: a.tolist())
    sd = opt.state_dict()
    sd["param_groups"][0]["lr"] = 0.5
    sd["state"][1]["exp_avg"] = np.zeros(9)
    with pytest.raises(ValueError):
        opt.load_state_dict(sd)
    assert json.dumps(opt.state_dict(), default=lambda a: a.tolist()) == before


def test_state_dict_records_the_class_and_old_dicts_load():
    params, opt = trained(optim.SGD, momentum=0.9)
    sd = opt.state_dict()
    assert sd["optimizer"] == "SGD"
    del sd["optimizer"]                                  # written before the class was recorded
    sd["param_groups"][0]["initial_lr"] = 0.1            # extra keys (a scheduler's) load as before
    opt2 = optim.SGD(params, lr=1.0, momentum=0.9)
    opt2.load_state_dict(sd)
    assert opt2.param_groups[0]["lr"] == 0.1 and opt2.param_groups[0]["initial_lr"] == 0.1
    for p in params:
        p.grad = mg.ones_like(p)
    opt2.step()
    assert next(iter(opt2.state_dict()["state"])) == 0


def test_linear_with_size_0_backward():
    for n_in, n_out in ((0, 2), (3, 0)):
        layer = nn.Linear(n_in, n_out)
        x = mg.zeros(5, n_in, requires_grad=True)
        layer(x).sum().backward()
        assert x.grad.shape == (5, n_in) and layer.weight.grad.shape == (n_out, n_in)
