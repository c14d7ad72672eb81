"""Device paths checked without a GPU (issue 14): host constants follow the tensor's device, scatter-adds use
add.at, and the losses and the embedding read nothing back from the device per call but one combined check.

The "cuda" cases run on real CuPy where there is a GPU, else on tests/strict_cupy.py; the sync counts need the
stand-in and skip on a real GPU.
"""
import numpy as np
import pytest

import minigrad as mg
import minigrad.nn.functional as F
import strict_cupy
from minigrad import backend


def counts():
    """The stand-in's counters (skip on a real GPU: CuPy counts nothing)."""
    if not backend.cuda_is_available() or backend._cupy is not strict_cupy:
        pytest.skip("sync counts need the strict CuPy stand-in")
    strict_cupy.stats.clear()
    return strict_cupy.stats


def test_numpy_constants_follow_the_tensor(device):
    a = mg.tensor([1.0, 2.0, 3.0], device=device, requires_grad=True)
    mask = np.array([True, False, True])
    for y in (a + np.array([1.0, 1.0, 1.0], dtype=np.float32), np.float32(2) * a, a * [1.0, 2.0, 3.0],
              mg.where(mask, a, 0.0), mg.where(mask, a, np.zeros(3, dtype=np.float32)), mg.where(np.True_, a, a)):
        assert y.device == device
    y = mg.where(mask, a, -a)
    y.sum().backward()
    np.testing.assert_array_equal(a.grad.numpy(), [1.0, -1.0, 1.0])


def test_a_tensor_on_another_device_still_raises(device):
    if device == "cpu":
        pytest.skip("needs two devices")
    a, b = mg.ones(3, device="cuda"), mg.ones(3)
    with pytest.raises(RuntimeError, match="one device.*on cuda.*on cpu"):
        a + b
    with pytest.raises(RuntimeError, match="one device"):
        mg.where(mg.tensor([True, False, True]).data, a, b)


def test_cpu_constants_stay_the_same_array():
    """The CPU fast path: a NumPy constant is used as it is, not copied."""
    c = np.arange(3.0, dtype=np.float32)
    lifted = mg.autograd._lift_inputs((mg.ones(3), c))
    assert lifted[1].data is c


def test_python_scalars_cost_no_host_to_device_copy(device):
    a = mg.ones(3, device=device)
    stats = counts()
    y = (a * 2 + 1.5) / 3
    assert y.device == device and stats["to_device"] == 0 and stats["sync"] == 0


def test_getitem_and_embedding_backward_accumulate_repeats(device):
    x = mg.tensor([1.0, 2.0, 3.0], device=device, requires_grad=True)
    x[np.array([0, 0, 2, 0])].sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [3.0, 0.0, 1.0])
    w = mg.ones(5, 2, device=device, requires_grad=True)
    ids = mg.tensor([[1, 1], [4, 1]], device=device)
    F.embedding(ids, w).sum().backward()
    np.testing.assert_array_equal(w.grad.numpy()[:, 0], [0.0, 3.0, 0.0, 0.0, 1.0])


def test_no_cupyx():
    assert not hasattr(backend, "cupyx_module")


@pytest.mark.parametrize("ignore", [False, True])
def test_cross_entropy_reads_back_once(device, ignore):
    x = mg.randn(6, 4, device=device, requires_grad=True)
    t = mg.tensor([0, 3, -100 if ignore else 1, 2, 2, 1], device=device)
    stats = counts()
    loss = F.cross_entropy(x, t)
    assert stats["sync"] == 1, stats                    # the one combined range check
    loss.backward()
    assert stats["sync"] == 1 and stats["to_device"] == 0, stats
    ref_x = mg.tensor(x.numpy(), requires_grad=True)
    ref = F.cross_entropy(ref_x, mg.tensor(t.numpy()))
    ref.backward()
    np.testing.assert_allclose(loss.item(), ref.item(), rtol=1e-6)
    np.testing.assert_allclose(x.grad.numpy(), ref_x.grad.numpy(), rtol=1e-5, atol=1e-7)


def test_all_ignored_gives_nan_and_zero_gradient(device):
    x = mg.randn(3, 4, device=device, requires_grad=True)
    loss = F.cross_entropy(x, mg.tensor([-100, -100, -100], device=device))
    loss.backward()
    assert np.isnan(loss.item())
    np.testing.assert_array_equal(x.grad.numpy(), np.zeros((3, 4)))


@pytest.mark.parametrize("t", [[0, 4, 1], [0, -1, 1]])
def test_bad_targets_still_raise_on_every_device(device, t):
    x = mg.randn(3, 4, device=device)
    with pytest.raises(IndexError, match=f"target {t[1]} is out of range for 4 classes"):
        F.cross_entropy(x, mg.tensor(t, device=device))
    with pytest.raises(IndexError, match=f"target {t[1]} is out of range"):
        F.nll_loss(x, mg.tensor(t, device=device))


def test_embedding_reads_back_once_and_still_raises(device):
    w = mg.randn(5, 2, device=device)
    stats = counts() if device == "cuda" else None
    F.embedding(mg.tensor([[1, 4], [0, 2]], device=device), w)
    if stats is not None:
        assert stats["sync"] == 1, stats
    with pytest.raises(IndexError, match="id 5 is out of range"):
        F.embedding(mg.tensor([1, 5], device=device), w)


def test_strict_cupy_rejects_host_arrays(device):
    if device == "cpu":
        pytest.skip("the stand-in is for cuda")
    counts()
    cp = backend.cupy_module()
    a = cp.arange(3.0)
    for bad in (lambda: a + np.ones(3), lambda: np.ones(3) * a, lambda: cp.where(np.ones(3, bool), a, a),
                lambda: a.__array__()):
        with pytest.raises(TypeError):
            bad()
    with pytest.raises(TypeError, match="Implicit conversion"):
        mg.tensor([a[0], a[1]])                      # np.asarray of device data, refused as CuPy refuses it
    assert isinstance(a.sum(), cp.ndarray) and isinstance(a[0], cp.ndarray)    # 0-d arrays, as CuPy
    float(a.sum())
    assert strict_cupy.stats["sync"] == 1
