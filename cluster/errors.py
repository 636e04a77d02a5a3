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
    """A node of the cloud stopped answering (crashed, killed, or partitioned away)."""

    def __init__(self, node: str, detail: str = ""):
        self.node = node
        msg = f"node {node} is lost"
        if detail:
            msg += f": {detail}"
        super().__init__(msg + " (check that node's log; the cloud must be restarted to use its data again)")

    def __str__(self) -> str:
        return self.args[0] if self.args else f"node {self.node} is lost"


class RpcTimeoutError(AquiferError, TimeoutError):
    """A call did not complete within its deadline."""


class CloudLockedError(AquiferError):
    """The cloud is locked to new members (its first data write or job happened)."""


class CloudUnreachableError(AquiferError, ConnectionError):
    """Nothing answered at the given address within the timeout."""


class JobCancelledError(AquiferError):
    """The job was cancelled by a user."""


class QuotaExceededError(AquiferError, MemoryError):
    """A node refused to store a value: its DKV would exceed its ``max_mem_size``."""


class RequestRefusedError(AquiferError):
    """A node refused a request before running it (unknown op, bad arguments, over a budget, wrong cloud)."""
