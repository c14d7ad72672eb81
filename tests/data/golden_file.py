"""The one way the make_torch_*_golden.py scripts write what they recorded: a compressed .npz with the
PyTorch version beside the arrays, and a line saying what was written."""
import os
import sys

import numpy as np


def write_golden(out, store, torch_version):
    store["torch_version"] = np.array(torch_version)
    np.savez_compressed(out, **store)
    print(f"wrote {len(store)} arrays to {out} ({os.path.getsize(out)} bytes) with torch {torch_version}",
          file=sys.stderr)
