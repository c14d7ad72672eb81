"""Same math and init give the same curve: short training runs replayed against PyTorch's recorded ones.

tests/data/torch_training_golden.npz (written by tests/data/make_torch_training_golden.py, by hand, with PyTorch
outside the project) holds, per case, PyTorch's initial weights, the batches, the loss of every step and the
final weights of a small model of models/ trained in float64 with Adam and clipping. Here the minigrad model
starts from those weights, sees those batches through the training code of models/tasks, and must give the
same losses step by step and the same final weights: the whole path (layers, loss, backward, clipping, Adam)
against PyTorch's, 40 steps deep.
"""
import json
import os

import numpy as np
import pytest

import minigrad as mg
from minigrad.nn.utils import clip_grad_norm_
from models.shapes import make_optimizer
from models.tasks import build_model
from models.tasks.train import task_loss

GOLDEN = os.path.join(os.path.dirname(__file__), "data", "torch_training_golden.npz")
CASES = ("adding_lstm", "adding_gru", "adding_rnn", "copy_lstm")


@pytest.fixture(scope="module")
def golden():
    with np.load(GOLDEN, allow_pickle=False) as f:
        return {k: f[k] for k in f.files}


def replay(golden, case, fused):
    cfg = json.loads(str(golden[f"{case}/config"]))
    model = build_model(cfg["task"], cfg["cell"], cfg["hidden"], embed=cfg["embed"] if cfg["task"] == "copy" else None)
    model = model.to(dtype=mg.float64)
    model.rnn.fused = fused
    prefix = f"{case}/param/"
    model.load_state_dict({k[len(prefix):]: mg.tensor(v) for k, v in golden.items() if k.startswith(prefix)})
    params = list(model.parameters())
    opt = make_optimizer("adam", params, cfg["lr"])
    losses = []
    for x, y in zip(golden[f"{case}/x"], golden[f"{case}/y"]):
        loss, _ = task_loss(cfg["task"], model, x, y)
        opt.zero_grad()
        loss.backward()
        clip_grad_norm_(params, cfg["clip"])
        opt.step()
        losses.append(loss.item())
    return np.array(losses), model


@pytest.mark.parametrize("fused", [True, False], ids=["fused", "fine-grained"])
@pytest.mark.parametrize("case", CASES)
def test_training_curve_and_final_weights_equal_pytorchs(golden, case, fused):
    losses, model = replay(golden, case, fused)
    want = golden[f"{case}/loss"]
    assert want[-1] < 0.5 * want[0]                  # the recorded run did learn: the comparison means something
    np.testing.assert_allclose(losses, want, rtol=1e-9, atol=0)
    prefix = f"{case}/final/"
    final = {k[len(prefix):]: v for k, v in golden.items() if k.startswith(prefix)}
    state = model.state_dict()
    assert set(final) == set(state)
    for name, w in final.items():
        np.testing.assert_allclose(state[name].numpy(), w, rtol=1e-8, atol=1e-10, err_msg=name)
