"""minigrad: a small, readable autograd framework over NumPy (CPU) and CuPy (GPU), built for RNNs."""
from .backend import (bool_, cuda_is_available, default_dtype as get_default_dtype, float16, float32, float64,
                      get_rng_state, int64, manual_seed, set_default_dtype, set_rng_state)
from .tensor import Tensor
from .autograd import (Function, annotate, current_meta, current_scope, detect_anomaly, enable_grad, is_grad_enabled,
                       no_grad, scope)
from .factories import arange, full, ones, ones_like, rand, randint, randn, tensor, zeros, zeros_like
from .ops import (abs, broadcast_to, cat, clip, exp, log, matmul, max, mean, min, permute, relu, reshape,
                  sigmoid, split, sqrt, squeeze, stack, sum, tanh, transpose, unbind, unsqueeze, where, chunk)
from .gradcheck import GradcheckError, gradcheck, gradgradcheck
from .serialization import CheckpointError, load, save
from . import utils

__version__ = "0.1.0"
