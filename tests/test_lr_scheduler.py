"""optim.lr_scheduler against PyTorch's learning-rate sequences (tests/data/torch_sched_golden.npz, written by
tests/data/make_torch_sched_golden.py), state_dict round trips mid-schedule, and argument checks."""
import json
import math
import os
import warnings

import numpy as np
import pytest

import minigrad as mg
from minigrad import nn, optim
from minigrad.optim import lr_scheduler as S

GOLDEN = np.load(os.path.join(os.path.dirname(__file__), "data", "torch_sched_golden.npz"), allow_pickle=False)
CASES = sorted({k.split("/")[1] for k in GOLDEN.files if k.startswith("case/")})
LRS = [0.1, 0.5]

LAMBDAS = {                                      # the same table is in tests/data/make_torch_sched_golden.py
    "warmup": lambda e: min(1.0, (e + 1) / 5),
    "floor3": lambda e: e // 3 + 1,
    "inverse": lambda e: 1 / (e + 1),
    "power": lambda e: 0.95 ** e,
}


def make_optimizer(lrs=LRS, initial_lr=None):
    groups = [{"params": [nn.Parameter(mg.tensor(np.zeros(2)))], "lr": lr} for lr in lrs]
    for g, lr in zip(groups, initial_lr or []):
        g["initial_lr"] = lr
    return optim.SGD(groups, lr=LRS[0])


def make_scheduler(opt, entry):
    kwargs = dict(entry["kwargs"])
    if "lr_lambda" in kwargs:
        names = kwargs["lr_lambda"]
        kwargs["lr_lambda"] = [LAMBDAS[n] for n in names] if isinstance(names, list) else LAMBDAS[names]
    return getattr(S, entry["cls"])(opt, **kwargs)


def step_args(spec):
    if spec["metrics"]:
        return [dict(metrics=m) for m in spec["metrics"]]
    if spec["epochs"]:
        return [dict(epoch=e) for e in spec["epochs"]]
    return [{}] * 30


def uses_libm(spec):
    """Does the case compute cos or ** (closed forms, cosine annealing, MultiStepLR's gamma**n, 0.95**e)?"""
    return bool(spec["epochs"]) or any(e["cls"] in ("CosineAnnealingLR", "MultiStepLR") or
                                       "power" in json.dumps(e["kwargs"]) for e in spec["chain"])


def lrs_of(opt):
    return [g["lr"] for g in opt.param_groups]


# ----------------------------------------------------------------------------- PyTorch's sequences

@pytest.mark.parametrize("case", CASES)
def test_learning_rates_equal_pytorchs_step_for_step(case):
    spec = json.loads(str(GOLDEN[f"case/{case}/spec"]))
    opt = make_optimizer(spec["lrs"], spec["initial_lr"])
    scheds = [make_scheduler(opt, entry) for entry in spec["chain"]]
    seen, counters = [lrs_of(opt)], {"num_bad_epochs": [], "cooldown_counter": [], "best": []}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore" if spec["epochs"] else "error")     # step(epoch) warns, as PyTorch
        for kwargs in step_args(spec):
            opt.step()
            for s in scheds:
                s.step(**kwargs)
            seen.append(lrs_of(opt))
            assert scheds[-1].get_last_lr() == seen[-1]
            if spec["metrics"]:
                for k in counters:
                    counters[k].append(getattr(scheds[0], k))
    expected = GOLDEN[f"case/{case}/lrs"]
    assert np.array(seen).shape == expected.shape
    if uses_libm(spec):     # cos and pow may differ by an ulp between C libraries (bit-equal where recorded)
        np.testing.assert_allclose(seen, expected, rtol=1e-13, atol=0)
    else:                   # only + - * / of floats: the same bits on every machine
        np.testing.assert_array_equal(seen, expected)
    for k, values in counters.items() if spec["metrics"] else ():
        np.testing.assert_array_equal(values, GOLDEN[f"case/{case}/{k}"])


def test_the_golden_covers_every_scheduler_and_reductions_happen():
    classes = {e["cls"] for c in CASES for e in json.loads(str(GOLDEN[f"case/{c}/spec"]))["chain"]}
    assert classes == {"StepLR", "MultiStepLR", "ExponentialLR", "CosineAnnealingLR", "LambdaLR", "ReduceLROnPlateau"}
    for case in CASES:                  # every sequence changes a rate somewhere (but plateau_default)
        lrs = GOLDEN[f"case/{case}/lrs"]
        assert case == "plateau_default" or len(np.unique(lrs, axis=0)) > 1, case
    eps_case = GOLDEN["case/plateau_max_rel_eps/lrs"]            # eps skips group 0's small reductions
    assert set(eps_case[:, 0]) == {0.1} and len(set(eps_case[:, 1])) == 3


@pytest.mark.parametrize("cls, kwargs", [("StepLR", dict(step_size=2)), ("MultiStepLR", dict(milestones=[2])),
                                         ("ExponentialLR", dict(gamma=0.9)), ("CosineAnnealingLR", dict(T_max=3)),
                                         ("LambdaLR", dict(lr_lambda="power")), ("ReduceLROnPlateau", {})])
def test_state_dict_has_pytorchs_keys(cls, kwargs):
    sched = make_scheduler(make_optimizer(), {"cls": cls, "kwargs": kwargs})
    theirs = set(json.loads(str(GOLDEN[f"keys/{cls}"]))) - {"_get_lr_called_within_step", "_is_initial"}
    assert set(sched.state_dict()) == theirs


# ----------------------------------------------------------------------------- state_dict round trips

class Warmup:
    """A callable object: LambdaLR saves its attributes."""

    def __init__(self, n):
        self.n = n

    def __call__(self, epoch):
        return min(1.0, (epoch + 1) / self.n)


ROUND_TRIP = [
    ("StepLR", dict(step_size=3, gamma=0.5), {}),
    ("MultiStepLR", dict(milestones=[2, 5, 5, 9], gamma=0.3), {}),
    ("ExponentialLR", dict(gamma=0.9), {}),
    ("CosineAnnealingLR", dict(T_max=7, eta_min=0.01), {}),
    ("LambdaLR", dict(lr_lambda=["floor3", "inverse"]), {}),
    ("ReduceLROnPlateau", dict(patience=1, cooldown=1, factor=0.5, min_lr=[0.01, 0.05]), {"metrics": True}),
]


@pytest.mark.parametrize("cls, kwargs, how", ROUND_TRIP, ids=[c for c, _, _ in ROUND_TRIP])
@pytest.mark.parametrize("through", ["checkpoint", "json"])
def test_state_dict_mid_schedule_continues_identically(cls, kwargs, how, through, tmp_path):
    metrics = [1.0, 0.9, 0.95, 0.95, 0.95, 0.8, 0.85, 0.85, 0.85, 0.85, 0.7, 0.75, 0.75, 0.75, 0.75, 0.75]
    args = [dict(metrics=m) for m in metrics] if how else [{}] * 16
    opt = make_optimizer()
    sched = make_scheduler(opt, {"cls": cls, "kwargs": kwargs})
    for a in args[:7]:
        opt.step()
        sched.step(**a)
    if through == "checkpoint":
        mg.save({"optimizer": opt.state_dict(), "scheduler": sched.state_dict()}, tmp_path / "s.ckpt")
        saved = mg.load(tmp_path / "s.ckpt")
    else:
        saved = json.loads(json.dumps({"optimizer": opt.state_dict(), "scheduler": sched.state_dict()}))
    opt2 = make_optimizer(lrs=[7.0, 7.0])
    opt2.load_state_dict(saved["optimizer"])
    # PyTorch's order: a scheduler built after loading the optimizer, then its own state
    sched2 = make_scheduler(opt2, {"cls": cls, "kwargs": kwargs} if cls == "ReduceLROnPlateau" else
                            {"cls": cls, "kwargs": dict(kwargs, last_epoch=saved["scheduler"]["last_epoch"] - 1)})
    sched2.load_state_dict(saved["scheduler"])
    assert lrs_of(opt2) == lrs_of(opt) and sched2.get_last_lr() == sched.get_last_lr()
    for a in args[7:]:
        for o, s in ((opt, sched), (opt2, sched2)):
            o.step()
            s.step(**a)
        assert lrs_of(opt2) == lrs_of(opt)
    assert lrs_of(opt) != LRS
    assert sched2.state_dict() == sched.state_dict()


def test_lambda_lr_saves_callable_objects_attributes_but_not_functions(tmp_path):
    opt = make_optimizer()
    warm = Warmup(4)
    sched = S.LambdaLR(opt, [warm, LAMBDAS["power"]])
    sd = sched.state_dict()
    assert sd["lr_lambdas"] == [{"n": 4}, None]
    mg.save(sd, tmp_path / "l.ckpt")
    other = Warmup(100)
    sched2 = S.LambdaLR(make_optimizer(), [other, LAMBDAS["inverse"]])
    sched2.load_state_dict(mg.load(tmp_path / "l.ckpt"))
    assert other.n == 4 and sched2.lr_lambdas[1] is LAMBDAS["inverse"]       # functions stay as they are
    assert "lr_lambdas" in sd and sched.state_dict() == sd                    # loading did not change its input
    with pytest.raises(ValueError, match=r"LambdaLR.load_state_dict: expected 'lr_lambdas', a list of 2"):
        sched2.load_state_dict(dict(sd, lr_lambdas=[None]))


def test_multistep_milestones_load_from_int_or_string_keys(tmp_path):
    sched = S.MultiStepLR(make_optimizer(), milestones=[2, 5, 5])
    sd = sched.state_dict()
    assert sd["milestones"] == {2: 1, 5: 2}
    mg.save(sd, tmp_path / "m.ckpt")
    for saved in (mg.load(tmp_path / "m.ckpt"), json.loads(json.dumps(sd))):
        sched.load_state_dict(saved)
        assert sched.milestones == {2: 1, 5: 2} and type(sched.milestones).__name__ == "Counter"


def test_plateau_takes_a_one_element_tensor_and_infinities_survive_a_checkpoint(tmp_path):
    opt = make_optimizer()
    sched = S.ReduceLROnPlateau(opt, mode="max", patience=0)
    assert sched.best == -math.inf
    mg.save(sched.state_dict(), tmp_path / "p.ckpt")
    assert mg.load(tmp_path / "p.ckpt")["mode_worse"] == -math.inf
    sched.step(mg.tensor([0.5]))
    sched.step(np.float32(0.25))
    sched.step(np.array(0.25))
    assert sched.best == 0.5 and lrs_of(opt) == pytest.approx([0.001, 0.005], rel=1e-15)
    assert isinstance(sched, S.LRScheduler)


# ----------------------------------------------------------------------------- argument checks

BAD = [
    ("StepLR", dict(step_size=0), ValueError, ["StepLR", "step_size=0", "integer >= 1"]),
    ("StepLR", dict(step_size=2, gamma=-0.5), ValueError, ["StepLR", "gamma=-0.5", "> 0"]),
    ("StepLR", dict(step_size=2, last_epoch=-2), ValueError, ["last_epoch=-2", "integer >= -1"]),
    ("ExponentialLR", dict(gamma=0), ValueError, ["ExponentialLR", "gamma=0", "> 0"]),
    ("ExponentialLR", dict(gamma="0.9"), ValueError, ["ExponentialLR", "gamma='0.9'"]),
    ("ExponentialLR", dict(gamma=math.nan), ValueError, ["gamma=nan"]),
    ("ExponentialLR", dict(gamma=0.9, last_epoch=3), ValueError, ["last_epoch=3", "'initial_lr'", "param_groups[0]"]),
    ("MultiStepLR", dict(milestones=[5, 2]), ValueError, ["MultiStepLR", "milestones must be increasing", "[5, 2]"]),
    ("MultiStepLR", dict(milestones=[2, 2.5]), ValueError, ["MultiStepLR", "milestone=2.5", "integer >= 0"]),
    ("MultiStepLR", dict(milestones=[-1, 2]), ValueError, ["milestone=-1"]),
    ("MultiStepLR", dict(milestones=3), TypeError, ["MultiStepLR", "milestones must be a list", "int"]),
    ("MultiStepLR", dict(milestones=[2], gamma=True), ValueError, ["MultiStepLR", "gamma=True"]),
    ("CosineAnnealingLR", dict(T_max=0), ValueError, ["CosineAnnealingLR", "T_max=0", "> 0"]),
    ("CosineAnnealingLR", dict(T_max=5, eta_min=-1.0), ValueError, ["CosineAnnealingLR", "eta_min=-1.0", ">= 0"]),
    ("LambdaLR", dict(lr_lambda=[LAMBDAS["power"]]), ValueError, ["LambdaLR", "expected 2 lr_lambdas", "got 1"]),
    ("LambdaLR", dict(lr_lambda=0.95), TypeError, ["LambdaLR", "entry 0 is float"]),
    ("LambdaLR", dict(lr_lambda=lambda e: "x"), ValueError, ["LambdaLR", "lr_lambda[0](0) returned 'x'"]),
    ("ReduceLROnPlateau", dict(factor=1.0), ValueError, ["ReduceLROnPlateau", "factor=1.0", "[0, 1)"]),
    ("ReduceLROnPlateau", dict(factor=-0.1), ValueError, ["factor=-0.1"]),
    ("ReduceLROnPlateau", dict(mode="minimum"), ValueError, ["ReduceLROnPlateau", "mode='minimum'", "'min'", "'max'"]),
    ("ReduceLROnPlateau", dict(threshold_mode="relative"), ValueError, ["threshold_mode='relative'", "'rel' or 'abs'"]),
    ("ReduceLROnPlateau", dict(threshold=-1e-4), ValueError, ["threshold=-0.0001", ">= 0"]),
    ("ReduceLROnPlateau", dict(patience=-1), ValueError, ["patience=-1", "integer >= 0"]),
    ("ReduceLROnPlateau", dict(patience=2.5), ValueError, ["patience=2.5"]),
    ("ReduceLROnPlateau", dict(cooldown=-2), ValueError, ["cooldown=-2"]),
    ("ReduceLROnPlateau", dict(min_lr=[0.1]), ValueError, ["expected 2 min_lrs", "got 1"]),
    ("ReduceLROnPlateau", dict(min_lr=-0.1), ValueError, ["min_lr=-0.1"]),
    ("ReduceLROnPlateau", dict(eps=-1.0), ValueError, ["eps=-1.0"]),
]


@pytest.mark.parametrize("cls, kwargs, exc, fragments", BAD, ids=[f"{c}-{sorted(k)}-{i}" for i, (c, k, _, _)
                                                                  in enumerate(BAD)])
def test_bad_arguments_are_clear_errors(cls, kwargs, exc, fragments):
    with pytest.raises(exc) as info:
        getattr(S, cls)(make_optimizer(), **kwargs)
    for fragment in fragments:
        assert fragment in str(info.value), (fragment, str(info.value))


@pytest.mark.parametrize("cls, kwargs", [("StepLR", dict(step_size=2)), ("ExponentialLR", dict(gamma=0.9)),
                                         ("LambdaLR", dict(lr_lambda=LAMBDAS["power"])),
                                         ("ReduceLROnPlateau", {})])
def test_not_an_optimizer_is_a_type_error(cls, kwargs):
    with pytest.raises(TypeError, match=f"{cls}: expected an Optimizer, got list"):
        getattr(S, cls)([make_optimizer()], **kwargs)


def test_bad_steps_are_clear_errors():
    sched = S.ReduceLROnPlateau(make_optimizer())
    for bad, exc, fragment in [("0.5", TypeError, "got str"), (None, TypeError, "got NoneType"),
                               (mg.tensor([0.5, 0.2]), ValueError, "shape (2,)")]:
        with pytest.raises(exc) as info:
            sched.step(bad)
        assert "ReduceLROnPlateau.step: metrics must be a number or a one-element Tensor" in str(info.value)
        assert fragment in str(info.value)
    with pytest.raises(TypeError, match="ReduceLROnPlateau has no schedule to compute"):
        sched.get_lr()
    step = S.StepLR(make_optimizer(), step_size=2)
    with pytest.raises(ValueError, match="StepLR.step: invalid epoch=-3"):
        step.step(-3)
    assert step.state_dict()["_step_count"] == 1 and step.last_epoch == 0       # nothing changed
    with pytest.raises(ValueError, match="StepLR.load_state_dict: expected the dict"):
        step.load_state_dict([1, 2])
    opt = make_optimizer()
    plateau = S.ReduceLROnPlateau(opt, min_lr=[0.0, 0.0], patience=0)
    opt.add_param_group({"params": [nn.Parameter(mg.tensor(np.zeros(1)))], "lr": 1.0})
    plateau.step(1.0)
    with pytest.raises(RuntimeError, match=r"3 parameter groups, min_lr was given for 2"):
        plateau.step(2.0)
