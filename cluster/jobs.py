"""Jobs: every long operation has a key, a status, progress, timings and an error, kept in the DKV.

A job value is homed on the node that created it (the gateway for a client) and changed only through
atomic updates on that home, so concurrent updates never lose one another. Cancelling (from any node, a
client, or ``tools.admin cancel``) marks the job and tells every node at once; running MRTasks stop at the
next chunk boundary and algorithms at their next iteration, and the job ends ``CANCELLED``.

>>> with Job.start("my long work", cloud=cloud) as job:      # doctest: +SKIP
...     for i in range(10):
...         job.check_cancelled()
...         job.update(progress=(i + 1) / 10, msg=f"step {i}")
"""
from __future__ import annotations

import asyncio
import logging
import threading
import time
import uuid
from collections.abc import Sequence

from .session import current
from .config import NodeConfig
from .dkv import Value, homed_key, register_atomic
from .errors import JobCancelledError, NodeLostError
from .protocol import register_op

CREATED, RUNNING, DONE, FAILED, CANCELLED = "CREATED", "RUNNING", "DONE", "FAILED", "CANCELLED"
FINAL = (DONE, FAILED, CANCELLED)
JOB_PREFIX = "$job/"

log = logging.getLogger("aquifer.jobs")

register_op("job.cancel", {"key": str}, idempotent=True)
register_op("job.cancel_local", {"key": str}, idempotent=True)


def _job_update(old: Value | None, **changes) -> Value | None:
    # ``alive``: the home's clock when the driver last touched the job (every update is a touch), so that the
    # lease (job.expire) compares times of one clock
    if old is None:
        if changes.get("status") != CREATED:
            raise KeyError("no such job")
        return Value("job", {**changes, "alive": time.time()}, immutable=False)
    meta = dict(old.meta)
    changes.pop("touch", None)
    if meta["status"] not in FINAL:
        meta["alive"] = time.time()
    if meta["status"] in FINAL and "status" in changes:
        return old                       # a finished job stays finished
    if changes.get("stop_requested") and meta["status"] in FINAL:
        return old
    meta.update(changes)
    if "progress" in changes:
        meta["progress"] = max(0.0, min(1.0, float(changes["progress"])))
    return Value("job", meta, immutable=False)


register_atomic("job.update", _job_update)


def _job_expire(old: Value | None) -> Value | None:
    """End a job whose driver gave no sign of life for its ``lease`` (the driver's ``NodeConfig.job_lease``, by
    the home's clock): FAILED, and stop_requested so that a driver that was only paused stops at its next check."""
    if old is None or old.meta["status"] in FINAL:
        return old
    lease = float(old.meta.get("lease", NodeConfig().job_lease))
    silent = time.time() - float(old.meta.get("alive", old.meta["start"]))
    if silent <= lease:
        return old
    return Value("job", {**old.meta, "status": FAILED, "end": time.time(), "stop_requested": True,
                         "error": f"driver lost: the process running this job gave no sign of life for "
                                  f"{silent:.0f} s (killed, or its machine is gone); what it built so far is kept "
                                  f"only if it stored it"}, immutable=False)


register_atomic("job.expire", _job_expire)


class JobService:
    """Node side of jobs: the cancel ops (mark the job, tell every node) and the set of jobs cancelled here.

    Other services ask it, never its set: ``is_cancelled(key)`` (MRTask maps check it at chunk boundaries),
    ``forget(key)`` when a job ends."""

    def __init__(self, node):
        self.node = node
        self._cancelled: set[str] = set()
        node.register("job.cancel", self._h_cancel)
        node.register("job.cancel_local", self._h_cancel_local)

    def is_cancelled(self, key: str | None) -> bool:
        return key is not None and key in self._cancelled

    def forget(self, key: str) -> None:
        self._cancelled.discard(key)

    async def _h_cancel(self, key):
        value = await self.node.dkv.atomic(key, "job.update", {"stop_requested": True})
        if value is None:
            raise KeyError(f"no job {key}")
        members = [m for m in self.node.members if not self.node.is_dead(m)]
        await asyncio.gather(*(self.node.call(m, "job.cancel_local", {"key": key}) for m in members))
        return value.meta["status"]

    async def _h_cancel_local(self, key):
        self._cancelled.add(key)
        return True


class Job:
    """A handle on a job. Create with :meth:`start`; look one up with :meth:`get`."""

    def __init__(self, key: str, cloud):
        self.key = key
        self.cloud = cloud
        self._bar = None          # what the cloud handle shows progress on (None: nothing)

    # ---------------------------------------------------------------- creation and lookup
    @classmethod
    def start(cls, description: str, *, cloud=None, dest: str = "", reads: Sequence[str] = (),
              max_runtime_secs: float = 0.0) -> "Job":
        """A new running job building ``dest`` and reading the keys ``reads`` (e.g. its training frames): while it
        runs, :func:`lock_holder` names it to whoever would replace or remove them, as H2O's read/write locks."""
        cloud = cloud or current()
        key = homed_key(cloud.gateway, f"{JOB_PREFIX}{uuid.uuid4().hex[:12]}")
        meta = {"key": key, "description": description, "status": CREATED, "progress": 0.0, "msg": "",
                "start": time.time(), "end": 0.0, "error": "", "stop_requested": False, "dest": dest,
                "reads": sorted({k for k in reads if k}), "max_runtime_secs": float(max_runtime_secs),
                "lease": float(cloud.config.job_lease)}
        cloud.dkv.atomic(key, "job.update", meta)
        job = cls(key, cloud)
        job._set(status=RUNNING, start=time.time())
        job._bar = cloud.progress_bar(description)
        job._start_lease()
        return job

    def _start_lease(self) -> None:
        """Touch the job from this (the driver's) process until it finishes: the cloud ends a job whose driver
        died instead of showing it RUNNING, and holding its frames, for ever (:func:`_job_expire`)."""
        self._done = threading.Event()
        every = self.cloud.config.job_lease / 12

        def touch():
            while not self._done.wait(every):
                try:
                    self._set(touch=True)
                except Exception as exc:          # a member or the gateway may be lost for a moment
                    log.debug("could not touch job %s: %s", self.key, exc)

        threading.Thread(target=touch, name=f"aquifer-job-lease-{self.key[-12:]}", daemon=True).start()

    @classmethod
    def get(cls, key: str, cloud=None) -> "Job":
        return cls(key, cloud or current())

    @staticmethod
    def list(cloud=None) -> list[dict]:
        """All jobs of the cloud, newest first, as dicts (what ``tools.admin jobs --json`` prints). A running
        job whose driver is gone (no touch for its lease, ``NodeConfig.job_lease``) is ended FAILED first, and members
        told to stop its work."""
        cloud = cloud or current()
        keys = [r["key"] for r in cloud.dkv.keys(JOB_PREFIX)]
        values = cloud.dkv.get_many(keys) if keys else []
        rows = []
        for v in values:
            if v is None:
                continue
            if v.meta["status"] not in FINAL:
                v = _expire(v.meta["key"], cloud) or v
            rows.append(_public(v.meta))
        return sorted(rows, key=lambda r: -r["start"])

    # ---------------------------------------------------------------- reading
    def info(self) -> dict:
        value = self.cloud.dkv.get(self.key)
        if value is None:
            raise KeyError(f"no job {self.key}")
        return _public(value.meta)

    @property
    def status(self) -> str:
        return self.info()["status"]

    @property
    def progress(self) -> float:
        return self.info()["progress"]

    def cancel_requested(self) -> bool:
        if not self.cloud.is_client:
            return self.cloud.node.jobs.is_cancelled(self.key)
        return bool(self.cloud.dkv.get(self.key).meta.get("stop_requested"))

    def check_cancelled(self) -> None:
        """Raise :class:`JobCancelledError` if a cancel was requested (call at iteration boundaries)."""
        if self.cancel_requested():
            raise JobCancelledError(f"job {self.key} ({self.info()['description']}) was cancelled")

    # ---------------------------------------------------------------- changing
    def _set(self, **changes) -> dict:
        gateway = self.cloud.gateway
        try:
            return self.cloud.dkv.atomic(self.key, "job.update", changes).meta
        except NodeLostError:
            if self.cloud.gateway == gateway:
                raise
            # a client's gateway was lost mid-call and it now calls through another member: once more there
            # (the update is idempotent: applied twice, it is applied once)
            return self.cloud.dkv.atomic(self.key, "job.update", changes).meta

    def update(self, progress: float | None = None, msg: str | None = None) -> None:
        changes = {}
        if progress is not None:
            changes["progress"] = float(progress)
        if msg is not None:
            changes["msg"] = str(msg)
        meta = self._set(**changes)
        if self._bar is not None:
            self._bar.show(meta["progress"], msg)

    def cancel(self) -> str:
        """Ask the job to stop; it ends CANCELLED at its next chunk or iteration boundary."""
        return self.cloud.call("job.cancel", {"key": self.key})

    def finish(self, status: str = DONE, error: str = "", kept: str = "") -> None:
        """End the job; ``kept`` says what a job that did not finish left behind (e.g. the model of its last
        completed iteration, under ``dest``)."""
        if getattr(self, "_done", None) is not None:
            self._done.set()
        meta = self._set(status=status, error=error, end=time.time(), kept=kept,
                         **({"progress": 1.0} if status == DONE else {}))
        if self._bar is not None:
            self._bar.close(done=status == DONE)
            self._bar = None
        if not self.cloud.is_client:
            self.cloud.node.jobs.forget(self.key)
        return meta

    def __enter__(self) -> "Job":
        return self

    def __exit__(self, etype, exc, tb) -> bool:
        self.end_with(exc)
        return False

    def end_with(self, exc: BaseException | None, kept: str = "") -> str:
        """Finish as ``exc`` ends the work: DONE when None, CANCELLED for a cancel or Ctrl-C in the driver,
        FAILED otherwise (with the error); ``kept`` as :meth:`finish`. Returns the status."""
        if exc is None:
            status, error = DONE, ""
        elif isinstance(exc, (JobCancelledError, KeyboardInterrupt)):
            status, error = CANCELLED, str(exc) or f"interrupted ({type(exc).__name__})"
        else:
            status, error = FAILED, f"{type(exc).__name__}: {exc}"
        self.finish(status, error, kept)
        return status

    def __repr__(self) -> str:
        return f"<Job {self.key}>"


def _expire(key: str, cloud) -> Value | None:
    """The job after the lease rule (None if it could not be asked: its holders may be lost); one that just
    expired is cancelled on every member, so that a driver node that was only paused stops its work."""
    try:
        value = cloud.dkv.atomic(key, "job.expire")
    except Exception as exc:                 # e.g. NodeLostError: the listing shows what it read
        log.debug("could not check the lease of job %s: %s", key, exc)
        return None
    if value is not None and value.meta["status"] == FAILED and value.meta["error"].startswith("driver lost"):
        try:
            cloud.call("job.cancel", {"key": key})
        except Exception as exc:
            log.debug("could not tell the members to stop job %s: %s", key, exc)
    return value


def _public(meta: dict) -> dict:
    out = {k: meta.get(k) for k in ("key", "description", "status", "progress", "msg", "start", "end", "error",
                                    "dest")}
    out["kept"] = meta.get("kept") or ""
    out["reads"] = list(meta.get("reads") or [])
    out["stop_requested"] = bool(meta.get("stop_requested"))
    return out


def lock_holder(key: str, cloud=None, *, writers: bool = True) -> dict | None:
    """The running job that reads ``key`` or (``writers``) builds it, as :meth:`Job.list` shows it; None when
    none does. A cancelled job holds nothing: cancelling is how an owner frees a key whose job's driver died."""
    for job in Job.list(cloud):
        if job["status"] in (CREATED, RUNNING) and not job["stop_requested"] \
                and (key in job["reads"] or (writers and job["dest"] == key)):
            return job
    return None
