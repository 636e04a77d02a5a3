"""The REST API's work: one blocking function per endpoint, run on the web threads (never on the node's loop).

Each function takes a :class:`Request` (the cloud handle, path parameters, query, JSON body) and returns a
JSON-ready dict, or raises: :class:`ApiError` with its status, ``KeyError`` (404: an unknown frame, model,
job or key), ``ValueError`` (400: a bad parameter, with the Python API's own message). The lower layers are
reached through their public Python API only (``frame``, ``algos``, ``cluster.Job``), exactly as a user's
script would, with this node's own cloud handle, so any node answers for the whole cloud.

>>> page_of(list(range(10)), Request(None, query={"offset": "4", "limit": "3"}))["items"]
[4, 5, 6]
"""
from __future__ import annotations

import base64
import binascii
import logging
import math
import os
import tempfile
import threading
import time
import uuid
from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np

import algos
import cluster
from cluster.files import FileAccess
import frame
from cluster.config import PACKAGE_VERSION
from cluster.dkv import Value, homed_key
from cluster.jobs import CREATED, JOB_PREFIX, RUNNING as JOB_RUNNING
from frame.frame import chunk_bytes
from frame.importer import frame_key
from frame.parse_setup import check_encoding, check_sep, normalize_type
from frame.store import check_destination

from .params import json_value, parameter_table

log = logging.getLogger("aquifer.web")

DEFAULT_LIMIT = 50          # keys per page of a list
MAX_LIMIT = 1000
MAX_COLUMNS = 100           # column summaries (with histograms) per frame page
MAX_ROWS = 100              # preview rows per frame page
MAX_VARIMP = 1000           # variable importances listed per model
POJO_PREVIEW_BYTES = 1 << 20
JOB_APPEAR_TIMEOUT = 60.0   # seconds a training request waits for its job to exist
RUNNING = (CREATED, JOB_RUNNING)
USES_PREFIX = "$web/uses/"  # DKV records of the frames a job started here reads (for 409 on remove)


class ApiError(Exception):
    """An answer other than 200: ``status``, a short ``error`` and the ``detail`` naming what was wrong."""

    def __init__(self, status: int, error: str, detail: str):
        super().__init__(detail)
        self.status, self.error, self.detail = status, error, detail


@dataclass
class Request:
    cloud: Any
    path: dict = field(default_factory=dict)
    query: dict = field(default_factory=dict)
    body: Any = None


# ------------------------------------------------------------------------------------------- helpers
def jsonable(x: Any) -> Any:
    """Plain JSON types: numpy scalars and arrays unwrapped, NaN and infinities as null, other objects as text."""
    if x is None or isinstance(x, (str, bool)):
        return x
    if isinstance(x, dict):
        return {str(k): jsonable(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [jsonable(v) for v in x]
    if isinstance(x, np.ndarray):
        return jsonable(x.tolist())
    if isinstance(x, np.bool_):
        return bool(x)
    if isinstance(x, (int, np.integer)):
        return int(x)
    if isinstance(x, (float, np.floating)):
        f = float(x)
        return f if math.isfinite(f) else None
    if hasattr(x, "isoformat"):
        return x.isoformat()
    try:
        import pandas as pd
        if x is pd.NA or x is pd.NaT:
            return None
    except ImportError:       # pragma: no cover - pandas is a dependency
        pass
    return str(x)


def int_arg(req: Request, name: str, default: int, lo: int, hi: int) -> int:
    raw = req.query.get(name)
    if raw is None:
        return default
    try:
        value = int(raw)
    except (TypeError, ValueError):
        raise ApiError(400, "bad parameter", f"query parameter {name!r} must be an integer, got {raw!r}") from None
    if not lo <= value <= hi:
        raise ApiError(400, "bad parameter", f"query parameter {name!r} must be in {lo}..{hi}, got {value}")
    return value


def page_of(items: list, req: Request, max_limit: int = MAX_LIMIT) -> dict:
    """``offset``/``limit`` paging of a list: ``{"total", "offset", "limit", "items"}``."""
    offset = int_arg(req, "offset", 0, 0, 2 ** 31)
    limit = int_arg(req, "limit", DEFAULT_LIMIT, 1, max_limit)
    return {"total": len(items), "offset": offset, "limit": limit, "items": items[offset:offset + limit]}


def body_dict(req: Request) -> dict:
    if req.body is None:
        return {}
    if not isinstance(req.body, dict):
        raise ApiError(400, "bad request", f"the request body must be a JSON object, got {type(req.body).__name__}")
    return req.body


def _str_field(body: dict, name: str, required: bool = False) -> str | None:
    value = body.get(name)
    if value is None:
        if required:
            raise ApiError(400, "bad parameter", f"parameter {name!r} is required")
        return None
    if not isinstance(value, str) or not value:
        raise ApiError(400, "bad parameter", f"parameter {name!r} must be a non-empty string, got {value!r}")
    return value


# ------------------------------------------------------------------------------------------- cloud
def cloud_status(req: Request) -> dict:
    node = req.cloud.node
    st = req.cloud.status()   # formed, cloud_size and formation (why not formed yet) as tools.admin shows them
    for m in st["members"]:
        m["web_url"] = f"http://{m['node']}/"
    return {**st, "node": node.id, "version": PACKAGE_VERSION}


def _no_parameters(req: Request, what: str) -> None:
    """An endpoint that takes none refuses a body that says something (``{}`` or none at all is fine)."""
    body = body_dict(req)
    if body:
        raise ApiError(400, "bad parameter", f"unknown {what} parameter {sorted(body)[0]!r} (none are taken)")


def shutdown(req: Request) -> dict:
    _no_parameters(req, "shutdown")
    return req.cloud.call("cloud.shutdown", timeout=30.0)


# ------------------------------------------------------------------------------------------- jobs
def job_id(key: str) -> str:
    """A job key as one URL path segment (job keys hold ``@``, ``$`` and ``/``): base64url, unpadded."""
    return base64.urlsafe_b64encode(key.encode()).decode().rstrip("=")


def job_key(req: Request, jid: str) -> str:
    try:
        key = base64.urlsafe_b64decode(jid + "=" * (-len(jid) % 4)).decode()
    except (binascii.Error, UnicodeDecodeError, ValueError):
        raise KeyError(f"no job {jid!r} (job ids are the job_id values /3/Jobs lists)") from None
    # the home may be a removed member: with replication its job lives on in the copies
    home, _, rest = key[1:].partition("@") if key.startswith("@") else (None, "", "")
    if not home or not rest.startswith(JOB_PREFIX):
        raise KeyError(f"no job {jid!r} (job ids are the job_id values /3/Jobs lists)")
    return key


def job_json(j: dict) -> dict:
    end = j.get("end") or 0.0
    return {"job_id": job_id(j["key"]), "key": j["key"], "description": j["description"], "status": j["status"],
            "progress": j["progress"], "msg": j.get("msg") or "", "start": j["start"], "end": end or None,
            "duration_s": max(0.0, (end or time.time()) - j["start"]), "error": j.get("error") or "",
            "dest": j.get("dest") or ""}


def list_jobs(req: Request) -> dict:
    return page_of([job_json(j) for j in cluster.Job.list(req.cloud)], req)


def get_job(req: Request) -> dict:
    key = job_key(req, req.path["job_id"])
    out = job_json(cluster.Job.get(key, req.cloud).info())
    dest = out["dest"]
    out["dest_type"] = req.cloud.dkv.type_of(dest) if dest else None
    return out


def cancel_job(req: Request) -> dict:
    _no_parameters(req, "cancel")
    key = job_key(req, req.path["job_id"])
    job = cluster.Job.get(key, req.cloud)
    job.info()                                  # 404 before anything for a job that is not there
    job.cancel()
    return job_json(job.info())


def _wait_job(req: Request, dest: str, since: float, done: threading.Event, failure: list) -> dict:
    """The job a background thread started for ``dest``; the thread's error if it failed before making one."""
    deadline = time.monotonic() + JOB_APPEAR_TIMEOUT
    while True:
        finished = done.is_set()
        jobs = [j for j in cluster.Job.list(req.cloud) if j.get("dest") == dest and j["start"] >= since]
        if jobs:
            return job_json(jobs[-1])
        if finished:
            if failure:
                raise failure[0]
            raise ApiError(500, "internal error", f"the work for {dest!r} ended without a job")
        if time.monotonic() > deadline:
            raise ApiError(503, "cloud busy", f"no job for {dest!r} appeared within {JOB_APPEAR_TIMEOUT:g} s")
        done.wait(0.05)


# ------------------------------------------------------------------------------------------- locks
def lock_holder(cloud, key: str) -> dict | None:
    """The running job that builds ``key`` or reads it (``cluster.jobs.lock_holder``), or a training started
    here whose job is not there yet."""
    holder = cluster.jobs.lock_holder(key, cloud)
    if holder is not None:
        return holder
    records = [r["key"] for r in cloud.dkv.keys(USES_PREFIX)]
    values = [v for v in cloud.dkv.get_many(records) if v is not None and key in v.meta.get("keys", [])] \
        if records else []
    started = {j["dest"] for j in cluster.Job.list(cloud) if j["status"] in RUNNING} if values else set()
    for value in values:          # a training whose job exists holds (or, cancelled, frees) the key by itself
        if value.meta["dest"] not in started:
            return {"key": "", "description": f"training of {value.meta['dest']} (starting)",
                    "dest": value.meta["dest"]}
    return None


def check_unlocked(cloud, key: str, action: str) -> None:
    holder = lock_holder(cloud, key)
    if holder is not None:
        raise ApiError(409, "key locked", f"cannot {action} {key!r}: it is in use by the running job "
                       f"{holder['description']!r}; cancel the job or wait for it to finish")


# ------------------------------------------------------------------------------------------- frames
def _frame_row(fr: frame.Frame, sizes: dict[str, int] | None = None) -> dict:
    return {"frame_id": fr.key, "rows": fr.nrows, "columns": fr.ncols, "chunks": fr.nchunks,
            "bytes": fr.byte_size if sizes is None else sum(sizes.get(v, 0) for v in fr.vecs)}


def list_frames(req: Request) -> dict:
    rows = req.cloud.dkv.keys("")               # one listing gives the frames and every chunk's size
    keys = sorted(r["key"] for r in rows if r["type"] == "frame" and not r["key"].startswith(("$", "@")))
    page = page_of(keys, req)
    values = req.cloud.dkv.get_many(page["items"]) if page["items"] else []
    sizes = chunk_bytes(rows)
    page["items"] = [_frame_row(frame.Frame(v.meta["key"], v.meta, req.cloud), sizes) for v in values
                     if v is not None and v.type == "frame"]
    return page


def _get_frame(req: Request, key: str) -> frame.Frame:
    try:
        return frame.get_frame(key, req.cloud)
    except KeyError:
        raise KeyError(f"no frame {key!r} in the cloud") from None


def _column_summary(name: str, type_: str, domain, st: dict, hist) -> dict:
    return {"name": name, "type": type_, "is_int": bool(st.get("is_int")), "na_count": st.get("na_count"),
            "min": st.get("min"), "max": st.get("max"), "mean": st.get("mean"), "sigma": st.get("sigma"),
            "zero_count": st.get("zero_count"), "cardinality": len(domain) if domain is not None else None,
            "domain": list(domain[:MAX_COLUMNS]) if domain is not None else None, "histogram": hist}


def _preview(fr: frame.Frame, names: list[str], start: int, count: int) -> list[list]:
    if not names or count == 0 or start >= fr.nrows:
        return []
    df = fr[names].rows(start, count)
    cols = []
    for name in names:
        s = df[name]
        if hasattr(s, "cat"):
            s = s.astype(object)
        cols.append([jsonable(v) if v == v else None for v in s.tolist()])   # v != v: NaN
    return [list(r) for r in zip(*cols)]


def get_frame(req: Request) -> dict:
    fr = _get_frame(req, req.path["frame_id"])
    c0 = int_arg(req, "column_offset", 0, 0, 2 ** 31)
    nc = int_arg(req, "column_count", 20, 0, MAX_COLUMNS)
    r0 = int_arg(req, "row_offset", 0, 0, 2 ** 62)
    nr = int_arg(req, "row_count", 10, 0, MAX_ROWS)
    cols = list(range(min(c0, fr.ncols), min(c0 + nc, fr.ncols)))
    names, types, domains = fr.names, fr.types, fr.domains
    stats = fr.rollups() if cols else []
    hists = fr.histograms([names[i] for i in cols]) if cols else []
    summaries = [_column_summary(names[i], types[names[i]], domains[names[i]], stats[i], h)
                 for i, h in zip(cols, hists)]
    picked = [names[i] for i in cols]
    return {**_frame_row(fr), "column_offset": c0, "column_count": len(cols), "row_offset": r0,
            "row_count": max(0, min(nr, fr.nrows - r0)), "columns_summary": summaries, "preview_columns": picked,
            "preview": _preview(fr, picked, r0, nr), "parse": fr.parse_summary}


def frame_columns(req: Request) -> dict:
    fr = _get_frame(req, req.path["frame_id"])
    types, domains = fr.types, fr.domains
    page = page_of(fr.names, req)
    page["items"] = [{"name": n, "type": types[n], "cardinality": len(domains[n]) if domains[n] is not None else None}
                     for n in page["items"]]
    return page


def delete_frame(req: Request) -> dict:
    key = req.path["frame_id"]
    _get_frame(req, key)
    return _remove(req, key, "frame")


IMPORT_FIELDS = ("path", "destination_frame", "sep", "header", "na_strings", "encoding", "col_types")


def import_files(req: Request) -> dict:
    body = body_dict(req)
    unknown = sorted(set(body) - set(IMPORT_FIELDS))
    if unknown:
        raise ApiError(400, "bad parameter", f"unknown import parameter {unknown[0]!r}; known: {', '.join(IMPORT_FIELDS)}")
    path = _str_field(body, "path", required=True)
    dest = _str_field(body, "destination_frame")
    sep = _str_field(body, "sep")
    encoding = _str_field(body, "encoding") or "utf-8"
    header = body.get("header")
    if header is not None and header not in (-1, 0, 1):
        raise ApiError(400, "bad parameter", f"parameter 'header' must be -1 (no header), 0 (guess) or 1 (header), "
                       f"got {header!r}")
    na = body.get("na_strings")
    if na is not None and not (isinstance(na, list) and all(isinstance(s, str) for s in na)):
        raise ApiError(400, "bad parameter", f"parameter 'na_strings' must be a list of strings, got {na!r}")
    col_types = body.get("col_types")
    if col_types is not None and not (isinstance(col_types, dict) and all(isinstance(k, str) and isinstance(v, str)
                                                                          for k, v in col_types.items())):
        raise ApiError(400, "bad parameter", f"parameter 'col_types' must be an object of column name: type (e.g. "
                       f"{{\"CAPSULE\": \"enum\"}}), got {col_types!r:.80}")
    if "\0" in path:
        raise ApiError(400, "bad parameter", "parameter 'path' holds a NUL character")
    try:                                 # the import's own rules (their messages name the field), before a job
        if sep is not None:
            check_sep(sep)
        check_encoding(encoding)
        for name, type_ in (col_types or {}).items():
            try:
                normalize_type(type_)
            except ValueError as exc:
                raise ValueError(f"parameter 'col_types', column {name!r}: {exc}") from None
    except ValueError as exc:
        raise ApiError(400, "bad parameter", str(exc)) from None
    path = os.path.abspath(path)
    node = req.cloud.node
    try:     # the REST caller is another process: it reads only under the node's --data-dir, as its tasks do
        FileAccess(node.config.readable_dirs(), node.id).check(path)
    except PermissionError as exc:
        raise ApiError(403, "forbidden", str(exc)) from None
    if not os.path.exists(path):
        raise ApiError(400, "bad parameter", f"parameter 'path': no such file on node {node.id}: {path} "
                       "(the path must be readable by every node)")
    if not os.path.isfile(path):
        raise ApiError(400, "bad parameter", f"parameter 'path': {path} is not a regular file (a directory, a "
                       f"pipe or a device)")
    key = frame_key(path, dest)          # ValueError (400) for a bad destination key
    check_destination(key, req.cloud)    # a model there: 400 now, not a failed job
    check_unlocked(req.cloud, key, "import into")
    job = cluster.Job.start(f"Import {path}", cloud=req.cloud, dest=key)

    def run():
        with job:
            frame.import_file(path, sep=sep, header={None: None, 1: True, -1: False, 0: None}[header],
                              na_strings=na, destination_frame=key, encoding=encoding, col_types=col_types,
                              cloud=req.cloud)

    threading.Thread(target=_logged(run, f"import {path}"), name=f"aquifer-web-import-{key}", daemon=True).start()
    return {"job": job_json(job.info()), "destination_frame": key}


def _logged(fn: Callable, what: str) -> Callable:
    def run():
        try:
            fn()
        except BaseException:
            log.info("%s failed (the job says why)", what, exc_info=True)
    return run


# ------------------------------------------------------------------------------------------- models
def list_models(req: Request) -> dict:
    return page_of(algos.list_models(req.cloud), req)


def _get_model(req: Request, key: str):
    try:
        return algos.get_model(key, req.cloud)
    except KeyError:
        raise KeyError(f"no model {key!r} in the cloud") from None


METRIC_NAMES = ("MSE", "RMSE", "logloss", "AUC", "AUCPR", "misclassification", "mean_per_class_error", "MAE",
                "RMSLE", "deviance", "r2")


def metrics_json(m) -> dict:
    out = {"kind": m.kind, "nobs": m.nobs()}
    for name in METRIC_NAMES:
        try:
            out[name] = jsonable(m.metric(name))
        except ValueError:              # not defined for this kind of model
            pass
    return out


def _confusion_matrix(metrics) -> dict | None:
    cm = metrics.confusion_matrix() if hasattr(metrics, "confusion_matrix") else None
    if cm is None:
        return None
    return {"header": cm.attrs.get("header", ""), "actual": [str(i) for i in cm.index],
            "predicted": [str(c) for c in cm.columns], "rows": jsonable(cm.values.tolist())}


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b))
    if isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b):
        return True
    return a == b


def pojo_available(model) -> bool:
    """The POJO export exists when the model offers ``download_pojo`` (h2o-py's name)."""
    return callable(getattr(model, "download_pojo", None))


def pojo_preview(model) -> dict:
    """The model's POJO Java source (its first MiB): written by ``model.download_pojo(path=dir)`` to a temp
    dir on this node and read back."""
    if not pojo_available(model):
        raise ApiError(404, "not available", f"model {model.model_id!r} has no POJO export (this aquifer "
                       "cannot write POJOs)")
    with tempfile.TemporaryDirectory(prefix="aquifer-pojo-") as tmp:
        written = model.download_pojo(path=tmp)
        path = written if isinstance(written, str) and os.path.isfile(written) else \
            next((os.path.join(tmp, f) for f in sorted(os.listdir(tmp)) if f.endswith(".java")), None)
        if path is None:
            raise ApiError(500, "internal error", f"download_pojo wrote no .java file for {model.model_id!r}")
        with open(path, "rb") as fh:
            data = fh.read(POJO_PREVIEW_BYTES + 1)
    return {"model_id": model.model_id, "truncated": len(data) > POJO_PREVIEW_BYTES,
            "java": data[:POJO_PREVIEW_BYTES].decode("utf-8", errors="replace")}


def get_model(req: Request) -> dict:
    model = _get_model(req, req.path["model_id"])
    params = model.params
    defaults = {p["name"]: p for p in parameter_table()}
    parameters = []
    for name, value in params.items():
        spec = defaults.get(name)
        default = spec["default"] if spec else None
        value = jsonable(json_value(value))
        parameters.append({"name": name, "value": value, "default": default,
                           "group": spec["group"] if spec else "expert", "changed": not _same(value, default)})
    metrics, cm = {}, None
    for which in ("train", "valid", "xval"):
        try:
            m = model.model_performance(**{which: True})
        except ValueError:              # no validation frame, no cross-validation
            continue
        if m is not None:
            metrics[which] = metrics_json(m)
            if which in ("train", "valid"):
                cm = _confusion_matrix(m) or cm
    history = model.scoring_history()
    try:
        varimp = [{"variable": v, "relative_importance": r, "scaled_importance": s, "percentage": p}
                  for v, r, s, p in model.varimp()]
    except ValueError:                  # trained with variable_importances=False
        varimp = None
    stored = [r for r in req.cloud.dkv.keys(model.model_id) if r["key"] == model.model_id]
    return jsonable({
        "model_id": model.model_id, "algo": "deeplearning", "kind": model.kind,
        "response": params.get("response_column"), "response_domain": model.response_domain,
        "epochs": history["epochs"].iloc[-1] if "epochs" in history and len(history) else None,
        "bytes": stored[0]["bytes"] if stored else None, "parameters": parameters,
        "metrics": metrics, "confusion_matrix": cm,
        "scoring_history": {"columns": list(history.columns), "rows": history.values.tolist()},
        "varimp": varimp[:MAX_VARIMP] if varimp is not None else None,
        "varimp_total": len(varimp) if varimp is not None else 0, "pojo": pojo_available(model)})


def model_pojo(req: Request) -> dict:
    return pojo_preview(_get_model(req, req.path["model_id"]))


def download_model(req: Request) -> tuple[str, bytes]:
    """The model file ``algos.save_model`` writes, as bytes (file name, data)."""
    model = _get_model(req, req.path["model_id"])
    with tempfile.TemporaryDirectory(prefix="aquifer-model-") as tmp:
        path = algos.save_model(model, tmp + os.sep, cloud=req.cloud)
        with open(path, "rb") as fh:
            return os.path.basename(path), fh.read()


def delete_model(req: Request) -> dict:
    key = req.path["model_id"]
    check_unlocked(req.cloud, key, "remove")     # a model a job is building is not there yet: 409, not 404
    _get_model(req, key)
    return _remove(req, key, "model")


def predict(req: Request) -> dict:
    _no_parameters(req, "prediction")
    model = _get_model(req, req.path["model_id"])
    fr = _get_frame(req, req.path["frame_id"])
    pred = model.predict(fr)
    out = {"model_id": model.model_id, "frame_id": fr.key, "predictions_frame": _frame_row(pred),
           "model_metrics": None}
    response = model.params.get("response_column")
    if response and response in fr.names:
        out["model_metrics"] = metrics_json(model.model_performance(fr))
    return out


# ------------------------------------------------------------------------------------------- training
def builder(req: Request) -> dict:
    return {"algo": "deeplearning", "parameters": parameter_table()}


def train(req: Request) -> dict:
    body = body_dict(req)
    est = algos.DeepLearningEstimator(**body)        # the Python API's checks and messages (ValueError: 400)
    p = est.params
    if p.get("export_checkpoints_dir"):  # the node writes there: only under its --data-dir, as it reads
        p_dir = os.path.abspath(p["export_checkpoints_dir"])
        try:
            FileAccess(req.cloud.node.config.readable_dirs(), req.cloud.node.id).check(p_dir, "write under")
        except PermissionError as exc:
            raise ApiError(403, "forbidden", f"parameter 'export_checkpoints_dir': {exc}") from None
    if p["training_frame"] is None:
        raise ApiError(400, "bad parameter", "parameter 'training_frame' is required")
    train_fr = _get_frame(req, p["training_frame"])
    valid_fr = _get_frame(req, p["validation_frame"]) if p["validation_frame"] is not None else None
    model_id = p["model_id"] or f"DeepLearning_model_{uuid.uuid4().hex[:10]}"
    est.set_params(model_id=model_id)
    check_unlocked(req.cloud, model_id, "train")
    uses = homed_key(req.cloud.gateway, f"{USES_PREFIX}{model_id}")
    req.cloud.dkv.put(uses, Value("web.uses", {"dest": model_id,
                                               "keys": [f.key for f in (train_fr, valid_fr) if f is not None]},
                                  immutable=False))
    done, failure, since = threading.Event(), [], time.time()

    def run():
        try:
            est.train(x=p["x"], y=p["response_column"], training_frame=train_fr, validation_frame=valid_fr)
        except BaseException as exc:
            failure.append(exc)
            log.info("training %s failed: %s", model_id, exc)
        finally:
            done.set()
            try:
                req.cloud.dkv.delete(uses)
            except Exception:               # the node may be going down
                log.debug("could not drop %s", uses, exc_info=True)

    threading.Thread(target=run, name=f"aquifer-web-train-{model_id}", daemon=True).start()
    return {"job": _wait_job(req, model_id, since, done, failure), "model_id": model_id}


# ------------------------------------------------------------------------------------------- any key
def delete_key(req: Request) -> dict:
    key = req.path["key"]
    if key.startswith(("$", "@")):
        raise ApiError(400, "bad parameter", f"{key!r} is an internal key (chunks, jobs, caches): remove the frame "
                       "or model that owns it")
    check_unlocked(req.cloud, key, "remove")     # a model a job is building is not there yet: 409, not 404
    value = req.cloud.dkv.get(key)
    if value is None:
        raise KeyError(f"no key {key!r} in the cloud")
    return _remove(req, key, value.type)


def _remove(req: Request, key: str, type_: str) -> dict:
    """Remove ``key`` unless a running job holds it: a frame or a model with what it owns, else the value."""
    check_unlocked(req.cloud, key, "remove")
    if type_ == "frame":
        frame.remove(key, cloud=req.cloud)
    elif type_ == "model":
        algos.remove_model(key, cloud=req.cloud)
    else:
        req.cloud.dkv.delete(key)
    return {"removed": key, "type": type_}
