"""User mistakes raise typed exceptions whose text names the op and the shapes, dtypes or devices involved."""
import re

import numpy as np
import pytest

import minigrad as mg
from minigrad import backend


def raises(exc_type, fn, *fragments):
    """fn() raises exactly `exc_type` (or a subclass) and its message contains every fragment."""
    with pytest.raises(exc_type) as info:
        fn()
    message = str(info.value)
    for fragment in fragments:
        assert fragment in message, f"{fragment!r} not in {message!r}"
    return message


@pytest.fixture
def x():
    return mg.randn(2, 3, requires_grad=True)


# ----------------------------------------------------------------------------- shapes

def test_matmul_shape_mismatch(x):
    message = raises(ValueError, lambda: x @ mg.randn(4, 5, dtype=mg.float64), "MatMul", "(2, 3)", "(4, 5)")
    assert "float32[2, 3] on cpu" in message and "float64[4, 5] on cpu" in message
    raises(ValueError, lambda: mg.randn(3) @ mg.randn(4), "MatMul", "(3,)", "(4,)")
    raises(ValueError, lambda: mg.randn(2, 3, 4) @ mg.randn(5, 4, 2), "MatMul", "[2, 3, 4]", "[5, 4, 2]")
    raises(ValueError, lambda: x @ mg.tensor(2.0), "MatMul", "()", "at least 1 dimension")


@pytest.mark.parametrize("op,name", [(lambda a, b: a + b, "Add"), (lambda a, b: a * b, "Mul"),
                                     (lambda a, b: a - b, "Sub"), (lambda a, b: a / b, "Div"),
                                     (lambda a, b: a ** b, "Pow")])
def test_broadcast_mismatch(x, op, name):
    message = raises(ValueError, lambda: op(x, mg.randn(4)), name, "float32[2, 3] on cpu", "float32[4] on cpu")
    assert message.startswith(name + ":")
    raises(ValueError, lambda: op(mg.randn(3, 2, dtype=mg.float64), x), name, "float64[3, 2]", "float32[2, 3]")


def test_where_and_compare_broadcast_mismatch(x):
    raises(ValueError, lambda: mg.where(np.ones(4, bool), x, x), "Where", "bool[4]", "float32[2, 3]")
    raises(ValueError, lambda: x < mg.randn(5), "compare(lt)", "float32[2, 3]", "float32[5]")


def test_cat_and_stack_mismatched_shapes(x):
    raises(ValueError, lambda: mg.cat([x, mg.randn(3, 3)], axis=1), "Cat", "axis 1", "(2, 3)", "(3, 3)")
    raises(ValueError, lambda: mg.cat([x, mg.randn(3)]), "Cat", "(2, 3)", "(3,)")
    raises(ValueError, lambda: mg.cat([]), "Cat", "non-empty")
    raises(ValueError, lambda: mg.cat([x, x], axis=2), "Cat", "axis 2", "out of range")
    raises(ValueError, lambda: mg.stack([x, mg.randn(3, 2)]), "Stack", "(2, 3)", "(3, 2)")


def test_reshape_and_broadcast_to_incompatible_shapes(x):
    raises(ValueError, lambda: x.reshape(4, 2), "Reshape", "(2, 3)", "6 elements", "(4, 2)")
    raises(ValueError, lambda: x.reshape(-1, 4), "Reshape", "(2, 3)", "(-1, 4)")
    raises(ValueError, lambda: mg.broadcast_to(x, (3, 3)), "BroadcastTo", "(2, 3)", "(3, 3)")


@pytest.mark.parametrize("call,name,fragments", [
    (lambda t: t.sum(axis=2), "Sum", ["axis 2", "(2, 3)"]),
    (lambda t: t.mean(axis=(0, 5)), "Mean", ["axis 5", "(2, 3)"]),
    (lambda t: t.sum(axis=(0, -2)), "Sum", ["repeats", "(2, 3)"]),
    (lambda t: t.max(axis=-3), "Max", ["axis -3", "(2, 3)"]),
    (lambda t: t.min(dim=7), "Min", ["axis 7", "(2, 3)"]),
    (lambda t: t.squeeze(5), "Squeeze", ["axis 5", "2 dimension"]),
    (lambda t: t.squeeze(0), "Squeeze", ["axis 0 has size 2", "(2, 3)"]),
    (lambda t: t.unsqueeze(4), "Unsqueeze", ["axis 4", "3 dimension"]),
    (lambda t: t.transpose(0, 2), "Transpose", ["axis 2", "2 dimension"]),
    (lambda t: t.permute(0, 0), "Permute", ["(0, 0)", "(2, 3)"]),
    (lambda t: t.permute(0, 1, 2), "Permute", ["(0, 1, 2)", "(2, 3)"]),
])
def test_bad_axis(x, call, name, fragments):
    message = raises(ValueError, lambda: call(x), name, *fragments)
    assert message.startswith(name + ":")


def test_bad_axis_type(x):
    raises(TypeError, lambda: x.sum(axis=1.5), "Sum", "axis")


# ----------------------------------------------------------------------------- indexing

@pytest.mark.parametrize("index,fragments", [
    (5, ["index 5", "axis 0", "size 2", "float32[2, 3]"]),
    ((slice(None), -4), ["index -4", "axis 1", "size 3"]),
    ([0, 2], ["index 2", "size 2"]),
    ((0, 1, 2), ["too many indices", "float32[2, 3]"]),
    (np.array([True, False, True]), ["boolean index", "float32[2, 3]"]),
])
def test_index_out_of_range(x, index, fragments):
    message = raises(IndexError, lambda: x[index], "GetItem", *fragments)
    assert message.startswith("GetItem:")


@pytest.mark.parametrize("index", [mg.tensor([0.0, 1.0]), np.array([1.0]), [1.0, 0.0], (slice(None), np.array([0.5]))])
def test_float_index_array(x, index):
    raises(IndexError, lambda: x[index], "GetItem", "integers or booleans", "float")


# ----------------------------------------------------------------------------- dtypes

def test_int_tensor_cannot_require_grad():
    raises(TypeError, lambda: mg.tensor([1, 2], requires_grad=True), "requires_grad", "floating", "int64", "(2,)")
    raises(TypeError, lambda: mg.arange(4).requires_grad_(), "floating", "int64")
    raises(TypeError, lambda: mg.tensor([True], requires_grad=True), "floating", "bool")


def test_bad_dtypes():
    raises(TypeError, lambda: mg.tensor([1.0], dtype="flaot"), "dtype", "'flaot'")
    raises(TypeError, lambda: mg.tensor("abc"), "tensor", "str")
    raises(TypeError, lambda: mg.set_default_dtype(mg.int64), "set_default_dtype", "floating", "int64")
    raises(TypeError, lambda: mg.gradcheck(lambda t: t * 2, [mg.randn(2, requires_grad=True)]),
           "gradcheck", "float32", "float64")
    raises(ValueError, lambda: mg.gradcheck(lambda t: t * 2, [mg.randn(2, dtype=mg.float64)]),
           "gradcheck", "requires grad")


def test_switching_off_grad_of_a_non_leaf(x):
    y = x * 2
    with pytest.raises(RuntimeError, match="non-leaf.*detach"):
        y.requires_grad = False


# ----------------------------------------------------------------------------- devices

class FakeCudaArray(np.ndarray):
    """A NumPy array that the patched backend reports as living on 'cuda' (a stand-in for a CuPy array)."""


@pytest.fixture
def fake_cuda(monkeypatch):
    """Make tensors that minigrad believes are on the GPU, without a GPU: only device bookkeeping is faked;
    the device check in Function.__call__ and the error messages are the real ones."""
    real = backend.device_of
    monkeypatch.setattr(backend, "device_of", lambda a: "cuda" if isinstance(a, FakeCudaArray) else real(a))

    def make(*shape):
        t = mg.randn(*shape, requires_grad=True)
        t.data = t.data.view(FakeCudaArray)
        assert t.device == "cuda"
        return t
    return make


@pytest.mark.parametrize("op,name", [
    (lambda a, b: a + b, "Add"), (lambda a, b: b * a, "Mul"), (lambda a, b: a @ b.T, "MatMul"),
    (lambda a, b: mg.cat([a, b]), "Cat"), (lambda a, b: mg.stack([b, a]), "Stack"),
    (lambda a, b: mg.where(np.ones((2, 3), bool), a, b), "Where"),
])
def test_mixing_devices(fake_cuda, op, name):
    a, b = mg.randn(2, 3, requires_grad=True), fake_cuda(2, 3)
    message = raises(RuntimeError, lambda: op(a, b), name, "one device", "on cpu", "on cuda")
    assert message.startswith(name + ":")


def test_mixing_devices_in_comparison_and_backward(fake_cuda):
    a, b = mg.randn(2, 3), fake_cuda(2, 3)
    raises(RuntimeError, lambda: a < b, "compare(lt)", "on cpu", "on cuda")
    y = mg.randn(2, 3, requires_grad=True) * 2
    raises(RuntimeError, lambda: y.backward(b), "backward", "cuda", "cpu")


@pytest.mark.parametrize("make", [
    lambda: mg.tensor([1.0], device="tpu"), lambda: mg.zeros(2, device="tpu"), lambda: mg.randn(2, device="tpu"),
    lambda: mg.arange(3, device="tpu"), lambda: mg.tensor([1.0]).to("tpu"), lambda: mg.tensor([1.0]).to(device="tpu")])
def test_unknown_device_string(make):
    message = raises(ValueError, make, "'tpu'", "'cpu'", "'cuda'")
    assert re.search(r"device", message)


# ----------------------------------------------------------------------------- autograd misuse

def test_backward_on_a_tensor_without_grad():
    raises(RuntimeError, lambda: mg.tensor([1.0]).backward(), "backward", "does not require grad")
    with mg.no_grad():
        y = mg.randn(1, requires_grad=True) * 2
    raises(RuntimeError, lambda: y.backward(), "does not require grad", "no_grad")


def test_other_misuse(x):
    raises(ValueError, lambda: x.clip(), "Clip", "lo and hi")
    raises(ValueError, lambda: x.item(), "item", "(2, 3)")
    raises(TypeError, lambda: len(mg.tensor(1.0)), "0-d")
    raises(ValueError, lambda: mg.zeros(-1), "shape", "(-1,)")
    raises(RuntimeError, lambda: (x * 2).backward(gradient=mg.randn(3)), "backward", "(3,)", "(2, 3)")
