"""The checks of notebooks 7-9: each fails a wrong answer with its hint and passes the model answer."""
import numpy as np
import pytest

import minigrad as mg
from minigrad import nn

from tutorial_modules import build, checks


def _answers(stem, exercise_id, scope):
    """Run the model answer of one exercise from tutorials/solutions/<stem>.py in `scope`; returns the scope."""
    exec(build.solutions(stem)[exercise_id], scope)
    return scope


def _line(capsys):
    return capsys.readouterr().out.strip().splitlines()[-1]


# ----------------------------------------------------------------------------- notebook 7

@pytest.fixture
def lstm_step_inputs():
    mg.manual_seed(0)
    cell = nn.LSTMCell(3, 4, fused=False)
    x, h_prev = mg.randn(2, 3), mg.randn(2, 4)
    return dict(cell=cell, x=x, h_prev=h_prev, np=np, W_ih=cell.weight_ih, W_hh=cell.weight_hh,
                b_ih=cell.bias_ih, b_hh=cell.bias_hh)


def test_7_1_forget_gate(lstm_step_inputs, capsys):
    s = _answers("07_lstm_and_gru_inside", "7.1", dict(lstm_step_inputs))
    args = (s["cell"], s["x"], s["h_prev"])
    checks.nb07_forget_gate(s["f"], *args)
    assert _line(capsys).startswith("✓ 7.1")
    H = 4
    a = s["x"].numpy() @ s["W_ih"].numpy().T + s["b_ih"].numpy() + s["h_prev"].numpy() @ s["W_hh"].numpy().T \
        + s["b_hh"].numpy()
    checks.nb07_forget_gate(1 / (1 + np.exp(-a[:, :H])), *args)            # the input gate
    assert "that is the input gate i" in _line(capsys)
    checks.nb07_forget_gate(a[:, H:2 * H], *args)                          # no sigmoid
    assert "apply the sigmoid" in _line(capsys)
    checks.nb07_forget_gate(..., *args)
    assert checks.NOT_ANSWERED in _line(capsys)


def test_7_2_coupled_cell(capsys):
    s = _answers("07_lstm_and_gru_inside", "7.2", dict(nn=nn))
    checks.nb07_coupled_cell(s["CoupledLSTM"])
    assert _line(capsys).startswith("✓ 7.2")

    class Uncoupled(s["CoupledLSTM"]):               # i = f instead of 1 - f
        def step(self, xw, state, w):
            h, c = state
            a_f, a_g, a_o = (xw + h @ w["weight_hh"].T).chunk(3, axis=-1)
            f, g, o = a_f.sigmoid(), a_g.tanh(), a_o.sigmoid()
            c = f * c + f * g
            return o * c.tanh(), c

    checks.nb07_coupled_cell(Uncoupled)
    assert "c_t = f c_{t-1} + (1 - f) g" in _line(capsys)

    class FourGates(s["CoupledLSTM"]):
        gates = 4

    checks.nb07_coupled_cell(FourGates)
    assert "set gates = 3" in _line(capsys)


# ----------------------------------------------------------------------------- notebook 8

def test_8_1_masked_attention(capsys):
    e, n = np.array([0.3, -1.2, 2.0, 0.5, 4.0, 4.0]), 4
    s = _answers("08_architectures", "8.1", dict(np=np, e=e, source_length=n))
    checks.nb08_masked_attention(s["a"], e, n)
    assert _line(capsys).startswith("✓ 8.1")
    everywhere = np.exp(e - e.max()) / np.exp(e - e.max()).sum()
    checks.nb08_masked_attention(everywhere, e, n)
    assert "the padding got weight" in _line(capsys)
    unnormalised = np.concatenate([np.exp(e[:n]), [0, 0]])
    checks.nb08_masked_attention(unnormalised, e, n)
    assert "must sum to 1" in _line(capsys)


def test_8_2_bidirectional_final(capsys):
    mg.manual_seed(0)
    H, lengths = 3, [5, 3]
    out, h_n = nn.GRU(2, H, bidirectional=True)(mg.randn(5, 2, 2), lengths=lengths)
    s = _answers("08_architectures", "8.2", dict(out=out, H=H))
    checks.nb08_bidirectional_final(s["forward_final"], s["backward_final"], out, h_n, lengths)
    assert _line(capsys).startswith("✓ 8.2")
    checks.nb08_bidirectional_final(out[-1, 1, :H], out[0, 1, H:], out, h_n, lengths)
    line = _line(capsys)
    assert "padded step" in line and "last real step is t = 3 (Python index 2)" in line    # steps count from 1
    checks.nb08_bidirectional_final(out[0, 1, H:], out[2, 1, :H], out, h_n, lengths)
    assert "swapped" in _line(capsys)


# ----------------------------------------------------------------------------- notebook 9

def test_9_1_zero_state(capsys):
    s = _answers("09_gpu_backend", "9.1", dict(mg=mg))
    checks.nb09_zero_state(s["zero_state"])
    assert _line(capsys).startswith("✓ 9.1")
    checks.nb09_zero_state(lambda x, hidden: mg.zeros(x.shape[0], hidden))           # float32 whatever x is
    assert "dtype=x.dtype" in _line(capsys)
    checks.nb09_zero_state(lambda x, hidden: mg.zeros(hidden, x.shape[0], dtype=x.dtype, device=x.device))
    assert "shape (5, 7)" in _line(capsys)


class _Tiny(nn.Module):
    def __init__(self):
        super().__init__()
        self.lin = nn.Linear(3, 2)


def test_9_2_load_on(capsys):
    s = _answers("09_gpu_backend", "9.2", dict(mg=mg, TinyLM=_Tiny))
    checks.nb09_load_on(s["load_on"], _Tiny)
    assert _line(capsys).startswith("✓ 9.2")
    checks.nb09_load_on(lambda path, device: _Tiny().to(device), _Tiny)                # never loads
    assert "not the saved ones" in _line(capsys)
