"""Who may call the REST API: an optional bearer token.

:func:`bearer_token` is the one place the server learns its token. A node started with a security dir
(``NodeConfig.security_dir``, the ``--security-dir DIR`` flag of the cluster's security work) serves the
token in ``DIR/token``; without one there is no token and the API is open, as the cluster port is. With a
token every ``/3/`` request needs ``Authorization: Bearer <token>`` (else 401); the page and its assets
and ``/openapi.json`` hold no data and stay open, and the page asks for the token on the first 401.

>>> bearer_token(type("N", (), {"config": object()})()) is None
True
"""
from __future__ import annotations

import hmac
import ipaddress
import socket

from cluster.security import read_token


def bearer_token(node) -> str | None:
    """The token requests must carry (``DIR/token`` of the node's ``--security-dir``, made by ``python -m
    tools.admin keygen DIR``), or None when the node has no security dir."""
    directory = getattr(node.config, "security_dir", None)
    if not directory:
        return None
    try:
        token = read_token(directory)
    except ValueError as exc:
        raise ValueError(f"{exc}: the web API will not run open on a node that asked for security") from None
    if not token:
        raise ValueError(f"the token file of security dir {directory} is empty")
    return token


def authorized(header: str | None, token: str | None) -> bool:
    """Whether an ``Authorization`` header value carries ``token`` (always True without a token)."""
    if token is None:
        return True
    scheme, _, given = (header or "").partition(" ")
    return scheme.lower() == "bearer" and hmac.compare_digest(given.strip().encode(), token.encode())


def local_names() -> frozenset[str]:
    """The host names an open node answers to besides IP addresses: ``localhost`` and this machine's names."""
    return frozenset(n.lower() for n in ("localhost", socket.gethostname(), socket.getfqdn()) if n)


def host_allowed(host: str | None, names: frozenset[str]) -> bool:
    """Whether an open node serves a request whose ``Host`` header is ``host``: an IP address, or one of
    ``names``. Any other name may be a DNS-rebinding page in the user's browser, which reaches a node on loopback
    under the attacker's domain and would act with the page's origin (a token stops that; an open node has none).

    >>> names = frozenset({"localhost"})
    >>> [host_allowed(h, names) for h in ("127.0.0.1:54321", "[::1]:80", "localhost", "evil.example:54321", None)]
    [True, True, True, False, False]
    """
    if not host:
        return False
    name = host.rsplit(":", 1)[0] if not host.endswith("]") else host
    name = name.strip("[]").lower()
    try:
        ipaddress.ip_address(name)
        return True
    except ValueError:
        return name in names
