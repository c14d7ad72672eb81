"""The Tensor object itself: construction, attributes, conversions, factories, printing."""
import numpy as np
import pytest

import minigrad as mg


def test_attributes(device):
    t = mg.tensor([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]], device=device)
    assert t.shape == (2, 3) and t.ndim == 2 and t.dtype == mg.float32 and t.device == device
    assert t.numel() == 6 and len(t) == 2
    assert t.is_leaf and t.grad is None and t.grad_fn is None and not t.requires_grad
    assert t.data.shape == (2, 3)
    assert isinstance(t.numpy(), np.ndarray)
    assert t.tolist() == [[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]]
    assert t[1, 2].item() == 6.0 and isinstance(t[1, 2].item(), float)
    assert mg.tensor(7).item() == 7 and isinstance(mg.tensor(7).item(), int)


def test_size_and_dim_are_pytorchs_spellings_of_shape_and_ndim():
    t = mg.zeros(2, 3, 5)
    assert t.size() == (2, 3, 5) and t.size(0) == 2 and t.size(-1) == 5 and t.dim() == 3
    assert mg.tensor(1.0).size() == () and mg.tensor(1.0).dim() == 0
    for bad in (3, -4, 1.0, True):
        with pytest.raises(IndexError, match=r"size: dim must be an int in \[-3, 2\].*\(2, 3, 5\)"):
            t.size(bad)


def test_construction_copies_its_data():
    a = np.array([1.0, 2.0])
    t = mg.tensor(a)
    a[0] = 100.0
    assert t.numpy()[0] == 1.0
    u = mg.tensor(t)                                   # from a Tensor: a new leaf with a copy
    t.data[1] = -5.0
    assert u.numpy()[1] == 2.0 and u.is_leaf
    assert mg.Tensor([1.0, 2.0], dtype=mg.float64, requires_grad=True).requires_grad


def test_requires_grad_flags():
    x = mg.tensor([1.0, 2.0])
    assert x.requires_grad_() is x and x.requires_grad
    y = x * 2
    assert y.requires_grad and not y.is_leaf and y.grad_fn is not None
    x.requires_grad = False
    assert not (x * 2).requires_grad
    z = mg.zeros(2, requires_grad=True)
    assert z.requires_grad and z.is_leaf


def test_zero_grad_and_grad_is_a_tensor():
    x = mg.tensor([1.0, 2.0], requires_grad=True)
    (x * x).sum().backward()
    assert isinstance(x.grad, mg.Tensor) and x.grad.dtype == mg.float32 and not x.grad.requires_grad
    x.zero_grad()
    assert x.grad is None


def test_numpy_interop():
    t = mg.tensor([1.0, 2.0])
    a = np.asarray(t)
    np.testing.assert_array_equal(a, [1.0, 2.0])
    assert np.asarray(t, dtype=np.float64).dtype == np.float64
    r = np.array([10.0, 20.0], dtype=np.float32) + t   # ndarray op Tensor defers to the Tensor
    assert isinstance(r, mg.Tensor)
    np.testing.assert_array_equal(r.numpy(), [11.0, 22.0])
    r = np.float32(2.0) * t
    assert isinstance(r, mg.Tensor) and r.dtype == mg.float32


def test_to_and_casts(device):
    t = mg.tensor([1.5, -2.0], device=device, requires_grad=True)
    assert t.to(device) is t and t.to(mg.float32) is t and t.float() is t
    d = t.double()
    assert d.dtype == mg.float64 and d.device == device and d.grad_fn is not None
    assert t.to("float64").dtype == mg.float64 and t.to(dtype=np.float64).dtype == mg.float64
    assert t.cpu().device == "cpu"
    i = mg.tensor([1, 2], device=device).to(mg.float32)
    assert i.dtype == mg.float32


def test_repr():
    assert repr(mg.tensor([1.0, 2.0])) == "tensor([1., 2.], dtype=float32)"
    assert repr(mg.tensor([1.0], dtype=mg.float64, requires_grad=True)) == "tensor([1.], requires_grad=True)"
    assert repr(mg.tensor([1.0], requires_grad=True) * 2) == "tensor([2.], dtype=float32, grad_fn=<Mul>)"
    assert repr(mg.tensor([3])) == "tensor([3])"


def test_bool_and_hash():
    assert bool(mg.tensor(1.0)) and not bool(mg.tensor([0.0]))
    with pytest.raises(ValueError, match="one-element"):
        bool(mg.tensor([1.0, 2.0]))
    a, b = mg.tensor([1.0]), mg.tensor([1.0])
    state = {a: "a", b: "b"}                           # tensors are dict keys by identity
    assert state[a] == "a" and state[b] == "b"
    assert isinstance(a == b, mg.Tensor)


def test_argmax():
    t = mg.tensor([[1.0, 5.0, 2.0], [7.0, 0.0, 3.0]])
    np.testing.assert_array_equal(t.argmax(axis=1).numpy(), [1, 0])
    assert t.argmax().item() == 3


# ----------------------------------------------------------------------------- factories

def test_factories(device):
    z = mg.zeros(2, 3, device=device)
    assert z.shape == (2, 3) and z.device == device and not z.numpy().any()
    assert mg.zeros((2, 3), device=device).shape == (2, 3)
    np.testing.assert_array_equal(mg.ones(2, dtype=mg.float64, device=device).numpy(), [1.0, 1.0])
    f = mg.full((2, 2), 0.5, device=device)
    assert f.dtype == mg.float32 and (f.numpy() == 0.5).all()
    assert mg.full(3, 2, dtype=mg.float64).shape == (3,)
    np.testing.assert_array_equal(mg.arange(5, device=device).numpy(), np.arange(5))
    np.testing.assert_allclose(mg.arange(1, 2, 0.25).numpy(), [1.0, 1.25, 1.5, 1.75])
    like = mg.tensor([[1.0, 2.0]], dtype=mg.float64, device=device)
    zl, ol = mg.zeros_like(like), mg.ones_like(like, requires_grad=True)
    assert zl.shape == ol.shape == (1, 2) and zl.dtype == ol.dtype == mg.float64
    assert zl.device == ol.device == device and ol.requires_grad and not zl.requires_grad
    assert mg.randn(2, 3, device=device).shape == (2, 3)
    assert mg.rand((4,), device=device, requires_grad=True).requires_grad
    assert mg.randint(3, 5, 10).shape == (10,)


def test_numpy_integers_work_as_sizes():
    n = np.prod([2, 3])                                # sizes computed with NumPy are np.int64
    assert mg.zeros(n).shape == (6,) and mg.randn(np.int64(2), n).shape == (2, 6)
    assert mg.ones([np.int64(2), 3]).shape == (2, 3)
    t = mg.arange(6)
    assert t.reshape(n).shape == (6,) and t.reshape(np.int64(2), -1).shape == (2, 3)
    with pytest.raises(ValueError, match=r"non-negative ints.*2\.5"):
        mg.zeros(2.5)
