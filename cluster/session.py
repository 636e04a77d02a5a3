"""The cloud handle of this process: set by ``cluster.init``/``connect``, read by whoever needs a default cloud.

It lives apart from :mod:`cluster.api` so that the runtime's services (MRTask, jobs) can find the current
cloud without importing the module that starts nodes.

>>> current_or_none() is None or current_or_none().node_id != ""
True
"""
from __future__ import annotations

import threading

_current = None
lock = threading.RLock()      # held while a cloud is being made the current one


def current():
    """The cloud of this process (from ``init`` or ``connect``); a clear error if there is none."""
    if _current is None:
        raise RuntimeError("no cloud: call cluster.init() (embedded) or cluster.connect('host:port') first")
    return _current


def current_or_none():
    return _current


def adopt(cloud) -> None:
    """Make ``cloud`` the current one unless another already is."""
    global _current
    with lock:
        if _current is None:
            _current = cloud


def release(cloud) -> None:
    """Forget ``cloud`` if it is the current one (it shut down)."""
    global _current
    with lock:
        if _current is cloud:
            _current = None
