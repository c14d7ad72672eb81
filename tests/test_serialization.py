"""mg.save / mg.load: bitwise round trips, safetensors compatibility, atomic writes under SIGKILL, and clear
CheckpointErrors (never code execution) for truncated, corrupted or foreign files."""
import ast
import json
import os
import pickle
import random
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import minigrad as mg
from minigrad import nn, serialization

@pytest.fixture
def stnp():
    """The reference `safetensors` package (a test extra), to check files against."""
    return pytest.importorskip("safetensors.numpy")


DTYPES = ["float16", "float32", "float64", "int8", "int16", "int32", "int64", "uint8", "bool"]


def _array(dtype, shape, rng):
    """Random values of `dtype`, with float specials (nan, -0.0, inf) mixed in."""
    if dtype == "bool":
        return np.asarray(rng.random(shape) < 0.5)
    if np.dtype(dtype).kind == "f":
        a = np.asarray(rng.standard_normal(shape), dtype=dtype)
        flat = a.reshape(-1)
        flat[: min(3, flat.size)] = [np.nan, -0.0, np.inf][: min(3, flat.size)]
        return a
    info = np.iinfo(dtype)
    return np.asarray(rng.integers(info.min, info.max, size=shape, dtype=dtype, endpoint=True))


def _same_bits(a, b):
    """Same type, dtype, shape and bytes (NaN payloads and -0.0 included)."""
    assert type(a) is type(b), (type(a), type(b))
    if isinstance(a, mg.Tensor):
        assert not b.requires_grad and b.grad_fn is None
        a, b = a.numpy(), b.numpy()
    assert a.dtype == b.dtype and a.shape == b.shape
    assert a.tobytes() == b.tobytes()


def _check_tree(saved, loaded):
    """Walk both trees side by side: containers, JSON values (exact type and value), arrays bitwise."""
    stack = [(saved, loaded)]
    while stack:
        a, b = stack.pop()
        if isinstance(a, mg.nn.Parameter):
            a = mg.Tensor(a.data)                      # a Parameter comes back as a plain Tensor
        if isinstance(a, np.ndarray) and not a.dtype.isnative:
            a = a.astype(a.dtype.newbyteorder("="))    # big-endian arrays come back in native order
        if isinstance(a, (mg.Tensor, np.ndarray)):
            _same_bits(a, b)
        elif isinstance(a, dict):
            assert type(b) is dict and list(a) == list(b)
            stack.extend((a[k], b[k]) for k in a)
        elif isinstance(a, (list, tuple)):
            assert type(b) is type(a) and len(a) == len(b)
            stack.extend(zip(a, b))
        elif isinstance(a, np.generic):
            assert type(b) is type(a.item()) and b == a.item()
        elif isinstance(a, float) and a != a:
            assert isinstance(b, float) and b != b
        else:
            assert type(b) is type(a) and b == a and repr(b) == repr(a)


# ----------------------------------------------------------------------------- round trips

def test_round_trip_every_dtype_bitwise(tmp_path, rng):
    shapes = [(), (0,), (3, 0, 2), (5,), (2, 3, 4)]
    state = {"arrays": {d: {str(s): _array(d, s, rng) for s in shapes} for d in DTYPES},
             "tensors": {d: [mg.tensor(_array(d, s, rng)) for s in shapes] for d in DTYPES},
             "param": nn.Parameter(mg.randn(4, 3)),
             "strided": np.arange(24.0).reshape(4, 6)[::2, ::-3].T,          # not contiguous
             "big_endian": np.arange(6, dtype=">i4").reshape(2, 3),
             "nested": ({"deep": [[{"x": _array("float64", (2,), rng)}]]}, [])}
    path = tmp_path / "state.safetensors"
    mg.save(state, path)
    back = mg.load(path)
    _check_tree(state, back)
    assert type(back["param"]) is mg.Tensor and not back["param"].requires_grad
    assert back["big_endian"].dtype.isnative and back["big_endian"].tolist() == [[0, 1, 2], [3, 4, 5]]
    assert all(back["arrays"][d]["(5,)"].flags.writeable for d in DTYPES)   # loaded arrays are writable


def test_json_values_and_rng_state_round_trip(tmp_path):
    mg.manual_seed(123)
    mg.randn(10)                                                   # move the generator off its seed
    state = {"config": {"model": {"hidden": 64, "layers": [1, 2], "cell": "lstm", "dropout": 0.1,
                                  "tied": True, "extra": None}, "lr": 3e-4, "tiny": 1e-300,
                        "neg_zero": -0.0, "nan": float("nan"), "inf": float("-inf"), "ünï": "çødé ✓"},
             "step": 12345678901234567890, "shape": (3, (4, 5)), "empty": {}, "none": None,
             "np_scalars": [np.float32(0.1), np.int64(-7), np.bool_(True), np.uint8(200)],
             "rng": mg.get_rng_state()}
    assert state["rng"]["state"]["state"] > 2 ** 64                # a big int that JSON must carry exactly
    path = tmp_path / "meta.safetensors"
    mg.save(state, path)
    back = mg.load(path)
    _check_tree(state, back)
    assert back["np_scalars"][0] == float(np.float32(0.1))         # widened exactly, not re-rounded
    expected = mg.randn(5).numpy()
    mg.manual_seed(999)
    mg.set_rng_state(back["rng"])
    np.testing.assert_array_equal(mg.randn(5).numpy(), expected)


def test_shared_leaves_and_colliding_names(tmp_path, stnp):
    w = mg.randn(3)
    state = {"a.b": mg.tensor([1.0]), "a": {"b": mg.tensor([2.0])}, "__metadata__": np.ones(2),
             "tied": [w, w]}
    path = tmp_path / "c.safetensors"
    mg.save(state, path)
    back = mg.load(path)
    _check_tree(state, back)
    assert back["tied"][0] is back["tied"][1]                      # one copy on disk, one object back
    assert len(stnp.load_file(str(path))) == 4


def test_load_onto_device(tmp_path, device):
    state = {"t": mg.randn(2, 3, device=device), "a": np.arange(4), "n": 1}
    mg.save(state, tmp_path / "d.safetensors")
    back = mg.load(tmp_path / "d.safetensors", device=device)
    assert back["t"].device == device and mg.backend.device_of(back["a"]) == device
    np.testing.assert_array_equal(back["t"].numpy(), state["t"].numpy())
    np.testing.assert_array_equal(mg.backend.to_numpy(back["a"]), np.arange(4))


# ----------------------------------------------------------------------------- safetensors compatibility

def test_files_are_readable_by_the_safetensors_package(tmp_path, rng, stnp):
    lstm = {"weight_ih_l0": rng.standard_normal((16, 3)).astype(np.float32),
            "bias_hh_l0": rng.standard_normal(16).astype(np.float64)}
    state = {"model": {"lstm": {k: mg.tensor(v) for k, v in lstm.items()},
                       "emb": np.arange(6, dtype=np.int16)},
             "optim": {"state": [{"exp_avg": np.zeros((2, 0), np.float16)}],
                       "flags": np.array([True, False])},
             "step": 3}
    path = tmp_path / "compat.safetensors"
    mg.save(state, path)
    theirs = stnp.load_file(str(path))
    expected = {"model.lstm.weight_ih_l0": lstm["weight_ih_l0"], "model.lstm.bias_hh_l0": lstm["bias_hh_l0"],
                "model.emb": state["model"]["emb"], "optim.state.0.exp_avg": np.zeros((2, 0), np.float16),
                "optim.flags": state["optim"]["flags"]}
    assert sorted(theirs) == sorted(expected)
    for name, arr in expected.items():
        _same_bits(arr, theirs[name])
    with open(path, "rb") as f:                                    # header padded to an 8-byte boundary
        assert (8 + int.from_bytes(f.read(8), "little")) % 8 == 0


def test_foreign_safetensors_loads_as_flat_dict(tmp_path, rng, stnp):
    arrays = {"layer.0.weight": rng.standard_normal((3, 2)).astype(np.float32), "count": np.array(5)}
    stnp.save_file(arrays, str(tmp_path / "theirs.safetensors"), metadata={"author": "someone"})
    back = mg.load(tmp_path / "theirs.safetensors")
    assert sorted(back) == sorted(arrays)
    for name, arr in arrays.items():
        _same_bits(arr, back[name])


# ----------------------------------------------------------------------------- atomic writes

_VERSIONS_SRC = '''
import numpy as np
import minigrad as mg
def make_version(v):
    """About 1 MB of state; versions differ in every array and in the step count."""
    r = np.random.default_rng(100 + v)
    mg.manual_seed(100 + v)
    return {"model": {"w": mg.tensor(r.standard_normal((500, 500)).astype(np.float32)),
                      "b": r.integers(0, 9, size=(7,))},
            "step": v, "config": {"name": "v%d" % v, "rng": mg.get_rng_state()}}
VERSIONS = [make_version(v) for v in range(3)]
'''

_CHILD_SRC = _VERSIONS_SRC + '''
import sys
path, i = sys.argv[1], int(sys.argv[2])
mg.save(VERSIONS[i % 3], path)
print("go", flush=True)
while True:
    i += 1
    mg.save(VERSIONS[i % 3], path)
'''


def _temps(folder):
    return [n for n in os.listdir(folder) if n.endswith(".tmp")]


@pytest.mark.skipif(os.name != "posix", reason="SIGKILL and pid checks are POSIX")
def test_sigkill_mid_save_never_corrupts_the_checkpoint(tmp_path):
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([os.getcwd(), os.environ.get("PYTHONPATH", "")]))
    scope = {}
    exec(_VERSIONS_SRC, scope)
    versions = scope["VERSIONS"]
    path = tmp_path / "ckpt.safetensors"
    mg.save(versions[0], path)
    pick = random.Random(0)
    kills, interrupted = 0, 0
    while kills < 20:
        child = subprocess.Popen([sys.executable, "-c", _CHILD_SRC, str(path), str(kills)],
                                 stdout=subprocess.PIPE, env=env)
        assert child.stdout.readline() == b"go\n", "the saving child did not start"
        time.sleep(pick.uniform(0.0, 0.03))
        child.send_signal(signal.SIGKILL)
        child.wait()
        assert child.returncode == -signal.SIGKILL
        child.stdout.close()
        kills += 1
        back = mg.load(path)                                        # never corrupt, never half-written
        _check_tree(versions[back["step"]], back)
        temps = _temps(tmp_path)
        assert len(temps) <= 1, temps                               # only the killed writer's temp file
        interrupted += len(temps)
        assert sorted(os.listdir(tmp_path)) == sorted(["ckpt.safetensors"] + temps)
    assert interrupted >= 1, "no kill landed mid-write; the test did not exercise the race"
    mg.save(versions[1], path)                                      # the next save cleans up
    assert _temps(tmp_path) == [] and mg.load(path)["step"] == 1


def test_failed_save_keeps_the_old_file_and_leaves_no_temp(tmp_path, monkeypatch):
    path = tmp_path / "keep.safetensors"
    mg.save({"w": np.arange(3.0)}, path)

    def broken_fsync(fd):
        raise OSError("disk on fire")
    monkeypatch.setattr(serialization.os, "fsync", broken_fsync)
    with pytest.raises(OSError, match="disk on fire"):
        mg.save({"w": np.zeros(1000)}, path)
    monkeypatch.undo()
    with pytest.raises(TypeError, match=r"cannot save set at cfg\.bad"):
        mg.save({"cfg": {"bad": {1, 2}}}, path)
    assert os.listdir(tmp_path) == ["keep.safetensors"]
    np.testing.assert_array_equal(mg.load(path)["w"], np.arange(3.0))


def test_stale_temp_files_of_dead_writers_are_removed(tmp_path):
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    names = {"dead": f".m.st.{dead.pid}.{'0' * 16}.tmp",
             "alive": f".m.st.{os.getppid()}.{'1' * 16}.tmp",            # a running process's save
             "other_target": f".n.st.{dead.pid}.{'2' * 16}.tmp",
             "user_file": ".m.st.notes.tmp"}
    for name in names.values():
        (tmp_path / name).write_bytes(b"x")
    mg.save({"a": 1}, tmp_path / "m.st")
    left = set(os.listdir(tmp_path))
    assert names["dead"] not in left
    assert {names["alive"], names["other_target"], names["user_file"], "m.st"} == left


def test_save_rejects_what_it_cannot_store(tmp_path):
    cyclic = {"a": []}
    cyclic["a"].append(cyclic)
    cases = [({1.5: np.ones(1)}, TypeError, r"dict keys must be str or int, got 1\.5"),
             ({"x": [object()]}, TypeError, r"cannot save object at x\.0"),
             ({"z": np.ones(2, np.complex64)}, TypeError, r"array at z has dtype complex64"),
             (cyclic, ValueError, r"a\.0 contains itself")]
    for obj, exc, msg in cases:
        with pytest.raises(exc, match=msg):
            mg.save(obj, tmp_path / "r.st")
    with pytest.raises(FileNotFoundError, match="does not exist"):
        mg.save({}, tmp_path / "no_dir" / "r.st")
    assert os.listdir(tmp_path) == []


# ----------------------------------------------------------------------------- bad files

def _good_bytes(tmp_path):
    mg.save({"w": np.arange(6, dtype=np.float32).reshape(2, 3), "b": np.ones(2, np.int64), "n": 1},
            tmp_path / "good.st")
    return (tmp_path / "good.st").read_bytes()


def _rewrite_header(blob, edit):
    """A copy of a checkpoint with its JSON header changed by `edit(header_dict)`."""
    n = int.from_bytes(blob[:8], "little")
    header = json.loads(blob[8:8 + n])
    edit(header)
    head = json.dumps(header).encode()
    return len(head).to_bytes(8, "little") + head + blob[8 + n:]


def _duplicate_key(blob, key):
    """The header with `key`'s entry written twice, the first copy a decoy the library would drop (JSON
    libraries, the safetensors package's included, keep the last of two equal keys)."""
    n = int.from_bytes(blob[:8], "little")
    header = json.loads(blob[8:8 + n])
    parent = header["__metadata__"] if key == "minigrad" else header
    decoy = '"x"' if key == "minigrad" else '{"dtype":"F32","shape":[0],"data_offsets":[0,0]}'
    text = json.dumps(header)
    entry = json.dumps(parent[key])
    assert text.count(f'"{key}": {entry}') == 1
    head = text.replace(f'"{key}": {entry}', f'"{key}": {decoy}, "{key}": {entry}').encode()
    return len(head).to_bytes(8, "little") + head + blob[8 + n:]


def _bad_files(good):
    n = int.from_bytes(good[:8], "little")
    return {
        "empty": (b"", "0 bytes long"),
        "tiny": (b"\x05\x00", "too short"),
        "pickle": (pickle.dumps({"w": [1.0, 2.0]}), "looks like a pickle"),
        "text": (b"hello, this is a text file\n" * 3, "looks like a text file"),
        "npy_zip": (b"PK\x03\x04" + bytes(40), "zip archive"),
        "huge_header_length": ((10 ** 12).to_bytes(8, "little") + good[8:], "header length field"),
        "truncated_header": (good[: 8 + n // 2], "header length field"),
        "truncated_data": (good[:-5], "not fully covered"),
        "extra_bytes": (good + b"\0" * 8, "not fully covered"),
        "bad_json": (good[:8] + b"{" + b"x" * (n - 1) + good[8 + n:], "not valid JSON"),
        "bad_utf8": (good[:8] + b"\xff" * n + good[8 + n:], "not valid JSON"),
        "json_list": ((2).to_bytes(8, "little") + b"[]", "invalid JSON in header"),
        "offsets_out_of_range": (_rewrite_header(good, lambda h: h["w"].update(data_offsets=[16, 4000])),
                                 "invalid shape, data type, or offset"),
        "wrong_byte_count": (_rewrite_header(good, lambda h: h["w"].update(shape=[2, 2])), "invalid shape"),
        "overlap": (_rewrite_header(good, lambda h: h["w"].update(data_offsets=[8, 32])), "invalid offset"),
        "unknown_dtype": (_rewrite_header(good, lambda h: h["w"].update(dtype="BF16", shape=[12])), "bfloat16"),
        "bad_shape": (_rewrite_header(good, lambda h: h["w"].update(shape=[2, -3])), "invalid value: integer `-3`"),
        "bad_metadata": (_rewrite_header(good, lambda h: h.update(__metadata__={"minigrad": 5})),
                         "expected a string"),
        "duplicate_tensor": (_duplicate_key(good, "w"), "duplicate key 'w'"),
        "duplicate_metadata": (_duplicate_key(good, "minigrad"), "duplicate key 'minigrad'"),
        "bad_structure": (_rewrite_header(good, lambda h: h["__metadata__"].update(minigrad="{oops")),
                          "structure in __metadata__ is not valid JSON"),
        "dangling_name": (_rewrite_header(good, lambda h: h["__metadata__"].update(minigrad=h["__metadata__"]
                          ["minigrad"].replace('"tensor":"w"', '"tensor":"gone"').replace('"array":"w"',
                                                                                      '"array":"gone"'))),
                          "no such tensor"),
        "newer_version": (_rewrite_header(good, lambda h: h["__metadata__"].update(minigrad=h["__metadata__"]
                          ["minigrad"].replace('"version":1', '"version":99'))), "version 99"),
    }


def test_bad_files_raise_checkpoint_error_naming_path_and_problem(tmp_path):
    good = _good_bytes(tmp_path)
    for name, (blob, what) in _bad_files(good).items():
        path = tmp_path / f"{name}.st"
        path.write_bytes(blob)
        with pytest.raises(mg.CheckpointError) as info:
            mg.load(path)
        assert isinstance(info.value, ValueError)
        assert str(path) in str(info.value) and what in str(info.value), (name, str(info.value))
    mg.save({"f": np.array([True, False])}, tmp_path / "bool.st")
    bad_bool = bytearray((tmp_path / "bool.st").read_bytes())
    bad_bool[-1] = 7
    (tmp_path / "bool.st").write_bytes(bytes(bad_bool))
    with pytest.raises(mg.CheckpointError, match="bytes other than 0 and 1"):
        mg.load(tmp_path / "bool.st")


class _Exploit:
    """A pickle that would create a marker file if anything ever unpickled it."""
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (open, (self.marker, "w"))


def test_pickles_are_never_executed(tmp_path):
    marker = tmp_path / "pwned"
    path = tmp_path / "evil.st"
    path.write_bytes(pickle.dumps({"w": _Exploit(str(marker))}))
    with pytest.raises(mg.CheckpointError, match="never loads pickles"):
        mg.load(path)
    assert not marker.exists()
    with open(serialization.__file__) as f:                              # and no unpickling code at all
        tree = ast.parse(f.read())
    imports = [node for node in ast.walk(tree) if isinstance(node, (ast.Import, ast.ImportFrom))]
    imported = {a.name for n in imports for a in n.names} | {getattr(n, "module", None) for n in imports}
    assert not imported & {"pickle", "cPickle", "marshal", "shelve", "dill", "joblib"}
    assert not [n for n in ast.walk(tree) if isinstance(n, ast.keyword) and n.arg == "allow_pickle"]


def test_missing_file_is_file_not_found_naming_path(tmp_path):
    path = tmp_path / "nope.safetensors"
    with pytest.raises(FileNotFoundError, match="nope.safetensors"):
        mg.load(path)


# ----------------------------------------------------------------------------- older files, permissions, fuzzing

def test_checkpoint_written_by_the_hand_written_writer_still_loads():
    # tests/data/checkpoint_v1.safetensors was written by minigrad's own safetensors writer (before the
    # move onto the safetensors package, commit abad315); such files are standard safetensors
    back = mg.load(os.path.join(os.path.dirname(__file__), "data", "checkpoint_v1.safetensors"))
    w = np.arange(6, dtype=np.float32).reshape(2, 3)
    _same_bits(back["model"]["w"], mg.tensor(w))
    _same_bits(back["model"]["b"], mg.tensor(np.array([0.5, -1.5])))
    assert back["opt"]["tied"] is back["model"]["w"]
    assert back["opt"]["names"] == ("w", "b") and back["opt"]["steps"] == 7 and back["opt"]["lr"] == 0.01
    _same_bits(back["opt"]["mask"], np.array([True, False, True]))
    _same_bits(back["opt"]["ids"], np.array([[1, -2]], dtype=np.int64))
    assert back["opt"]["none"] is None and back["note"].startswith("written by minigrad")


@pytest.mark.skipif(os.name != "posix", reason="POSIX permission bits")
def test_save_over_an_existing_file_keeps_its_permission_bits(tmp_path):
    path = tmp_path / "private.safetensors"
    mg.save({"w": np.zeros(3)}, path)
    for mode in (0o600, 0o640, 0o444):
        os.chmod(path, mode)
        mg.save({"w": np.ones(3)}, path)
        assert os.stat(path).st_mode & 0o7777 == mode
        np.testing.assert_array_equal(mg.load(path)["w"], np.ones(3))
    fresh = tmp_path / "fresh.safetensors"                            # a new file: the umask decides
    old = os.umask(0o027)
    try:
        mg.save({"w": np.zeros(1)}, fresh)
    finally:
        os.umask(old)
    assert os.stat(fresh).st_mode & 0o777 == 0o640


def test_loaded_arrays_are_writable_host_arrays(tmp_path):
    mg.save({"t": mg.tensor(np.arange(4.0)), "a": np.arange(3)}, tmp_path / "w.st")
    back = mg.load(tmp_path / "w.st")
    back["t"].data[0] = 9.0
    back["a"][0] = 9
    assert back["t"].numpy()[0] == 9.0 and back["a"][0] == 9


_FUZZ_BASE = []


def _fuzz_base(tmp_path_factory):
    if not _FUZZ_BASE:
        _FUZZ_BASE.append(_good_bytes(tmp_path_factory.mktemp("fuzz_base")))
    return _FUZZ_BASE[0]


@settings(max_examples=200, deadline=None)
@given(data=st.data())
def test_fuzzed_files_raise_only_checkpoint_error(tmp_path_factory, data):
    good = _fuzz_base(tmp_path_factory)
    n = int.from_bytes(good[:8], "little")
    kind = data.draw(st.sampled_from(["random", "flip", "header_text", "truncate", "splice", "entry"]))
    if kind == "random":
        blob = data.draw(st.binary(max_size=400))
    elif kind == "flip":                                            # change a few bytes anywhere
        blob = bytearray(good)
        for _ in range(data.draw(st.integers(1, 4))):
            i = data.draw(st.integers(0, len(blob) - 1))
            blob[i] = data.draw(st.integers(0, 255))
        blob = bytes(blob)
    elif kind == "header_text":                                    # change characters of the JSON header
        head = bytearray(good[8:8 + n])
        for _ in range(data.draw(st.integers(1, 3))):
            i = data.draw(st.integers(0, len(head) - 1))
            head[i] = ord(data.draw(st.sampled_from('{}[]",:0123456789-eE.tfnu\\ x')))
        keep = data.draw(st.booleans())                            # the length field right or as it was
        blob = (len(head) if keep else n).to_bytes(8, "little") + bytes(head) + good[8 + n:]
    elif kind == "truncate":
        blob = good[:data.draw(st.integers(0, len(good) - 1))]
    elif kind == "entry":                                          # a tensor entry with other dtype/shape/offsets
        name = data.draw(st.sampled_from(["w", "b"]))
        field = data.draw(st.sampled_from(["dtype", "shape", "data_offsets"]))
        sizes = {"BF16": 2, "F8_E4M3": 1, "F8_E5M2": 1, "C64": 8, "F32": 4, "U8": 1, "BOOL": 1, "": 1, "f32": 4}
        value = {"dtype": st.sampled_from(sorted(sizes)),
                 "shape": st.lists(st.integers(-2, 2**40), max_size=3),
                 "data_offsets": st.lists(st.integers(-1, 2**64), max_size=3)}[field]
        drawn = data.draw(value)

        def edit(h):
            h[name][field] = drawn
            if field == "dtype":                                    # the byte count fits the new dtype
                begin, end = h[name]["data_offsets"]
                h[name]["shape"] = [(end - begin) // sizes[drawn]]
        blob = _rewrite_header(good, edit)
    else:                                                          # a random header in front of the data
        head = data.draw(st.text(max_size=120)).encode("utf-8", "surrogatepass")
        blob = len(head).to_bytes(8, "little") + head + good[8 + n:]
    path = tmp_path_factory.mktemp("fuzz") / "f.st"
    path.write_bytes(blob)
    try:
        mg.load(path)
    except mg.CheckpointError as e:
        assert str(path) in str(e)
