"""Flatfiles as H2O reads them: one ``[name/]ip[:port]`` per line, ``#`` comments, blank lines ignored.

The port is the node's REST/web port; its cluster port is port + 1. A missing port means the default.

>>> parse_flatfile_text("# my cloud\\n10.0.0.1:54321\\n/10.0.0.2\\n\\nhost3:54323  # third\\n")
[('10.0.0.1', 54321), ('10.0.0.2', 54321), ('host3', 54323)]
"""
from __future__ import annotations

import socket

from .config import DEFAULT_PORT


def parse_flatfile_text(text: str, source: str = "flatfile") -> list[tuple[str, int]]:
    peers: list[tuple[str, int]] = []
    for lineno, raw in enumerate(text.splitlines(), 1):
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        if "/" in line:                       # H2O allows "name/ip:port"
            line = line.split("/", 1)[1]
        host, sep, port_text = line.rpartition(":")
        if not sep:
            host, port_text = line, str(DEFAULT_PORT)
        host = host.strip("[]")
        try:
            port = int(port_text)
        except ValueError:
            raise ValueError(f"{source} line {lineno}: bad port {port_text!r} in {raw.strip()!r}") from None
        if not host or not 1 <= port <= 65534:
            raise ValueError(f"{source} line {lineno}: expected ip:port, got {raw.strip()!r}")
        if (host, port) not in peers:
            peers.append((host, port))
    return peers


def read_flatfile(path: str) -> list[tuple[str, int]]:
    """Read and parse a flatfile; a missing file is an error naming the path."""
    try:
        with open(path, encoding="utf-8") as fh:
            text = fh.read()
    except OSError as exc:
        raise ValueError(f"cannot read flatfile {path}: {exc.strerror}") from None
    return parse_flatfile_text(text, source=path)


def resolve(host: str) -> str:
    """Host name to IPv4 address (node ids always use addresses, so everyone names a node alike)."""
    try:
        return socket.gethostbyname(host)
    except OSError:
        raise ValueError(f"cannot resolve host {host!r}") from None


def guess_own_ip(peers: list[tuple[str, int]]) -> str:
    """The local address that routes to the first peer (no packet is sent); loopback when alone."""
    for host, port in peers:
        try:
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
                s.connect((resolve(host), port))
                return s.getsockname()[0]
        except (OSError, ValueError):
            continue
    return "127.0.0.1"
