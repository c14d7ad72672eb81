"""Keep freed host memory inside the process, so that a training loop does not fault it back in every iteration.

minigrad builds the unrolled graph afresh in every iteration and frees it after backward. glibc hands large
freed blocks back to the operating system, and the next iteration pays a page fault for every page it touches
again (62,000 faults and a fifth of the time per iteration for an LSTM unrolled over 2,000 steps). Asking
glibc to keep a pad of freed memory removes that cost; it changes the whole process, so it is a choice the
application makes (the training commands in `models` make it), not something importing minigrad does.
"""
import ctypes
import operator
import sys

_M_TRIM_THRESHOLD, _M_MMAP_MAX = -1, -4     # mallopt parameter numbers in glibc's <malloc.h>
_GLIBC_DEFAULTS = {_M_TRIM_THRESHOLD: 128 * 1024, _M_MMAP_MAX: 65536}   # as documented in mallopt(3)
_MAX_INT = 2 ** 31 - 1   # mallopt takes a C int


def _mallopt():
    """glibc's mallopt, or None where the C library has none (macOS, Windows)."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        fn = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):
        return None
    fn.argtypes, fn.restype = (ctypes.c_int, ctypes.c_int), ctypes.c_int
    return fn


def retain_freed_memory(nbytes=512 * 2 ** 20):
    """Ask the C allocator to keep up to `nbytes` of freed memory for reuse instead of returning it to the OS.

    Every block then comes from the heap (none from a private mapping that free() would unmap) and up to
    `nbytes` of free heap stays mapped, so arrays freed at the end of one iteration are handed out again in the
    next one without page faults. It applies to the whole process until called again; `nbytes=0` restores
    glibc's documented defaults. Returns True where the allocator accepted it (Linux with glibc), False
    elsewhere, where it does nothing.
    """
    try:
        n = None if isinstance(nbytes, bool) else operator.index(nbytes)
    except TypeError:
        n = None
    if n is None or not 0 <= n <= _MAX_INT:
        raise ValueError(f"retain_freed_memory: nbytes must be an integer from 0 to {_MAX_INT} (glibc's mallopt "
                         f"takes a C int), got {nbytes!r}")
    mallopt = _mallopt()
    if mallopt is None:
        return False
    settings = {_M_TRIM_THRESHOLD: n, _M_MMAP_MAX: 0} if n else _GLIBC_DEFAULTS
    return all(mallopt(param, value) == 1 for param, value in settings.items())
