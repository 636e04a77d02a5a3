"""Every default of the cloud runtime, in one place.

The failure-detector defaults aim at "a lost node is known within 10 s" (H2O waits 60 s and then only
logs). A node is *suspect* after missing about 3 heartbeats and *dead* after about 6; any message from a
peer counts as a sign of life, so a node busy with long maps is never suspected as long as its event loop
runs (kernels run on the compute pool, never on the loop).
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field

PROTOCOL_NAME = "aquifer"
PROTOCOL_VERSION = 1
PACKAGE_VERSION = "0.1.0"

# the higher layers, imported by every node so that their ops, task classes and atomics exist there;
# the web plugin serves the REST API and web UI on the node's port (cluster.init(web=False) leaves it out)
WEB_PLUGIN = "web.plugin"
DEFAULT_PLUGINS = ("frame.plugin", "algos.plugin", WEB_PLUGIN)

DEFAULT_PORT = 54321          # REST/web port, as H2O; the cluster port is port + 1
PORT_OFFSET = 1
DEFAULT_CLOUD_NAME = os.environ.get("USER") or "aquifer"   # H2O defaults the cloud name to the user name


@dataclass
class NodeConfig:
    """Settings of one node. Every field has its default here and nowhere else."""

    ip: str = "127.0.0.1"
    port: int = DEFAULT_PORT
    name: str = DEFAULT_CLOUD_NAME
    flatfile_peers: list[tuple[str, int]] = field(default_factory=list)
    cloud_size: int = 1                    # the cloud counts as formed only from this many members up
    heartbeat_interval: float = 1.0        # seconds between heartbeats (H2O: 1 s)
    suspect_after: float = 3.0             # silence before a peer is suspect
    dead_after: float = 6.0                # silence before a peer is dead (H2O: 60 s, and only logged)
    rpc_timeout: float = 60.0              # default per-call deadline
    max_message_bytes: int = 64 << 20      # larger messages are dropped and counted
    sndhwm: int = 10_000                   # queued outgoing messages per peer before a send waits
    rcvhwm: int = 10_000
    compute_threads: int = field(default_factory=lambda: os.cpu_count() or 1)
    client: bool = False                   # a client homes no data and is not a member
    plugins: tuple[str, ...] = DEFAULT_PLUGINS  # modules imported at start: they register ops and tasks

    @property
    def node_id(self) -> str:
        return f"{self.ip}:{self.port}"

    @property
    def cluster_port(self) -> int:
        return self.port + PORT_OFFSET

    def validate(self) -> None:
        if not 1 <= self.port <= 65534:
            raise ValueError(f"port must be in 1..65534 (port+1 is the cluster port), got {self.port}")
        if self.heartbeat_interval <= 0:
            raise ValueError(f"heartbeat_interval must be > 0, got {self.heartbeat_interval}")
        if not self.heartbeat_interval < self.suspect_after < self.dead_after:
            raise ValueError(
                "need heartbeat_interval < suspect_after < dead_after, got "
                f"{self.heartbeat_interval} / {self.suspect_after} / {self.dead_after}")
        if self.cloud_size < 1:
            raise ValueError(f"cloud_size must be >= 1, got {self.cloud_size}")
        if (not self.name and not self.client) or len(self.name) > 200:
            raise ValueError("cloud name must be 1..200 characters")
