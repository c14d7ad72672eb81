"""Checkpoints: `save` / `load` of nested state (dicts, lists, tensors, arrays, JSON values) as safetensors.

File layout (the safetensors format, written by hand): 8-byte little-endian header length N, N bytes of
JSON header {name: {"dtype", "shape", "data_offsets"}, "__metadata__": {str: str}}, then the raw
little-endian bytes of every array, back to back. The nesting, and which leaf was a Tensor, an array or
a plain value, is JSON under `__metadata__["minigrad"]`. Nothing is ever unpickled, so loading a file
from a stranger cannot run code. Writes are atomic: a crash leaves the previous file intact.
"""
import errno
import json
import math
import os
import secrets
import threading
from typing import Any

from . import backend
from .tensor import Tensor

_host = backend.xp_for("cpu")          # the host array module (NumPy)
META_KEY = "minigrad"
FORMAT, VERSION = "minigrad.checkpoint", 1

# minigrad dtype name <-> safetensors dtype name (the file stores little-endian bytes)
_TO_ST = {"float16": "F16", "float32": "F32", "float64": "F64", "int8": "I8", "int16": "I16",
          "int32": "I32", "int64": "I64", "uint8": "U8", "uint16": "U16", "uint32": "U32",
          "uint64": "U64", "bool": "BOOL"}
_FROM_ST = {st: _host.dtype(name).newbyteorder("<") for name, st in _TO_ST.items()}
_LEAVES = ("tensor", "array")
_EXIT = object()                       # stack marker: leaving a container
_writing = set()                       # temp files this process is writing right now
_writing_lock = threading.Lock()


class CheckpointError(ValueError):
    """A file that is not a valid minigrad/safetensors checkpoint (truncated, corrupted or foreign)."""


# ----------------------------------------------------------------------------- save

def save(obj: Any, path: str | os.PathLike) -> None:
    """Write `obj` (nested dicts/lists/tuples of Tensors, arrays and JSON values) to `path` atomically.

    The data goes to a temporary file `.<name>.<pid>.<random>.tmp` next to `path`, is flushed and
    fsynced, then renamed over `path`. A writer killed mid-save leaves at most that one temp file
    behind; the next `save` to the same path removes temp files of writers that are no longer running.
    """
    path = os.fspath(path)
    root, arrays = _encode(obj)
    meta = json.dumps({"format": FORMAT, "version": VERSION, "root": root}, separators=(",", ":"))
    header = {"__metadata__": {META_KEY: meta}}
    offset = 0
    for name, arr in arrays:
        header[name] = {"dtype": _TO_ST[arr.dtype.name], "shape": list(arr.shape),
                        "data_offsets": [offset, offset + arr.nbytes]}
        offset += arr.nbytes
    head = json.dumps(header, separators=(",", ":")).encode("utf-8")
    head += b" " * (-len(head) % 8)    # pad so the data starts 8-byte aligned (as safetensors does)
    _atomic_write(path, [len(head).to_bytes(8, "little"), head] + [_bytes_of(a) for _, a in arrays])


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
                bad = [k for k in value if not isinstance(k, str)]
                if bad:
                    raise TypeError(f"save: dict keys must be str, got {bad[0]!r} "
                                    f"({type(bad[0]).__name__}) at {where}")
                inner, items = dict.fromkeys(value), list(value.items())
            else:
                inner, items = [None] * len(value), list(enumerate(value))
            tag = "dict" if isinstance(value, dict) else "tuple" if isinstance(value, tuple) else "list"
            slot[key] = {tag: inner}
            on_path.add(id(value))
            stack.append((_EXIT, id(value), None, None))
            for k, child in reversed(items):
                stack.append((child, path + (k,), inner, k))
        elif isinstance(value, Tensor) or backend.is_array(value):
            kind = "tensor" if isinstance(value, Tensor) else "array"
            if id(value) not in stored:
                arr = backend.to_numpy(value.data if kind == "tensor" else value)
                if arr.dtype.name not in _TO_ST:
                    raise TypeError(f"save: {kind} at {where} has dtype {arr.dtype}; supported: "
                                    f"{', '.join(_TO_ST)}")
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


def _bytes_of(arr):
    """A flat byte view of a contiguous array (no copy)."""
    return arr.reshape(-1).view(_host.uint8)


def _atomic_write(path, chunks):
    """Write chunks to a temp file in path's folder, fsync, rename over path, fsync the folder."""
    folder = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(folder):
        raise FileNotFoundError(f"save: folder {folder!r} does not exist (saving {path!r})")
    prefix = _temp_prefix(path)
    _remove_stale_temps(folder, prefix)
    tmp = os.path.join(folder, f"{prefix}{os.getpid()}.{secrets.token_hex(8)}.tmp")
    with _writing_lock:
        _writing.add(tmp)
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0), 0o666)
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
        size = os.fstat(f.fileno()).st_size
        entries, meta = _read_header(f, size, path)
        arrays = _read_arrays(f, entries, path)
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


def _is_count(x):
    return isinstance(x, int) and not isinstance(x, bool) and x >= 0


def _read_header(f, size, path):
    """Check the header against the file: [(begin, end, name, dtype, shape)] sorted, and __metadata__."""
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
        header = json.loads(raw.decode("utf-8"))
    except (ValueError, RecursionError) as e:      # bad UTF-8 and bad JSON are both ValueErrors
        hint = _foreign_hint(first + raw[:8])
        raise _bad(path, f"the {n}-byte header is not valid JSON ({e}){hint}") from None
    if not isinstance(header, dict):
        raise _bad(path, f"the header is JSON {type(header).__name__}, expected an object")
    meta = header.pop("__metadata__", None)
    if meta is not None and not (isinstance(meta, dict) and
                                 all(isinstance(v, str) for v in meta.values())):
        raise _bad(path, "__metadata__ must map strings to strings")
    data_size = size - 8 - n
    entries = []
    for name, e in header.items():
        if not isinstance(e, dict):
            raise _bad(path, f"entry {name!r} is {type(e).__name__}, expected an object")
        dtype = _FROM_ST.get(e.get("dtype"))
        if dtype is None:
            raise _bad(path, f"tensor {name!r} has dtype {e.get('dtype')!r}; "
                       f"supported: {', '.join(_FROM_ST)}")
        shape, offsets = e.get("shape"), e.get("data_offsets")
        if not (isinstance(shape, list) and all(_is_count(d) for d in shape)):
            raise _bad(path, f"tensor {name!r} has shape {shape!r}, expected a list of non-negative ints")
        if not (isinstance(offsets, list) and len(offsets) == 2 and all(_is_count(o) for o in offsets)):
            raise _bad(path, f"tensor {name!r} has data_offsets {offsets!r}, expected [begin, end]")
        begin, end = offsets
        if not begin <= end <= data_size:
            raise _bad(path, f"tensor {name!r} has data_offsets [{begin}, {end}] outside the {data_size} "
                       f"data bytes in the file (truncated or corrupted)")
        nbytes = math.prod(shape) * dtype.itemsize
        if end - begin != nbytes:
            raise _bad(path, f"tensor {name!r} of shape {tuple(shape)} and dtype {e['dtype']} needs "
                       f"{nbytes} bytes, but its data_offsets span {end - begin}")
        entries.append((begin, end, name, dtype, tuple(shape)))
    entries.sort(key=lambda t: (t[0], t[1]))
    pos = 0
    for begin, end, name, _, _ in entries:
        if begin != pos:
            raise _bad(path, f"tensor {name!r} starts at data byte {begin}, expected {pos} "
                       f"(tensors must be back to back, without gaps or overlaps)")
        pos = end
    if pos != data_size:
        raise _bad(path, f"the tensors cover {pos} bytes but the file holds {data_size} data bytes")
    f.seek(8 + n)
    return entries, meta


def _read_arrays(f, entries, path):
    """Read each array straight into its own host buffer (no pickle, no extra copy)."""
    arrays = {}
    for begin, end, name, dtype, shape in entries:
        arr = _host.empty(shape, dtype)
        buf = memoryview(arr.reshape(-1).view(_host.uint8))
        got = 0
        while got < len(buf):
            k = f.readinto(buf[got:])
            if not k:
                raise _bad(path, f"tensor {name!r}: the file ended after {got} of its {len(buf)} bytes")
            got += k
        if dtype.kind == "b" and arr.size and arr.view(_host.uint8).max() > 1:
            raise _bad(path, f"tensor {name!r} has dtype BOOL but holds bytes other than 0 and 1")
        arrays[name] = arr if dtype.isnative else arr.astype(dtype.newbyteorder("="))
    return arrays


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
