"""The tutorials: every notebook runs top to bottom in a fresh kernel, and the committed files stay sound.

Each notebook is one test (pytest-xdist spreads them over its workers). The committed outputs are thrown
away before the run, so a notebook that no longer works with the current library fails here, whatever its
saved outputs say. Notebooks are built from tutorials/_source/*.md by tutorials/_build.py.
"""
import os
import re

import nbformat
import pytest
from tutorial_modules import TUTORIALS, build, checks

NOTEBOOKS = sorted(f for f in os.listdir(TUTORIALS) if f.endswith(".ipynb"))
MAX_TOTAL_BYTES = 2 * 1024 * 1024




def _read(name):
    return nbformat.read(os.path.join(TUTORIALS, name), as_version=4)


def test_every_source_is_built():
    """One notebook per source in tutorials/_source/, and the nine chapters of the path are all there."""
    sources = sorted(f[:-len(".md")] for f in os.listdir(os.path.join(TUTORIALS, "_source")) if f.endswith(".md"))
    assert [n[:-len(".ipynb")] for n in NOTEBOOKS] == sources
    assert [n[:2] for n in NOTEBOOKS] == [f"{k:02d}" for k in range(1, 11)]


def _printed(cells):
    return "".join(o.get("text", "") for c in cells if c.cell_type == "code" for o in c.outputs
                   if o.output_type == "stream")


@pytest.mark.slow
@pytest.mark.parametrize("name", NOTEBOOKS)
def test_notebook_executes(name):
    """Fresh kernel, outputs discarded, every cell run in order; any exception in any cell fails the test.
    Every exercise is answered from tutorials/solutions/ but the last, left blank: each answered check must
    print its pass line, and the blank one its failure, so no check passes whatever it is given."""
    nb = _read(name)
    ids = list(build.exercises(nb))
    build.fill_in(nb, name[:-len(".ipynb")], leave_blank=ids[-1:])
    build.execute(nb, timeout=120)
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert all(c.execution_count is not None for c in code), "some code cells did not run"
    errors = [o for c in code for o in c.outputs if o.output_type == "error"]
    assert not errors, errors
    printed = _printed(nb.cells)
    for exercise_id in ids[:-1]:
        assert re.search(rf"^{checks.PASS} {re.escape(exercise_id)} ", printed, re.M), \
            f"exercise {exercise_id}: its check did not pass with the model answer"
    if ids:
        assert re.search(rf"^{checks.FAIL} {re.escape(ids[-1])} .*{checks.NOT_ANSWERED}", printed, re.M), \
            f"exercise {ids[-1]}: its check did not report the blank answer"


@pytest.mark.parametrize("name", NOTEBOOKS)
def test_every_notebook_has_checked_exercises(name):
    """At least two "Your turn" exercises, numbered N.1, N.2, ... for notebook N, each with a model answer in
    tutorials/solutions/ and followed by a cell that calls one of tutorials/checks.py's checks."""
    nb, stem = _read(name), name[:-len(".ipynb")]
    found = build.exercises(nb)
    number = int(name[:2])
    assert list(found) == [f"{number}.{k}" for k in range(1, len(found) + 1)] and len(found) >= 2, list(found)
    answers = build.solutions(stem)
    assert set(answers) == set(found), f"tutorials/solutions/{stem}.py answers {sorted(answers)}"
    for exercise_id, i in found.items():
        follower = nb.cells[i + 1]
        assert follower.cell_type == "code" and "checks." in follower.source, f"exercise {exercise_id} is not checked"


def test_a_check_passes_fails_with_its_hint_and_never_raises(capsys):
    @checks.exercise("0.1 doubling")
    def double_check(fn):
        assert fn(2) == 4, "double(2) should be 4"
        return "doubles"

    double_check(lambda x: 2 * x)
    double_check(lambda x: x + 1)
    double_check(...)
    double_check(checks.blank)
    double_check(lambda x: 1 / 0)
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == f"{checks.PASS} 0.1 doubling: doubles"
    assert lines[1] == f"{checks.FAIL} 0.1 doubling: double(2) should be 4"
    assert checks.NOT_ANSWERED in lines[2] and checks.NOT_ANSWERED in lines[3]
    assert lines[4].startswith(f"{checks.FAIL} 0.1 doubling: your code raised ZeroDivisionError")


def test_fill_in_puts_each_answer_under_its_exercise_line(tmp_path, monkeypatch):
    (tmp_path / "99_x.py").write_text("# --- 9.1\nanswer = 1\n\n# --- 9.2\ndef f():\n    return 2\n")
    monkeypatch.setattr(build, "SOLUTIONS", str(tmp_path))
    source = tmp_path / "99_x.md"
    source.write_text("Intro\n```python\n# Your turn 9.1: set answer\nanswer = ...\n```\n"
                      "```python\n# Your turn 9.2: write f\ndef f():\n    ...\n```\n")
    nb = build.make_notebook(str(source))
    assert build.exercises(nb) == {"9.1": 1, "9.2": 2}
    build.fill_in(nb, "99_x", leave_blank=["9.2"])
    assert nb.cells[1].source == "# Your turn 9.1: set answer\nanswer = 1"
    assert nb.cells[2].source == "# Your turn 9.2: write f\ndef f():\n    ..."


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
