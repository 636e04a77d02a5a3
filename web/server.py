"""The HTTP server of a node: aiohttp on the node's own event loop, serving ``--port``.

aiohttp only parses requests and writes answers on the loop; every endpoint's work (:mod:`web.rest`) runs
on a small pool of web threads through this node's :class:`cluster.Cloud` handle, as a user's script would,
so heartbeats and RPCs keep flowing whatever a request asks. Bodies are capped at :data:`MAX_BODY_BYTES`,
lists are paged, and every error is JSON ``{"error": ..., "detail": ...}`` with its status.

>>> [r.path for r in ROUTES][:2]
['/3/Cloud', '/3/Frames']
"""
from __future__ import annotations

import asyncio
import json
import logging
import os
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Callable
from urllib.parse import quote

from aiohttp import web

import cluster
from cluster.errors import CloudUnreachableError, JobCancelledError, NodeLostError, RemoteError, RpcTimeoutError

from . import rest
from .auth import authorized, bearer_token, host_allowed, local_names
from .openapi import openapi_document

log = logging.getLogger("aquifer.web")

MAX_BODY_BYTES = 1 << 20        # a request body larger than this is refused (413) before it is read
WEB_THREADS = 4                 # requests worked on at once; more wait their turn
# A client that never finishes its request must not hold a socket: half-sent headers are dropped after
# IDLE_SECONDS (aiohttp's keep-alive timer runs from the connection's start), a body after BODY_SECONDS, and at
# most MAX_CONNECTIONS are open at once (the rest are closed on arrival), so file descriptors stay for the
# cluster port (a few hundred half-open connections used to exhaust them and cut the node off).
IDLE_SECONDS = 15.0
BODY_SECONDS = 30.0
MAX_CONNECTIONS = 256
STATIC = os.path.join(os.path.dirname(os.path.abspath(__file__)), "static")


@dataclass(frozen=True)
class Route:
    """One endpoint: what it does (``fn``) and what the OpenAPI document says of it."""
    method: str
    path: str
    fn: Callable
    summary: str
    response: str                       # schema name in web.openapi.SCHEMAS ("binary": a file)
    query: tuple[str, ...] = ()
    body: str | None = None             # schema name of the JSON body
    errors: tuple[int, ...] = ()        # statuses besides 200 and the ones every /3/ route may answer
    formed: bool = True                 # answers 503 until the cloud has formed


PAGE = ("offset", "limit")
ROUTES: tuple[Route, ...] = (
    Route("GET", "/3/Cloud", rest.cloud_status, "Cloud status: members, their state and resources", "Cloud",
          formed=False),
    Route("GET", "/3/Frames", rest.list_frames, "Frames, a page of them by key", "FramePage", PAGE),
    Route("GET", "/3/Frames/{frame_id}", rest.get_frame,
          "One frame: column summaries with histograms, a preview of rows", "Frame",
          ("column_offset", "column_count", "row_offset", "row_count"), errors=(404,)),
    Route("GET", "/3/Frames/{frame_id}/columns", rest.frame_columns, "A frame's column names and types", "ColumnPage",
          PAGE, errors=(404,)),
    Route("DELETE", "/3/Frames/{frame_id}", rest.delete_frame, "Remove a frame", "Removed", errors=(404, 409)),
    Route("POST", "/3/ImportFiles", rest.import_files,
          "Import a CSV file every node can read, under the node's --data-dir (a job)", "Started",
          body="ImportRequest", errors=(403, 409)),
    Route("GET", "/3/Models", rest.list_models, "Models, a page of them by id", "ModelPage", PAGE),
    Route("GET", "/3/Models/{model_id}", rest.get_model,
          "One model: parameters, metrics, scoring history, variable importances, confusion matrix", "Model",
          errors=(404,)),
    Route("DELETE", "/3/Models/{model_id}", rest.delete_model, "Remove a model", "Removed", errors=(404, 409)),
    Route("GET", "/3/Models/{model_id}/download", rest.download_model, "The model file (algos.save_model's format)",
          "binary", errors=(404,)),
    Route("GET", "/3/Models/{model_id}/pojo", rest.model_pojo, "Preview of the model's POJO (when the export "
          "exists)", "Pojo", errors=(404,)),
    Route("POST", "/3/Predictions/models/{model_id}/frames/{frame_id}", rest.predict,
          "Predict on a frame: a new predictions frame (and metrics when the frame has the response)", "Prediction",
          body="Empty", errors=(404,)),
    Route("GET", "/3/ModelBuilders/deeplearning", rest.builder, "Deep Learning's parameters: defaults, help, group",
          "Builder"),
    Route("POST", "/3/ModelBuilders/deeplearning", rest.train,
          "Train a Deep Learning model (a job); parameters are checked as the Python API checks them", "Training",
          body="TrainRequest", errors=(404, 409)),
    Route("GET", "/3/Jobs", rest.list_jobs, "Jobs, newest first", "JobPage", PAGE),
    Route("GET", "/3/Jobs/{job_id}", rest.get_job, "One job with its progress", "Job", errors=(404,)),
    Route("POST", "/3/Jobs/{job_id}/cancel", rest.cancel_job, "Cancel a job (it stops at its next iteration)", "Job",
          body="Empty", errors=(404,)),
    Route("DELETE", "/3/DKV/{key}", rest.delete_key, "Remove a key (a frame or model with what it owns)", "Removed",
          errors=(404, 409)),
    Route("POST", "/3/Shutdown", rest.shutdown, "Shut the whole cloud down", "Shutdown", body="Empty"),
)


def error_body(status: int, error: str, detail: str) -> web.Response:
    return web.json_response({"error": error, "detail": detail}, status=status)


def error_for(exc: BaseException) -> tuple[int, str, str]:
    """Status, error and detail for an exception raised by an endpoint."""
    if isinstance(exc, rest.ApiError):
        return exc.status, exc.error, exc.detail
    if isinstance(exc, RemoteError):        # an error from a handler elsewhere: its type decides
        kind = {"KeyError": KeyError, "ValueError": ValueError, "ParseError": ValueError,
                "FileNotFoundError": ValueError}.get(exc.type)
        if kind is not None:
            return error_for(kind(exc.message))
    if isinstance(exc, KeyError):
        return 404, "not found", str(exc.args[0]) if exc.args else "not found"
    if isinstance(exc, (NodeLostError, CloudUnreachableError, RpcTimeoutError)):
        return 503, "cloud not available", str(exc)
    if isinstance(exc, JobCancelledError):
        return 409, "cancelled", str(exc)
    if isinstance(exc, (ValueError, TypeError, FileNotFoundError)):
        return 400, "bad parameter", str(exc)
    return 500, "internal error", f"{type(exc).__name__}: {exc}"


class WebServer:
    """The REST API and the web UI of one node (started by :mod:`web.plugin`)."""

    def __init__(self, node, token: str | None):
        self.node = node
        self.token = token
        self.cloud = cluster.Cloud(node, asyncio.get_running_loop(), threading.current_thread(), progress=False)
        self.pool = ThreadPoolExecutor(max_workers=WEB_THREADS, thread_name_prefix="aquifer-web")
        self.runner: web.AppRunner | None = None
        self.listener: asyncio.Server | None = None
        self.names = local_names() | {n.lower() for n in node.config.web_hosts}
        self.app = self._make_app()

    @property
    def url(self) -> str:
        return f"http://{self.node.config.ip}:{self.node.config.port}/"

    # ------------------------------------------------------------------ life cycle
    async def start(self) -> None:
        self.runner = web.AppRunner(self.app, access_log=None, shutdown_timeout=2.0, keepalive_timeout=IDLE_SECONDS)
        await self.runner.setup()
        ip, port = self.node.config.ip, self.node.config.port
        try:
            self.listener = await asyncio.get_running_loop().create_server(
                self._connection, ip, port, reuse_address=True)
        except OSError as exc:
            await self.stop()
            err = OSError(bind_error(ip, port, exc))      # one line, as the cluster port's; errno kept
            err.errno = exc.errno
            raise err from None
        log.info("web UI and REST API at %s%s", self.url, " (bearer token required)" if self.token else "")

    def _connection(self) -> asyncio.Protocol:
        """aiohttp's protocol for a new connection, or one that closes it when MAX_CONNECTIONS are open."""
        server = self.runner.server
        if len(server.connections) >= MAX_CONNECTIONS:
            log.warning("web: %d connections open; closing a new one", len(server.connections))
            return _Refuse()
        return server()

    async def stop(self) -> None:
        if self.listener is not None:
            self.listener.close()
        if self.runner is not None:
            await self.runner.cleanup()
        self.pool.shutdown(wait=False, cancel_futures=True)

    # ------------------------------------------------------------------ the app
    def _make_app(self) -> web.Application:
        app = web.Application(client_max_size=MAX_BODY_BYTES, middlewares=[self._errors, self._guard])
        for route in ROUTES:
            app.router.add_route(route.method, route.path, self._endpoint(route))
        app.router.add_get("/openapi.json", self._openapi)
        app.router.add_get("/", self._index)
        app.router.add_static("/static", STATIC, append_version=False)
        return app

    @web.middleware
    async def _errors(self, request: web.Request, handler):
        try:
            return await handler(request)
        except web.HTTPException as exc:        # aiohttp's own: 404 route, 405, 413 body too large, ...
            if exc.status < 400:
                raise
            detail = {404: f"no such endpoint: {request.method} {request.path} (see /openapi.json)",
                      405: f"{request.method} is not allowed on {request.path}",
                      413: f"the request body is larger than {MAX_BODY_BYTES} bytes"}.get(exc.status, exc.text)
            resp = error_body(exc.status, exc.reason.lower(), detail)
            if "Allow" in exc.headers:          # a 405 says which methods are allowed (RFC 9110)
                resp.headers["Allow"] = exc.headers["Allow"]
            return resp
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            status, error, detail = error_for(exc)
            if status >= 500:
                log.exception("%s %s failed", request.method, request.path)
            return error_body(status, error, detail)

    @web.middleware
    async def _guard(self, request: web.Request, handler):
        if request.path.startswith("/3/"):
            if self.token is None and not host_allowed(request.host, self.names):
                return error_body(403, "forbidden", f"Host {request.host!r} is not an address of this node: an open "
                                  f"node answers only to IP addresses and this machine's names (a page under another "
                                  f"name may be a DNS-rebinding attack); use its IP address, start the node with "
                                  f"--allow-host NAME, or give the cloud a --security-dir")
            if not authorized(request.headers.get("Authorization"), self.token):
                resp = error_body(401, "unauthorized", "this node needs 'Authorization: Bearer <token>', the token "
                                  "of the cloud's security dir (python -m tools.admin --security-dir DIR token)")
                resp.headers["WWW-Authenticate"] = "Bearer"
                return resp
        return await handler(request)

    def _endpoint(self, route: Route):
        async def handle(request: web.Request) -> web.StreamResponse:
            if route.formed and not self.node.formed_event.is_set():
                return error_body(503, "cloud not formed", f"cloud {self.node.config.name!r} has not formed: "
                                  f"{len(self.node.members)} of {self.node.config.cloud_size} member(s) agree")
            body = None
            if route.body is not None:
                if request.content_type != "application/json":
                    return error_body(415, "unsupported media type", f"{route.method} {route.path} takes "
                                      f"Content-Type application/json, got {request.content_type!r}")
                try:                                # aiohttp refuses more than MAX_BODY_BYTES (413)
                    raw = await asyncio.wait_for(request.read(), BODY_SECONDS)
                except asyncio.TimeoutError:
                    return error_body(408, "request timeout", f"the request body did not arrive within "
                                      f"{BODY_SECONDS:.0f} s")
                if raw.strip():
                    try:
                        body = await self._run(json.loads, raw)
                    except (ValueError, RecursionError) as exc:
                        return error_body(400, "malformed JSON", f"the request body is not valid JSON: {exc}")
            req = rest.Request(self.cloud, dict(request.match_info), dict(request.query), body)
            if route.response == "binary":
                name, data = await self._run(route.fn, req)
                return web.Response(body=data, content_type="application/octet-stream",
                                    headers={"Content-Disposition": attachment(name)})
            payload = await self._run(lambda: json.dumps(rest.jsonable(route.fn(req)), allow_nan=False).encode())
            return web.Response(body=payload, content_type="application/json")
        return handle

    async def _run(self, fn, *args):
        return await asyncio.get_running_loop().run_in_executor(self.pool, fn, *args)

    async def _openapi(self, request: web.Request) -> web.Response:
        return web.json_response(openapi_document(ROUTES, bearer=self.token is not None))

    async def _index(self, request: web.Request) -> web.FileResponse:
        return web.FileResponse(os.path.join(STATIC, "index.html"))


class _Refuse(asyncio.Protocol):
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        transport.close()


def bind_error(ip: str, port: int, exc: OSError) -> str:
    """One line for a REST/web port this node cannot listen on (asyncio's own names the address tuple and errno).

    >>> import errno
    >>> bind_error("127.0.0.1", 54321, OSError(errno.EADDRINUSE, "error while attempting to bind ..."))
    'cannot bind REST/web port 54321 on 127.0.0.1: address already in use (use another --port, or --no-web)'
    """
    reason = os.strerror(exc.errno).lower() if exc.errno else str(exc)
    return f"cannot bind REST/web port {port} on {ip}: {reason} (use another --port, or --no-web)"


def attachment(name: str) -> str:
    """A ``Content-Disposition`` for a download named ``name`` (any model id): an ASCII fallback and the exact
    name in RFC 6266's ``filename*`` (a quote, a non-ASCII letter or a line break in an id broke the header).

    >>> print(attachment('q"x\u00fc'))
    attachment; filename="q_x_"; filename*=UTF-8''q%22x%C3%BC
    """
    ascii_name = "".join(c if " " <= c < "\x7f" and c not in '"\\' else "_" for c in name)
    return f"attachment; filename=\"{ascii_name}\"; filename*=UTF-8''{quote(name, safe='')}"


async def start(node) -> WebServer:
    """Start serving on the node's port; the caller keeps the server to stop it."""
    server = WebServer(node, bearer_token(node))
    await server.start()
    return server
