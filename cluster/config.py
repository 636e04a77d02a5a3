"""Every setting of the cloud runtime, in one place (``NodeConfig``), with its default.

The failure-detector defaults aim at "a lost node is known within 10 s" (H2O waits 60 s and then only
logs). A node is *suspect* after missing about 3 heartbeats and *dead* after about 6; any message from a
peer on a connection this node opened to it counts as a sign of life, so a node busy with long maps is never
suspected as long as its event loop runs (kernels run on the compute pool, never on the loop).

>>> cfg = NodeConfig(port=54321)
>>> cfg.node_id, cfg.cluster_port
('127.0.0.1:54321', 54322)
"""
from __future__ import annotations

import math
import os
from dataclasses import dataclass, field

from .machine import physical_memory_bytes

PROTOCOL_NAME = "aquifer"
# 2: membership is believed only over connections a node opened itself (heartbeats answered on them), requests
# the node refuses are answered with an error, refusals travel as answers
# 3: replication: heartbeats carry the member set's epoch, the replication factor and removal/rejoin votes; the
# DKV's replica ops carry versions
PROTOCOL_VERSION = 3
PACKAGE_VERSION = "0.1.0"

# the higher layers, imported by every node so that their ops, task classes and atomics exist there;
# the web plugin serves the REST API and web UI on the node's port (cluster.init(web=False) leaves it out)
WEB_PLUGIN = "web.plugin"
DEFAULT_PLUGINS = ("frame.plugin", "algos.plugin", WEB_PLUGIN)

DEFAULT_PORT = 54321          # REST/web port, as H2O; the cluster port is port + 1
PORT_OFFSET = 1
MAX_PORT = 65534              # port + 1 must be a port too
DEFAULT_CLOUD_NAME = os.environ.get("USER") or "aquifer"   # H2O defaults the cloud name to the user name
DAY = 24 * 3600.0


def _default_max_mem() -> int:
    # half the machine: H2O gives its JVM heap (which is mostly its DKV) a quarter by default; we keep column
    # chunks compressed, and what the compute pool needs beside the store is not counted here
    return physical_memory_bytes() // 2 or 4 << 30


MIN_HEARTBEAT = 0.05   # seconds: the shortest heartbeat interval a node accepts


@dataclass
class NodeConfig:
    """Settings of one node. Every field has its default here and nowhere else.

    The command line of ``python -m cluster.node`` and the arguments of ``cluster.init``/``connect`` set them.
    """

    ip: str = "127.0.0.1"
    port: int = DEFAULT_PORT
    name: str = DEFAULT_CLOUD_NAME
    flatfile_peers: list[tuple[str, int]] = field(default_factory=list)
    cloud_size: int = 1                    # the cloud counts as formed only from this many members up
    client: bool = False                   # a client homes no data and is not a member
    plugins: tuple[str, ...] = DEFAULT_PLUGINS  # modules imported at start: they register ops and tasks
    compute_threads: int = field(default_factory=lambda: os.cpu_count() or 1)
    replication: int = 1                   # copies of every DKV value and chunk (the same on every member)

    # ---- failure detection and membership
    heartbeat_interval: float = 1.0        # seconds between heartbeats (H2O: 1 s)
    suspect_after: float = 3.0             # silence before a peer is suspect
    dead_after: float = 6.0                # silence before a peer is dead (H2O: 60 s, and only logged)
    max_candidates: int = 64               # nodes heard of but not yet confirmed (bounds what strangers cost)

    # ---- deadlines (seconds)
    rpc_timeout: float = 60.0              # default per-call deadline
    mr_timeout: float = DAY                # an MRTask call (an import, a training iteration); a lost node fails it
                                           # within the failure-detection window, whatever this says
    lock_timeout: float = 30.0             # the first write or job waits this long for the cloud to form
    control_timeout: float = 5.0           # cloud.lock calls, refusals, goodbyes
    start_timeout: float = 60.0            # an embedded node's loop thread starting; cluster.init's formation
    connect_timeout: float = 10.0          # cluster.connect's probe of its gateway
    status_timeout: float = 10.0           # Cloud.status()
    shutdown_timeout: float = 30.0         # Cloud.shutdown() waiting for the node to stop
    goodbye_flush: float = 0.05            # a stopping node waits this long for its goodbyes to leave
    job_lease: float = 60.0                # a running job whose driver gave no sign of life this long ends
                                           # FAILED (its process died); the driver touches it every lease/12

    # ---- messages and queues
    max_message_bytes: int = 64 << 20      # larger messages are refused (both ends check)
    sndhwm: int = 10_000                   # queued outgoing messages per peer before a send waits
    rcvhwm: int = 10_000
    peer_inbound_bytes: int = 256 << 20    # request bytes one connection may have in service at once
    drop_log_burst: int = 5                # invalid messages logged per kind per interval; the rest are counted
    drop_log_interval: float = 10.0

    # ---- resources
    max_mem_size: int = field(default_factory=_default_max_mem)   # bytes of DKV values this node may hold
    data_dirs: tuple[str, ...] = ()        # where tasks sent by others may read files; () = the working dir
    web_hosts: tuple[str, ...] = ()        # host names an open node's REST API answers to besides its own

    # ---- MRTask tuning
    mr_key_selections: int = 8             # column selections whose chunk keys a node keeps derived
    mr_fetch_batch: int = 256              # chunks fetched per get_many when a layout replicates data
    mr_retries: int = 3                    # times a task re-runs the share of a member lost mid-task

    # ---- replication (see cluster/replicas.py)
    rebalance_batch_bytes: int = 32 << 20  # bytes of copies sent per message while restoring the replication
    tombstone_seconds: float = 600.0       # how long a deleted key is remembered (a stale copy is not revived)

    # ---- security (docs/security.md)
    security_dir: str | None = None        # CURVE keys: DIR/private/<identity>.key_secret, DIR/authorized/*.key
    identity: str | None = None            # which key pair of DIR/private to use (default: "cloud")
    require_security: bool = False         # refuse to start without a security dir

    @property
    def node_id(self) -> str:
        return f"{self.ip}:{self.port}"

    @property
    def cluster_port(self) -> int:
        return self.port + PORT_OFFSET

    def readable_dirs(self) -> tuple[str, ...]:
        """The directories tasks sent by other processes may read files under (real paths)."""
        return tuple(os.path.realpath(d) for d in (self.data_dirs or (os.getcwd(),)))

    def validate(self, names: dict[str, str] | None = None, derived: dict[str, str] | None = None) -> None:
        """Refuse settings a node cannot run with (ValueError). ``names`` are what the caller calls the timing
        fields (the command line: ``{"dead_after": "--dead-after", ...}``) and ``derived`` says how a value the
        user did not give was made; both only word the message.

        >>> NodeConfig(heartbeat_interval=1.0, suspect_after=0.5, dead_after=1.0).validate(
        ...     {"heartbeat_interval": "--heartbeat-interval", "suspect_after": "--suspect-after",
        ...      "dead_after": "--dead-after"}, {"suspect_after": "not given: half of --dead-after"})
        Traceback (most recent call last):
        ValueError: need --heartbeat-interval < ... got --heartbeat-interval 1, --suspect-after 0.5 (not given: ...
        """
        names, derived = names or {}, derived or {}

        def told(f: str) -> str:
            value = f"{names.get(f, f)} {getattr(self, f):g}"
            return f"{value} ({derived[f]})" if f in derived else value

        if not 1 <= self.port <= MAX_PORT:
            raise ValueError(f"port must be in 1..{MAX_PORT} (port+1 is the cluster port), got {self.port}")
        if not MIN_HEARTBEAT <= self.heartbeat_interval < math.inf:   # below it an idle node spins a core
            raise ValueError(f"{names.get('heartbeat_interval', 'heartbeat_interval')} must be >= {MIN_HEARTBEAT} s, "
                             f"got {self.heartbeat_interval:g}")
        timing = ("heartbeat_interval", "suspect_after", "dead_after")
        if not self.heartbeat_interval < self.suspect_after < self.dead_after:
            raise ValueError(f"need {' < '.join(names.get(f, f) for f in timing)}, got "
                             f"{', '.join(told(f) for f in timing)}")
        if self.cloud_size < 1:
            raise ValueError(f"cloud_size must be >= 1, got {self.cloud_size}")
        for f in ("lock_timeout", "job_lease"):
            if not 0 < getattr(self, f) < math.inf:
                raise ValueError(f"{names.get(f, f)} must be a positive number of seconds, got {getattr(self, f)}")
        if not 1 <= self.replication <= 16:
            raise ValueError(f"replication must be in 1..16 (copies of every value), got {self.replication}")
        if (not self.name and not self.client) or len(self.name) > 200:
            raise ValueError("cloud name must be 1..200 characters")
        if self.max_mem_size < 1 << 20:
            raise ValueError(f"max_mem_size must be at least 1 MiB, got {self.max_mem_size} bytes")
        if self.peer_inbound_bytes < self.max_message_bytes:
            raise ValueError(f"peer_inbound_bytes ({self.peer_inbound_bytes}) must hold at least one message of "
                             f"max_message_bytes ({self.max_message_bytes})")
        if self.require_security and not self.security_dir:
            raise ValueError("--require-security is set but no --security-dir was given (make one with: "
                             "python -m tools.admin keygen DIR)")
        for d in self.data_dirs:
            if not os.path.isdir(d):
                raise ValueError(f"data dir {d!r} is not a directory")


def parse_size(text: str) -> int:
    """A byte count as H2O's ``max_mem_size`` takes it: a number with an optional k/m/g/t suffix (powers of 1024).

    >>> parse_size("4g"), parse_size("512M"), parse_size("1000")
    (4294967296, 536870912, 1000)
    """
    units = {"k": 1 << 10, "m": 1 << 20, "g": 1 << 30, "t": 1 << 40}
    t = str(text).strip().lower().removesuffix("b")
    scale = units.get(t[-1:], 1)
    number = t[:-1] if t[-1:] in units else t
    try:
        value = float(number)
    except ValueError:
        raise ValueError(f"expected a size such as 4g, 512m or 1000000, got {text!r}") from None
    if not 0 < value < math.inf:
        raise ValueError(f"a size must be > 0 and finite, got {text!r}")
    return int(value * scale)
