"""Self-tests of mg.gradcheck (it must catch wrong gradients) and of clip's gradient at its bounds.

Found by mutation testing: a gradcheck comparing |analytic| with |numeric| passed a backward with the
wrong sign; a clip whose mask used strict inequalities at lo/hi passed the op tests (which stay away from
the kinks).
"""
import numpy as np
import pytest

import minigrad as mg


class Square(mg.Function):
    """y = x^2 with a correct backward (2 x gy) or, with flip=True, the sign-flipped one (-2 x gy)."""

    def __init__(self, flip):
        self.flip = flip

    def forward(self, x):
        self.x = x
        return x * x

    def backward(self, gy):
        g = 2 * self.x * gy
        return -g if self.flip else g


def _leaf():
    x = np.array([[0.7, -1.3, 2.1], [0.4, 1.9, -0.6]])
    return mg.tensor(x, dtype=mg.float64, requires_grad=True)


@pytest.mark.parametrize("directions", [None, 3], ids=["elements", "directions"])
def test_gradcheck_passes_the_right_gradient(directions):
    assert mg.gradcheck(lambda x: Square(False)(x), [_leaf()], directions=directions) is True


@pytest.mark.parametrize("directions", [None, 3], ids=["elements", "directions"])
def test_gradcheck_fails_a_gradient_of_the_wrong_sign(directions):
    x = _leaf()
    with pytest.raises(mg.GradcheckError, match="analytic"):
        mg.gradcheck(lambda x: Square(True)(x), [x], directions=directions)
    assert mg.gradcheck(lambda x: Square(True)(x), [x], directions=directions, raise_exception=False) is False


def test_gradcheck_names_the_analytic_and_numeric_values_of_opposite_sign():
    x = mg.tensor(np.array([1.5]), dtype=mg.float64, requires_grad=True)
    with pytest.raises(mg.GradcheckError) as info:
        mg.gradcheck(lambda x: Square(True)(x), [x])
    msg = str(info.value)
    assert "element (0,)" in msg and "analytic -" in msg and "numeric " in msg and "numeric -" not in msg


# ----------------------------------------------------------------------------- clip at its bounds

def test_clip_gradient_passes_at_exactly_lo_and_hi(device):
    # PyTorch's rule: the gradient is 1 where lo <= x <= hi (bounds included), 0 where x was clipped
    x = mg.tensor([-2.0, -1.0, -0.5, 0.0, 0.5, 1.0, 2.0], dtype=mg.float64, device=device, requires_grad=True)
    y = x.clip(-1.0, 1.0)
    (y * mg.tensor([1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0], dtype=mg.float64, device=device)).sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [0.0, 2.0, 3.0, 4.0, 5.0, 6.0, 0.0])
    np.testing.assert_array_equal(y.numpy(), [-1.0, -1.0, -0.5, 0.0, 0.5, 1.0, 1.0])


@pytest.mark.parametrize("lo, hi, x, grad", [
    (-1.0, None, [-1.5, -1.0, 1.5], [0.0, 1.0, 1.0]),
    (None, 1.0, [-1.5, 1.0, 1.5], [1.0, 1.0, 0.0]),
    (0.5, 0.5, [0.0, 0.5, 1.0], [0.0, 1.0, 0.0]),        # lo == hi == x: inside both bounds
])
def test_clip_gradient_at_one_sided_and_equal_bounds(lo, hi, x, grad):
    x = mg.tensor(x, dtype=mg.float64, requires_grad=True)
    x.clip(lo, hi).sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), grad)
