import os
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
os.environ.setdefault("AQUIFER_NO_PROGRESS", "1")
os.environ["AQUIFER_PLUGINS"] = "aquifer_test_plugin"     # test ops in embedded nodes too

from cloudkit import Launcher  # noqa: E402


@pytest.fixture
def launcher(tmp_path):
    """Starts real node processes; every one of them is killed at the end of the test."""
    kit = Launcher(tmp_path)
    try:
        yield kit
    finally:
        kit.cleanup()
