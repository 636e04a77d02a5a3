"""The cloud runtime: nodes, membership, RPC, and the embedded API.

>>> import cluster
>>> cloud = cluster.init()          # doctest: +SKIP
>>> cluster.status()["healthy"]     # doctest: +SKIP
True
"""
from .api import Cloud, connect, current, init, shutdown, status
from .jobs import Job
from .mrtask import ChunkSet, MRTask
from .errors import (AquiferError, CloudLockedError, CloudNotFormedError, CloudUnreachableError, JobCancelledError,
                     NodeLostError, NoQuorumError, ProtocolError, QuotaExceededError, RemoteError,
                     RequestRefusedError, RpcTimeoutError)

__all__ = ["Cloud", "Job", "MRTask", "ChunkSet", "init", "connect", "current", "status", "shutdown", "AquiferError",
           "CloudLockedError", "CloudNotFormedError", "CloudUnreachableError", "JobCancelledError", "NodeLostError",
           "NoQuorumError", "ProtocolError", "QuotaExceededError", "RemoteError", "RequestRefusedError",
           "RpcTimeoutError"]
