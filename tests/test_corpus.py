"""`python -m models.char_lm corpus python-source`: a source-code corpus from this interpreter's standard library."""
import os

import pytest

from minigrad.cli import run
from models.char_lm import corpus
from models.char_lm.__main__ import main


def cli(*argv):
    try:
        return run(main, list(argv))
    except SystemExit as e:
        return e.code


def test_the_real_stdlib_cut_at_max_chars(tmp_path, capsys):
    out = tmp_path / "py.txt"
    assert cli("corpus", "python-source", "--out", str(out), "--max-chars", "5000") == 0
    text = out.read_text(encoding="utf-8")
    assert len(text) == 5000 and text.startswith("# ---- file: ")
    files = [line[len("# ---- file: "):-len(" ----")] for line in text.splitlines() if line.startswith("# ---- file:")]
    assert files and all(f.endswith(".py") for f in files)
    assert os.path.isfile(os.path.join(corpus.stdlib_folder(), files[0]))
    printed = capsys.readouterr().out
    assert printed.startswith(f"wrote {out}: 5,000 characters") and f"from {len(files)} files of " in printed


def test_the_same_python_gives_the_same_corpus(tmp_path):
    a, b = tmp_path / "a.txt", tmp_path / "b.txt"
    for path in (a, b):
        assert cli("corpus", "python-source", "--out", str(path), "--max-chars", "20000") == 0
    assert a.read_bytes() == b.read_bytes()


def test_stdlib_files_are_sorted_and_tests_left_out():
    files = corpus.source_files(corpus.stdlib_folder())
    assert files == sorted(files) and "os.py" in files and "json/decoder.py" in files
    assert not any(set(f.split("/")[:-1]) & corpus.SKIPPED_DIRS for f in files)


def test_a_folder_of_sources_becomes_one_text(tmp_path):
    root = tmp_path / "lib"
    for rel, data in {"b.py": b"x = 1\n", "a.py": b"# a\nprint('a')", "pkg/m.py": "s = '\u00e9'\n".encode(),
                      "pkg/notes.txt": b"not python", "tests/t.py": b"skip", "pkg/test/t.py": b"skip",
                      "__pycache__/c.py": b"skip", "latin.py": "s = '\u00e9'\n".encode("latin-1")}.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_bytes(data)
    text, files = corpus.python_source(str(root))
    assert files == ["a.py", "b.py", "pkg/m.py"]                  # latin.py is not UTF-8
    assert text == ("# ---- file: a.py ----\n# a\nprint('a')\n" "# ---- file: b.py ----\nx = 1\n"
                    "# ---- file: pkg/m.py ----\ns = '\u00e9'\n")
    cut, cut_files = corpus.python_source(str(root), max_chars=30)
    assert cut == text[:30] and cut_files == ["a.py"]
    assert corpus.python_source(str(root), max_chars=len(text))[0] == text


def test_errors(tmp_path, capsys):
    with pytest.raises(FileNotFoundError, match="no standard library folder"):
        corpus.python_source(str(tmp_path / "missing"))
    with pytest.raises(FileNotFoundError, match="no UTF-8 .py files"):
        corpus.python_source(str(tmp_path))
    with pytest.raises(ValueError, match="max_chars must be >= 1"):
        corpus.python_source(max_chars=0)
    for argv, names in [(["--out", str(tmp_path)], "--out"), (["--out", str(tmp_path / "no" / "x.txt")], "--out"),
                        (["--out", str(tmp_path / "x.txt"), "--max-chars", "0"], "--max-chars"),
                        (["--max-chars", "5"], "--out")]:
        assert cli("corpus", "python-source", *argv) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert names in err[-1], err
    assert cli("corpus", "linux-source", "--out", str(tmp_path / "x.txt")) == 2
    assert "invalid choice: 'linux-source'" in capsys.readouterr().err
    assert not os.path.exists(tmp_path / "x.txt")
