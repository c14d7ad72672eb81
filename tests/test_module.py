"""nn.Module: registration, the tree of modules, modes, devices/dtypes, state_dict, name scopes, and the
feed-forward layers and containers (Linear, Dropout, Embedding, Sequential, ModuleList)."""
import numpy as np
import pytest

import minigrad as mg
from minigrad import nn

F64 = mg.float64


class Encoder(nn.Module):
    def __init__(self):
        super().__init__()
        self.lstm = nn.LSTM(3, 4, dtype=F64)
        self.proj = nn.Linear(4, 2, dtype=F64)

    def forward(self, x):
        out, _ = self.lstm(x)
        return self.proj(out)


class Model(nn.Module):
    def __init__(self):
        super().__init__()
        self.scale = nn.Parameter(mg.ones(2, dtype=F64))
        self.encoder = Encoder()
        self.head = nn.Sequential(nn.Linear(2, 5, dtype=F64), nn.Dropout(0.5))
        self.offset = nn.Parameter(mg.zeros(5, dtype=F64))
        self.not_a_weight = mg.ones(3, dtype=F64)           # a plain tensor: not registered
        self.size = 7

    def forward(self, x):
        return self.head(self.encoder(x) * self.scale) + self.offset


MODEL_NAMES = ["scale", "offset",
               "encoder.lstm.weight_ih_l0", "encoder.lstm.weight_hh_l0",
               "encoder.lstm.bias_ih_l0", "encoder.lstm.bias_hh_l0",
               "encoder.proj.weight", "encoder.proj.bias",
               "head.0.weight", "head.0.bias"]


def graph_nodes(t):
    seen, stack = {}, [t.grad_fn]
    while stack:
        node = stack.pop()
        if node is None or id(node) in seen:
            continue
        seen[id(node)] = node
        stack.extend(i.grad_fn for i in node.inputs)
    return list(seen.values())


# ----------------------------------------------------------------------------- registration

def test_attribute_assignment_registers_parameters_and_modules():
    m = Model()
    assert [k for k, _ in m.named_parameters()] == MODEL_NAMES        # own weights first, then depth first
    assert [id(p) for p in m.parameters()] == [id(p) for _, p in m.named_parameters()]
    assert m.named_parameters().__next__()[1] is m.scale
    assert all(p is not m.not_a_weight for p in m.parameters())
    assert [k for k, _ in m.named_children()] == ["encoder", "head"]


def test_reassigning_and_deleting_attributes_updates_registration():
    m = Model()
    old = m.encoder.proj.weight
    m.encoder.proj.weight = nn.Parameter(mg.zeros(2, 4, dtype=F64))  # replaced in place: same position
    assert [k for k, _ in m.named_parameters()] == MODEL_NAMES
    assert dict(m.named_parameters())["encoder.proj.weight"] is not old
    m.scale = mg.ones(2, dtype=F64)                                    # no longer a Parameter: unregistered
    assert "scale" not in dict(m.named_parameters())
    m.scale = nn.Parameter(mg.ones(2, dtype=F64))
    assert [k for k, _ in m.named_parameters()][-1] != "scale" and "scale" in dict(m.named_parameters())
    del m.offset
    assert "offset" not in dict(m.named_parameters())
    m.head = None
    assert [k for k, _ in m.named_children()] == ["encoder"]
    assert not any(k.startswith("head.") for k, _ in m.named_parameters())
    m.encoder.proj = nn.Parameter(mg.zeros(1, dtype=F64))            # a module name now holds a weight
    assert "encoder.proj" in dict(m.named_parameters())
    assert [k for k, _ in m.encoder.named_children()] == ["lstm"]


def test_register_parameter_none_is_an_absent_bias():
    lin = nn.Linear(3, 2, bias=False)
    assert lin.bias is None
    assert [k for k, _ in lin.named_parameters()] == ["weight"]


def test_assigning_before_super_init_is_a_clear_error():
    class Forgot(nn.Module):
        def __init__(self):
            self.w = nn.Parameter(mg.zeros(2))

    with pytest.raises(RuntimeError, match=r"Forgot.*super\(\).__init__\(\)"):
        Forgot()


def test_forward_must_be_defined():
    class NoForward(nn.Module):
        pass

    with pytest.raises(NotImplementedError, match="NoForward"):
        NoForward()(mg.zeros(2))


def test_shared_parameters_listed_once_but_state_dict_lists_every_name():
    class Tied(nn.Module):
        def __init__(self):
            super().__init__()
            self.emb = nn.Embedding(5, 3, dtype=F64)
            self.dec = nn.Linear(3, 5, dtype=F64)
            self.dec.weight = self.emb.weight                           # weight tying

    m = Tied()
    assert [k for k, _ in m.named_parameters()] == ["emb.weight", "dec.bias"]
    assert len(list(m.parameters())) == 2
    # PyTorch's state_dict names a tied weight under each of its names, so its files load as they are
    assert list(m.state_dict()) == ["emb.weight", "dec.weight", "dec.bias"]
    sd = {"emb.weight": np.full((5, 3), 1.0), "dec.weight": np.full((5, 3), 1.0), "dec.bias": np.full(5, 3.0)}
    assert m.load_state_dict(sd, strict=True) == ([], [])
    np.testing.assert_array_equal(m.emb.weight.numpy(), 1.0)
    np.testing.assert_array_equal(m.dec.bias.numpy(), 3.0)


def test_shared_module_is_one_module():
    class Twice(nn.Module):
        def __init__(self):
            super().__init__()
            self.a = nn.Linear(2, 2)
            self.b = self.a

    m = Twice()
    assert [k for k, _ in m.named_modules()] == ["", "a"]
    assert [k for k, _ in m.named_parameters()] == ["a.weight", "a.bias"]
    assert list(m.state_dict()) == ["a.weight", "a.bias", "b.weight", "b.bias"]


def test_children_and_modules():
    m = Model()
    assert list(m.children()) == [m.encoder, m.head]
    mods = list(m.modules())
    assert mods == [m, m.encoder, m.encoder.lstm, m.encoder.proj, m.head, m.head[0], m.head[1]]
    assert [k for k, _ in m.named_modules()] == ["", "encoder", "encoder.lstm", "encoder.proj", "head",
                                                 "head.0", "head.1"]
    assert [k for k, _ in m.named_modules(prefix="model")][:2] == ["model", "model.encoder"]
    assert [k for k, _ in m.named_parameters(prefix="model")][0] == "model.scale"


# ----------------------------------------------------------------------------- modes and gradients

def test_train_and_eval_propagate_to_every_module():
    m = Model()
    assert all(x.training for x in m.modules())
    assert m.eval() is m
    assert not any(x.training for x in m.modules())
    assert m.train() is m
    assert all(x.training for x in m.modules())
    m.train(False)
    assert not m.head[1].training


def test_dropout_module_follows_the_mode():
    drop = nn.Dropout(0.5)
    x = mg.ones(1000, dtype=F64)
    y = drop(x).numpy()
    assert set(np.unique(y)) == {0.0, 2.0}                             # inverted dropout: kept / (1 - p)
    assert 350 < np.count_nonzero(y == 0) < 650
    drop.eval()
    np.testing.assert_array_equal(drop(x).numpy(), 1.0)
    with pytest.raises(ValueError, match=r"Dropout.*1\.0"):
        nn.Dropout(1.0)


def test_zero_grad_clears_every_gradient(rng):
    m = Model()
    x = mg.tensor(rng.standard_normal((4, 2, 3)), dtype=F64)
    m(x).sum().backward()
    assert all(p.grad is not None for p in m.parameters())
    m.zero_grad()
    assert all(p.grad is None for p in m.parameters())


def test_to_dtype_casts_parameters_and_their_gradients_in_place(rng):
    m = Model().eval()
    m.float()
    assert all(p.dtype == mg.float32 for p in m.parameters())
    x = mg.tensor(rng.standard_normal((4, 2, 3)), dtype=mg.float32)
    m(x).sum().backward()
    params = list(m.parameters())
    before = {id(p): (p.numpy().copy(), p.grad.numpy().copy()) for p in params}
    assert m.to(mg.float64) is m
    assert list(m.parameters()) == params                              # same Parameter objects (optimizers)
    for p in params:
        assert p.dtype == mg.float64 and p.grad.dtype == mg.float64
        np.testing.assert_array_equal(p.numpy(), before[id(p)][0])
        np.testing.assert_array_equal(p.grad.numpy(), before[id(p)][1])
    m.to(dtype=mg.float32)
    assert all(p.dtype == mg.float32 and p.grad.dtype == mg.float32 for p in params)
    m.double()
    assert all(p.dtype == mg.float64 and p.grad.dtype == mg.float64 for p in params)
    assert m.to("cpu") is m and all(p.device == "cpu" for p in params)
    out = m(mg.tensor(rng.standard_normal((4, 2, 3)), dtype=F64))
    assert out.dtype == mg.float64


# ----------------------------------------------------------------------------- state_dict

def test_state_dict_round_trip(rng):
    a, b = Model().eval(), Model().eval()
    x = mg.tensor(rng.standard_normal((4, 2, 3)), dtype=F64)
    assert not np.allclose(a(x).numpy(), b(x).numpy())
    sd = a.state_dict()
    assert list(sd) == MODEL_NAMES
    assert all(isinstance(v, mg.Tensor) and not v.requires_grad for v in sd.values())
    params_b = list(b.parameters())
    assert b.load_state_dict(sd) == ([], [])
    assert list(b.parameters()) == params_b                            # loaded in place
    np.testing.assert_array_equal(a(x).numpy(), b(x).numpy())
    a.encoder.proj.weight.data[...] = 0                                # loading copied, not aliased
    assert b.encoder.proj.weight.numpy().any()
    assert not a.state_dict()["encoder.proj.weight"].numpy().any()     # state_dict views the weights


def test_load_state_dict_accepts_arrays_and_casts():
    m = nn.Linear(3, 2, dtype=F64)
    m.load_state_dict({"weight": np.arange(6, dtype=np.float32).reshape(2, 3), "bias": np.array([1.0, 2.0])})
    assert m.weight.dtype == mg.float64
    np.testing.assert_array_equal(m.weight.numpy(), np.arange(6).reshape(2, 3))
    np.testing.assert_array_equal(m.bias.numpy(), [1.0, 2.0])


def test_strict_load_names_missing_unexpected_and_mismatched_keys_in_one_error():
    m = Model()
    before = {k: p.numpy().copy() for k, p in m.named_parameters()}
    sd = {k: v.numpy() for k, v in m.state_dict().items()}
    del sd["encoder.proj.bias"]
    sd["encoder.proj.extra"] = np.zeros(3)
    sd["head.0.weight"] = np.zeros((5, 3))
    sd["scale"] = np.full(2, 9.0)
    with pytest.raises(RuntimeError) as info:
        m.load_state_dict(sd)
    msg = str(info.value)
    assert "Model" in msg
    assert "missing" in msg and "'encoder.proj.bias'" in msg
    assert "unexpected" in msg and "'encoder.proj.extra'" in msg
    assert "head.0.weight" in msg and "(5, 2)" in msg and "(5, 3)" in msg
    for k, p in m.named_parameters():                                  # nothing was loaded
        np.testing.assert_array_equal(p.numpy(), before[k], err_msg=k)


def test_strict_load_rejects_an_unexpected_key_alone():
    m = Model()
    before = {k: p.numpy().copy() for k, p in m.named_parameters()}
    sd = {k: np.full(v.shape, 0.25) for k, v in m.state_dict().items()}   # every key present, right shapes
    sd["encoder.proj.stray"] = np.zeros(2)
    with pytest.raises(RuntimeError, match=r"unexpected key 'encoder\.proj\.stray'") as info:
        m.load_state_dict(sd, strict=True)
    assert "missing" not in str(info.value)
    for k, p in m.named_parameters():                                  # nothing was loaded
        np.testing.assert_array_equal(p.numpy(), before[k], err_msg=k)


def test_non_strict_load_returns_missing_and_unexpected_and_loads_the_rest():
    m = Model()
    sd = {k: np.full(v.shape, 0.5) for k, v in m.state_dict().items()}
    del sd["encoder.proj.bias"], sd["offset"]
    sd["bogus"] = np.zeros(1)
    old_bias = m.encoder.proj.bias.numpy().copy()
    missing, unexpected = m.load_state_dict(sd, strict=False)
    assert missing == ["offset", "encoder.proj.bias"]
    assert unexpected == ["bogus"]
    np.testing.assert_array_equal(m.encoder.lstm.weight_hh_l0.numpy(), 0.5)
    np.testing.assert_array_equal(m.encoder.proj.bias.numpy(), old_bias)
    sd["scale"] = np.zeros(3)
    with pytest.raises(RuntimeError, match=r"scale.*\(2,\).*\(3,\)"):  # shapes are checked even then
        m.load_state_dict(sd, strict=False)


# ----------------------------------------------------------------------------- name scopes

def test_call_opens_a_scope_named_after_the_attribute_path(rng):
    m = Model()
    x = mg.tensor(rng.standard_normal((3, 2, 3)), dtype=F64)
    out = m(x)
    assert mg.current_scope() == ()
    nodes = graph_nodes(out)
    scopes = {n.scope for n in nodes}
    assert ("encoder", "lstm", "l0", "t=0") in scopes
    assert ("encoder", "lstm", "l0", "t=2") in scopes
    cells = [n for n in nodes if n.name == "FusedLSTMStep"]
    assert sorted(n.scope for n in cells) == [("encoder", "lstm", "l0", f"t={t}") for t in range(3)]
    assert any(s[:2] == ("encoder", "proj") for s in scopes)
    assert any(s[:2] == ("head", "0") for s in scopes)
    assert out.grad_fn.scope == ()                                     # `+ self.offset` at the top level
    assert all(s == () or s[0] in ("encoder", "head") for s in scopes)


def test_scope_is_closed_when_forward_raises():
    m = Model()
    with pytest.raises(ValueError, match="LSTM"):
        m(mg.zeros(3, 2, 9, dtype=F64))
    assert mg.current_scope() == ()


# ----------------------------------------------------------------------------- Linear

@pytest.mark.parametrize("x_shape", [(4, 3), (3,), (2, 4, 3)])
@pytest.mark.parametrize("bias", [True, False])
def test_linear_values_and_gradcheck(x_shape, bias, rng):
    lin = nn.Linear(3, 2, bias=bias, dtype=F64)
    x = mg.tensor(rng.standard_normal(x_shape), dtype=F64, requires_grad=True)
    y = lin(x)
    assert y.shape == x_shape[:-1] + (2,)
    expected = x.numpy() @ lin.weight.numpy().T + (lin.bias.numpy() if bias else 0)
    np.testing.assert_allclose(y.numpy(), expected, rtol=1e-14, atol=1e-14)
    assert mg.gradcheck(lambda x, *params: lin(x), [x, *lin.parameters()], eps=1e-6, atol=1e-8, rtol=1e-6)


def test_linear_init_bounds_and_shapes():
    lin = nn.Linear(64, 200)
    assert lin.weight.shape == (200, 64) and lin.bias.shape == (200,)
    assert lin.weight.dtype == mg.get_default_dtype()
    bound = 1 / np.sqrt(64)
    for p in (lin.weight, lin.bias):
        v = p.numpy()
        assert np.abs(v).max() <= bound
        assert np.abs(v).max() > 0.95 * bound                          # covers the interval
        assert abs(v.mean()) < 4 * bound / np.sqrt(3 * v.size)
    assert lin.weight.requires_grad and lin.bias.requires_grad


def test_linear_init_follows_the_seed():
    mg.manual_seed(3)
    a = nn.Linear(4, 4).weight.numpy().copy()
    mg.manual_seed(3)
    b = nn.Linear(4, 4).weight.numpy()
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, nn.Linear(4, 4).weight.numpy())


# ----------------------------------------------------------------------------- containers

def test_sequential_applies_modules_in_order(rng):
    seq = nn.Sequential(nn.Linear(3, 4, dtype=F64), nn.Linear(4, 2, dtype=F64))
    assert len(seq) == 2 and list(seq) == [seq[0], seq[1]] and seq[-1] is seq[1]
    assert [k for k, _ in seq.named_parameters()] == ["0.weight", "0.bias", "1.weight", "1.bias"]
    x = mg.tensor(rng.standard_normal((5, 3)), dtype=F64)
    np.testing.assert_array_equal(seq(x).numpy(), seq[1](seq[0](x)).numpy())
    h = x.numpy() @ seq[0].weight.numpy().T + seq[0].bias.numpy()
    np.testing.assert_allclose(seq(x).numpy(), h @ seq[1].weight.numpy().T + seq[1].bias.numpy(), rtol=1e-13)


def test_module_list_registers_its_modules(rng):
    class Stack(nn.Module):
        def __init__(self):
            super().__init__()
            self.layers = nn.ModuleList([nn.Linear(2, 2, dtype=F64) for _ in range(2)])
            self.layers.append(nn.Linear(2, 1, dtype=F64))

        def forward(self, x):
            for layer in self.layers:
                x = layer(x)
            return x

    m = Stack()
    assert len(m.layers) == 3 and m.layers[2].out_features == 1
    assert [k for k, _ in m.named_parameters()] == [f"layers.{i}.{w}" for i in range(3) for w in ("weight", "bias")]
    out = m(mg.tensor(rng.standard_normal((4, 2)), dtype=F64))
    # a ModuleList is never called itself: its entries carry its name, 'layers.0', 'layers.1', ...
    assert {n.scope[-1] for n in graph_nodes(out)} == {"layers.0", "layers.1", "layers.2"}
    out.sum().backward()
    assert all(p.grad is not None for p in m.parameters())


def test_repr_shows_the_tree():
    text = repr(Model())
    assert text.startswith("Model(")
    assert "(encoder): Encoder(" in text
    assert "(lstm): LSTM(3, 4)" in text
    assert "(proj): Linear(in_features=4, out_features=2, bias=True)" in text
    assert "(head): Sequential(" in text and "(1): Dropout(p=0.5)" in text
    assert "\n    (lstm)" in text                                      # children indented under their parent
    assert repr(nn.GRU(2, 3, num_layers=2, bidirectional=True)) == "GRU(2, 3, num_layers=2, bidirectional=True)"
    assert "Parameter" in repr(nn.Parameter(mg.zeros(2)))
