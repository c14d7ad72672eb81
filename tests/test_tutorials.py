"""The tutorials: every notebook runs top to bottom in a fresh kernel, and the committed files stay sound.

Each notebook is one test (pytest-xdist spreads them over its workers). The committed outputs are thrown
away before the run, so a notebook that no longer works with the current library fails here, whatever its
saved outputs say. Notebooks are built from tutorials/_source/*.md by tutorials/_build.py.
"""
import importlib.util
import os
import re

import nbformat
import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TUTORIALS = os.path.join(ROOT, "tutorials")
NOTEBOOKS = sorted(f for f in os.listdir(TUTORIALS) if f.endswith(".ipynb"))
MAX_TOTAL_BYTES = 2 * 1024 * 1024


def _load_build():
    spec = importlib.util.spec_from_file_location("tutorials_build", os.path.join(TUTORIALS, "_build.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


build = _load_build()


def _read(name):
    return nbformat.read(os.path.join(TUTORIALS, name), as_version=4)


def test_every_source_is_built():
    """One notebook per source in tutorials/_source/, and the nine chapters of the path are all there."""
    sources = sorted(f[:-len(".md")] for f in os.listdir(os.path.join(TUTORIALS, "_source")) if f.endswith(".md"))
    assert [n[:-len(".ipynb")] for n in NOTEBOOKS] == sources
    assert [n[:2] for n in NOTEBOOKS] == [f"{k:02d}" for k in range(1, 10)]


@pytest.mark.slow
@pytest.mark.parametrize("name", NOTEBOOKS)
def test_notebook_executes(name):
    """Fresh kernel, outputs discarded, every cell run in order; any exception in any cell fails the test."""
    nb = _read(name)
    build.execute(nb, timeout=120)
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert all(c.execution_count is not None for c in code), "some code cells did not run"
    errors = [o for c in code for o in c.outputs if o.output_type == "error"]
    assert not errors, errors


@pytest.mark.parametrize("name", NOTEBOOKS)
def test_notebook_matches_its_source(name):
    """The committed notebook holds exactly the cells its source describes (rebuild with tutorials/_build.py)."""
    built = build.make_notebook(os.path.join(TUTORIALS, "_source", name[:-len(".ipynb")] + ".md"))
    saved = _read(name)
    assert [(c.cell_type, c.source) for c in saved.cells] == [(c.cell_type, c.source) for c in built.cells]


@pytest.mark.parametrize("name", NOTEBOOKS)
def test_committed_outputs_are_clean(name):
    """Saved with outputs (so the pictures show on a code host), none of them an error."""
    code = [c for c in _read(name).cells if c.cell_type == "code"]
    assert all(c.execution_count is not None for c in code), "saved without running every cell"
    assert not [o for c in code for o in c.outputs if o.output_type == "error"]
    assert any(c.outputs for c in code)


def test_notebooks_stay_light():
    total = sum(os.path.getsize(os.path.join(TUTORIALS, n)) for n in NOTEBOOKS)
    assert total < MAX_TOTAL_BYTES, f"the notebooks weigh {total / 1024:.0f} KiB together"


def test_readme_lists_every_notebook():
    with open(os.path.join(TUTORIALS, "README.md"), encoding="utf-8") as f:
        readme = f.read()
    missing = [n for n in NOTEBOOKS if n not in readme]
    assert not missing, f"tutorials/README.md does not mention {missing}"


def test_sources_parse_into_cells():
    cells = build.parse("Intro $x$\n\n+++\nMore\n```python\nx = 1\n```\nEnd\n")
    assert cells == [("markdown", "Intro $x$"), ("markdown", "More"), ("code", "x = 1"), ("markdown", "End")]
    with pytest.raises(ValueError, match="never closed"):
        build.parse("```python\nx = 1\n")


def test_notebooks_use_only_the_public_api():
    """No private names of the library (a leading underscore after minigrad/models/viz) in any code cell."""
    private = re.compile(r"\b(mg|minigrad|models|viz|nn|optim|F)\.(_\w+)")
    found = {}
    for name in NOTEBOOKS:
        for c in _read(name).cells:
            if c.cell_type == "code":
                found.setdefault(name, []).extend(m.group(0) for m in private.finditer(c.source))
    assert not any(found.values()), found
