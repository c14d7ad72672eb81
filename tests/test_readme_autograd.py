"""The README's "Autograd in depth" code runs as printed, and its claims hold."""
import pathlib
import re

import numpy as np
import pytest



def test_the_readme_autograd_section_runs(monkeypatch, tmp_path, capsys):
    pytest.importorskip("graphviz")
    text = (pathlib.Path(__file__).parents[1] / "README.md").read_text()
    section = text[text.index("## Autograd in depth"):text.index("## Recurrent layers")]
    blocks = re.findall(r"```python\n(.*?)```", section, re.S)
    assert len(blocks) == 2
    monkeypatch.chdir(tmp_path)
    scope = {}
    exec("import minigrad as mg\nfrom minigrad import nn\nimport viz\n" + "\n".join(blocks), scope)
    printed = capsys.readouterr().out
    assert "|dL/dout| max" in printed and "dL/dx (5, 2, 3)" in printed      # both hooks ran
    assert scope["lstm"].weight_hh_l0.grad is not None                      # the penalty's second derivatives
    assert scope["J"].shape == (4, 4) and scope["Hv"].shape == (4,)
    assert scope["y"].shape == (5, 2, 8)
    assert "backward pass" in (tmp_path / "both.svg").read_text()
    frob = scope["norms"]["frobenius"]
    assert len(frob) == 3 and np.all(np.isfinite(frob))
    assert (tmp_path / "jacobians.png").stat().st_size > 0
