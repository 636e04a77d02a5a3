"""The REST API on a real 2-node cloud: every endpoint, from either node, with bad input answered by the
documented status and message, and the nodes healthy afterwards."""
from __future__ import annotations

import base64
import concurrent.futures
import os
import threading

import pandas as pd
import pytest

import algos
from cloudkit import Launcher, admin, free_port_pair, wait_until
from webkit import assert_healthy, http, signal_csv, wait_job, web_cloud

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def web(tmp_path_factory):
    """Two node processes (REST ports = their --port), a CSV imported through node A, a model trained
    through node B. Yields (base_a, base_b, info)."""
    tmp = tmp_path_factory.mktemp("web")
    with web_cloud(tmp) as (a, b):
        base_a, base_b = f"http://{a.address}", f"http://{b.address}"
        csv = tmp / "signal.csv"
        df = signal_csv(csv)
        status, started, _ = http(base_a, "/3/ImportFiles", "POST", {"path": str(csv)})
        assert status == 200, started
        assert wait_job(base_b, started["job"]["job_id"])["status"] == "DONE"
        yield base_a, base_b, {"csv": csv, "df": df, "frame": started["destination_frame"], "nodes": (a, b),
                               "tmp": tmp}


@pytest.fixture(scope="module")
def model(web):
    base_a, base_b, info = web
    status, r, _ = http(base_b, "/3/ModelBuilders/deeplearning", "POST",
                        {"training_frame": info["frame"], "validation_frame": info["frame"], "response_column": "y",
                         "hidden": [8], "epochs": 4, "seed": 7, "score_each_iteration": True})
    assert status == 200, r
    job = wait_job(base_a, r["job"]["job_id"])
    assert job["status"] == "DONE", job
    return r["model_id"]


def test_cloud_from_either_node(web):
    base_a, base_b, info = web
    for base in (base_a, base_b):
        status, st, _ = http(base, "/3/Cloud")
        assert status == 200 and st["size"] == 2 and st["formed"] and st["healthy"]
        assert sorted(m["node"] for m in st["members"]) == sorted(n.address for n in info["nodes"])
        assert all(m["web_url"] == f"http://{m['node']}/" and m["state"] == "healthy" for m in st["members"])


def test_frames_list_detail_columns_and_paging(web):
    base_a, base_b, info = web
    df, key = info["df"], info["frame"]
    for base in (base_a, base_b):
        status, page, _ = http(base, "/3/Frames")
        row = next(r for r in page["items"] if r["frame_id"] == key)
        assert (row["rows"], row["columns"]) == (len(df), 4) and row["bytes"] > 0
    status, fr, _ = http(base_b, f"/3/Frames/{key}?row_offset=1500&row_count=5")
    assert status == 200 and [c["name"] for c in fr["columns_summary"]] == list(df.columns)
    sig = fr["columns_summary"][0]
    assert sig["min"] == pytest.approx(df.signal.min()) and sig["mean"] == pytest.approx(df.signal.mean())
    assert sig["na_count"] == 0 and sum(sig["histogram"]["counts"]) == len(df)
    assert len(sig["histogram"]["breaks"]) == len(sig["histogram"]["counts"]) + 1
    assert fr["columns_summary"][3]["cardinality"] == 2 and fr["columns_summary"][3]["histogram"] is None
    assert fr["preview"] == [[r.signal, r.noise1, r.noise2, r.y] for r in df.iloc[1500:1505].itertuples()]
    status, fr, _ = http(base_a, f"/3/Frames/{key}?column_offset=2&column_count=1&row_count=0")
    assert [c["name"] for c in fr["columns_summary"]] == ["noise2"] and fr["preview"] == []
    status, cols, _ = http(base_a, f"/3/Frames/{key}/columns?offset=1&limit=2")
    assert status == 200 and cols["total"] == 4 and [c["name"] for c in cols["items"]] == ["noise1", "noise2"]
    status, page, _ = http(base_a, "/3/Frames?offset=0&limit=1")
    assert status == 200 and len(page["items"]) == 1 and page["limit"] == 1


@pytest.mark.parametrize("path, status, words", [
    ("/3/Frames/no_such_frame", 404, "no frame 'no_such_frame'"),
    ("/3/Frames/no_such_frame/columns", 404, "no frame"),
    ("/3/Models/no_such_model", 404, "no model 'no_such_model'"),
    ("/3/Models/no_such_model/download", 404, "no model"),
    ("/3/Jobs/bm90IGEgam9i", 404, "no job"),
    ("/3/Jobs/%%%", 404, "no job"),
    ("/3/Frames?limit=0", 400, "'limit' must be in 1..1000"),
    ("/3/Frames?offset=abc", 400, "'offset' must be an integer"),
    ("/3/nothing/here", 404, "no such endpoint"),
])
def test_bad_gets(web, path, status, words):
    base_a, base_b, info = web
    got, body, headers = http(base_a, path)
    assert got == status and words in body["detail"] and body["error"], body
    assert headers["Content-Type"].startswith("application/json")
    assert_healthy(base_a, base_b)


def test_a_job_of_a_node_outside_the_cloud_is_unknown(web):
    base_a, base_b, _ = web
    forged = base64.urlsafe_b64encode(b"@10.9.9.9:1@$job/0123456789ab").decode().rstrip("=")
    status, body, _ = http(base_a, f"/3/Jobs/{forged}")
    assert status == 404 and "no job" in body["detail"]


def test_malformed_wrong_type_oversized_and_wrong_method(web):
    base_a, base_b, _ = web
    status, body, _ = http(base_a, "/3/ModelBuilders/deeplearning", "POST", raw=b'{"epochs": 1,')
    assert status == 400 and body["error"] == "malformed JSON"
    status, body, _ = http(base_a, "/3/ModelBuilders/deeplearning", "POST", raw=b"\xff\xfe\x00garbage")
    assert status == 400 and body["error"] == "malformed JSON"
    status, body, _ = http(base_a, "/3/ModelBuilders/deeplearning", "POST", raw=b"[1, 2]")
    assert status == 400 and "must be a JSON object" in body["detail"]
    status, body, _ = http(base_a, "/3/ImportFiles", "POST", raw=b'{"path": "x"}', content_type="text/plain")
    assert status == 415 and "application/json" in body["detail"]
    status, body, _ = http(base_a, "/3/ImportFiles", "POST", raw=b'{"path": "' + b"a" * (2 << 20) + b'"}')
    assert status == 413 and "larger than" in body["detail"]
    status, body, headers = http(base_a, "/3/Cloud", "PUT", {})
    assert status == 405 and "not allowed" in body["detail"] and "GET" in headers["Allow"]
    assert_healthy(base_a, base_b)


def test_training_parameters_checked_as_the_python_api_checks_them(web):
    base_a, base_b, info = web
    for bad in ({"hiden": [10]}, {"epochs": "x"}, {"activation": "Sigmoid"}, {"hidden": [0]}, {"rho": 1.5}):
        with pytest.raises(ValueError) as exc:
            algos.DeepLearningEstimator(**bad)
        status, body, _ = http(base_b, "/3/ModelBuilders/deeplearning", "POST",
                               {"training_frame": info["frame"], "response_column": "y", **bad})
        assert status == 400 and body == {"error": "bad parameter", "detail": str(exc.value)}
    status, body, _ = http(base_b, "/3/ModelBuilders/deeplearning", "POST", {"response_column": "y"})
    assert status == 400 and "'training_frame' is required" in body["detail"]
    status, body, _ = http(base_b, "/3/ModelBuilders/deeplearning", "POST", {"training_frame": "nope", "y": "y"})
    assert status == 404 and "no frame 'nope'" in body["detail"]
    status, body, _ = http(base_b, "/3/ModelBuilders/deeplearning", "POST",
                           {"training_frame": info["frame"], "response_column": "not_a_column"})
    assert status == 400 and "not_a_column" in body["detail"]
    assert_healthy(base_a, base_b)


def test_import_errors(web):
    base_a, base_b, info = web
    cases = [({}, "'path' is required"), ({"path": str(info["tmp"] / "missing.csv")}, "no such file"),
             ({"path": str(info["tmp"])}, "is not a regular file"), ({"path": 3}, "non-empty string"),
             ({"path": str(info["csv"]), "header": 5}, "'header' must be"),
             ({"path": str(info["csv"]), "colour": "red"}, "unknown import parameter 'colour'"),
             ({"path": str(info["csv"]), "destination_frame": "$bad"}, "bad frame key"),
             ({"path": str(info["csv"]) + "\0x"}, "parameter 'path' holds a NUL"),   # these four answered 200
             ({"path": str(info["csv"]), "sep": "ab"}, "sep must be a single character"),  # and then failed as a job
             ({"path": str(info["csv"]), "encoding": "bogus"}, "unknown encoding 'bogus'"),
             ({"path": str(info["csv"]), "col_types": ["enum"]}, "'col_types' must be an object"),
             ({"path": str(info["csv"]), "col_types": {"y": "colour"}}, "column 'y': unknown column type 'colour'")]
    for body, words in cases:
        status, answer, _ = http(base_a, "/3/ImportFiles", "POST", body)
        assert status == 400 and words in answer["detail"], (body, answer)
    # a REST caller reads only under the node's --data-dir, as the tasks of other processes do
    status, answer, _ = http(base_a, "/3/ImportFiles", "POST", {"path": "/etc/passwd"})
    assert status == 403 and "outside its data dirs" in answer["detail"], answer
    status, answer, _ = http(base_a, "/3/Shutdown", "POST", [1, 2])      # a body it does not take: the cloud stays
    assert status == 400 and "JSON object" in answer["detail"], answer
    # col_types: a numeric-looking column imported as enum (the REST way to a classification response)
    ints = info["tmp"] / "ints.csv"
    ints.write_text("x,y\n1.5,0\n2.5,1\n3.5,0\n")
    status, started, _ = http(base_a, "/3/ImportFiles", "POST", {"path": str(ints), "col_types": {"y": "enum"}})
    assert status == 200 and wait_job(base_b, started["job"]["job_id"])["status"] == "DONE"
    status, fr, _ = http(base_b, f"/3/Frames/{started['destination_frame']}")
    assert [c["type"] for c in fr["columns_summary"]] == ["numeric", "enum"]
    bad = info["tmp"] / "ragged.csv"
    bad.write_text("a,b\n1,2\n3\n")
    status, started, _ = http(base_a, "/3/ImportFiles", "POST", {"path": str(bad)})
    job = wait_job(base_b, started["job"]["job_id"])
    assert job["status"] == "FAILED" and "ragged.csv" in job["error"]
    assert_healthy(base_a, base_b)


def test_model_details(web, model):
    base_a, base_b, info = web
    status, m, _ = http(base_a, f"/3/Models/{model}")
    assert status == 200 and m["kind"] == "binomial" and m["response"] == "y" and m["response_domain"] == ["no", "yes"]
    params = {p["name"]: p for p in m["parameters"]}
    assert params["hidden"]["value"] == [8] and params["hidden"]["changed"]
    assert not params["rho"]["changed"] and params["max_w2"]["value"] == "inf" and not params["max_w2"]["changed"]
    assert set(m["metrics"]) == {"train", "valid"} and 0.9 < m["metrics"]["valid"]["AUC"] <= 1
    hist = m["scoring_history"]
    assert len(hist["rows"]) >= 2 and "epochs" in hist["columns"] and "training_logloss" in hist["columns"]
    assert m["varimp"][0]["variable"] == "signal" and m["varimp_total"] == 3
    cm = m["confusion_matrix"]
    assert cm["actual"] == ["no", "yes", "Total"] and cm["predicted"][:2] == ["no", "yes"]
    assert sum(cm["rows"][2][:2]) == len(info["df"])
    assert m["pojo"] is True                                   # Flow's PREVIEW POJO: the generated class's text
    status, body, _ = http(base_b, f"/3/Models/{model}/pojo")
    assert status == 200 and f"class {model}" in body["java"] and "double[] score0(double[] row, double[] preds)" in \
        body["java"].replace("  ", " ")
    status, page, _ = http(base_b, "/3/Models")
    assert any(r["model_id"] == model and r["metric"] == "AUC" for r in page["items"])
    status, body, _ = http(base_a, "/3/ImportFiles", "POST", {"path": str(info["csv"]), "destination_frame": model})
    assert status == 400 and "holds a model, not a frame" in body["detail"]            # before any job starts


def test_predict_download_and_remove(web, model):
    base_a, base_b, info = web
    status, p, _ = http(base_a, f"/3/Predictions/models/{model}/frames/{info['frame']}", "POST", {})
    assert status == 200 and p["predictions_frame"]["rows"] == len(info["df"]), p
    assert p["predictions_frame"]["columns"] == 3 and p["model_metrics"]["AUC"] > 0.9
    pred = p["predictions_frame"]["frame_id"]
    status, fr, _ = http(base_b, f"/3/Frames/{pred}?row_count=3")
    assert [c["name"] for c in fr["columns_summary"]] == ["predict", "no", "yes"]
    status, body, _ = http(base_a, f"/3/Predictions/models/{model}/frames/nope", "POST", {})
    assert status == 404 and "no frame 'nope'" in body["detail"]
    status, data, headers = http(base_b, f"/3/Models/{model}/download")
    assert status == 200 and data[:8] == b"AQFMODEL" and model in headers["Content-Disposition"]
    status, body, _ = http(base_a, f"/3/DKV/{pred}", "DELETE")
    assert status == 200 and body == {"removed": pred, "type": "frame"}
    assert http(base_b, f"/3/Frames/{pred}")[0] == 404
    assert http(base_a, f"/3/DKV/{pred}", "DELETE")[0] == 404
    status, body, _ = http(base_a, "/3/DKV/$vec", "DELETE")
    assert status == 400 and "internal key" in body["detail"]


def test_long_job_locks_its_keys_until_cancelled(web):
    base_a, base_b, info = web
    status, started, _ = http(base_b, "/3/ImportFiles", "POST", {"path": str(info["csv"]), "destination_frame": "lock.hex"})
    assert status == 200 and wait_job(base_a, started["job"]["job_id"])["status"] == "DONE"
    status, r, _ = http(base_a, "/3/ModelBuilders/deeplearning", "POST",
                        {"training_frame": "lock.hex", "response_column": "y", "hidden": [64, 64], "epochs": 1e6,
                         "model_id": "long_one"})
    assert status == 200 and r["model_id"] == "long_one" and r["job"]["status"] in ("CREATED", "RUNNING")
    jid = r["job"]["job_id"]
    for base, path in ((base_b, "/3/Frames/lock.hex"), (base_a, "/3/DKV/lock.hex"), (base_a, "/3/Models/long_one"),
                       (base_b, "/3/DKV/long_one")):      # the model being built is not stored yet: 409, not 404
        status, body, _ = http(base, path, "DELETE")
        assert status == 409 and body["error"] == "key locked" and "long_one" in body["detail"], body
    status, body, _ = http(base_b, "/3/ModelBuilders/deeplearning", "POST",
                           {"training_frame": "lock.hex", "response_column": "y", "model_id": "long_one"})
    assert status == 409
    status, page, _ = http(base_b, "/3/Jobs?limit=1")
    assert page["items"][0]["job_id"] == jid and page["total"] >= 3
    status, job, _ = http(base_b, f"/3/Jobs/{jid}/cancel", "POST", {})
    assert status == 200 and job["job_id"] == jid
    assert wait_job(base_a, jid)["status"] == "CANCELLED"
    # the lock goes with the training: the frame can be removed now
    wait_until(lambda: http(base_b, "/3/Frames/lock.hex", "DELETE")[0] == 200, 15, "lock.hex to be removable")
    assert http(base_a, "/3/Frames/lock.hex")[0] == 404
    assert_healthy(base_a, base_b)


def test_requests_never_stall_the_nodes_heartbeats(web):
    """40 requests at once, each running MRTasks (summaries, histograms): the other node keeps hearing node A."""
    base_a, base_b, info = web
    stop, ages = threading.Event(), []

    def watch():
        while not stop.is_set():
            _, st, _ = http(base_b, "/3/Cloud")
            ages.extend(m["last_heartbeat_age_s"] for m in st["members"] if m["node"] != st["node"])
            stop.wait(0.2)

    watcher = threading.Thread(target=watch)
    watcher.start()
    try:
        with concurrent.futures.ThreadPoolExecutor(16) as pool:
            answers = list(pool.map(lambda i: http(base_a, f"/3/Frames/{info['frame']}?column_count=4")[0], range(40)))
    finally:
        stop.set()
        watcher.join()
    assert answers == [200] * 40 and ages and max(ages) < 2.5, max(ages)


def test_openapi_lists_every_route(web):
    from web.server import ROUTES
    base_a, _, _ = web
    status, doc, _ = http(base_a, "/openapi.json")
    assert status == 200 and doc["openapi"].startswith("3.")
    assert {(p, m.upper()) for p, ops in doc["paths"].items() for m in ops} == {(r.path, r.method) for r in ROUTES}
    for path, ops in doc["paths"].items():
        for op in ops.values():
            assert "200" in op["responses"] and all(s in op["responses"] for s in ("400", "401"))
    names = {p["name"] for p in http(base_a, "/3/ModelBuilders/deeplearning")[1]["parameters"]}
    assert names == set(doc["components"]["schemas"]["TrainRequest"]["properties"]) - {"y"}


def test_ui_assets_are_served(web):
    base_a, _, _ = web
    status, page, headers = http(base_a, "/")
    assert status == 200 and b"/static/app.js" in page and headers["Content-Type"].startswith("text/html")
    for asset in ("app.js", "charts.js", "style.css"):
        assert http(base_a, f"/static/{asset}")[0] == 200
    assert http(base_a, "/static/../server.py")[0] == 404


def test_cloud_not_formed_answers_503(launcher):
    node = launcher.start(__import__("cloudkit").free_port_pair(), None, extra=["--cloud-size", "2"])
    node.wait_log("started")
    base = f"http://{node.address}"
    wait_until(lambda: http(base, "/3/Cloud")[0] == 200, 15, "the web server")
    status, st, _ = http(base, "/3/Cloud")
    assert st["formed"] is False and st["cloud_size"] == 2
    status, body, _ = http(base, "/3/Frames")
    assert status == 503 and body["error"] == "cloud not formed" and "1 of 2" in body["detail"]


def test_shutdown_stops_the_whole_cloud_and_admin_prints_web_urls(launcher):
    a, b = launcher.cloud(2)
    out = admin("--cluster", a.address, "cloud")
    assert out.returncode == 0 and f"http://{a.address}/" in out.stdout and f"http://{b.address}/" in out.stdout
    status, body, _ = http(f"http://{b.address}", "/3/Shutdown", "POST", {})
    assert status == 200 and sorted(body["stopping"]) == sorted([a.address, b.address]) and body["unreachable"] == []
    assert a.wait_exit(20) == 0 and b.wait_exit(20) == 0


def test_admin_shutdown(launcher):
    a, b = launcher.cloud(2)
    out = admin("--cluster", b.address, "shutdown")
    assert out.returncode == 0 and "stopping 2 node(s)" in out.stdout, out
    assert a.wait_exit(20) == 0 and b.wait_exit(20) == 0


def test_bearer_token_guards_the_api(tmp_path):
    """A node started with --security-dir answers /3/ only with the dir's token (admin `token` prints it); the
    page and the OpenAPI document stay open."""
    out = admin("keygen", str(tmp_path / "sec"))
    assert out.returncode == 0, out.stderr
    token = admin("--security-dir", str(tmp_path / "sec"), "token").stdout.strip()
    with web_cloud(tmp_path, 1, security_dir=tmp_path / "sec") as (node,):
        base = f"http://{node.address}"
        status, body, headers = http(base, "/3/Cloud")
        assert status == 401 and body["error"] == "unauthorized" and headers["WWW-Authenticate"] == "Bearer"
        assert "(python -m tools.admin --security-dir DIR token)" in body["detail"]      # where the token comes from
        assert http(base, "/3/Cloud", headers={"Authorization": "Bearer wrong"})[0] == 401
        status, st, _ = http(base, "/3/Cloud", headers={"Authorization": f"Bearer {token}"})
        assert status == 200 and st["size"] == 1
        assert http(base, "/")[0] == 200
        status, doc, _ = http(base, "/openapi.json")
        assert status == 200 and doc["security"] == [{"bearer": []}]


def test_pojo_preview_lights_up_when_the_model_offers_download_pojo(tmp_path):
    from web.rest import ApiError, pojo_available, pojo_preview

    class WithPojo:
        model_id = "m1"

        def download_pojo(self, path=""):
            target = os.path.join(path, "m1.java")
            with open(target, "w") as fh:
                fh.write("public class m1 { }\n")
            return target

    class Without:
        model_id = "m2"

    assert pojo_available(WithPojo()) and not pojo_available(Without())
    assert pojo_preview(WithPojo()) == {"model_id": "m1", "truncated": False, "java": "public class m1 { }\n"}
    with pytest.raises(ApiError) as exc:
        pojo_preview(Without())
    assert exc.value.status == 404


def test_parameter_groups_follow_flow():
    from web.params import parameter_table
    groups = {p["name"]: p["group"] for p in parameter_table()}
    assert {n for n, g in groups.items() if g == "basic"} >= {"training_frame", "response_column", "ignored_columns",
                                                              "activation", "hidden", "epochs"}
    assert groups["l1"] == groups["input_dropout_ratio"] == groups["stopping_metric"] == "advanced"
    assert groups["rho"] == groups["mini_batch_size"] == groups["seed"] == "expert"
    assert pd.Series(list(groups.values())).isin(["basic", "advanced", "expert"]).all()


def test_no_web_leaves_the_port_closed(tmp_path):
    """`python -m cluster.node --no-web` serves nothing on --port (the cluster port, +1, still works)."""
    import socket
    kit = Launcher(tmp_path)
    try:
        node, = kit.cloud(1, extra=["--no-web"])
        client = kit.connect(node, timeout=10, progress=False)
        assert client.status()["size"] == 1
        client.shutdown()
        with socket.socket() as s:
            assert s.connect_ex(("127.0.0.1", node.port)) != 0
        assert "web UI and REST API at" not in node.log()
    finally:
        kit.cleanup()


def test_an_open_node_answers_only_to_its_own_host_names(web):
    """A page under an attacker's domain that resolves to 127.0.0.1 (DNS rebinding) reached an open node with
    the page's origin; now /3/ answers 403 unless Host is an IP address or this machine's name."""
    import socket
    base_a, _, _ = web
    status, body, _ = http(base_a, "/3/Cloud", headers={"Host": "attacker.example:54321"})
    assert status == 403 and "DNS-rebinding" in body["detail"]
    assert http(base_a, "/3/Cloud", headers={"Host": f"localhost:{base_a.rsplit(':', 1)[1]}"})[0] == 200
    assert http(base_a, "/3/Cloud", headers={"Host": socket.gethostname()})[0] == 200
    assert http(base_a, "/")[0] == 200       # the page holds no data


def test_allow_host_names_another_host_an_open_node_answers_to(tmp_path):
    """A cloud reached through a DNS alias (not this machine's own name) lists it with --allow-host."""
    kit = Launcher(tmp_path)
    try:
        node = kit.start(free_port_pair(), None, extra=["--allow-host", "Aquifer.Example"])
        node.wait_log("web UI and REST API at")
        base = f"http://{node.address}"
        assert http(base, "/3/Cloud", headers={"Host": "aquifer.example:80"})[0] == 200
        status, body, _ = http(base, "/3/Cloud", headers={"Host": "other.example"})
        assert status == 403 and "--allow-host NAME" in body["detail"]
    finally:
        kit.cleanup()


def test_export_checkpoints_dir_from_rest_stays_under_the_data_dir(web):
    """The node wrote <export_checkpoints_dir>/<model_id> anywhere its user could write (~/.ssh/authorized_keys,
    with a frame key holding a line of the caller's choosing); a REST caller now writes under --data-dir only."""
    base_a, _, info = web
    for target in ("/proc/aquifer-outside", "/proc/self/../aquifer-outside"):    # /proc: even root cannot write
        status, body, _ = http(base_a, "/3/ModelBuilders/deeplearning", "POST",
                               {"training_frame": info["frame"], "response_column": "y", "hidden": [2], "epochs": 1,
                                "export_checkpoints_dir": target, "model_id": "authorized_keys"})
        assert status == 403 and "export_checkpoints_dir" in body["detail"] and "outside" in body["detail"], body
        assert not os.path.exists(target)
    status, body, _ = http(base_a, "/3/ImportFiles", "POST", {"path": str(info["csv"]),
                                                             "destination_frame": "x\nssh-ed25519 AAAA"})
    assert status == 400 and "control characters" in body["detail"]


def test_half_open_connections_are_dropped_and_capped(web):
    """Connections that never finish their headers stayed open forever: a few hundred exhausted the node's file
    descriptors (its cluster port too). Now at most MAX_CONNECTIONS are open, and a half-sent request is dropped
    after IDLE_SECONDS."""
    import socket
    import time
    from web.server import IDLE_SECONDS, MAX_CONNECTIONS
    base_a, _, _ = web
    host, port = base_a[len("http://"):].rsplit(":", 1)
    socks = []
    try:
        for _ in range(MAX_CONNECTIONS + 20):
            s = socket.create_connection((host, int(port)), timeout=5)
            socks.append(s)
            try:
                s.sendall(b"GET /3/Cloud HTTP/1.1\r\nHost: x\r\n")    # and never the blank line
            except ConnectionError:                                   # over the cap: closed on arrival
                pass
        t0 = time.monotonic()
        for s in socks:
            s.settimeout(max(0.1, IDLE_SECONDS + 10 - (time.monotonic() - t0)))
            try:
                assert s.recv(1) == b""                               # closed by the node, within the deadline
            except ConnectionError:
                pass
        assert time.monotonic() - t0 < IDLE_SECONDS + 10
    finally:
        for s in socks:
            s.close()
    assert_healthy(base_a)
