"""tutorials/checks.py and tutorials/_build.py as modules for the tests (tutorials/ is not a package)."""
import importlib.util
import os

TUTORIALS = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "tutorials")


def load(file):
    """The module in tutorials/<file>, executed once per call."""
    name = "tutorials_" + os.path.splitext(file)[0].lstrip("_")
    spec = importlib.util.spec_from_file_location(name, os.path.join(TUTORIALS, file))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


checks = load("checks.py")
build = load("_build.py")
