"""In-place initializers for parameters, drawing from the device's generator (seeded by mg.manual_seed)."""
import math

from .. import backend
from ..tensor import Tensor


def uniform_(t: Tensor, a: float = 0.0, b: float = 1.0) -> Tensor:
    """Fill with samples from U(a, b)."""
    t.data[...] = backend.random_uniform(t.shape, t.dtype, t.device, a, b)
    return t


def normal_(t: Tensor, mean: float = 0.0, std: float = 1.0) -> Tensor:
    """Fill with samples from N(mean, std^2)."""
    t.data[...] = backend.random_normal(t.shape, t.dtype, t.device) * std + mean
    return t


def constant_(t: Tensor, value: float) -> Tensor:
    t.data[...] = value
    return t


def zeros_(t: Tensor) -> Tensor:
    return constant_(t, 0.0)


def ones_(t: Tensor) -> Tensor:
    return constant_(t, 1.0)


def _fans(t):
    if t.ndim < 2:
        raise ValueError(f"init: fan in/out need a tensor with >= 2 dimensions, got shape {t.shape}")
    receptive = math.prod(t.shape[2:])
    return t.shape[1] * receptive, t.shape[0] * receptive


def xavier_uniform_(t: Tensor, gain: float = 1.0) -> Tensor:
    """U(-a, a) with a = gain * sqrt(6 / (fan_in + fan_out)) (Glorot & Bengio, 2010)."""
    fan_in, fan_out = _fans(t)
    a = gain * math.sqrt(6.0 / (fan_in + fan_out))
    return uniform_(t, -a, a)


def kaiming_uniform_(t: Tensor, nonlinearity_gain: float = math.sqrt(2.0)) -> Tensor:
    """U(-a, a) with a = gain * sqrt(3 / fan_in) (He et al., 2015)."""
    fan_in, _ = _fans(t)
    a = nonlinearity_gain * math.sqrt(3.0 / fan_in)
    return uniform_(t, -a, a)


def orthogonal_(t: Tensor, gain: float = 1.0) -> Tensor:
    """A (semi-)orthogonal matrix from the QR decomposition of a Gaussian one (Saxe et al., 2014)."""
    rows, cols = t.shape[0], math.prod(t.shape[1:])
    xp = backend.array_module(t.data)
    a = backend.random_normal((max(rows, cols), min(rows, cols)), t.dtype, t.device)
    q, r = xp.linalg.qr(a)
    q = q * xp.sign(xp.diagonal(r))
    q = q if rows >= cols else q.T
    t.data[...] = (gain * q[:rows, :cols]).reshape(t.shape)
    return t
