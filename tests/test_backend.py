"""The backend boundary: only minigrad/backend.py names numpy/cupy, minigrad never imports models/viz,
seeded random numbers, CUDA requests without CuPy, and the small array helpers."""
import ast
import importlib.util
import pathlib
import subprocess
import sys

import numpy as np
import pytest

import minigrad as mg
from minigrad import backend
from minigrad.autograd import sum_to

PACKAGE = pathlib.Path(mg.__file__).resolve().parent
SOURCES = sorted(PACKAGE.rglob("*.py"))
HAS_CUPY = importlib.util.find_spec("cupy") is not None


def imported_modules(path):
    """Top-level names of every module `path` imports (import, from-import, importlib/__import__ by name)."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module.split(".")[0])
        elif isinstance(node, ast.Call) and node.args and isinstance(node.args[0], ast.Constant) \
                and isinstance(node.args[0].value, str):
            func = node.func
            called = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", None)
            if called in ("import_module", "__import__"):
                names.add(node.args[0].value.split(".")[0])
    return names


def test_the_scan_sees_the_whole_package():
    relative = {p.relative_to(PACKAGE).as_posix() for p in SOURCES}
    assert {"backend.py", "tensor.py", "autograd/engine.py", "ops/__init__.py"} <= relative
    assert "numpy" in imported_modules(PACKAGE / "backend.py")    # the scanner does find imports


def test_only_backend_imports_numpy_or_cupy():
    offenders = {p.relative_to(PACKAGE).as_posix(): sorted(imported_modules(p) & {"numpy", "cupy", "cupyx"})
                 for p in SOURCES if p.name != "backend.py" or p.parent != PACKAGE}
    offenders = {k: v for k, v in offenders.items() if v}
    assert offenders == {}, f"only minigrad/backend.py may import numpy/cupy: {offenders}"


def test_minigrad_never_imports_models_or_viz():
    offenders = {p.relative_to(PACKAGE).as_posix(): sorted(imported_modules(p) & {"models", "viz"}) for p in SOURCES}
    offenders = {k: v for k, v in offenders.items() if v}
    assert offenders == {}, f"minigrad must not import models or viz: {offenders}"


def test_importing_minigrad_imports_no_cupy_models_or_viz():
    code = ("import sys, minigrad, minigrad.nn, minigrad.optim; "
            "print(sorted(m for m in ('cupy', 'models', 'viz') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_importing_minigrad_installs_no_warning_filters():
    """Importing minigrad leaves the process's warning filters as they were (no global silencing)."""
    code = ("import warnings, numpy; before = list(warnings.filters); "
            "import minigrad, minigrad.nn, minigrad.optim, minigrad.nn.functional; "
            "print(warnings.filters == before, len(before))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split()[0] == "True", out.stdout


def test_saturating_sigmoids_run_under_warnings_as_errors():
    """`python -W error`: sigmoid of large negative inputs (and its in-place forms) warns about nothing."""
    code = ("import numpy as np, minigrad as mg; from minigrad.ops.unary import sigmoid_, sigmoid_of_negated_; "
            "x = np.array([-1e4, -800.0, -100.0, 0.0, 100.0, 800.0, 1e4]); "
            "ys = [mg.tensor(x).sigmoid().numpy(), sigmoid_(x.copy()), sigmoid_of_negated_(-x), "
            "sigmoid_(x.astype(np.float32)), mg.tensor(x, dtype=mg.float32, requires_grad=True).sigmoid().numpy()]; "
            "print(all(np.isfinite(y).all() and 0 <= y[0] < 1e-30 and y[-1] == 1 for y in ys))")
    out = subprocess.run([sys.executable, "-W", "error", "-c", code], capture_output=True, text=True)
    assert out.returncode == 0 and out.stdout.strip() == "True", out.stderr


# ----------------------------------------------------------------------------- random numbers

def draws(device):
    return (mg.randn(3, 4, device=device).numpy(), mg.rand(5, device=device).numpy(),
            mg.randint(0, 1000, (6,), device=device).numpy(), mg.randn(2, dtype=mg.float64, device=device).numpy())


def test_manual_seed_reproduces_randn_rand_randint(device):
    mg.manual_seed(123)
    first = draws(device)
    second = draws(device)                             # the stream moves on
    mg.manual_seed(123)
    again = draws(device)
    mg.manual_seed(124)
    other = draws(device)
    for a, b, c, d in zip(first, again, second, other):
        np.testing.assert_array_equal(a, b)
        assert not np.array_equal(a, c) and not np.array_equal(a, d)
    assert first[0].dtype == np.float32 and first[1].dtype == np.float32 and first[2].dtype == np.int64
    assert first[3].dtype == np.float64
    assert ((first[1] >= 0) & (first[1] < 1)).all() and ((first[2] >= 0) & (first[2] < 1000)).all()


def test_rng_state_round_trip():
    mg.randn(3)
    state = mg.get_rng_state()
    a = mg.randn(4).numpy()
    mg.randn(10)
    mg.set_rng_state(state)
    np.testing.assert_array_equal(mg.randn(4).numpy(), a)


def test_random_samples_look_right():
    x = mg.randn(20000, dtype=mg.float64).numpy()
    assert abs(x.mean()) < 0.05 and abs(x.std() - 1) < 0.05
    u = mg.rand(20000, dtype=mg.float64).numpy()
    assert abs(u.mean() - 0.5) < 0.02
    counts = np.bincount(mg.randint(0, 4, (20000,)).numpy(), minlength=4)
    assert counts.min() > 4500


# ----------------------------------------------------------------------------- CUDA without CuPy

@pytest.mark.skipif(HAS_CUPY, reason="CuPy is installed: the no-CuPy error path cannot be exercised here")
@pytest.mark.parametrize("make", [lambda: mg.zeros(2, device="cuda"), lambda: mg.tensor([1.0], device="cuda"),
                                  lambda: mg.randn(2, device="cuda"), lambda: mg.tensor([1.0]).to("cuda"),
                                  lambda: mg.tensor([1.0]).cuda(), lambda: mg.ones(1, device="cuda:0")])
def test_cuda_without_cupy_says_how_to_install(make):
    assert not mg.cuda_is_available()
    with pytest.raises(RuntimeError) as info:
        make()
    message = str(info.value)
    assert "CuPy" in message and "pip install" in message and "cupy-cuda12x" in message
    assert "cupy" not in sys.modules


# ----------------------------------------------------------------------------- helpers

def test_devices_and_array_modules():
    assert backend.normalize_device(None) == "cpu"
    assert backend.normalize_device("cpu") == "cpu"
    assert backend.normalize_device("cuda:0") == "cuda" == backend.normalize_device("cuda")
    a = np.ones(3)
    assert backend.array_module(a) is np and backend.device_of(a) == "cpu"
    assert backend.to_device(a, "cpu") is a and backend.xp_for("cpu") is np
    assert backend.is_array(a) and not backend.is_array([1.0])
    assert mg.tensor([1.0]).device == "cpu"


def test_host_array_dtype_rules():
    assert backend.host_array(1.5).dtype == np.float32
    assert backend.host_array([1, 2]).dtype == np.int64
    assert backend.host_array([True]).dtype == np.bool_
    assert backend.host_array([1, 2], dtype=np.float64).dtype == np.float64
    assert backend.host_array(np.float64(1.0)).dtype == np.float64


def test_backend_holds_no_numeric_kernels():
    """Kernels live beside their ops: backend.py keeps array modules, devices, dtypes and random numbers."""
    for name in ("scatter_add", "add_rows", "sigmoid", "sigmoid_", "sigmoid_of_negated_", "_EXP_FLOOR"):
        assert not hasattr(backend, name), name
    assert "warnings" not in imported_modules(PACKAGE / "backend.py")


def test_errstate_is_numpy_errstate_on_the_cpu():
    with pytest.warns(RuntimeWarning, match="overflow"):
        np.exp(np.array([1000.0]))
    with backend.errstate(np.zeros(1), over="ignore"):
        assert np.geterr()["over"] == "ignore"
        np.exp(np.array([1000.0]))
    assert np.geterr()["over"] != "ignore"


def test_normalize_axis():
    assert backend.normalize_axis(None, 3) == (0, 1, 2)
    assert backend.normalize_axis(-1, 3) == (2,)
    assert backend.normalize_axis((0, -1), 3) == (0, 2)
    assert backend.normalize_axis([1], 3) == (1,)
    with pytest.raises(ValueError, match="out of range"):
        backend.normalize_axis(3, 3)
    with pytest.raises(ValueError, match="repeats"):
        backend.normalize_axis((1, -2), 3)
    with pytest.raises(TypeError, match="int or a tuple"):
        backend.normalize_axis(1.0, 3)


@pytest.mark.parametrize("g_shape,shape", [((2, 3), (2, 3)), ((2, 3), (3,)), ((2, 3), (1, 3)), ((2, 3), (2, 1)),
                                           ((4, 2, 3), ()), ((4, 2, 3), (2, 1)), ((4, 1, 3), (1, 1, 3))])
def test_sum_to_is_the_reverse_of_broadcasting(g_shape, shape):
    g = np.random.default_rng(0).normal(size=g_shape)
    out = sum_to(g, shape)
    assert out.shape == shape
    # <g, broadcast(v)> == <sum_to(g), v> for any v: sum_to is the adjoint of broadcasting
    v = np.random.default_rng(1).normal(size=shape)
    np.testing.assert_allclose((g * np.broadcast_to(v, g_shape)).sum(), (out * v).sum(), rtol=1e-12)
