"""Optimizers, gradient clipping and StepLR against the update formulas written out by hand (float64)."""
import json
import math

import numpy as np
import pytest

import minigrad as mg
import minigrad.nn.utils as nn_utils
from minigrad import nn, optim
from minigrad.optim.lr_scheduler import StepLR

SHAPES = [(3, 4), (5,), ()]
N_STEPS = 4


# ----------------------------------------------------------------------------- reference updates
# Each reference follows the algorithm box of PyTorch's documentation, one parameter at a time,
# on plain float64 NumPy arrays; `s` is that parameter's state dict and `t` its step count (from 1).

def ref_sgd(p, g, s, t, lr=1e-3, momentum=0, dampening=0, weight_decay=0, nesterov=False, maximize=False):
    if maximize:
        g = -g
    if weight_decay:
        g = g + weight_decay * p
    if momentum:
        s["b"] = g.copy() if t == 1 else momentum * s["b"] + (1 - dampening) * g
        g = g + momentum * s["b"] if nesterov else s["b"]
    return p - lr * g


def ref_adagrad(p, g, s, t, lr=1e-2, lr_decay=0, weight_decay=0, initial_accumulator_value=0, eps=1e-10,
                maximize=False):
    if maximize:
        g = -g
    if weight_decay:
        g = g + weight_decay * p
    gamma = lr / (1 + (t - 1) * lr_decay)
    s["sum"] = s.get("sum", np.full_like(p, initial_accumulator_value)) + g ** 2
    return p - gamma * g / (np.sqrt(s["sum"]) + eps)


def ref_rmsprop(p, g, s, t, lr=1e-2, alpha=0.99, eps=1e-8, weight_decay=0, momentum=0, centered=False,
                maximize=False):
    if maximize:
        g = -g
    if weight_decay:
        g = g + weight_decay * p
    s["v"] = alpha * s.get("v", 0.0) + (1 - alpha) * g ** 2
    v_tilde = s["v"]
    if centered:
        s["g_ave"] = alpha * s.get("g_ave", 0.0) + (1 - alpha) * g
        v_tilde = v_tilde - s["g_ave"] ** 2
    if momentum > 0:
        s["b"] = momentum * s.get("b", 0.0) + g / (np.sqrt(v_tilde) + eps)
        return p - lr * s["b"]
    return p - lr * g / (np.sqrt(v_tilde) + eps)


def ref_adam(p, g, s, t, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0, amsgrad=False, maximize=False):
    b1, b2 = betas
    if maximize:
        g = -g
    if weight_decay:
        g = g + weight_decay * p
    s["m"] = b1 * s.get("m", 0.0) + (1 - b1) * g
    s["v"] = b2 * s.get("v", 0.0) + (1 - b2) * g ** 2
    m_hat = s["m"] / (1 - b1 ** t)
    if amsgrad:
        s["v_max"] = np.maximum(s.get("v_max", 0.0), s["v"])
        v_hat = s["v_max"] / (1 - b2 ** t)
    else:
        v_hat = s["v"] / (1 - b2 ** t)
    return p - lr * m_hat / (np.sqrt(v_hat) + eps)


CASES = [
    (optim.SGD, ref_sgd, dict(lr=0.1)),
    (optim.SGD, ref_sgd, dict(lr=0.1, momentum=0.9)),
    (optim.SGD, ref_sgd, dict(lr=0.1, momentum=0.9, dampening=0.3)),
    (optim.SGD, ref_sgd, dict(lr=0.1, momentum=0.9, nesterov=True)),
    (optim.SGD, ref_sgd, dict(lr=0.1, weight_decay=0.05)),
    (optim.SGD, ref_sgd, dict(lr=0.1, momentum=0.5, weight_decay=0.05, nesterov=True, maximize=True)),
    (optim.Adagrad, ref_adagrad, dict()),
    (optim.Adagrad, ref_adagrad, dict(lr=0.1, lr_decay=0.2)),
    (optim.Adagrad, ref_adagrad, dict(lr=0.1, weight_decay=0.1)),
    (optim.Adagrad, ref_adagrad, dict(lr=0.1, initial_accumulator_value=0.5, eps=1e-3)),
    (optim.Adagrad, ref_adagrad, dict(lr=0.1, lr_decay=0.1, weight_decay=0.1, maximize=True)),
    (optim.RMSprop, ref_rmsprop, dict()),
    (optim.RMSprop, ref_rmsprop, dict(lr=0.05, alpha=0.9, eps=1e-4)),
    (optim.RMSprop, ref_rmsprop, dict(lr=0.05, centered=True)),
    (optim.RMSprop, ref_rmsprop, dict(lr=0.05, momentum=0.8)),
    (optim.RMSprop, ref_rmsprop, dict(lr=0.05, weight_decay=0.1)),
    (optim.RMSprop, ref_rmsprop, dict(lr=0.05, alpha=0.8, centered=True, momentum=0.5, weight_decay=0.1,
                                      maximize=True)),
    (optim.Adam, ref_adam, dict()),
    (optim.Adam, ref_adam, dict(lr=0.1, betas=(0.5, 0.9))),
    (optim.Adam, ref_adam, dict(lr=0.1, eps=1e-3)),
    (optim.Adam, ref_adam, dict(lr=0.1, weight_decay=0.1)),
    (optim.Adam, ref_adam, dict(lr=0.1, betas=(0.8, 0.95), amsgrad=True)),
    (optim.Adam, ref_adam, dict(lr=0.1, amsgrad=True, weight_decay=0.1, maximize=True)),
]
CASE_IDS = [f"{cls.__name__}-{'-'.join(f'{k}={v}' for k, v in kw.items()) or 'defaults'}" for cls, _, kw in CASES]


def make_problem(seed, dtype=np.float64, shapes=SHAPES, n_steps=N_STEPS):
    """Initial values and a gradient per parameter per step (gradients change every step)."""
    r = np.random.default_rng(seed)
    init = [r.standard_normal(s).astype(dtype) for s in shapes]
    grads = [[r.standard_normal(s).astype(dtype) for s in shapes] for _ in range(n_steps)]
    # make some gradients tiny and some large, so eps and the running averages matter
    grads[1][0] *= 1e-3
    grads[2][1] *= 30.0
    return init, grads


def run_optimizer(cls, kwargs, init, grads, **extra):
    params = [nn.Parameter(mg.tensor(a)) for a in init]
    opt = cls(params, **kwargs, **extra)
    for step_grads in grads:
        for p, g in zip(params, step_grads):
            p.grad = None if g is None else mg.tensor(g)
        opt.step()
    return params, opt


def run_reference(ref, kwargs, init, grads):
    values, states, steps = [a.copy() for a in init], [{} for _ in init], [0] * len(init)
    for step_grads in grads:
        for i, g in enumerate(step_grads):
            if g is not None:
                steps[i] += 1
                values[i] = ref(values[i], g, states[i], steps[i], **kwargs)
    return values


@pytest.mark.parametrize("cls, ref, kwargs", CASES, ids=CASE_IDS)
def test_update_matches_hand_written_formula(cls, ref, kwargs):
    init, grads = make_problem(1)
    params, _ = run_optimizer(cls, kwargs, init, grads)
    expected = run_reference(ref, kwargs, init, grads)
    for p, e, a in zip(params, expected, init):
        assert not np.allclose(e, a)                     # the reference did move
        np.testing.assert_allclose(p.numpy(), e, rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("cls, ref, kwargs", CASES, ids=CASE_IDS)
def test_step_updates_the_parameter_arrays_in_place(cls, ref, kwargs, dtype):
    """`w = p.data` before training still is p.data afterwards and holds the new values; grads are left alone."""
    init, grads = make_problem(2, dtype=dtype, shapes=[(7, 3), (1,), (4, 2, 2), (3, 5)])
    params = [nn.Parameter(mg.tensor(a)) for a in init]
    params[3].data = np.ascontiguousarray(init[3].T).T            # a non-contiguous array is updated in place too
    held = [p.data for p in params]
    opt = cls(params, **kwargs)
    for t, step_grads in enumerate(grads, start=1):
        for p, g in zip(params, step_grads):
            p.grad = mg.tensor(g)
        opt.step()
        assert all(p.data is w for p, w in zip(params, held))
        for p, g in zip(params, step_grads):
            np.testing.assert_array_equal(p.grad.numpy(), g)
        if t == 1:
            states = [{k: v for k, v in opt.state[p].items() if k != "step"} for p in params]
        assert all(opt.state[p][k] is v for p, st in zip(params, states) for k, v in st.items())
    expected = run_reference(ref, kwargs, [a.astype(np.float64) for a in init],
                             [[g.astype(np.float64) for g in gs] for gs in grads])
    rtol, atol = (1e-12, 1e-14) if dtype == np.float64 else (1e-5, 1e-6)
    for w, e, a in zip(held, expected, init):
        assert w.dtype == dtype and not np.allclose(w, a)
        np.testing.assert_allclose(w, e, rtol=rtol, atol=atol)


def test_replaced_data_is_updated_in_place_from_then_on():
    """After p.data is replaced (by the user, module.to) the next steps update the new array."""
    init, grads = make_problem(3)
    kwargs = dict(lr=0.1, momentum=0.9)
    params = [nn.Parameter(mg.tensor(a)) for a in init]
    opt = optim.SGD(params, **kwargs)
    expected = [a.copy() for a in init]
    state = [{} for _ in init]
    for t, step_grads in enumerate(grads, start=1):
        if t == 3:      # replace the arrays of two parameters, in the optimizer and in the reference
            params[0].data = params[0].data + 1.0
            params[2].data = np.array(-2.0)
            expected[0] = expected[0] + 1.0
            expected[2] = np.array(-2.0)
        held = [p.data for p in params]
        for p, g in zip(params, step_grads):
            p.grad = mg.tensor(g)
        opt.step()
        assert all(p.data is w for p, w in zip(params, held))
        expected = [ref_sgd(e, g, s, t, **kwargs) for e, g, s in zip(expected, step_grads, state)]
    for p, e in zip(params, expected):
        np.testing.assert_allclose(p.numpy(), e, rtol=1e-12, atol=1e-14)


def test_module_to_dtype_mid_training_moves_the_state_along():
    """module.to(float64) replaces p.data: the state follows the new dtype and the steps go on from it."""
    x = mg.tensor(np.random.default_rng(9).standard_normal((6, 4)), dtype=mg.float32)
    model = nn.Sequential(nn.Linear(4, 5), nn.Linear(5, 2))
    params = list(model.parameters())
    init = [p.numpy().copy() for p in params]
    opt = optim.Adam(model.parameters(), lr=0.05)
    grads = []
    for t in range(4):
        if t == 2:
            model.to(mg.float64)
        held = [p.data for p in params]
        opt.zero_grad()
        (model(x.to(mg.float64) if t >= 2 else x) ** 2).mean().backward()
        grads.append([p.grad.numpy().copy() for p in params])
        opt.step()
        assert all(p.data is w for p, w in zip(params, held))
    assert all(p.dtype == np.float64 and opt.state[p]["exp_avg"].dtype == np.float64 for p in params)
    # the reference in the parameters' dtype of each step: float32, then float64 from the same state on
    values, states = [a.copy() for a in init], [{} for _ in init]
    for t, step_grads in enumerate(grads, start=1):
        if t == 3:
            values = [v.astype(np.float64) for v in values]
            states = [{k: v.astype(np.float64) for k, v in s.items()} for s in states]
        values = [ref_adam(v, g, s, t, lr=0.05) for v, g, s in zip(values, step_grads, states)]
    for p, e in zip(params, values):
        np.testing.assert_allclose(p.numpy(), e, rtol=1e-5, atol=1e-6)


def test_optimizers_on_device(device):
    """On each device the parameters are updated in place and match the float64 CPU reference."""
    init, grads = make_problem(10)
    for cls, ref, kwargs in [CASES[i] for i in (5, 10, 16, 22)]:    # every option of each optimizer
        params = [nn.Parameter(mg.tensor(a, device=device)) for a in init]
        held = [p.data for p in params]
        opt = cls(params, **kwargs)
        for step_grads in grads:
            for p, g in zip(params, step_grads):
                p.grad = mg.tensor(g, device=device)
            opt.step()
        assert all(p.device == device and p.data is w for p, w in zip(params, held))
        for p, e in zip(params, run_reference(ref, kwargs, init, grads)):
            np.testing.assert_allclose(p.numpy(), e, rtol=1e-12, atol=1e-14)


def test_parameters_without_grad_are_skipped():
    init, grads = make_problem(4)
    grads[0][1] = None          # parameter 1 has no gradient at steps 1 and 3: it takes two steps fewer
    grads[2][1] = None
    for p_grads in grads:
        p_grads[2] = None       # parameter 2 never has a gradient
    kwargs = dict(lr=0.1, amsgrad=True)
    params, opt = run_optimizer(optim.Adam, kwargs, init, grads)
    np.testing.assert_array_equal(params[2].numpy(), init[2])
    assert params[2] not in opt.state
    assert opt.state[params[1]]["step"] == N_STEPS - 2
    for p, e in zip(params, run_reference(ref_adam, kwargs, init, grads)):
        np.testing.assert_allclose(p.numpy(), e, rtol=1e-12, atol=1e-14)


def test_param_groups_use_their_own_hyperparameters():
    init, grads = make_problem(5)
    params = [nn.Parameter(mg.tensor(a)) for a in init]
    opt = optim.SGD([{"params": params[:2]}, {"params": params[2:], "lr": 0.5, "momentum": 0.9}], lr=0.1)
    assert [g["lr"] for g in opt.param_groups] == [0.1, 0.5]
    assert opt.param_groups[0]["momentum"] == 0 and opt.param_groups[1]["momentum"] == 0.9
    for step_grads in grads:
        for p, g in zip(params, step_grads):
            p.grad = mg.tensor(g)
        opt.step()
    only = lambda i: [[g[i]] for g in grads]  # noqa: E731
    expected = [run_reference(ref_sgd, dict(lr=0.1), [init[i]], only(i))[0] for i in range(2)]
    expected.append(run_reference(ref_sgd, dict(lr=0.5, momentum=0.9), [init[2]], only(2))[0])
    for p, e in zip(params, expected):
        np.testing.assert_allclose(p.numpy(), e, rtol=1e-12, atol=1e-14)


def test_zero_grad():
    params = [nn.Parameter(mg.tensor(np.ones((2, 2)))), nn.Parameter(mg.tensor(np.ones(3)))]
    opt = optim.SGD(params, lr=0.1)
    for p in params:
        p.grad = mg.tensor(np.full(p.shape, 3.0))
    opt.zero_grad(set_to_none=False)
    assert all(p.grad is not None and not p.grad.numpy().any() for p in params)
    opt.zero_grad()
    assert all(p.grad is None for p in params)


def test_step_calls_closure_with_gradients_on():
    w = nn.Parameter(mg.tensor(np.array([1.0, -2.0])))
    opt = optim.SGD([w], lr=0.25)

    def closure():
        opt.zero_grad()
        loss = (w * w).sum()
        loss.backward()
        return loss

    with mg.no_grad():
        loss = opt.step(closure)
    assert loss.item() == 5.0
    np.testing.assert_allclose(w.numpy(), [0.5, -1.0])


# ----------------------------------------------------------------------------- state_dict

@pytest.mark.parametrize("cls, ref, kwargs", CASES[1::2], ids=CASE_IDS[1::2])
def test_state_dict_round_trip_continues_identically(cls, ref, kwargs):
    init, grads = make_problem(6, n_steps=6)
    params, opt = run_optimizer(cls, kwargs, init, grads[:3])
    sd = opt.state_dict()
    assert sorted(sd["state"]) == [0, 1, 2]                  # int keys, as PyTorch
    # through JSON: arrays become (nested) lists or floats, tuples lists; PyTorch-style int keys work too
    loaded = json.loads(json.dumps(sd, default=lambda a: a.tolist()))
    loaded["state"] = {int(k): v for k, v in loaded["state"].items()}
    snapshot = [p.numpy().copy() for p in params]
    clones = [nn.Parameter(mg.tensor(a)) for a in snapshot]
    opt2 = cls(clones, lr=123.0)            # hyperparameters come from the state dict
    opt2.load_state_dict(loaded)
    assert opt2.param_groups[0]["lr"] == opt.param_groups[0]["lr"]
    for step_grads in grads[3:]:
        for ps in (params, clones):
            for p, g in zip(ps, step_grads):
                p.grad = mg.tensor(g)
        opt.step()
        opt2.step()
    for a, b, s in zip(params, clones, snapshot):
        assert not np.array_equal(a.numpy(), s)
        np.testing.assert_array_equal(a.numpy(), b.numpy())
    expected = run_reference(ref, kwargs, init, grads)
    np.testing.assert_allclose(params[0].numpy(), expected[0], rtol=1e-12, atol=1e-14)


def test_state_dict_is_a_snapshot_of_plain_values():
    init, grads = make_problem(7)
    params, opt = run_optimizer(optim.RMSprop, dict(centered=True, momentum=0.5), init, grads[:2])
    sd = opt.state_dict()
    before = {k: v.copy() for k, v in sd["state"][0].items() if isinstance(v, np.ndarray)}
    assert set(before) == {"square_avg", "grad_avg", "momentum_buffer"} and sd["state"][0]["step"] == 2
    assert sd["param_groups"][0]["params"] == [0, 1, 2]
    json.dumps(sd["param_groups"])
    for p in params:
        p.grad = mg.ones_like(p, dtype=mg.float64)
    opt.step()
    for k, v in before.items():
        np.testing.assert_array_equal(sd["state"][0][k], v)


def test_state_dict_int_keys_survive_a_checkpoint_and_string_keys_still_load(tmp_path):
    init, grads = make_problem(8, n_steps=5)
    params, opt = run_optimizer(optim.Adam, dict(lr=0.01, amsgrad=True), init, grads[:3])
    mg.save({"optimizer": opt.state_dict()}, tmp_path / "opt.ckpt")
    back = mg.load(tmp_path / "opt.ckpt")["optimizer"]
    assert list(back["state"]) == [0, 1, 2] and back["param_groups"][0]["params"] == [0, 1, 2]
    old = dict(back, state={str(k): v for k, v in back["state"].items()})     # as checkpoints before int keys
    mg.save({"optimizer": old}, tmp_path / "old.ckpt")
    old = mg.load(tmp_path / "old.ckpt")["optimizer"]
    assert list(old["state"]) == ["0", "1", "2"]
    runs = [params]
    for sd in (back, old):
        clones = [nn.Parameter(mg.tensor(p.numpy())) for p in params]
        opt2 = optim.Adam(clones)
        opt2.load_state_dict(sd)
        assert list(opt2.state_dict()["state"]) == [0, 1, 2]
        runs.append((clones, opt2))
    runs[0] = (params, opt)
    for step_grads in grads[3:]:
        for ps, o in runs:
            for p, g in zip(ps, step_grads):
                p.grad = mg.tensor(g)
            o.step()
    for (a, _), (b, _), (c, _) in [runs]:
        for x, y, z in zip(a, b, c):
            np.testing.assert_array_equal(x.numpy(), y.numpy())
            np.testing.assert_array_equal(x.numpy(), z.numpy())
    sd = opt.state_dict()
    sd["state"]["0"] = sd["state"][0]
    with pytest.raises(ValueError, match=r"Adam.load_state_dict: 'state' holds parameter 0 twice"):
        optim.Adam([nn.Parameter(mg.tensor(a)) for a in init]).load_state_dict(sd)


def test_a_checkpoint_dict_with_bad_int_key_pairs_is_a_checkpoint_error(tmp_path):
    mg.save({"state": {0: np.ones(2), 1: {"step": 2}}, "mixed": {"a": 1, 3: None}}, tmp_path / "k.ckpt")
    back = mg.load(tmp_path / "k.ckpt")
    assert list(back["state"]) == [0, 1] and back["mixed"] == {"a": 1, 3: None}
    blob = (tmp_path / "k.ckpt").read_bytes()
    n = int.from_bytes(blob[:8], "little")
    header = json.loads(blob[8:8 + n])
    meta = json.loads(header["__metadata__"]["minigrad"])
    for bad in ([[0, None], [0, None]], [[1.5, None]], [[True, None]], [[0]]):
        meta["root"]["dict"]["mixed"] = {"keyed": bad}
        header["__metadata__"]["minigrad"] = json.dumps(meta)
        text = json.dumps(header).encode()
        (tmp_path / "bad.ckpt").write_bytes(len(text).to_bytes(8, "little") + text + blob[8 + n:])
        with pytest.raises(mg.serialization.CheckpointError, match=r"at mixed: a 'keyed' dict must be a list"):
            mg.load(tmp_path / "bad.ckpt")
    with pytest.raises(TypeError, match=r"dict keys must be str or int, got 1.5 \(float\) at value"):
        mg.save({1.5: 0}, tmp_path / "f.ckpt")


def test_load_state_dict_rejects_mismatches():
    params = [nn.Parameter(mg.tensor(np.zeros((2, 3)))), nn.Parameter(mg.tensor(np.zeros(4)))]
    opt = optim.Adam(params)
    for p in params:
        p.grad = mg.ones_like(p, dtype=mg.float64)
    opt.step()
    sd = opt.state_dict()
    with pytest.raises(ValueError, match=r"2 parameter\(s\) in the state, 1 in this optimizer"):
        optim.Adam(params[:1]).load_state_dict(sd)
    with pytest.raises(ValueError, match=r"shape \(4,\)"):
        optim.Adam(params[::-1]).load_state_dict(sd)
    with pytest.raises(ValueError, match=r"state has 1 parameter group\(s\), this optimizer has 2"):
        optim.Adam([{"params": params[:1]}, {"params": params[1:]}]).load_state_dict(sd)


@pytest.mark.skipif(not hasattr(mg, "save"), reason="minigrad.serialization (mg.save/mg.load) not written yet")
def test_state_dict_round_trips_through_serialization(tmp_path):
    init, grads = make_problem(8)
    params, opt = run_optimizer(optim.Adam, dict(lr=0.1, amsgrad=True), init, grads[:2])
    mg.save(opt.state_dict(), tmp_path / "opt.safetensors")
    clones = [nn.Parameter(mg.tensor(p.numpy())) for p in params]
    opt2 = optim.Adam(clones)
    opt2.load_state_dict(mg.load(tmp_path / "opt.safetensors"))
    for step_grads in grads[2:]:
        for ps in (params, clones):
            for p, g in zip(ps, step_grads):
                p.grad = mg.tensor(g)
        opt.step()
        opt2.step()
    for a, b in zip(params, clones):
        np.testing.assert_array_equal(a.numpy(), b.numpy())


# ----------------------------------------------------------------------------- argument validation

@pytest.mark.parametrize("make, match", [
    (lambda ps: optim.SGD(ps, lr=-0.1), "lr=-0.1"),
    (lambda ps: optim.SGD(ps, lr=0.1, momentum=-0.5), "momentum"),
    (lambda ps: optim.SGD(ps, lr=0.1, weight_decay=-1), "weight_decay"),
    (lambda ps: optim.SGD(ps, lr=0.1, nesterov=True), "nesterov"),
    (lambda ps: optim.SGD(ps, lr=0.1, momentum=0.9, dampening=0.1, nesterov=True), "dampening == 0"),
    (lambda ps: optim.SGD([{"params": ps, "lr": -1.0}], lr=0.1), "lr=-1.0"),
    (lambda ps: optim.Adagrad(ps, lr=-1e-2), "lr"),
    (lambda ps: optim.Adagrad(ps, lr_decay=-0.1), "lr_decay"),
    (lambda ps: optim.Adagrad(ps, initial_accumulator_value=-1), "initial_accumulator_value"),
    (lambda ps: optim.Adagrad(ps, eps=-1e-10), "eps"),
    (lambda ps: optim.RMSprop(ps, alpha=-0.9), "alpha"),
    (lambda ps: optim.RMSprop(ps, momentum=-1), "momentum"),
    (lambda ps: optim.RMSprop(ps, eps=float("nan")), "eps"),
    (lambda ps: optim.Adam(ps, lr=-1e-3), "lr"),
    (lambda ps: optim.Adam(ps, betas=(1.0, 0.999)), "betas"),
    (lambda ps: optim.Adam(ps, betas=(0.9, -0.1)), "betas"),
    (lambda ps: optim.Adam(ps, betas=0.9), "betas"),
    (lambda ps: optim.Adam(ps, weight_decay=-0.1), "weight_decay"),
    (lambda ps: optim.Adam([]), "empty parameter list"),
    (lambda ps: optim.Adam(ps + ps[:1]), "appears twice"),
    (lambda ps: optim.Adam([{"params": ps}, {"params": ps[:1]}]), "more than one parameter group"),
    (lambda ps: optim.Adam([ps[0] * 2]), "non-leaf"),
])
def test_invalid_arguments_raise_value_error(make, match):
    ps = [nn.Parameter(mg.tensor(np.ones(3)))]
    with pytest.raises(ValueError, match=match):
        make(ps)


def test_invalid_parameter_containers_raise_type_error():
    p = nn.Parameter(mg.tensor(np.ones(3)))
    with pytest.raises(TypeError, match="single Parameter"):
        optim.SGD(p, lr=0.1)
    with pytest.raises(TypeError, match="ordered"):
        optim.SGD({p}, lr=0.1)
    with pytest.raises(TypeError, match="int"):
        optim.SGD([p, 3], lr=0.1)
    with pytest.raises(TypeError, match="floating"):
        optim.SGD([mg.tensor([1, 2])], lr=0.1)


def test_gradient_of_wrong_shape_is_rejected():
    ps = [nn.Parameter(mg.tensor(np.ones(3))), nn.Parameter(mg.tensor(np.ones(2)))]
    opt = optim.Adam(ps)
    ps[0].grad = mg.tensor(np.ones(4))
    ps[1].grad = mg.tensor(np.ones(2))
    with pytest.raises(ValueError, match=r"shape \(3,\).*gradient of shape \(4,\)"):
        opt.step()


# ----------------------------------------------------------------------------- convergence

@pytest.mark.parametrize("make, steps", [
    (lambda ps: optim.SGD(ps, lr=0.1, momentum=0.9, nesterov=True), 150),
    (lambda ps: optim.Adagrad(ps, lr=0.5), 300),
    (lambda ps: optim.RMSprop(ps, lr=0.01, centered=True), 300),
    (lambda ps: optim.Adam(ps, lr=0.05), 300),
], ids=["SGD", "Adagrad", "RMSprop", "Adam"])
def test_least_squares_converges(make, steps, rng):
    A = rng.standard_normal((30, 3))
    x_true = np.array([[1.5], [-2.0], [0.5]])
    b_true = 0.7
    y = mg.tensor(A @ x_true + b_true)
    A = mg.tensor(A)
    w = nn.Parameter(mg.zeros(3, 1, dtype=mg.float64))
    b = nn.Parameter(mg.zeros(1, dtype=mg.float64))
    opt = make([w, b])
    first = None
    for _ in range(steps):
        opt.zero_grad()
        loss = ((A @ w + b - y) ** 2).mean()
        loss.backward()
        opt.step()
        first = loss.item() if first is None else first
    assert loss.item() < 1e-4 * first
    np.testing.assert_allclose(w.numpy(), x_true, atol=2e-2)
    np.testing.assert_allclose(b.numpy(), [b_true], atol=2e-2)


# ----------------------------------------------------------------------------- gradient clipping

def _params_with_grads(rng, grads):
    ps = []
    for g in grads:
        p = nn.Parameter(mg.tensor(rng.standard_normal(np.shape(g) if g is not None else (2,))))
        p.grad = None if g is None else mg.tensor(g)
        ps.append(p)
    return ps


@pytest.mark.parametrize("norm_type", [2.0, 1.0, 3.0, math.inf])
def test_clip_grad_norm_scales_when_above(rng, norm_type):
    grads = [rng.standard_normal((3, 4)), None, rng.standard_normal(5), np.array(4.0)]
    ps = _params_with_grads(rng, grads)
    flat = np.concatenate([np.ravel(g) for g in grads if g is not None])
    expected = np.max(np.abs(flat)) if norm_type == math.inf else np.sum(np.abs(flat) ** norm_type) ** (1 / norm_type)
    total = nn_utils.clip_grad_norm_(ps, 1.5, norm_type=norm_type)
    assert isinstance(total, float)
    np.testing.assert_allclose(total, expected, rtol=1e-12)
    coef = 1.5 / (expected + 1e-6)
    assert coef < 1
    for p, g in zip(ps, grads):
        if g is None:
            assert p.grad is None
        else:
            np.testing.assert_allclose(p.grad.numpy(), g * coef, rtol=1e-12)
    new = np.concatenate([p.grad.numpy().ravel() for p in ps if p.grad is not None])
    new_norm = np.max(np.abs(new)) if norm_type == math.inf else np.sum(np.abs(new) ** norm_type) ** (1 / norm_type)
    assert new_norm <= 1.5


def test_clip_grad_norm_leaves_small_gradients_alone(rng):
    grads = [rng.standard_normal((2, 2)) * 0.1, rng.standard_normal(3) * 0.1]
    ps = _params_with_grads(rng, grads)
    total = nn_utils.clip_grad_norm_(ps, 10.0)
    np.testing.assert_allclose(total, np.sqrt(sum(np.sum(g ** 2) for g in grads)), rtol=1e-12)
    for p, g in zip(ps, grads):
        np.testing.assert_array_equal(p.grad.numpy(), g)
    single = _params_with_grads(rng, [np.array([3.0, 4.0])])[0]
    assert nn_utils.clip_grad_norm_(single, 1.0) == pytest.approx(5.0)       # a lone tensor is accepted
    np.testing.assert_allclose(single.grad.numpy(), [3.0 / (5 + 1e-6), 4.0 / (5 + 1e-6)], rtol=1e-12)
    assert nn_utils.clip_grad_norm_([nn.Parameter(mg.tensor(np.ones(2)))], 1.0) == 0.0
    for max_norm in (4.9, 5.0):     # just above the limit, and exactly at it: PyTorch's rule scales both
        p = _params_with_grads(rng, [np.array([3.0, 4.0])])[0]
        nn_utils.clip_grad_norm_(p, max_norm)
        np.testing.assert_allclose(p.grad.numpy(), np.array([3.0, 4.0]) * max_norm / (5 + 1e-6), rtol=1e-15)


def test_clip_grad_norm_errors(rng):
    ps = _params_with_grads(rng, [np.array([np.inf, 1.0])])
    with pytest.raises(RuntimeError, match="inf"):
        nn_utils.clip_grad_norm_(ps, 1.0, error_if_nonfinite=True)
    with pytest.raises(ValueError, match="max_norm"):
        nn_utils.clip_grad_norm_(ps, -1.0)
    with pytest.raises(ValueError, match="norm_type"):
        nn_utils.clip_grad_norm_(ps, 1.0, norm_type=0)


def test_clip_grad_value(rng):
    grads = [rng.standard_normal((3, 3)) * 2, None, rng.standard_normal(4)]
    ps = _params_with_grads(rng, grads)
    nn_utils.clip_grad_value_(ps, 0.5)
    assert ps[1].grad is None
    for p, g in zip(ps, grads):
        if g is not None:
            assert (np.abs(g) > 0.5).any()
            np.testing.assert_array_equal(p.grad.numpy(), np.clip(g, -0.5, 0.5))
    with pytest.raises(ValueError, match="clip_value"):
        nn_utils.clip_grad_value_(ps, -1)


# ----------------------------------------------------------------------------- StepLR

def test_step_lr_schedule_and_state_dict():
    ps = [nn.Parameter(mg.tensor(np.ones(2))), nn.Parameter(mg.tensor(np.ones(2)))]
    opt = optim.SGD([{"params": ps[:1]}, {"params": ps[1:], "lr": 1.0}], lr=0.1)
    sched = StepLR(opt, step_size=3, gamma=0.5)
    seen = []
    for epoch in range(8):
        seen.append(sched.get_last_lr())
        assert [g["lr"] for g in opt.param_groups] == seen[-1]
        opt.step()
        sched.step()
    expected = [[0.1 * 0.5 ** (e // 3), 1.0 * 0.5 ** (e // 3)] for e in range(8)]
    np.testing.assert_allclose(seen, expected, rtol=1e-15)
    sd = json.loads(json.dumps(sched.state_dict()))
    assert sd["last_epoch"] == 8 and sd["base_lrs"] == [0.1, 1.0]
    opt2 = optim.SGD([{"params": ps[:1]}, {"params": ps[1:], "lr": 1.0}], lr=0.1)
    opt2.load_state_dict(json.loads(json.dumps(opt.state_dict(), default=lambda a: a.tolist())))
    sched2 = StepLR(opt2, step_size=3, gamma=0.5, last_epoch=sd["last_epoch"] - 1)
    sched2.load_state_dict(sd)
    sched.step()
    sched2.step()
    assert sched2.get_last_lr() == sched.get_last_lr() == [g["lr"] for g in opt2.param_groups]
    assert sched.get_last_lr() == pytest.approx([0.1 * 0.5 ** 3, 0.5 ** 3])
    with pytest.raises(ValueError, match="step_size"):
        StepLR(opt, step_size=0)
    with pytest.raises(TypeError, match="Optimizer"):
        StepLR([opt], step_size=2)
