"""A second real corpus with no download: the running interpreter's standard library as one source-code text
(Karpathy's Linux-source experiment, offline), to look for bracket and indentation cells.

    python -m models.char_lm corpus python-source --out stdlib.txt [--max-chars N]

The .py files under sysconfig.get_paths()["stdlib"] in sorted order (test folders, site-packages and files
that are not UTF-8 left out), each after a comment line naming it. The same Python gives the same text.
"""
import os
import sysconfig

CORPORA = ("python-source",)
SKIPPED_DIRS = {"test", "tests", "idle_test", "site-packages", "dist-packages", "__pycache__"}
SEPARATOR = "# ---- file: {} ----\n"


def stdlib_folder():
    return sysconfig.get_paths()["stdlib"]


def source_files(root):
    """The relative paths (with '/') of the .py files under root, sorted, test folders and packages skipped."""
    found = []
    for folder, dirs, files in os.walk(root):
        dirs[:] = sorted(d for d in dirs if d not in SKIPPED_DIRS)
        rel = os.path.relpath(folder, root)
        for name in sorted(files):
            if name.endswith(".py"):
                found.append(name if rel == "." else f"{rel.replace(os.sep, '/')}/{name}")
    return sorted(found)


def python_source(root=None, max_chars=None):
    """(text, files): the UTF-8 .py files under root (default: this interpreter's stdlib), each after a
    separator comment naming it, cut at max_chars characters; files: the paths that went in (the last
    perhaps cut)."""
    root = stdlib_folder() if root is None else root
    if max_chars is not None and max_chars < 1:
        raise ValueError(f"python_source: max_chars must be >= 1, got {max_chars}")
    if not os.path.isdir(root):
        raise FileNotFoundError(f"python_source: no standard library folder at {root}")
    parts, size, files = [], 0, []
    for rel in source_files(root):
        try:
            with open(os.path.join(root, rel), encoding="utf-8", newline="") as f:
                source = f.read()
        except UnicodeDecodeError:
            continue
        if not source.endswith("\n"):
            source += "\n"
        piece = SEPARATOR.format(rel) + source
        parts.append(piece)
        files.append(rel)
        size += len(piece)
        if max_chars is not None and size >= max_chars:
            break
    if not files:
        raise FileNotFoundError(f"python_source: no UTF-8 .py files under {root}")
    text = "".join(parts)
    return (text if max_chars is None else text[:max_chars]), files


def run_corpus(args):
    """`python -m models.char_lm corpus python-source --out FILE [--max-chars N]`; returns the exit status."""
    from minigrad.cli import check_out_file
    check_out_file(args.out)
    text, files = python_source(max_chars=args.max_chars)
    with open(args.out, "w", encoding="utf-8", newline="") as f:
        f.write(text)
    print(f"wrote {args.out}: {len(text):,} characters ({os.path.getsize(args.out):,} bytes, "
          f"{len(set(text))} distinct) from {len(files)} files of {stdlib_folder()}")
    return 0
