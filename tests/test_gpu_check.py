"""bench/gpu_check.sh in its no-GPU quick mode: every part reports, env.txt and kernels.json are written, the
CPU-only kernel comparisons pass, and the script exits 0 (the GPU run itself needs a GPU machine)."""
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.skipif(shutil.which("bash") is None or shutil.which("timeout") is None, reason="needs bash and timeout")
def test_gpu_check_without_gpu(tmp_path):
    out = tmp_path / "gpu-check"
    env = dict(os.environ, PYTHON=sys.executable, GPU_CHECK_QUICK="1", GPU_CHECK_DEVICE="cpu")
    run = subprocess.run(["bash", str(ROOT / "bench" / "gpu_check.sh"), str(out)], env=env, capture_output=True,
                         text=True, timeout=120)
    assert run.returncode == 0, run.stdout + run.stderr
    assert "no CUDA device" in run.stdout
    summary = dict(line.split(None, 2)[:2] for line in (out / "summary.txt").read_text().splitlines())
    assert summary == {"env": "ok", "tests": "skipped", "kernels": "ok", "bench": "ok", "char-lm": "ok"}, \
        run.stdout
    assert run.stdout.rstrip().endswith((out / "summary.txt").read_text().rstrip())
    assert "numpy" in (out / "env.txt").read_text()
    kernels = json.loads((out / "kernels.json").read_text())
    assert kernels["cuda"] is False and kernels["all_pass"] and kernels["total"] == kernels["passed"] > 0
    assert {r["path"] for r in kernels["results"]} == {"fused", "fine", "layer"}
    assert {r["dtype"] for r in kernels["results"]} == {"float32", "float64"}
    assert all(r["pass"] and r["arrays"] for r in kernels["results"])
    assert (out / "lm-cpu.jsonl").read_text().strip() and (out / "char-lm" / "sample.txt").read_text()
