"""The OpenAPI 3.1 document of the REST API (``GET /openapi.json``), built from the route table.

Every route of :data:`web.server.ROUTES` names its query parameters, body and answer here; the training
body's properties come from the parameter table (:func:`web.params.parameter_table`), so the document
lists exactly the parameters the Python API takes.

>>> doc = openapi_document(())
>>> doc["openapi"], sorted(doc["components"]["schemas"])[:3]
('3.1.0', ['Builder', 'Cloud', 'Column'])
"""
from __future__ import annotations

import re

from .params import parameter_table

N = {"type": ["number", "null"]}          # JSON has no NaN: a missing or non-finite number is null
S_OR_NULL = {"type": ["string", "null"]}
INT = {"type": "integer"}
STR = {"type": "string"}


def _ref(name: str) -> dict:
    return {"$ref": f"#/components/schemas/{name}"}


def _obj(props: dict, required=None, extra: bool = False) -> dict:
    return {"type": "object", "properties": props, "required": list(props) if required is None else required,
            "additionalProperties": extra}


def _page(item: str) -> dict:
    return _obj({"total": INT, "offset": INT, "limit": INT, "items": {"type": "array", "items": _ref(item)}})


JOB_STATES = ["CREATED", "RUNNING", "DONE", "FAILED", "CANCELLED"]
METRICS = _obj({"kind": STR, "nobs": INT}, extra=N)

SCHEMAS: dict[str, dict] = {
    "Error": _obj({"error": STR, "detail": STR}),
    "Empty": _obj({}),
    "Member": _obj({"node": STR, "state": {"enum": ["healthy", "suspect", "dead"]}, "last_heartbeat_age_s": N,
                    "cores": INT, "free_mem_bytes": INT, "keys": INT, "pid": INT, "web_url": STR,
                    "removed": {"type": "boolean"}, "copying": INT}),
    "Replication": _obj({"factor": INT, "copying": {"type": "boolean"}, "keys_to_copy": INT, "bytes_to_copy": INT,
                         "copied_keys": INT, "copied_bytes": INT, "dropped_keys": INT, "passes": INT,
                         "last_pass_s": N, "stuck": S_OR_NULL,
                         "lost": {"type": "array", "items": _ref("LostMember")}}),
    "LostMember": _obj({"node": STR, "reason": STR, "covered": {"type": "boolean"},
                        "keys": {"type": ["integer", "null"]}, "settled": {"type": "boolean"}}),
    "Cloud": _obj({"name": STR, "size": INT, "locked": {"type": "boolean"}, "healthy": {"type": "boolean"},
                   "formed": {"type": "boolean"}, "cloud_size": INT, "formation": {"type": "array", "items": STR},
                   "node": STR, "version": STR, "epoch": INT,
                   "quorum": {"type": "boolean"}, "replication": _ref("Replication"),
                   "members": {"type": "array", "items": _ref("Member")}}),
    "FrameRow": _obj({"frame_id": STR, "rows": INT, "columns": INT, "chunks": INT, "bytes": INT}),
    "FramePage": _page("FrameRow"),
    "Histogram": _obj({"breaks": {"type": "array", "items": {"type": "number"}},
                       "counts": {"type": "array", "items": INT}}),
    "ColumnSummary": _obj({"name": STR, "type": {"enum": ["numeric", "enum", "string", "time"]},
                           "is_int": {"type": "boolean"}, "na_count": N, "min": N, "max": N, "mean": N, "sigma": N,
                           "zero_count": N, "cardinality": {"type": ["integer", "null"]},
                           "domain": {"type": ["array", "null"], "items": STR},
                           "histogram": {"oneOf": [{"type": "null"}, _ref("Histogram")]}}),
    "Frame": _obj({"frame_id": STR, "rows": INT, "columns": INT, "chunks": INT, "bytes": INT, "column_offset": INT,
                   "column_count": INT, "row_offset": INT, "row_count": INT,
                   "columns_summary": {"type": "array", "items": _ref("ColumnSummary")},
                   "preview_columns": {"type": "array", "items": STR},
                   "preview": {"type": "array", "items": {"type": "array"}},
                   "parse": {"type": ["object", "null"]}}),
    "Column": _obj({"name": STR, "type": STR, "cardinality": {"type": ["integer", "null"]}}),
    "ColumnPage": _page("Column"),
    "Removed": _obj({"removed": STR, "type": STR}),
    "ImportRequest": _obj({"path": {"type": "string", "minLength": 1}, "destination_frame": S_OR_NULL,
                           "sep": S_OR_NULL, "header": {"enum": [-1, 0, 1, None]},
                           "na_strings": {"type": ["array", "null"], "items": STR}, "encoding": S_OR_NULL,
                           "col_types": {"type": ["object", "null"], "additionalProperties": STR}},
                          required=["path"]),
    "Job": _obj({"job_id": STR, "key": STR, "description": STR, "status": {"enum": JOB_STATES}, "progress": N,
                 "msg": STR, "start": N, "end": N, "duration_s": N, "error": STR, "dest": STR,
                 "dest_type": S_OR_NULL}, required=["job_id", "key", "description", "status", "progress", "msg",
                                                    "start", "end", "duration_s", "error", "dest"]),
    "JobPage": _page("Job"),
    "Started": _obj({"job": _ref("Job"), "destination_frame": STR}),
    "ModelRow": _obj({"model_id": STR, "algo": STR, "kind": STR, "response": S_OR_NULL, "epochs": N,
                      "metric": S_OR_NULL, "training": N, "validation": N, "cross_validation": N, "bytes": INT,
                      "home": S_OR_NULL}),
    "ModelPage": _page("ModelRow"),
    "Metrics": METRICS,
    "Model": _obj({"model_id": STR, "algo": STR, "kind": STR, "response": S_OR_NULL,
                   "response_domain": {"type": ["array", "null"], "items": STR}, "epochs": N,
                   "bytes": {"type": ["integer", "null"]},
                   "parameters": {"type": "array", "items": _obj({"name": STR, "value": {}, "default": {},
                                                                  "group": STR, "changed": {"type": "boolean"}})},
                   "metrics": {"type": "object", "additionalProperties": _ref("Metrics")},
                   "confusion_matrix": {"oneOf": [{"type": "null"}, _obj(
                       {"header": STR, "actual": {"type": "array", "items": STR},
                        "predicted": {"type": "array", "items": STR},
                        "rows": {"type": "array", "items": {"type": "array"}}})]},
                   "scoring_history": _obj({"columns": {"type": "array", "items": STR},
                                            "rows": {"type": "array", "items": {"type": "array"}}}),
                   "varimp": {"type": ["array", "null"], "items": _obj(
                       {"variable": STR, "relative_importance": N, "scaled_importance": N, "percentage": N})},
                   "varimp_total": INT, "pojo": {"type": "boolean"}}),
    "Pojo": _obj({"model_id": STR, "truncated": {"type": "boolean"}, "java": STR}),
    "Prediction": _obj({"model_id": STR, "frame_id": STR, "predictions_frame": _ref("FrameRow"),
                        "model_metrics": {"oneOf": [{"type": "null"}, _ref("Metrics")]}}),
    "Parameter": _obj({"name": STR, "kind": STR, "default": {}, "help": STR,
                       "group": {"enum": ["basic", "advanced", "expert"]}, "allowed": {"type": "array", "items": STR},
                       "min": {}, "max": {}, "min_open": {"type": "boolean"}, "max_open": {"type": "boolean"},
                       "deprecated": {"type": "boolean"}, "extension": {"type": "boolean"},
                       "supported": {"type": "boolean"}}),
    "Builder": _obj({"algo": STR, "parameters": {"type": "array", "items": _ref("Parameter")}}),
    "Training": _obj({"job": _ref("Job"), "model_id": STR}),
    "Shutdown": _obj({"stopping": {"type": "array", "items": STR}, "unreachable": {"type": "array", "items": STR}}),
}

QUERY: dict[str, tuple[dict, str]] = {
    "offset": ({"type": "integer", "minimum": 0, "default": 0}, "first item of the page"),
    "limit": ({"type": "integer", "minimum": 1, "maximum": 1000, "default": 50}, "items per page"),
    "column_offset": ({"type": "integer", "minimum": 0, "default": 0}, "first column summarised"),
    "column_count": ({"type": "integer", "minimum": 0, "maximum": 100, "default": 20}, "columns summarised"),
    "row_offset": ({"type": "integer", "minimum": 0, "default": 0}, "first row of the preview"),
    "row_count": ({"type": "integer", "minimum": 0, "maximum": 100, "default": 10}, "rows in the preview"),
}

ERRORS = {400: "bad parameter or malformed JSON", 401: "a bearer token is required",
          403: "the path is outside the node's --data-dir", 404: "unknown key",
          409: "the key is in use by a running job", 413: "request body too large",
          415: "the body must be application/json", 503: "cloud not formed or a node lost"}

_KIND_SCHEMA = {
    "int": {"type": ["integer", "null"]}, "float": {"type": ["number", "null"]}, "bool": {"type": ["boolean", "null"]},
    "str": S_OR_NULL, "frame_or_key": S_OR_NULL, "model_or_key": S_OR_NULL,
    "column": {"type": ["string", "integer", "null"]},
    "int_list": {"type": ["array", "integer", "null"], "items": INT},
    "float_list": {"type": ["array", "number", "null"], "items": {"type": "number"}},
    "column_list": {"type": ["array", "string", "integer", "null"], "items": {"type": ["string", "integer"]}},
    "frame_list": {"type": ["array", "null"], "items": S_OR_NULL},
}


def _train_request() -> dict:
    props = {}
    for p in parameter_table():
        schema = dict(_KIND_SCHEMA.get(p["kind"], {}))
        if p["kind"] == "enum":
            schema = {"enum": [*p["allowed"], None]}
        props[p["name"]] = {**schema, "description": f"{p['help']} ({p['group']})"}
    props["y"] = {**props["response_column"], "description": "alias of response_column"}
    return {"type": "object", "properties": props, "required": ["training_frame"], "additionalProperties": False}


def _operation(route) -> dict:
    params = [{"name": name, "in": "path", "required": True, "schema": {"type": "string", "minLength": 1}}
              for name in re.findall(r"{(\w+)}", route.path)]
    params += [{"name": q, "in": "query", "required": False, "schema": QUERY[q][0], "description": QUERY[q][1]}
               for q in route.query]
    if route.response == "binary":
        ok = {"application/octet-stream": {"schema": {"type": "string", "format": "binary"}}}
    else:
        ok = {"application/json": {"schema": _ref(route.response)}}
    statuses = {400, 401, *route.errors}
    if route.formed:
        statuses.add(503)
    if route.body is not None:
        statuses |= {413, 415}
    responses = {"200": {"description": "OK", "content": ok}}
    for status in sorted(statuses):
        responses[str(status)] = {"description": ERRORS[status],
                                  "content": {"application/json": {"schema": _ref("Error")}}}
    op = {"summary": route.summary, "operationId": route.fn.__name__ + ("_" + route.method.lower()),
          "parameters": params, "responses": responses}
    if route.body is not None:
        op["requestBody"] = {"required": route.body != "Empty",
                             "content": {"application/json": {"schema": _ref(route.body)}}}
    return op


def openapi_document(routes, bearer: bool = False) -> dict:
    """The OpenAPI document of ``routes``; with ``bearer`` every ``/3/`` route needs the bearer token."""
    paths: dict[str, dict] = {}
    for route in routes:
        paths.setdefault(route.path, {})[route.method.lower()] = _operation(route)
    doc = {"openapi": "3.1.0",
           "info": {"title": "aquifer REST API", "version": "3",
                    "description": "H2O-3-style REST API of an aquifer cloud; any node answers for the whole cloud. "
                                   "Errors are {\"error\", \"detail\"}; lists are paged with offset/limit."},
           "paths": paths,
           "components": {"schemas": {**SCHEMAS, "TrainRequest": _train_request()}}}
    if bearer:
        doc["components"]["securitySchemes"] = {"bearer": {"type": "http", "scheme": "bearer"}}
        doc["security"] = [{"bearer": []}]
    return doc
