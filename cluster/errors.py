"""The error types of the cloud: one per failure class, each message saying what failed and where."""
from __future__ import annotations


class AquiferError(Exception):
    """Base class of every error raised by the cloud runtime."""


class ProtocolError(AquiferError):
    """A message that does not follow the wire protocol (malformed, oversized, wrong version, unknown type).

    ``kind`` names the class of fault, used to count dropped messages per kind.
    """

    def __init__(self, message: str, kind: str = "malformed"):
        self.kind = kind
        self.header: dict | None = None      # the message's header when it was valid (to answer a request)
        super().__init__(message)


class RemoteError(AquiferError):
    """An exception raised by a handler on another node, carried back as data (never pickled).

    Attributes: ``node`` (where it was raised), ``type`` (the exception class name), ``message`` and
    ``remote_traceback`` (the remote traceback text).
    """

    def __init__(self, node: str, type: str, message: str, remote_traceback: str = ""):
        self.node, self.type, self.message, self.remote_traceback = node, type, message, remote_traceback
        super().__init__(f"{type} on node {node}: {message}")

    def __str__(self) -> str:
        text = f"{self.type} on node {self.node}: {self.message}"
        if self.remote_traceback:
            text += "\n--- remote traceback ---\n" + self.remote_traceback.rstrip()
        return text


class NodeLostError(AquiferError):
    """A node of the cloud stopped answering (crashed, killed, partitioned away, or restarted).

    ``node`` names it; ``keys`` lists the DKV keys the failed operation needed that were lost with it (held by
    no live member: with replication 1, or when every copy's holder was lost), empty when none were named.
    """

    def __init__(self, node: str, detail: str = "", keys=()):
        self.node = node
        self.keys = list(keys)
        msg = f"node {node} is lost"
        if detail:
            msg += f": {detail}"
        if self.keys:
            shown = ", ".join(self.keys[:5]) + (f" and {len(self.keys) - 5} more" if len(self.keys) > 5 else "")
            msg += f"; lost keys: {shown}"
        super().__init__(msg + " (check that node's log)")

    def __str__(self) -> str:
        return self.args[0] if self.args else f"node {self.node} is lost"


class NoQuorumError(AquiferError):
    """This node does not hear a majority of its cloud's members (it is on the minority side of a partition, or
    most members are gone): it refuses writes and tasks until it does, so the cloud never splits in two."""


class RpcTimeoutError(AquiferError, TimeoutError):
    """A call did not complete within its deadline."""


class CloudNotFormedError(AquiferError):
    """The cloud did not form (``cloud_size`` members agreeing on one member set) within the time a write or a job
    waits for it (``lock_timeout``), or that ``cluster.init`` waits. The message names the members agreeing so far
    and what this node knows of the others. Not a TimeoutError: no deadline of the request itself expired."""


class CloudLockedError(AquiferError):
    """The cloud is locked to new members (its first data write or job happened)."""


class CloudUnreachableError(AquiferError, ConnectionError):
    """Nothing answered at the given address within the timeout."""


class JobCancelledError(AquiferError):
    """The job was cancelled by a user."""


class QuotaExceededError(AquiferError, MemoryError):
    """A node refused to store a value: its DKV would exceed its ``max_mem_size``."""


class RequestRefusedError(AquiferError):
    """A node refused a request before running it (unknown op, bad arguments, over a budget, wrong cloud).
    ``kind`` says why in one word: ``"removed"`` means the node holds the sender dead or removed (it would not
    hear it, as if the link were cut); ``"behind"`` that the sender's member set is newer than any the node heard
    of within a few heartbeats (try again)."""

    def __init__(self, message: str = "", kind: str = "refused"):
        super().__init__(message)
        self.kind = kind
