"""Optimizer: parameter groups, per-parameter state, the step loop and state_dict.

A subclass writes its update rule once, as a function that changes arrays in place, and tells the
base class which state arrays it keeps:

    _state_names(group)                        -> names of the state arrays, e.g. ("exp_avg", "exp_avg_sq")
    _initial_value(name, group)                -> the value a new state array is filled with (0.0)
    _update(param, grad, state, group)         updates `param` and the arrays in `state` in place

`step()` calls `_update` on each parameter's own array, as micrograd's `p.data -= lr * p.grad`: after a
step `p.data` is the same array object as before, holding the new values.
"""
import math
import numbers
from typing import Any, Callable, Dict, Iterable, Optional

from .. import backend
from ..autograd import enable_grad
from ..backend import Array
from ..tensor import Tensor, as_array


class Optimizer:
    """Base class: `params` is an iterable of tensors or of dicts {'params': [...], 'lr': ..., ...}."""

    def __init__(self, params: Iterable, defaults: Dict[str, Any]) -> None:
        self.defaults = dict(defaults)
        self.state = {}           # parameter -> {"step": int, name: array, ...}
        self.param_groups = []
        for group in _as_groups(params, type(self).__name__):
            self.add_param_group(group)

    # ------------------------------------------------------------------ groups
    def add_param_group(self, param_group: Dict[str, Any]) -> None:
        """Add a group of parameters (a dict with 'params' and optional hyperparameters)."""
        name = type(self).__name__
        if not isinstance(param_group, dict):
            raise TypeError(f"{name}: a parameter group must be a dict, got {type(param_group).__name__}")
        if "params" not in param_group:
            raise ValueError(f"{name}: a parameter group needs a 'params' entry, got keys {sorted(param_group)}")
        params = _as_param_list(param_group["params"], name)
        seen = set()
        for i, p in enumerate(params):
            if not isinstance(p, Tensor):
                raise TypeError(f"{name}: can only optimize Tensors, but parameter {i} is {type(p).__name__}")
            if not p.is_leaf:
                raise ValueError(f"{name}: can't optimize a non-leaf tensor (parameter {i}, shape {p.shape}); "
                                 "optimize the leaf it was computed from")
            if not backend.is_floating(p.dtype):
                raise TypeError(f"{name}: can only optimize floating point tensors, parameter {i} has dtype {p.dtype}")
            if id(p) in seen:
                raise ValueError(f"{name}: parameter {i} (shape {p.shape}) appears twice in one group")
            seen.add(id(p))
        for g in self.param_groups:
            if any(id(p) in seen for p in g["params"]):
                raise ValueError(f"{name}: some parameters appear in more than one parameter group")
        group = {"params": params}
        group.update((k, v) for k, v in param_group.items() if k != "params")
        for k, v in self.defaults.items():
            group.setdefault(k, v)
        self._check_group(group)
        self.param_groups.append(group)

    def _check_group(self, group):
        """Raise ValueError for invalid hyperparameters (subclasses)."""

    def _check(self, ok, group, key, expected):
        if not ok:
            raise ValueError(f"{type(self).__name__}: invalid {key}={group[key]!r}, expected {expected}")

    # ------------------------------------------------------------------ stepping
    def zero_grad(self, set_to_none: bool = True) -> None:
        """Forget the gradients (set them to None, or fill them with zeros when set_to_none=False)."""
        for group in self.param_groups:
            for p in group["params"]:
                if p.grad is None:
                    continue
                if set_to_none:
                    p.grad = None
                else:
                    p.grad.data[...] = 0

    def step(self, closure: Optional[Callable[[], Any]] = None) -> Any:
        """Update every parameter that has a gradient, in place. `closure` re-evaluates and returns the loss."""
        loss = None
        if closure is not None:
            with enable_grad():
                loss = closure()
        for group in self.param_groups:
            for p in group["params"]:
                if p.grad is not None:
                    state = self._prepare_state(p, group)
                    state["step"] += 1
                    self._update(p.data, p.grad.data, state, group)
        return loss

    def _prepare_state(self, p, group):
        """The state of `p`, created on first use, on p's device and dtype; checks p.grad."""
        if p.grad.shape != p.shape or p.grad.device != p.device:
            raise ValueError(f"{type(self).__name__}: a parameter of shape {p.shape} on {p.device} has a gradient "
                             f"of shape {p.grad.shape} on {p.grad.device}; expected the same shape and device")
        st = self.state.get(p)
        if st is None:
            st = self.state[p] = {"step": 0}
        data = p.data
        for name in self._state_names(group):
            arr = st.get(name)
            if arr is None:
                st[name] = backend.array_module(data).full(data.shape, self._initial_value(name, group),
                                                          dtype=data.dtype)
            elif arr.dtype != data.dtype or backend.device_of(arr) != backend.device_of(data):
                st[name] = as_array(arr, data.dtype, backend.device_of(data))
        return st

    def _state_names(self, group):
        return ()

    def _initial_value(self, name, group):
        return 0.0

    def _update(self, param, grad, state, group):
        raise NotImplementedError

    # ------------------------------------------------------------------ checkpoints
    def state_dict(self) -> Dict[str, Any]:
        """{'optimizer': class name, 'state': {0: {'step': int, name: array}, ...},
        'param_groups': [{..., 'params': [0, 1, ...]}]}.

        Parameters are numbered in group order and the state is keyed by those ints, as PyTorch does
        (mg.save keeps int keys; load_state_dict also takes the digit strings older checkpoints hold).
        Arrays are copies.
        """
        index = {}
        groups = []
        for group in self.param_groups:
            packed = {k: (list(v) if isinstance(v, tuple) else v) for k, v in group.items() if k != "params"}
            packed["params"] = [index.setdefault(id(p), len(index)) for p in group["params"]]
            groups.append(packed)
        state = {}
        for group in self.param_groups:
            for p in group["params"]:
                st = self.state.get(p)
                if st is not None:
                    state[index[id(p)]] = {k: (v.copy() if backend.is_array(v) else v) for k, v in st.items()}
        return {"optimizer": type(self).__name__, "state": state, "param_groups": groups}

    def load_state_dict(self, state_dict: Dict[str, Any]) -> None:
        """Restore state and hyperparameters saved by state_dict() (keys may be ints or their strings).

        Everything is checked before anything changes: the optimizer class (when the dict records it; old
        checkpoints without it load), the groups' hyperparameter names and parameter indices, and each
        parameter's state entries, so a malformed dict fails here with a message, never at the next step."""
        name = type(self).__name__
        where = f"{name}.load_state_dict"
        if not isinstance(state_dict, dict) or "state" not in state_dict or "param_groups" not in state_dict:
            got = sorted(map(str, state_dict)) if isinstance(state_dict, dict) else type(state_dict).__name__
            raise ValueError(f"{where}: expected a dict with 'state' and 'param_groups' (from state_dict()), "
                             f"got {got}")
        saved_class = state_dict.get("optimizer", name)
        if saved_class != name:
            raise ValueError(f"{where}: the state was written by {saved_class!r}, this optimizer is {name!r}")
        saved_groups, saved_state = state_dict["param_groups"], state_dict["state"]
        if not isinstance(saved_groups, (list, tuple)) or not all(isinstance(g, dict) for g in saved_groups):
            raise ValueError(f"{where}: 'param_groups' must be a list of dicts, got {_describe(saved_groups)}")
        if not isinstance(saved_state, dict):
            raise ValueError(f"{where}: 'state' must be a dict {{parameter index: {{'step': int, ...}}}}, "
                             f"got {type(saved_state).__name__}")
        if len(saved_groups) != len(self.param_groups):
            raise ValueError(f"{where}: the state has {len(saved_groups)} parameter group(s), "
                             f"this optimizer has {len(self.param_groups)}")
        by_index, updated = {}, []
        for i, (saved, group) in enumerate(zip(saved_groups, self.param_groups)):
            indices = saved.get("params")
            if not isinstance(indices, (list, tuple)) or not all(_is_index(k) for k in indices):
                raise ValueError(f"{where}: parameter group {i} needs 'params', a list of parameter indices "
                                 f"(ints), got {_describe(indices)}")
            if len(indices) != len(group["params"]):
                raise ValueError(f"{where}: parameter group {i} has {len(indices)} "
                                 f"parameter(s) in the state, {len(group['params'])} in this optimizer")
            missing = sorted(set(self.defaults) - set(saved))    # extra keys (a scheduler's initial_lr) load
            if missing:
                raise ValueError(f"{where}: parameter group {i} lacks the {name} hyperparameter(s) {missing} "
                                 f"(has {sorted(map(str, saved))}); was it saved by another optimizer?")
            for k, p in zip(indices, group["params"]):
                if int(k) in by_index:
                    raise ValueError(f"{where}: parameter index {int(k)} appears more than once in 'param_groups'")
                by_index[int(k)] = (p, i)
            new = dict(group)
            new.update((k, tuple(v) if isinstance(v, list) else v) for k, v in saved.items() if k != "params")
            self._check_group(new)
            updated.append(new)
        state = {}
        for key, saved in saved_state.items():
            if not _is_index(key):
                raise ValueError(f"{where}: 'state' keys must be parameter indices (ints or digit strings), "
                                 f"got {key!r}")
            p, i = by_index.get(int(key), (None, None))
            if p is None:
                raise ValueError(f"{where}: state for parameter {key}, which no group lists")
            if p in state:
                raise ValueError(f"{where}: 'state' holds parameter {int(key)} twice (as {int(key)} and "
                                 f"{str(int(key))!r})")
            # arrays it lacks are made at the next step, as the saving optimizer would (hyperparameters changed)
            names = ["step", *self._state_names(updated[i])]
            if not isinstance(saved, dict) or "step" not in saved or not all(isinstance(k, str) for k in saved):
                got = sorted(map(str, saved)) if isinstance(saved, dict) else type(saved).__name__
                raise ValueError(f"{where}: the state of parameter {key} must be a dict with 'step' and the "
                                 f"state arrays of {name} ({names}), got {got}")
            step = saved["step"]
            if isinstance(step, bool) or not isinstance(step, numbers.Real) or step != int(step) or step < 0:
                raise ValueError(f"{where}: the state of parameter {key} has step={step!r}, expected an int >= 0")
            state[p] = {k: _restore(v, p, k, name) for k, v in saved.items()}
        for group, new in zip(self.param_groups, updated):
            group.update(new)
        self.state = state

    def __repr__(self):
        lines = [type(self).__name__ + " ("]
        for i, group in enumerate(self.param_groups):
            lines.append(f"Parameter Group {i}")
            lines.extend(f"    {k}: {v}" for k, v in sorted(group.items()) if k != "params")
        return "\n".join(lines + [")"])


# ----------------------------------------------------------------------------- helpers

def _as_groups(params, name):
    if isinstance(params, (Tensor, dict)):
        raise TypeError(f"{name}: params must be an iterable of Tensors or of dicts (parameter groups), "
                        f"got a single {type(params).__name__}; wrap it in a list")
    params = _as_param_list(params, name)
    if not params:
        raise ValueError(f"{name}: got an empty parameter list")
    n_dicts = sum(isinstance(p, dict) for p in params)
    if n_dicts == 0:
        return [{"params": params}]
    if n_dicts != len(params):
        raise TypeError(f"{name}: params mixes parameter-group dicts with tensors; use one or the other")
    return params


def _as_param_list(params, name):
    if isinstance(params, Tensor):
        return [params]
    if isinstance(params, (set, frozenset)):
        raise TypeError(f"{name}: parameters must be an ordered collection (a set has no fixed order); "
                        "use a list")
    try:
        return list(params)
    except TypeError:
        raise TypeError(f"{name}: params must be an iterable of Tensors, got {type(params).__name__}") from None


def _is_index(k) -> bool:
    """An int, or a string of digits (checkpoint files need string keys)."""
    return (isinstance(k, numbers.Integral) and not isinstance(k, bool) and k >= 0) or \
        (isinstance(k, str) and k.isdigit())


def _describe(value) -> str:
    return f"{type(value).__name__} {value!r}"[:120]


def _restore(value, p, key, name):
    """A saved state entry back on p's device and dtype (arrays are copied; 'step' becomes an int)."""
    if key == "step":
        return int(value)
    try:
        arr = as_array(value, p.dtype, p.device)    # always a copy (also from numbers and lists)
    except (TypeError, ValueError):
        raise ValueError(f"{name}.load_state_dict: state '{key}' must be an array of the parameter's shape "
                         f"{p.shape}, got {type(value).__name__}") from None
    if arr.shape != p.shape:
        raise ValueError(f"{name}.load_state_dict: state '{key}' has shape {tuple(arr.shape)}, "
                         f"the parameter has shape {p.shape}")
    return arr


def effective_grad(param: Array, grad: Array, weight_decay: float, maximize: bool) -> Array:
    """g = (-grad if maximize else grad) + weight_decay * param (a new array; `grad` is never written to)."""
    if weight_decay == 0:
        return -grad if maximize else grad
    return param * weight_decay - grad if maximize else param * weight_decay + grad


def check_betas(opt: Optimizer, group: Dict[str, Any]) -> None:
    """Adam-style betas: a pair of numbers in [0, 1)."""
    betas = group["betas"]
    ok = isinstance(betas, (tuple, list)) and len(betas) == 2 and all(is_nonnegative(b) and b < 1 for b in betas)
    opt._check(ok, group, "betas", "a pair (beta1, beta2) with 0 <= beta < 1")


def is_nonnegative(x: Any) -> bool:
    """A finite real number >= 0 (not a bool)."""
    return isinstance(x, numbers.Real) and not isinstance(x, bool) and math.isfinite(x) and x >= 0
