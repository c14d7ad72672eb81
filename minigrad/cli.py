"""Shared command-line helpers: argparse types that reject bad numbers, file checks, and the top-level
handler that turns an expected error into one line on stderr instead of a traceback.

    p.add_argument("--hidden", type=positive_int)        # argparse: usage + "argument --hidden: ..." exit 2
    sys.exit(run(main))                                  # UsageError -> exit 2, failed work -> exit 1
"""
import argparse
import math
import os
import sys
import tempfile


class UsageError(Exception):
    """A bad argument found after parsing (a missing file, a conflict): one line, exit status 2."""


def _number(kind, text):
    try:
        value = kind(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected {'an integer' if kind is int else 'a number'}, "
                                         f"got {text!r}") from None
    if kind is float and not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"expected a finite number, got {text!r}")
    return value


def _checked(kind, ok, rule):
    """An argparse type: a number of `kind` for which ok(value) holds, else the error 'must be {rule}'."""
    def parse(text):
        value = _number(kind, text)
        if not ok(value):
            raise argparse.ArgumentTypeError(f"must be {rule}, got {value}")
        return value
    return parse


positive_int = _checked(int, lambda v: v >= 1, ">= 1")
nonneg_int = _checked(int, lambda v: v >= 0, ">= 0")
positive_float = _checked(float, lambda v: v > 0, "> 0")
nonneg_float = _checked(float, lambda v: v >= 0, ">= 0")
fraction = _checked(float, lambda v: 0 <= v < 1, "in [0, 1)")          # a probability


def finite_float(text):
    return _number(float, text)


def device(text):
    if text not in ("cpu", "cuda"):
        raise argparse.ArgumentTypeError(f"expected cpu or cuda, got {text!r}")
    return text


def check_device(name, flag="--device"):
    """Fail early (UsageError) when `name` is cuda and CuPy or a GPU is missing."""
    if name == "cuda":
        from . import backend
        if not backend.cuda_is_available():
            raise UsageError(f"{flag} cuda: CuPy or a GPU is not available (pip install -e '.[gpu]'), "
                             f"use {flag} cpu")


def check_out_dir(path, flag="--out"):
    """Create folder `path` if needed and check it is writable now, not at the first checkpoint."""
    if os.path.exists(path) and not os.path.isdir(path):
        raise UsageError(f"{flag} {path}: is a file, not a folder")
    try:
        os.makedirs(path, exist_ok=True)
        with tempfile.TemporaryFile(dir=path):
            pass
    except OSError as e:
        raise UsageError(f"{flag} {path}: not writable ({e.strerror or e})") from None


def check_out_file(path, flag="--out"):
    """Check that file `path` can be written (its folder exists and is writable; it is not a folder)."""
    if os.path.isdir(path):
        raise UsageError(f"{flag} {path}: is a folder; give a file name")
    folder = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(folder):
        raise UsageError(f"{flag} {path}: folder {folder} does not exist")
    try:
        with tempfile.TemporaryFile(dir=folder):
            pass
    except OSError as e:
        raise UsageError(f"{flag} {path}: not writable ({e.strerror or e})") from None


def run(main, argv=None):
    """main(argv) -> exit status; expected errors become `error: ...` on stderr (2: usage, 1: failed work)."""
    from .serialization import CheckpointError
    try:
        return main(argv)
    except UsageError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except OSError as e:
        where = f"{e.filename}: " if getattr(e, "filename", None) else ""
        print(f"error: {where}{e.strerror or e}", file=sys.stderr)
        return 1
    except (CheckpointError, ValueError, TypeError, RuntimeError, FloatingPointError) as e:
        print(f"error: {_one_line(e)}", file=sys.stderr)
        return 1
    except MemoryError:
        print("error: not enough memory for these sizes; try a smaller --hidden, --batch, --embed or --seq-len",
              file=sys.stderr)
        return 1


def _one_line(e):
    return " ".join(str(e).split()) or type(e).__name__
