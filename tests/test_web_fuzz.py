"""Property-based fuzzing of the whole REST API from its own OpenAPI document (schemathesis), on a real 2-node
cloud holding a frame and a model: no 5xx, every answer's status, content type and body as documented, every
request answered within its deadline, and both nodes healthy afterwards. /3/Shutdown is left out (it would
end the run; tests/test_web_api.py covers it)."""
from __future__ import annotations

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import (content_type_conformance, not_a_server_error, response_schema_conformance,
                                 status_code_conformance)

from webkit import assert_healthy, http, signal_csv, wait_job, web_cloud

pytestmark = pytest.mark.slow

EXAMPLES = 25          # generated per operation and phase: the run makes about 1,500 requests in ~30 s
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]


@pytest.fixture(scope="module")
def fuzz_cloud(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("fuzz")
    with web_cloud(tmp) as (a, b):
        bases = (f"http://{a.address}", f"http://{b.address}")
        signal_csv(tmp / "signal.csv", rows=300)
        status, started, _ = http(bases[0], "/3/ImportFiles", "POST", {"path": str(tmp / "signal.csv")})
        assert status == 200 and wait_job(bases[1], started["job"]["job_id"])["status"] == "DONE"
        status, r, _ = http(bases[1], "/3/ModelBuilders/deeplearning", "POST",
                            {"training_frame": "signal.hex", "response_column": "y", "hidden": [4], "epochs": 1})
        assert status == 200 and wait_job(bases[0], r["job"]["job_id"])["status"] == "DONE"
        yield bases


@pytest.fixture(scope="module")
def api_schema(fuzz_cloud):
    return schemathesis.openapi.from_url(f"{fuzz_cloud[0]}/openapi.json")


schema = schemathesis.pytest.from_fixture("api_schema").exclude(path="/3/Shutdown")


@schema.parametrize()
@settings(max_examples=EXAMPLES, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much, HealthCheck.data_too_large,
                                 HealthCheck.function_scoped_fixture])
def test_api_from_its_openapi_document(case, fuzz_cloud):
    # the training endpoint would start real jobs from random valid bodies: keep them tiny
    if case.operation.path == "/3/ModelBuilders/deeplearning" and case.method == "POST" and \
            isinstance(case.body, dict):
        case.body = {**case.body, "epochs": 0.01, "hidden": [2]}
    case.call_and_validate(checks=CHECKS, timeout=60)


def test_nodes_healthy_after_fuzzing(fuzz_cloud):
    assert_healthy(*fuzz_cloud)

