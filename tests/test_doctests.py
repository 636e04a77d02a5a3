"""Every docstring example in the project's modules runs (an example that is never run can drift from the code)."""
import doctest
import importlib
import pkgutil

import pytest

PACKAGES = ("cluster", "frame", "algos", "scoring", "web", "tools", "tools.bench")


def _modules():
    for pkg in PACKAGES:
        for info in pkgutil.iter_modules(importlib.import_module(pkg).__path__):
            if not info.ispkg:
                yield f"{pkg}.{info.name}"


@pytest.mark.parametrize("name", sorted(_modules()))
def test_docstring_examples_run(name):
    res = doctest.testmod(importlib.import_module(name), optionflags=doctest.ELLIPSIS)
    assert res.failed == 0, f"{res.failed} of {res.attempted} examples of {name} failed"
