"""Build the tutorial notebooks from their sources, run them, and save them with their outputs.

Each notebook is written as a Markdown file in tutorials/_source/ (easy to read, edit and review):

    prose in Markdown, with $LaTeX$ ...             -> a markdown cell
    +++                                              -> (a line of its own) starts a new markdown cell
    ```python                                        -> a code cell, up to the closing fence
    ...
    ```

    python tutorials/_build.py                 # every notebook
    python tutorials/_build.py 03 04           # the ones whose names start with 03 or 04
    python tutorials/_build.py --no-execute    # cells only, no outputs

Exercises: a code cell whose first line is `# Your turn N.K: ...` holds a blank for the learner; its answer is
the block after `# --- N.K` in tutorials/solutions/<notebook>.py, and the cell after it calls a check from
tutorials/checks.py. The notebooks are saved with their exercises blank (and the checks saying so).

tests/test_tutorials.py uses `execute` and `fill_in` from here to run every committed notebook in a fresh
kernel, answered but for one exercise.
"""
import argparse
import contextlib
import json
import os
import re
import sys
import tempfile
import time

import nbformat

HERE = os.path.dirname(os.path.abspath(__file__))
SOURCES = os.path.join(HERE, "_source")
KERNEL = "minigrad-tutorials"
FENCE = re.compile(r"^```python\s*$")
# One BLAS thread per kernel: the tests run two notebooks at once on two cores, and OpenBLAS threads
# competing for busy cores spin instead of working (measured: an LSTM training loop ran 30x slower).
ONE_THREAD = {"OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}


def parse(text):
    """The cells of a source file: a list of ('markdown' | 'code', text)."""
    cells, lines, kind = [], [], "markdown"

    def flush():
        body = "\n".join(lines).strip("\n")
        if body.strip():
            cells.append((kind, body))
        lines.clear()

    for line in text.splitlines():
        if kind == "markdown" and FENCE.match(line):
            flush()
            kind = "code"
        elif kind == "code" and line.strip() == "```":
            flush()
            kind = "markdown"
        elif kind == "markdown" and line.strip() == "+++":
            flush()
        else:
            lines.append(line)
    if kind == "code":
        raise ValueError("a ```python block is never closed")
    flush()
    return cells


EXERCISE = re.compile(r"^# Your turn (\d+\.\d+):")          # the first line of an exercise cell
SOLUTION = re.compile(r"^# --- (\d+\.\d+)\s*$", re.M)           # starts an answer in tutorials/solutions/*.py
SOLUTIONS = os.path.join(HERE, "solutions")


def exercises(nb):
    """{exercise id: index of its cell} for the `# Your turn N.K: ...` cells of a notebook."""
    found = {}
    for i, cell in enumerate(nb.cells):
        m = EXERCISE.match(cell.source) if cell.cell_type == "code" else None
        if m:
            found[m.group(1)] = i
    return found


def solutions(name):
    """{exercise id: answer code} from tutorials/solutions/<name>.py ({} when there is no such file)."""
    path = os.path.join(SOLUTIONS, name + ".py")
    if not os.path.exists(path):
        return {}
    with open(path, encoding="utf-8") as f:
        parts = SOLUTION.split(f.read())
    return {parts[i]: parts[i + 1].strip("\n") for i in range(1, len(parts), 2)}


def fill_in(nb, name, leave_blank=()):
    """The notebook with every exercise answered from its solutions file, except those in leave_blank
    (each answered cell keeps its `# Your turn` line, then the answer)."""
    answers = solutions(name)
    for exercise_id, i in exercises(nb).items():
        if exercise_id not in leave_blank:
            first_line = nb.cells[i].source.split("\n", 1)[0]
            nb.cells[i].source = first_line + "\n" + answers[exercise_id]
    return nb


def make_notebook(source_path):
    """A fresh notebook (no outputs) from one source file."""
    with open(source_path, encoding="utf-8") as f:
        cells = parse(f.read())
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_markdown_cell(body) if kind == "markdown" else nbformat.v4.new_code_cell(body)
                for kind, body in cells]
    for i, cell in enumerate(nb.cells):
        cell.id = f"cell-{i:03d}"            # stable ids: rebuilding changes only what changed
    nb.metadata = {"kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"},
                   "language_info": {"name": "python"}}
    return nb


@contextlib.contextmanager
def kernel_manager():
    """A KernelManager whose kernel is this very Python (the project's virtualenv), whatever else is installed.

    The kernel spec lives in a temporary folder, so no `ipykernel install` is needed on a fresh clone and a
    user-level 'python3' kernel pointing at another interpreter can never be picked by mistake.
    """
    from jupyter_client import KernelManager
    from jupyter_client.kernelspec import KernelSpecManager

    with tempfile.TemporaryDirectory() as root:
        spec_dir = os.path.join(root, KERNEL)
        os.makedirs(spec_dir)
        with open(os.path.join(spec_dir, "kernel.json"), "w") as f:
            json.dump({"argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
                       "display_name": "minigrad tutorials", "language": "python", "env": ONE_THREAD}, f)
        specs = KernelSpecManager(kernel_dirs=[root], ensure_native_kernel=False)
        yield KernelManager(kernel_name=KERNEL, kernel_spec_manager=specs)


def execute(nb, timeout=300):
    """Run every cell of `nb` in place, top to bottom, in a fresh kernel started in tutorials/.

    Raises nbclient's CellExecutionError on the first failing cell. Returns the wall time in seconds.
    """
    from nbclient import NotebookClient

    for cell in nb.cells:
        if cell.cell_type == "code":
            cell.outputs, cell.execution_count = [], None
    start = time.perf_counter()
    with kernel_manager() as km:
        client = NotebookClient(nb, km=km, timeout=timeout, record_timing=False,
                                resources={"metadata": {"path": HERE}})
        client.execute()
    return time.perf_counter() - start


def build(name, run=True):
    nb = make_notebook(os.path.join(SOURCES, name + ".md"))
    seconds = execute(nb) if run else None
    for cell in nb.cells:                    # keep the files free of run-to-run noise
        cell.metadata.pop("execution", None)
    nbformat.validate(nb)
    path = os.path.join(HERE, name + ".ipynb")
    nbformat.write(nb, path)
    return path, seconds


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("prefixes", nargs="*", help="build only the notebooks whose names start with these")
    parser.add_argument("--no-execute", action="store_true", help="write the cells without running them")
    args = parser.parse_args(argv)
    names = sorted(f[:-3] for f in os.listdir(SOURCES) if f.endswith(".md"))
    if args.prefixes:
        names = [n for n in names if any(n.startswith(p) for p in args.prefixes)]
    if not names:
        parser.error(f"no source in {SOURCES} matches {args.prefixes}")
    for name in names:
        path, seconds = build(name, run=not args.no_execute)
        size = os.path.getsize(path) / 1024
        took = "" if seconds is None else f"  ran in {seconds:5.1f} s"
        print(f"{os.path.relpath(path)}  {size:6.0f} KiB{took}", flush=True)


if __name__ == "__main__":
    main()
