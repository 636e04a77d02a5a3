import os
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
os.environ.setdefault("AQUIFER_NO_PROGRESS", "1")
import aquifer_test_plugin  # noqa: E402,F401  (test atomics and task classes in embedded nodes too)
import cluster  # noqa: E402
from cloudkit import Launcher, free_port_pair  # noqa: E402


@pytest.fixture
def launcher(tmp_path):
    """Starts real node processes; every one of them is killed at the end of the test."""
    kit = Launcher(tmp_path)
    try:
        yield kit
    finally:
        kit.cleanup()


@pytest.fixture(scope="module")
def one():
    """An embedded one-node cloud per test module."""
    cluster.shutdown()
    c = cluster.init(port=free_port_pair())
    yield c
    c.shutdown()


@pytest.fixture(scope="module")
def cloud(one):
    """The cloud a module's tests run on: the embedded node, unless the module defines its own."""
    return one


@pytest.fixture(scope="session")
def keys_dir(tmp_path_factory):
    """One security dir (tools.admin keygen) for every CURVE test of the session."""
    from cluster.security import make_security_dir
    return Path(make_security_dir(str(tmp_path_factory.mktemp("keys") / "security")))


@pytest.fixture(scope="module", params=["plain", "curve"])
def security(request):
    """The 3-node smoke tests run twice: without security and with every node and client on CURVE."""
    return request.getfixturevalue("keys_dir") if request.param == "curve" else None
