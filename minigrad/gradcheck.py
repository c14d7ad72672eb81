"""gradcheck: compare autograd's gradients with central finite differences (float64);
gradgradcheck: the same for second derivatives (gradcheck of the gradient taken with create_graph=True)."""
from typing import Callable, Sequence

from . import backend
from .autograd import enable_grad, grad, is_grad_enabled, no_grad
from .tensor import Tensor


class GradcheckError(RuntimeError):
    """Autograd and finite differences disagree; the message names the worst element."""


def gradcheck(fn: Callable[..., Tensor | Sequence[Tensor]], inputs: Tensor | Sequence[Tensor], eps: float = 1e-6,
              atol: float = 1e-5, rtol: float = 1e-3, directions: int | None = None, raise_exception: bool = True,
              seed: int = 0) -> bool:
    """Check d fn(*inputs) / d inputs against central differences, for every input with requires_grad.

    The outputs are reduced to the scalar L = sum_k <out_k, w_k> with fixed random w_k, so one
    backward gives the analytic gradient. By default every element is perturbed (2 forwards each);
    `directions=k` instead checks k random directions d: (L(x+eps d) - L(x-eps d)) / 2eps = <grad L, d>,
    which costs 2k forwards whatever the number of elements (for whole unrolled networks).
    Returns True, or raises GradcheckError naming the input, index, analytic and numeric values.
    """
    inputs = (inputs,) if isinstance(inputs, Tensor) else tuple(inputs)
    checked = [i for i, t in enumerate(inputs) if isinstance(t, Tensor) and t.requires_grad]
    if not checked:
        raise ValueError("gradcheck: no input requires grad; nothing to check")
    for i in checked:
        if inputs[i].dtype != backend.float64:
            raise TypeError(f"gradcheck: input {i} is {inputs[i].dtype}; finite differences need float64 "
                            "(make it with dtype=mg.float64)")

    weights = None

    def objective():
        nonlocal weights
        outs = fn(*inputs)
        outs = outs if isinstance(outs, (tuple, list)) else (outs,)
        outs = [o for o in outs if isinstance(o, Tensor)]
        if weights is None:
            weights = [backend.fixed_normal(o.shape, o.dtype, o.device, seed + k) for k, o in enumerate(outs)]
        return outs

    def value():
        with no_grad():
            return float(sum((o.data * w).sum() for o, w in zip(objective(), weights)))

    saved_grads = [inputs[i].grad for i in checked]
    for i in checked:
        inputs[i].grad = None
    outs = objective()
    loss = None
    for o, w in zip(outs, weights):
        if o.requires_grad:
            term = (o * Tensor._make(w)).sum()
            loss = term if loss is None else loss + term
    if loss is None:
        raise ValueError("gradcheck: no output depends on an input that requires grad")
    loss.backward()
    analytic = {i: (inputs[i].grad.data.copy() if inputs[i].grad is not None
                    else backend.array_module(inputs[i].data).zeros_like(inputs[i].data)) for i in checked}
    for i, g in zip(checked, saved_grads):
        inputs[i].grad = g

    if directions is None:
        report = _check_elements(inputs, checked, analytic, value, eps, atol, rtol)
    else:
        report = _check_directions(inputs, checked, analytic, value, eps, atol, rtol, directions, seed)
    if report is None:
        return True
    if raise_exception:
        raise GradcheckError(report)
    return False


def gradgradcheck(fn: Callable[..., Tensor | Sequence[Tensor]], inputs: Tensor | Sequence[Tensor],
                  grad_outputs: Tensor | Sequence[Tensor] | None = None, eps: float = 1e-6, atol: float = 1e-5,
                  rtol: float = 1e-3, directions: int | None = None, raise_exception: bool = True,
                  seed: int = 0) -> bool:
    """Check the second derivatives of fn: gradcheck of (inputs, grad_outputs) -> the vector-Jacobian product
    grad(fn(inputs), inputs, grad_outputs, create_graph=True), so both the derivative of the gradient with
    respect to the inputs (the Hessian part) and with respect to grad_outputs are compared with finite
    differences. Without `grad_outputs`, fixed random ones (requiring grad) are drawn for the differentiable
    outputs. Arguments and result as gradcheck.

    The finite differences perturb the ordinary (first-order, array) gradient, while the analytic side
    differentiates the create_graph one, so an op's `decompose` is also checked against its own backward.
    """
    inputs = (inputs,) if isinstance(inputs, Tensor) else tuple(inputs)
    wrt = [i for i, t in enumerate(inputs) if isinstance(t, Tensor) and t.requires_grad]
    if not wrt:
        raise ValueError("gradgradcheck: no input requires grad; nothing to check")

    def differentiable_outputs(xs):
        outs = fn(*xs)
        outs = outs if isinstance(outs, (tuple, list)) else (outs,)
        return [o for o in outs if isinstance(o, Tensor) and o.requires_grad]

    if grad_outputs is None:
        with enable_grad():
            outs = differentiable_outputs(inputs)
        grad_outputs = [Tensor._make(backend.fixed_normal(o.shape, o.dtype, o.device, seed + 7919 + k), True)
                        for k, o in enumerate(outs)]
    else:
        grad_outputs = [grad_outputs] if isinstance(grad_outputs, Tensor) else list(grad_outputs)
    n = len(inputs)

    def first_derivatives(*args):
        xs, gos = args[:n], args[n:]
        analytic = is_grad_enabled()             # gradcheck's backward pass; its finite differences run under no_grad
        with enable_grad():                      # fn's graph is needed either way
            outs = differentiable_outputs(xs)
            grads = grad(outs, [xs[i] for i in wrt], gos, create_graph=analytic, allow_unused=True)
        return tuple(g for g in grads if g is not None)

    return gradcheck(first_derivatives, inputs + tuple(grad_outputs), eps=eps, atol=atol, rtol=rtol,
                     directions=directions, raise_exception=raise_exception, seed=seed)


def _check_elements(inputs, checked, analytic, value, eps, atol, rtol):
    worst = None                              # (excess, message)
    for i in checked:
        data = inputs[i].data
        host_grad = backend.to_numpy(analytic[i])
        for flat in range(data.size):
            idx = _unravel(flat, data.shape)
            old = data[idx].item()
            data[idx] = old + eps
            plus = value()
            data[idx] = old - eps
            minus = value()
            data[idx] = old
            numeric = (plus - minus) / (2 * eps)
            a = float(host_grad[idx])
            excess = abs(a - numeric) - (atol + rtol * abs(numeric))
            if excess > 0 and (worst is None or excess > worst[0]):
                worst = (excess, f"gradcheck: input {i} (shape {tuple(data.shape)}), element {idx}: "
                                 f"analytic {a:.10g} vs numeric {numeric:.10g} (|diff| {abs(a - numeric):.3g}, "
                                 f"allowed {atol + rtol * abs(numeric):.3g})")
    return None if worst is None else worst[1]


def _check_directions(inputs, checked, analytic, value, eps, atol, rtol, directions, seed):
    worst = None
    for k in range(directions):
        ds = {i: backend.fixed_normal(inputs[i].shape, inputs[i].dtype, inputs[i].device, 1000 + seed + 31 * k + i)
              for i in checked}
        originals = {i: inputs[i].data.copy() for i in checked}
        for sign, store in ((1, "plus"), (-1, "minus")):
            for i in checked:
                inputs[i].data[...] = originals[i] + sign * eps * ds[i]
            if store == "plus":
                plus = value()
            else:
                minus = value()
        for i in checked:
            inputs[i].data[...] = originals[i]
        numeric = (plus - minus) / (2 * eps)
        a = float(sum((analytic[i] * ds[i]).sum() for i in checked))
        excess = abs(a - numeric) - (atol + rtol * abs(numeric))
        if excess > 0 and (worst is None or excess > worst[0]):
            worst = (excess, f"gradcheck: random direction {k}: analytic <grad, d> {a:.10g} vs numeric "
                             f"{numeric:.10g} (|diff| {abs(a - numeric):.3g}, "
                             f"allowed {atol + rtol * abs(numeric):.3g})")
    return None if worst is None else worst[1]


def _unravel(flat, shape):
    idx = []
    for n in reversed(shape):
        idx.append(flat % n)
        flat //= n
    return tuple(reversed(idx))
