"""Test kit for the REST API and web UI: an HTTP client with deadlines and a small CSV the tests import."""
from __future__ import annotations

import json
import urllib.error
import urllib.request
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pandas as pd

from cloudkit import Launcher, wait_until


@contextmanager
def web_cloud(tmp: Path, n: int = 2, **kit_options):
    """``n`` node processes whose web servers answer (yields the NodeProcs); every one is killed at the end."""
    kit = Launcher(tmp, **kit_options)
    try:
        nodes = kit.cloud(n)
        for node in nodes:
            node.wait_log("web UI and REST API at")
        yield nodes
    finally:
        kit.cleanup()


def http(base: str, path: str, method: str = "GET", body=None, *, raw: bytes | None = None,
         content_type: str | None = "application/json", headers: dict | None = None, timeout: float = 60.0):
    """(status, parsed JSON or bytes, headers) of one request; never raises for an HTTP status."""
    data = raw if raw is not None else (None if body is None else json.dumps(body).encode())
    hdrs = dict(headers or {})
    if content_type and (data is not None or method == "POST"):
        hdrs["Content-Type"] = content_type
    req = urllib.request.Request(base + path, data=data, method=method, headers=hdrs)
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            status, payload, rh = resp.status, resp.read(), resp.headers
    except urllib.error.HTTPError as exc:
        status, payload, rh = exc.code, exc.read(), exc.headers
    if rh.get("Content-Type", "").startswith("application/json"):
        payload = json.loads(payload)
    return status, payload, rh


def wait_job(base: str, job_id: str, timeout: float = 120.0, states=("DONE", "FAILED", "CANCELLED"),
             headers: dict | None = None) -> dict:
    def done():
        status, job, _ = http(base, f"/3/Jobs/{job_id}", headers=headers)
        assert status == 200, job
        return job if job["status"] in states else None
    return wait_until(done, timeout, f"job {job_id} to reach {states}", interval=0.2)


def assert_healthy(*bases: str, size: int = 2) -> None:
    """Every node answers /3/Cloud with a formed, healthy cloud of ``size``."""
    for base in bases:
        status, st, _ = http(base, "/3/Cloud", timeout=10)
        assert status == 200 and st["healthy"] and st["formed"] and st["size"] == size, st


def signal_csv(path: Path, rows: int = 2000, seed: int = 1) -> pd.DataFrame:
    """A CSV whose class ``y`` follows column ``signal`` alone (two noise columns), so ``signal`` must top the
    variable importances of any model that learnt it."""
    rng = np.random.default_rng(seed)
    df = pd.DataFrame({"signal": rng.normal(size=rows).round(6), "noise1": rng.normal(size=rows).round(6),
                       "noise2": rng.uniform(size=rows).round(6)})
    df["y"] = np.where(df["signal"] > 0, "yes", "no")
    df.to_csv(path, index=False)
    return df
