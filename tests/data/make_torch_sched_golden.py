"""Regenerate tests/data/torch_sched_golden.npz: PyTorch's learning-rate sequences for the schedulers of
torch.optim.lr_scheduler that minigrad has, for tests/test_lr_scheduler.py.

Run by hand only, with PyTorch installed in a scratch environment OUTSIDE the project (PyTorch is never a
dependency of minigrad, not even of its tests):

    python3 -m venv /tmp/torchvenv && /tmp/torchvenv/bin/pip install numpy torch
    /tmp/torchvenv/bin/python tests/data/make_torch_sched_golden.py

Every case drives an SGD optimizer with two parameter groups (different lrs) for N_EPOCHS epochs
(optimizer.step(), then each scheduler's step()). Entries:

    case/<name>/spec    JSON: {"chain": [{"cls", "kwargs"}, ...] (schedulers stepped in this order each epoch),
                        "lrs": the groups' lrs, "initial_lr": preset 'initial_lr's (resuming) or null,
                        "epochs": epochs passed to step(epoch) (the closed forms) or null,
                        "metrics": ReduceLROnPlateau's metric per step or null}; lr_lambda entries name a
                        function of LAMBDAS (the test has the same table)
    case/<name>/lrs     (steps + 1, 2) float64: the groups' lrs after construction and after every step
    case/<name>/num_bad_epochs, cooldown_counter, best   ReduceLROnPlateau's counters after every step
    keys/<cls>          JSON: the keys of that scheduler's state_dict()

Loaded with np.load(allow_pickle=False): every entry is a plain numeric or unicode (JSON) array.
"""
import json
import os
import warnings

import numpy as np
import torch
from torch.optim import lr_scheduler as S

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "torch_sched_golden.npz")
N_EPOCHS = 30
LRS = [0.1, 0.5]

LAMBDAS = {                                      # the same table is in tests/test_lr_scheduler.py
    "warmup": lambda e: min(1.0, (e + 1) / 5),
    "floor3": lambda e: e // 3 + 1,
    "inverse": lambda e: 1 / (e + 1),
    "power": lambda e: 0.95 ** e,
}

FALLING = [1.0, 0.9, 0.9, 0.9, 0.9, 0.85, 0.84995, 0.86, 0.87, 0.88, 0.7, 0.7, 0.71, 0.72, 0.73, 0.74,
           0.75, 0.6, 0.60001, 0.6, 0.6, 0.6, 0.6, 0.6, 0.6, 0.5, 0.5, 0.5, 0.5, 0.5]
RISING = [0.1, 0.2, 0.2, 0.25, 0.25, 0.25, 0.3, 0.3, 0.3, 0.3, 0.3, 0.31, 0.3101, 0.32, 0.31, 0.30, 0.29,
          0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 0.55, 0.55, 0.55, 0.56, 0.4]


def one(cls, **kwargs):
    return [{"cls": cls, "kwargs": kwargs}]


CASES = {
    "step_3_half": one("StepLR", step_size=3, gamma=0.5),
    "step_1_default_gamma": one("StepLR", step_size=1),
    "exp_0.9": one("ExponentialLR", gamma=0.9),
    "exp_0.5": one("ExponentialLR", gamma=0.5),
    "exp_1.05": one("ExponentialLR", gamma=1.05),
    "multistep_repeated": one("MultiStepLR", milestones=[2, 5, 5, 9], gamma=0.3),
    "multistep_at_0": one("MultiStepLR", milestones=[0, 3, 20]),
    "multistep_tenths": one("MultiStepLR", milestones=[10, 20, 30], gamma=0.1),
    "cosine_10": one("CosineAnnealingLR", T_max=10),
    "cosine_7_eta": one("CosineAnnealingLR", T_max=7, eta_min=0.01),
    "cosine_1_eta": one("CosineAnnealingLR", T_max=1, eta_min=0.001),
    "cosine_float_T": one("CosineAnnealingLR", T_max=4.5, eta_min=0.02),
    "lambda_one": one("LambdaLR", lr_lambda="warmup"),
    "lambda_per_group": one("LambdaLR", lr_lambda=["floor3", "inverse"]),
    "lambda_power": one("LambdaLR", lr_lambda="power"),
    # resuming: the groups hold 'initial_lr' and the current lr, the scheduler starts at last_epoch=5
    "resume_cosine": dict(chain=one("CosineAnnealingLR", T_max=8, eta_min=0.01, last_epoch=5),
                          initial_lr=LRS, lrs=[0.03, 0.2]),
    "resume_exp": dict(chain=one("ExponentialLR", gamma=0.8, last_epoch=5), initial_lr=LRS, lrs=[0.03, 0.2]),
    "resume_step": dict(chain=one("StepLR", step_size=4, gamma=0.5, last_epoch=5), initial_lr=LRS, lrs=[0.03, 0.2]),
    "resume_lambda": dict(chain=one("LambdaLR", lr_lambda="inverse", last_epoch=5), initial_lr=LRS,
                          lrs=[0.03, 0.2]),
    # two schedulers on one optimizer: the chained forms compose
    "chain_exp_multistep": one("ExponentialLR", gamma=0.9) + one("MultiStepLR", milestones=[4, 8], gamma=0.5),
    "chain_cosine_step": one("CosineAnnealingLR", T_max=6, eta_min=0.01) + one("StepLR", step_size=5, gamma=0.7),
    # step(epoch): the closed forms
    "closed_step": dict(chain=one("StepLR", step_size=3, gamma=0.5), epochs=[3, 7, 7, 12, 1, 25, 0]),
    "closed_exp": dict(chain=one("ExponentialLR", gamma=0.9), epochs=[3, 7, 7, 12, 1, 25, 0]),
    "closed_multistep": dict(chain=one("MultiStepLR", milestones=[2, 5, 5, 9], gamma=0.3),
                             epochs=[3, 5, 7, 12, 1, 25, 0]),
    "closed_cosine": dict(chain=one("CosineAnnealingLR", T_max=7, eta_min=0.01), epochs=[3, 7, 7, 12, 1, 25, 0]),
    # ReduceLROnPlateau fed a fixed metric sequence
    "plateau_default": dict(chain=one("ReduceLROnPlateau"), metrics=FALLING),
    "plateau_min_rel": dict(chain=one("ReduceLROnPlateau", factor=0.5, patience=2, min_lr=[0.01, 0.05]),
                            metrics=FALLING),
    "plateau_min_abs_cooldown": dict(chain=one("ReduceLROnPlateau", threshold_mode="abs", threshold=0.05,
                                               patience=0, cooldown=2, factor=0.5, min_lr=0.02),
                                     metrics=FALLING),
    "plateau_max_abs": dict(chain=one("ReduceLROnPlateau", mode="max", threshold_mode="abs", threshold=0.1,
                                      patience=1, cooldown=1, factor=0.3, min_lr=[0.001, 0.2]), metrics=RISING),
    "plateau_max_rel_eps": dict(chain=one("ReduceLROnPlateau", mode="max", threshold=0.01, patience=3,
                                          factor=0.9, eps=0.02), metrics=RISING),
    "plateau_max_on_falling": dict(chain=one("ReduceLROnPlateau", mode="max", patience=0, factor=0.5,
                                             min_lr=[0.0, 0.01]), metrics=FALLING),
}


def build(spec):
    params = [torch.nn.Parameter(torch.zeros(2, dtype=torch.float64)) for _ in LRS]
    groups = [{"params": [p], "lr": lr} for p, lr in zip(params, spec.get("lrs", LRS))]
    if spec.get("initial_lr"):
        for g, lr in zip(groups, spec["initial_lr"]):
            g["initial_lr"] = lr
    opt = torch.optim.SGD(groups, lr=LRS[0])
    scheds = []
    for entry in spec["chain"]:
        kwargs = dict(entry["kwargs"])
        if "lr_lambda" in kwargs:
            names = kwargs["lr_lambda"]
            kwargs["lr_lambda"] = [LAMBDAS[n] for n in names] if isinstance(names, list) else LAMBDAS[names]
        scheds.append(getattr(S, entry["cls"])(opt, **kwargs))
    return opt, scheds


def run(spec):
    opt, scheds = build(spec)
    lrs = [[g["lr"] for g in opt.param_groups]]
    counters = {"num_bad_epochs": [], "cooldown_counter": [], "best": []}
    if spec.get("metrics"):
        steps = [dict(metrics=m) for m in spec["metrics"]]
    elif spec.get("epochs"):
        steps = [dict(epoch=e) for e in spec["epochs"]]
    else:
        steps = [{}] * N_EPOCHS
    for kwargs in steps:
        opt.step()
        for s in scheds:
            s.step(**kwargs)
        lrs.append([g["lr"] for g in opt.param_groups])
        assert lrs[-1] == scheds[-1].get_last_lr()
        if spec.get("metrics"):
            for k in counters:
                counters[k].append(getattr(scheds[0], k))
    out = {"lrs": np.array(lrs, dtype=np.float64)}
    if spec.get("metrics"):
        out.update((k, np.array(v, dtype=np.float64)) for k, v in counters.items())
    return out


def main():
    warnings.simplefilter("ignore")                  # step(epoch) is deprecated in PyTorch
    arrays = {}
    for name, spec in CASES.items():
        spec = spec if isinstance(spec, dict) else {"chain": spec}
        spec = {"chain": spec["chain"], "lrs": spec.get("lrs", LRS), "initial_lr": spec.get("initial_lr"),
                "epochs": spec.get("epochs"), "metrics": spec.get("metrics")}
        arrays[f"case/{name}/spec"] = np.array(json.dumps(spec))
        for k, v in run(spec).items():
            arrays[f"case/{name}/{k}"] = v
    for cls, kwargs in [("StepLR", dict(step_size=2)), ("MultiStepLR", dict(milestones=[2])),
                        ("ExponentialLR", dict(gamma=0.9)), ("CosineAnnealingLR", dict(T_max=3)),
                        ("LambdaLR", dict(lr_lambda="power")), ("ReduceLROnPlateau", {})]:
        _, (sched,) = build({"chain": one(cls, **kwargs)})
        arrays[f"keys/{cls}"] = np.array(json.dumps(sorted(sched.state_dict())))
    np.savez(OUT, **arrays)
    print(f"wrote {OUT}: {len(CASES)} cases, torch {torch.__version__}")


if __name__ == "__main__":
    main()
