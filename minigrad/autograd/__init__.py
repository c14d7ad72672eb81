"""The autograd engine: graph nodes (function.py), the backward walk (engine.py), hooks, and the
functional API (`mg.autograd.functional`: jacobian, hessian, vjp, jvp, hvp)."""
from .function import (Function, annotate, current_meta, current_scope, describe, detect_anomaly, enable_grad,
                       is_grad_enabled, namespace, no_grad, op_error, scope, sum_to, _lift_inputs, _state)
from .engine import backward, grad
from .hooks import RemovableHandle
from . import functional
