"""Every docstring example in the project's modules runs (an example that is never run can drift from the code)."""
import doctest
import importlib
import pkgutil

import pytest

PACKAGES = ("cluster", "frame", "algos", "scoring", "web", "tools")


def _modules():
    """Every module of the packages, subpackages' modules and ``__init__`` modules included."""
    for pkg in PACKAGES:
        yield pkg
        for info in pkgutil.walk_packages(importlib.import_module(pkg).__path__, prefix=f"{pkg}."):
            yield info.name


@pytest.mark.parametrize("name", sorted(_modules()))
def test_docstring_examples_run(name):
    res = doctest.testmod(importlib.import_module(name), optionflags=doctest.ELLIPSIS)
    assert res.failed == 0, f"{res.failed} of {res.attempted} examples of {name} failed"
