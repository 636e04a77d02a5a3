import os
import subprocess
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
os.environ.setdefault("AQUIFER_NO_PROGRESS", "1")
import aquifer_test_plugin  # noqa: E402,F401  (test atomics and task classes in embedded nodes too)
import cluster  # noqa: E402
from cloudkit import Launcher, free_port_pair  # noqa: E402
import netkit  # noqa: E402


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    """Keeps each phase's report on the test item (``rep_setup``, ``rep_call``), for fixtures' teardown."""
    outcome = yield
    report = outcome.get_result()
    setattr(item, f"rep_{report.when}", report)


@pytest.fixture
def launcher(tmp_path, request):
    """Starts real node processes; every one of them is killed at the end of the test. When the test failed,
    the end of each node's log is printed (shown with the failure), so CI output says what the nodes saw."""
    kit = Launcher(tmp_path)
    try:
        yield kit
    finally:
        failed = any(getattr(getattr(request.node, f"rep_{when}", None), "failed", False)
                     for when in ("setup", "call"))
        if failed:
            for node in kit.procs:
                lines = node.log().splitlines() if node.log_path.exists() else []
                print(f"--- last lines of {node.log_path.name} (exit code {node.proc.poll()}) ---")
                print("\n".join(line[:300] for line in lines[-15:]))
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


@pytest.fixture
def netns_hosts():
    """Three network namespaces on a bridge (tests/netkit.py): [(namespace, address)]; skipped without root."""
    why = netkit.unavailable()
    if why:
        pytest.skip(why)
    made = netkit.hosts(3)
    try:
        hosts = made.__enter__()
    except subprocess.CalledProcessError as exc:
        made.__exit__(None, None, None)
        pytest.skip(f"cannot create network namespaces here: {exc.stderr.decode().strip()}")
    try:
        yield hosts
    finally:
        made.__exit__(None, None, None)
