"""Checkpoints: `save` / `load` of nested state (dicts, lists, tensors, arrays, JSON values) as safetensors.

The file format is the `safetensors` package's (8-byte header length, JSON header, raw little-endian
bytes); minigrad's own part is small: the nesting, and which leaf was a Tensor, an array or a plain
value, is JSON under `__metadata__["minigrad"]` (a dict with int keys, such as an optimizer's state
keyed by parameter index, is stored as [key, value] pairs so its keys come back as ints); CuPy arrays
are brought to the host; and the library's bytes are written atomically (temporary file, fsync, rename),
so a crash leaves the previous file intact. Nothing is ever unpickled, so loading a file from a stranger
cannot run code.
"""
import errno
import json
import numbers
import os
import secrets
import stat
import threading
from typing import Any

import safetensors
import safetensors.numpy

from . import backend
from .tensor import Tensor

_host = backend.xp_for("cpu")          # the host array module (NumPy)
META_KEY = "minigrad"
FORMAT, VERSION = "minigrad.checkpoint", 1

# the dtypes a checkpoint may hold (those NumPy and safetensors share)
_DTYPES = ("float16", "float32", "float64", "int8", "int16", "int32", "int64", "uint8", "uint16", "uint32",
           "uint64", "bool")
_LEAVES = ("tensor", "array")
_EXIT = object()                       # stack marker: leaving a container
_writing = set()                       # temp files this process is writing right now
_writing_lock = threading.Lock()


class CheckpointError(ValueError):
    """A file that is not a valid minigrad/safetensors checkpoint (truncated, corrupted or foreign)."""


# ----------------------------------------------------------------------------- save

def save(obj: Any, path: str | os.PathLike) -> None:
    """Write `obj` (nested dicts with str or int keys, lists, tuples of Tensors, arrays and JSON values) to
    `path` atomically.

    The data goes to a temporary file `.<name>.<pid>.<random>.tmp` next to `path`, is flushed and
    fsynced, then renamed over `path`. A writer killed mid-save leaves at most that one temp file
    behind; the next `save` to the same path removes temp files of writers that are no longer running.
    """
    path = os.fspath(path)
    root, arrays = _encode(obj)
    meta = json.dumps({"format": FORMAT, "version": VERSION, "root": root}, separators=(",", ":"))
    blob = safetensors.numpy.save(dict(arrays), metadata={META_KEY: meta})
    _atomic_write(path, [blob])


def _encode(obj):
    """(JSON tree, [(name, little-endian host array)]), walking `obj` with an explicit stack."""
    arrays, names, stored = [], set(), {}            # stored: id(leaf) -> name (a shared leaf is saved once)
    out = [None]
    stack = [(obj, (), out, 0)]                       # (value, path, parent slot, key in slot)
    on_path = set()                                   # ids of containers being walked (cycle check)
    while stack:
        value, path, slot, key = stack.pop()
        if value is _EXIT:
            on_path.discard(path)
            continue
        where = _path_text(path)
        if isinstance(value, (dict, list, tuple)):
            if id(value) in on_path:
                raise ValueError(f"save: {where} contains itself (a reference cycle); cannot be saved")
            if isinstance(value, dict):
                bad = [k for k in value if not _is_key(k)]
                if bad:
                    raise TypeError(f"save: dict keys must be str or int, got {bad[0]!r} "
                                    f"({type(bad[0]).__name__}) at {where}")
                keys = [k if isinstance(k, str) else int(k) for k in value]
                if all(isinstance(k, str) for k in keys):
                    tag, inner = "dict", dict.fromkeys(keys)
                    children = [(child, k, inner, k) for k, child in zip(keys, value.values())]
                else:                                 # JSON object keys are strings: int keys go as pairs
                    tag, inner = "keyed", [[k, None] for k in keys]
                    children = [(child, k, pair, 1) for pair, (k, child) in zip(inner, zip(keys, value.values()))]
            else:
                tag = "tuple" if isinstance(value, tuple) else "list"
                inner = [None] * len(value)
                children = [(child, i, inner, i) for i, child in enumerate(value)]
            slot[key] = {tag: inner}
            on_path.add(id(value))
            stack.append((_EXIT, id(value), None, None))
            for child, k, child_slot, child_key in reversed(children):
                stack.append((child, path + (k,), child_slot, child_key))
        elif isinstance(value, Tensor) or backend.is_array(value):
            kind = "tensor" if isinstance(value, Tensor) else "array"
            if id(value) not in stored:
                arr = backend.to_numpy(value.data if kind == "tensor" else value)
                if arr.dtype.name not in _DTYPES:
                    raise TypeError(f"save: {kind} at {where} has dtype {arr.dtype}; supported: "
                                    f"{', '.join(_DTYPES)}")
                arr = arr.astype(arr.dtype.newbyteorder("<"), order="C", copy=False)
                stored[id(value)] = _unique_name(where, names)
                arrays.append((stored[id(value)], arr))
            slot[key] = {kind: stored[id(value)]}
        elif value is None or isinstance(value, (str, bool, int, float)):
            slot[key] = value
        elif isinstance(value, _host.generic) and value.dtype.kind in "biuf":
            slot[key] = value.item()                 # NumPy scalar -> Python bool/int/float
        else:
            raise TypeError(f"save: cannot save {type(value).__name__} at {where}; expected dict, list, "
                            f"tuple, Tensor, array, str, int, float, bool or None")
    return out[0], arrays


def _is_key(k):
    """A dict key a checkpoint can hold: a str, or an int (not a bool), e.g. an optimizer's parameter index."""
    return isinstance(k, (str, numbers.Integral)) and not isinstance(k, bool)


def _path_text(path):
    return ".".join(str(k) for k in path) if path else "value"


def _unique_name(name, names):
    """The dotted path as tensor name; a suffix `#2`, `#3`... when two paths read the same."""
    base, n = name, 1
    while name in names or name == "__metadata__":
        n += 1
        name = f"{base}#{n}"
    names.add(name)
    return name


def _atomic_write(path, chunks):
    """Write chunks to a temp file in path's folder, fsync, rename over path, fsync the folder.

    An existing file's permission bits carry over to the new one (a 0600 checkpoint stays 0600)."""
    folder = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(folder):
        raise FileNotFoundError(f"save: folder {folder!r} does not exist (saving {path!r})")
    try:
        mode = stat.S_IMODE(os.stat(path).st_mode)
    except OSError:
        mode = None                    # a new file: the umask decides, as for open()
    prefix = _temp_prefix(path)
    _remove_stale_temps(folder, prefix)
    tmp = os.path.join(folder, f"{prefix}{os.getpid()}.{secrets.token_hex(8)}.tmp")
    with _writing_lock:
        _writing.add(tmp)
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0), 0o666)
        if mode is not None:
            os.chmod(tmp, mode)
        with os.fdopen(fd, "wb") as f:
            for chunk in chunks:
                f.write(chunk)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.remove(tmp)
        except OSError:
            pass
        raise
    finally:
        with _writing_lock:
            _writing.discard(tmp)
    _fsync_folder(folder)


def _temp_prefix(path):
    return "." + os.path.basename(path)[:120] + "."


def _remove_stale_temps(folder, prefix):
    """Delete temp files left by killed writers of the same target (their process is gone)."""
    try:
        names = os.listdir(folder)
    except OSError:
        return
    for name in names:
        if not (name.startswith(prefix) and name.endswith(".tmp")):
            continue
        parts = name[len(prefix):-len(".tmp")].split(".")
        if len(parts) != 2 or not parts[0].isdigit() or len(parts[1]) != 16:
            continue
        full = os.path.join(folder, name)
        with _writing_lock:
            if full in _writing or (int(parts[0]) != os.getpid() and _process_alive(int(parts[0]))):
                continue
        try:
            os.remove(full)
        except OSError:
            pass


def _process_alive(pid):
    if os.name != "posix":
        return True                    # cannot tell cheaply: leave the file alone
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:
        return True                    # exists but belongs to someone else
    return True


def _fsync_folder(folder):
    """Make the rename itself durable (POSIX); a no-op where folders cannot be opened."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


# ----------------------------------------------------------------------------- load

def load(path: str | os.PathLike, device: str | None = None) -> Any:
    """Read a checkpoint written by `save`: Tensors come back as Tensors, arrays as arrays, on `device`.

    A safetensors file written by another tool (no minigrad structure) loads as a flat {name: array}.
    Anything truncated, corrupted or foreign raises CheckpointError naming the file and the problem.
    """
    path = os.fspath(path)
    device = None if device is None else backend.normalize_device(device)
    try:
        f = open(path, "rb")
    except FileNotFoundError:
        raise FileNotFoundError(errno.ENOENT, "load: no such checkpoint file", path) from None
    with f:
        first = _check_header(f, os.fstat(f.fileno()).st_size, path)
    arrays, meta = _read_arrays(path, first)
    if meta is None or META_KEY not in meta:
        return {name: _place(arr, device) for name, arr in arrays.items()}
    return _decode(_structure(meta[META_KEY], path), arrays, device, path)


def _bad(path, what):
    return CheckpointError(f"load: {path!r} is not a valid checkpoint: {what}")


def _foreign_hint(head):
    """Why the first bytes do not look like safetensors, when they look like something else."""
    if head[:1] == b"\x80" and head[1:2] in (b"\x02", b"\x03", b"\x04", b"\x05"):
        return " (it looks like a pickle, e.g. from pickle.dump or torch.save; minigrad never loads pickles)"
    if head.startswith(b"PK\x03\x04"):
        return " (it looks like a zip archive, e.g. .npz or torch.save; minigrad reads safetensors only)"
    if head.startswith(b"\x93NUMPY"):
        return " (it looks like a NumPy .npy file; minigrad reads safetensors only)"
    if head and all(32 <= b < 127 or b in b"\t\r\n" for b in head):
        return " (it looks like a text file)"
    return ""


def _no_duplicates(pairs):
    keys = [k for k, _ in pairs]
    if len(set(keys)) != len(keys):
        raise ValueError(f"duplicate key {next(k for k in keys if keys.count(k) > 1)!r}")
    return dict(pairs)


def _check_header(f, size, path):
    """What the library does not check: a header JSON with a key twice (the library keeps the last one,
    which hides a tensor or a structure). Also gives clear messages for files that are not safetensors.
    Returns the first bytes (for hints)."""
    first = f.read(8)
    if len(first) < 8:
        raise _bad(path, f"the file is {size} bytes long, too short for the 8-byte header length"
                   + _foreign_hint(first))
    n = int.from_bytes(first, "little")
    if n > size - 8:
        raise _bad(path, f"the header length field says {n} bytes but only {size - 8} follow "
                   f"(truncated, or not a safetensors file){_foreign_hint(first)}")
    raw = f.read(n)
    try:
        json.loads(raw.decode("utf-8"), object_pairs_hook=_no_duplicates)
    except (ValueError, RecursionError) as e:      # bad UTF-8, bad JSON and duplicate keys are ValueErrors
        hint = _foreign_hint(first + raw[:8])
        raise _bad(path, f"the {n}-byte header is not valid JSON ({e}){hint}") from None
    return first + raw[:8]


def _read_arrays(path, first):
    """{name: host array} and __metadata__, read by the safetensors package (its errors -> CheckpointError)."""
    try:
        with safetensors.safe_open(path, framework="numpy") as f:
            meta = f.metadata()
            arrays = {name: f.get_tensor(name) for name in f.keys()}
    # TypeError/KeyError/AttributeError: a dtype NumPy lacks (BF16; F8_E4M3, F8_E5M2 look up np.float8_*)
    except (safetensors.SafetensorError, TypeError, KeyError, AttributeError) as e:
        what = str(e) if isinstance(e, safetensors.SafetensorError) else f"unsupported tensor dtype ({e})"
        raise _bad(path, what + _foreign_hint(first)) from None
    for name, arr in arrays.items():
        if arr.dtype.kind == "b" and arr.size and arr.view(_host.uint8).max() > 1:
            raise _bad(path, f"tensor {name!r} has dtype BOOL but holds bytes other than 0 and 1")
        if not (arr.flags.writeable and arr.flags.c_contiguous and arr.dtype.isnative):
            arrays[name] = _host.ascontiguousarray(arr, dtype=arr.dtype.newbyteorder("="))
    return arrays, meta


def _structure(text, path):
    """The nesting tree stored under __metadata__["minigrad"]."""
    try:
        doc = json.loads(text)
    except (ValueError, RecursionError) as e:
        raise _bad(path, f"the minigrad structure in __metadata__ is not valid JSON ({e})") from None
    if not (isinstance(doc, dict) and doc.get("format") == FORMAT and "root" in doc):
        raise _bad(path, f"__metadata__[{META_KEY!r}] is not a minigrad checkpoint structure")
    if doc.get("version") != VERSION:
        raise _bad(path, f"checkpoint format version {doc.get('version')!r}; this minigrad reads version "
                   f"{VERSION}")
    return doc["root"]


def _place(arr, device):
    return arr if device is None else backend.to_device(arr, device)


def _decode(root, arrays, device, path):
    """Rebuild the saved nesting from the JSON tree, with an explicit stack."""
    out, made = [None], {}
    stack = [(root, (), out, 0)]
    while stack:
        node, where, slot, key = stack.pop()
        if node is _EXIT:                         # all items of a tuple are in: freeze it
            slot[key] = tuple(slot[key])
            continue
        if node is None or isinstance(node, (str, bool, int, float)):
            slot[key] = node
            continue
        tag, body = next(iter(node.items())) if isinstance(node, dict) and len(node) == 1 else (None, None)
        if tag == "dict" and isinstance(body, dict):
            slot[key], items = dict.fromkeys(body), list(body.items())
        elif tag == "keyed" and isinstance(body, list):
            keys = _keyed_keys(body, where, path)
            slot[key], items = dict.fromkeys(keys), [(k, pair[1]) for k, pair in zip(keys, body)]
        elif tag in ("list", "tuple") and isinstance(body, list):
            slot[key], items = [None] * len(body), list(enumerate(body))
            if tag == "tuple":
                stack.append((_EXIT, where, slot, key))
        elif tag in _LEAVES and isinstance(body, str):
            if body not in arrays:
                raise _bad(path, f"the structure names tensor {body!r} at {_path_text(where)}, "
                           f"but the file holds no such tensor")
            if (tag, body) not in made:
                arr = _place(arrays[body], device)
                made[tag, body] = Tensor._make(arr) if tag == "tensor" else arr
            slot[key] = made[tag, body]
            continue
        else:
            raise _bad(path, f"bad structure node at {_path_text(where)}: {str(node)[:80]}")
        for k, child in reversed(items):
            stack.append((child, where + (k,), slot[key], k))
    return out[0]


def _keyed_keys(body, where, path):
    """The keys of a "keyed" node (a dict with int keys, stored as [key, value] pairs), checked."""
    ok = all(isinstance(pair, list) and len(pair) == 2 and _is_key(pair[0]) for pair in body)
    keys = [pair[0] for pair in body] if ok else []
    if not ok or len(set(keys)) != len(keys):
        raise _bad(path, f"bad structure node at {_path_text(where)}: a 'keyed' dict must be a list of "
                   f"distinct [str or int key, value] pairs, got {str(body)[:80]}")
    return keys
