"""The README's "Porting from PyTorch" code runs as printed, and what its comments say holds."""
import pathlib
import re

import numpy as np


def test_the_readme_porting_section_runs(capsys):
    text = (pathlib.Path(__file__).parents[1] / "README.md").read_text()
    section = text[text.index("## Porting from PyTorch"):text.index("## Checkpoints")]
    blocks = re.findall(r"```python\n(.*?)```", section, re.S)
    assert len(blocks) == 1
    scope = {"__name__": "readme"}
    exec(blocks[0], scope)
    printed = capsys.readouterr().out
    loss, lr = map(float, re.fullmatch(r"loss (\S+), lr (\S+)\n", printed).groups())
    assert loss < 0.1 and lr == 0.0                     # learnt the six tags; cosine annealing ended at eta_min
    model, mg, pack = scope["model"], scope["mg"], scope["pack_padded_sequence"]
    packed = pack(model.embed(scope["ids"]), scope["lengths"], batch_first=True, enforce_sorted=False)
    out, (h_n, c_n) = model.lstm(packed)
    assert h_n.shape == (2, 3, 8) and c_n.shape == (2, 3, 32)        # the comment in forward()
    assert model.lstm.weight_hr_l0.shape == (8, 32) and model.lstm.weight_hh_l0.shape == (128, 8)
    assert np.all(model.embed.weight.numpy()[0] == 0)                # padding_idx=0: its row stays zero
    pred = model(scope["ids"], scope["lengths"]).argmax(axis=-1).numpy()
    for b, labels in enumerate(scope["labels"]):
        assert pred[b, :len(labels.tolist())].tolist() == labels.tolist()
    assert isinstance(mg.tensor([1]).size(), tuple)
