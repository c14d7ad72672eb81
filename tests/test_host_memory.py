"""mg.retain_freed_memory: glibc keeps freed memory, so touching a freed-and-reallocated array costs no page faults.

Each measurement runs in a fresh interpreter, which starts from glibc's defaults (the setting is process-wide)."""
import platform
import subprocess
import sys

import pytest

import minigrad as mg
from minigrad import host_memory

GLIBC = sys.platform.startswith("linux") and platform.libc_ver()[0] == "glibc"

# Allocate, fill and free a 128 MB array once; then count the page faults of doing it again.
FAULTS = """
import resource, sys
import numpy as np
import minigrad as mg
if sys.argv[1] != "default":
    assert mg.retain_freed_memory(int(sys.argv[1]))
def touch():
    a = np.empty(32 * 2 ** 20, np.float32)
    a.fill(1.0)
    return float(a[-1])
touch()
before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
touch()
print(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
"""


def refaults(setting):
    out = subprocess.run([sys.executable, "-c", FAULTS, setting], capture_output=True, text=True, check=True)
    return int(out.stdout)


@pytest.mark.skipif(not GLIBC, reason="the page-fault effect is glibc's; elsewhere the call returns False")
def test_retained_memory_is_reused_without_page_faults():
    default, retained = refaults("default"), refaults(str(512 * 2 ** 20))
    # one fault per 2 MB page with transparent huge pages (64), one per 4 KB page without them (32,768)
    assert default >= 32, f"glibc returns a freed 128 MB block and faults it back in; got only {default} faults"
    assert retained * 10 <= default, f"with 512 MB retained: {retained} page faults, without: {default}"


def test_settings_passed_to_mallopt(monkeypatch):
    calls = []
    monkeypatch.setattr(host_memory, "_mallopt", lambda: lambda param, value: calls.append((param, value)) or 1)
    assert mg.retain_freed_memory(1 << 20) is True
    assert sorted(calls) == sorted([(host_memory._M_TRIM_THRESHOLD, 1 << 20), (host_memory._M_MMAP_MAX, 0)])
    calls.clear()
    assert mg.retain_freed_memory(0) is True                   # back to glibc's documented defaults
    assert sorted(calls) == sorted([(host_memory._M_TRIM_THRESHOLD, 128 * 1024), (host_memory._M_MMAP_MAX, 65536)])


def test_refused_setting_returns_false(monkeypatch):
    monkeypatch.setattr(host_memory, "_mallopt", lambda: lambda param, value: 0)
    assert mg.retain_freed_memory() is False


def test_without_mallopt_it_does_nothing_and_says_so(monkeypatch):
    monkeypatch.setattr(host_memory, "_mallopt", lambda: None)
    assert mg.retain_freed_memory() is False


@pytest.mark.parametrize("bad", [-1, 2 ** 31, 1.5, "512M", True, None])
def test_bad_sizes_are_refused_by_name(bad):
    with pytest.raises(ValueError, match=r"retain_freed_memory: nbytes must be an integer from 0 to 2147483647"):
        mg.retain_freed_memory(bad)
