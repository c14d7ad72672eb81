"""mg.utils.checkpoint: the same gradients as without it (an LSTM with dropout over checkpointed segments),
less memory held between forward and backward, nested arguments, and clear errors."""
import tracemalloc

import numpy as np
import pytest

import minigrad as mg
from minigrad import nn
from minigrad.utils import checkpoint

T, B, I, H, SEGMENT = 48, 3, 4, 16, 8


def lstm_and_data():
    mg.manual_seed(0)
    lstm = nn.LSTM(I, H, num_layers=2, dropout=0.5).double()      # dropout between the layers: random masks
    x = mg.randn(T, B, I, dtype=mg.float64, requires_grad=True)
    weights = mg.randn(T, B, H, dtype=mg.float64)
    h0 = mg.randn(2, B, H, dtype=mg.float64, requires_grad=True)
    return lstm, x, weights, h0


def segment(lstm):
    def run(xs, state):
        return lstm(xs, state)
    return run


def lstm_loss(lstm, x, weights, h0, use_checkpoint):
    """Run the sequence in segments of SEGMENT steps (each checkpointed or not); the weighted sum of outputs."""
    state = (h0, mg.zeros(2, B, H, dtype=mg.float64))
    outputs = []
    for a in range(0, T, SEGMENT):
        xs = x[a:a + SEGMENT]
        out, state = checkpoint(segment(lstm), xs, state) if use_checkpoint else segment(lstm)(xs, state)
        outputs.append(out)
    return (mg.cat(outputs, 0) * weights).sum()


def gradients(use_checkpoint):
    lstm, x, weights, h0 = lstm_and_data()
    mg.manual_seed(1)
    loss = lstm_loss(lstm, x, weights, h0, use_checkpoint)
    loss.backward()
    after = mg.rand(3).numpy()                                       # where the random stream stands afterwards
    grads = {name: p.grad.numpy() for name, p in lstm.named_parameters()}
    return loss.item(), grads, x.grad.numpy(), h0.grad.numpy(), after


def test_lstm_with_dropout_gets_the_same_gradients_with_checkpointing():
    loss, grads, gx, gh0, after = gradients(use_checkpoint=False)
    ck_loss, ck_grads, ck_gx, ck_gh0, ck_after = gradients(use_checkpoint=True)
    assert ck_loss == pytest.approx(loss, rel=1e-12)
    assert sorted(ck_grads) == sorted(grads)
    for name in grads:
        np.testing.assert_allclose(ck_grads[name], grads[name], rtol=1e-10, atol=1e-12, err_msg=name)
    np.testing.assert_allclose(ck_gx, gx, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(ck_gh0, gh0, rtol=1e-10, atol=1e-12)
    np.testing.assert_array_equal(ck_after, after)                  # backward's replay left the stream alone


def test_without_the_saved_random_state_dropout_masks_differ():
    # the test above can fail: replaying without the forward's random state draws other masks
    lstm, x, weights, h0 = lstm_and_data()
    mg.manual_seed(1)
    plain = lstm_loss(lstm, x, weights, h0, use_checkpoint=False)
    plain.backward()
    expected = lstm.weight_ih_l0.grad.numpy().copy()
    lstm.zero_grad()
    mg.manual_seed(1)
    state = (h0, mg.zeros(2, B, H, dtype=mg.float64))
    outputs = []
    for a in range(0, T, SEGMENT):
        out, state = checkpoint(segment(lstm), x[a:a + SEGMENT], state, preserve_rng_state=False)
        outputs.append(out)
    (mg.cat(outputs, 0) * weights).sum().backward()
    assert not np.allclose(lstm.weight_ih_l0.grad.numpy(), expected)


def held_bytes(use_checkpoint):
    """Bytes allocated by the forward pass and still held when it ends (the graph waiting for backward)."""
    lstm, x, weights, h0 = lstm_and_data()
    mg.manual_seed(1)
    tracemalloc.start()
    try:
        start = tracemalloc.get_traced_memory()[0]
        loss = lstm_loss(lstm, x, weights, h0, use_checkpoint)
        held = tracemalloc.get_traced_memory()[0] - start
    finally:
        tracemalloc.stop()
    del loss
    return held


def test_checkpointing_holds_much_less_memory_after_forward():
    plain, checkpointed = held_bytes(False), held_bytes(True)
    assert checkpointed < plain / 3, (plain, checkpointed)


def test_parameters_get_gradients_when_no_argument_requires_grad():
    mg.manual_seed(0)
    layer = nn.Linear(3, 2).double()
    x = mg.randn(4, 3, dtype=mg.float64)                             # a constant input
    (layer(x).tanh() * 2.0).sum().backward()
    expected = layer.weight.grad.numpy().copy(), layer.bias.grad.numpy().copy()
    layer.zero_grad()
    y = checkpoint(lambda x: layer(x).tanh(), x)
    assert y.requires_grad
    (y * 2.0).sum().backward()
    np.testing.assert_allclose(layer.weight.grad.numpy(), expected[0], rtol=1e-12)
    np.testing.assert_allclose(layer.bias.grad.numpy(), expected[1], rtol=1e-12)
    assert x.grad is None


def test_nested_arguments_results_and_unused_outputs():
    a = mg.tensor([0.5, -1.0], dtype=mg.float64, requires_grad=True)
    b = mg.tensor([2.0, 3.0], dtype=mg.float64, requires_grad=True)

    def fn(pair, scale, name):
        x, y = pair
        return {"not": "a tensor"}, [x * y * scale, (x.tanh(), name)], y * y
    info, (prod, (th, name)), sq = checkpoint(fn, [a, b], 3.0, "label")
    assert info == {"not": "a tensor"} and name == "label"
    (prod.sum() + th.sum()).backward()                               # sq unused: no gradient flows into it
    np.testing.assert_allclose(a.grad.numpy(), 3.0 * b.numpy() + 1 - np.tanh(a.numpy()) ** 2, rtol=1e-12)
    np.testing.assert_allclose(b.grad.numpy(), 3.0 * a.numpy(), rtol=1e-12)


def test_under_no_grad_it_is_just_the_function():
    x = mg.tensor([1.0, 2.0], dtype=mg.float64, requires_grad=True)
    with mg.no_grad():
        y = checkpoint(lambda x: x * x, x)
    assert not y.requires_grad and y.grad_fn is None
    np.testing.assert_array_equal(y.numpy(), [1.0, 4.0])


def test_create_graph_is_a_clear_error():
    x = mg.tensor([1.0, 2.0], dtype=mg.float64, requires_grad=True)
    y = checkpoint(lambda x: x * x * x, x)
    with pytest.raises(RuntimeError, match="checkpoint: supports first derivatives only"):
        mg.autograd.grad(y.sum(), x, create_graph=True)


def test_fn_without_tensor_results_is_a_clear_error():
    x = mg.tensor([1.0], requires_grad=True)
    with pytest.raises(TypeError, match="checkpoint: fn returned float with no Tensor in it"):
        checkpoint(lambda x: 1.0, x)


def test_on_each_device(device):
    x = mg.tensor([0.5, -1.0, 2.0], dtype=mg.float64, device=device, requires_grad=True)
    y = checkpoint(lambda x: x.tanh() * x, x, preserve_rng_state=False)
    y.sum().backward()
    t = np.tanh(x.numpy())
    np.testing.assert_allclose(x.grad.numpy(), t + x.numpy() * (1 - t * t), rtol=1e-12)
    assert x.grad.device == y.device == x.device
    if device != "cpu":
        with pytest.raises(NotImplementedError, match="checkpoint: preserve_rng_state=True needs the random state"):
            checkpoint(lambda x: x * 2.0, x)
