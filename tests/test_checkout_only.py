"""The checkout is self-contained: nothing reads outside it, and a fresh clone passes its data-reading tests.

Issue 11: the suite passed only where a ``shared`` folder sat next to the checkout. Every file a test or tool
reads is in ``tests/data/`` (listed in its SOURCES.md) or made by the test; Fashion-MNIST comes from the
Debian package (``cloudkit.FMNIST``).
"""
from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from cloudkit import DATA, REPO

# What is scanned: the packages, the tests, the tools, the CI/setup scripts and the docs (a clone has only what
# is in it, so a doc may not point beside it either). The patterns are spelt in pieces so that this file does not
# match itself.
SCANNED = ["cluster", "frame", "algos", "scoring", "web", "tools", "tests", ".ci", "pyproject.toml", "docs",
           "README.md"]
SHARED = "sha" + "red"
OUTSIDE = re.compile("|".join([
    re.escape("/work/" + SHARED),                                    # the machine's shared folder
    re.escape("../" + SHARED),                                       # a folder next to the checkout
    r"""parents?(\[\d+\])?\s*/\s*["']""" + SHARED + r"""["']""",     # that folder as a pathlib join
]))
TEXT_SUFFIXES = {".py", ".sh", ".md", ".toml", ".txt", ".cfg", ".ini", ".yml", ".yaml", ".json", ""}

# Tests that read the repository's data; the clone test runs them in a fresh clone (each is a few seconds
# warm; a fresh clone compiles its Numba kernels once, which is most of the time: ~30 s on 2 idle cores).
DATA_TESTS = [
    "tests/test_parse_setup.py",                                  # the setup guess of smalldata and the ECG files
    "tests/test_dl_params.py::test_every_appendix_a_parameter_is_in_the_schema",  # the booklet's list
    "tests/test_frames.py::test_import_small_real_files_with_h2o_setup",         # import_file of smalldata
    "tests/test_checkout_only.py::test_nothing_reads_outside_the_checkout",
    "tests/test_checkout_only.py::test_every_data_file_has_its_source",
]


def _scanned_files(root: Path):
    for top in SCANNED:
        path = root / top
        files = [path] if path.is_file() else sorted(p for p in path.rglob("*") if p.is_file())
        for p in files:
            if "__pycache__" in p.parts or p.suffix not in TEXT_SUFFIXES or p.is_relative_to(root / "tests" / "data"):
                continue
            yield p


def test_nothing_reads_outside_the_checkout():
    """No path to the machine's shared folder or to a folder beside the checkout, in code, comments or docs
    (a docstring or README example a user copies must work for them too)."""
    hits = []
    for p in _scanned_files(REPO):
        for n, line in enumerate(p.read_text(encoding="utf-8", errors="replace").splitlines(), 1):
            if OUTSIDE.search(line):
                hits.append(f"{p.relative_to(REPO)}:{n}: {line.strip()}")
    assert hits == [], "paths leaving the checkout:\n" + "\n".join(hits)


def test_the_scan_finds_each_kind_of_outside_path():
    for line in ["x = '/work/" + SHARED + "/data/a.csv'", "see ../" + SHARED + "/spec",
                 'DATA = REPO.parent / "' + SHARED + '" / "data"', "Path(f).parents[1] / '" + SHARED + "'"]:
        assert OUTSIDE.search(line), line
    absolute = "/" + SHARED + "/data/x.csv"                      # a user's own absolute path: fine
    for line in ["a shared model", "shared by the node's maps", 'REPO / "tests" / "data"', absolute]:
        assert not OUTSIDE.search(line), line


def test_every_data_file_has_its_source():
    """Every file under tests/data/ is named in SOURCES.md (with where it came from and its licence)."""
    sources = (DATA / "SOURCES.md").read_text(encoding="utf-8")
    files = sorted(str(p.relative_to(DATA)) for p in DATA.rglob("*") if p.is_file() and p.name != "SOURCES.md"
                   and "__pycache__" not in p.parts)
    assert len(files) >= 17
    assert [f for f in files if f"`{f}`" not in sources] == []


def _git(*args: str, cwd: Path) -> str:
    return subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True, text=True, timeout=60).stdout


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_a_fresh_clone_passes_its_data_tests(tmp_path):
    """``git clone`` of this checkout's committed HEAD into an empty folder with nothing beside it, then the
    data-reading tests run there, importing the clone's code (uncommitted changes are not in the clone)."""
    if shutil.which("git") is None or not (REPO / ".git").exists():
        pytest.skip("not a git checkout (or no git): nothing to clone")
    alone = tmp_path / "alone"
    alone.mkdir()
    clone = alone / "aquifer"
    _git("clone", "--quiet", str(REPO), str(clone), cwd=tmp_path)
    assert [p.name for p in alone.iterdir()] == ["aquifer"]          # nothing beside the clone
    assert _git("rev-parse", "HEAD", cwd=clone) == _git("rev-parse", "HEAD", cwd=REPO)

    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST_")}
    env["PYTHONPATH"] = str(clone)
    where = subprocess.run(
        [sys.executable, "-c", "import sys; sys.path.insert(0, 'tests'); import cluster, frame, algos, scoring, "
         "tools, cloudkit; print('\\n'.join(m.__file__ for m in (cluster, frame, algos, scoring, tools, cloudkit)))"],
        cwd=clone, env=env, capture_output=True, text=True, timeout=60)
    assert where.returncode == 0, where.stderr
    assert all(Path(f).resolve().is_relative_to(clone) for f in where.stdout.split()), where.stdout

    run = subprocess.run([sys.executable, "-m", "pytest", "-q", "-x", "-p", "no:cacheprovider", "--timeout", "120",
                          *DATA_TESTS], cwd=clone, env=env, capture_output=True, text=True, timeout=270)
    tail = (run.stdout + run.stderr)[-4000:]
    assert run.returncode == 0, tail
    summary = run.stdout.strip().splitlines()[-1]
    assert re.fullmatch(r"=*\s*\d+ passed in [\d.]+s.*", summary), tail       # all ran and passed, none skipped
