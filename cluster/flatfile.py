"""Flatfiles as H2O reads them: one ``[name/]ip[:port]`` per line, ``#`` comments, blank lines ignored.

The port is the node's REST/web port; its cluster port is port + 1. A missing port means the default. An error
names the file and the line (``nodes.txt:3: ...``); a line holding more than one word (``bad line here``) is
refused as such rather than looked up as a host name.

>>> parse_flatfile_text("# my cloud\\n10.0.0.1:54321\\n/10.0.0.2\\n\\nhost3:54323  # third\\n")
[('10.0.0.1', 54321), ('10.0.0.2', 54321), ('host3', 54323)]
>>> parse_flatfile_text("10.0.0.1:54321\\nbad line here\\n", "nodes.txt")
Traceback (most recent call last):
ValueError: nodes.txt:2: expected one [name/]ip[:port] per line, got 'bad line here' (a '#' starts a comment)
"""
from __future__ import annotations

import socket

from .config import DEFAULT_PORT

_FORMAT = "[name/]ip[:port]"


def _entries(text: str, source: str):
    """(where, line as written, host, port) of every node line; ``where`` is ``source:lineno``."""
    for lineno, raw in enumerate(text.splitlines(), 1):
        line = raw.split("#", 1)[0].strip()
        where = f"{source}:{lineno}"
        if not line:
            continue
        if len(line.split()) > 1:
            raise ValueError(f"{where}: expected one {_FORMAT} per line, got {line!r} (a '#' starts a comment)")
        if "/" in line:                       # H2O allows "name/ip:port"
            line = line.split("/", 1)[1]
        host, sep, port_text = line.rpartition(":")
        if not sep:
            host, port_text = line, str(DEFAULT_PORT)
        host = host.strip("[]")
        try:
            port = int(port_text)
        except ValueError:
            raise ValueError(f"{where}: bad port {port_text!r} in {raw.strip()!r} (expected {_FORMAT})") from None
        if not host or not 1 <= port <= 65534:
            raise ValueError(f"{where}: expected {_FORMAT} with a port in 1..65534, got {raw.strip()!r}")
        yield where, raw.strip(), host, port


def parse_flatfile_text(text: str, source: str = "flatfile") -> list[tuple[str, int]]:
    """The (host, port) of every node line, in order, each once; host names are kept as written."""
    peers: list[tuple[str, int]] = []
    for _, _, host, port in _entries(text, source):
        if (host, port) not in peers:
            peers.append((host, port))
    return peers


def read_flatfile(path: str) -> list[tuple[str, int]]:
    """Read and parse a flatfile, host names resolved to addresses (as node ids name nodes); a missing file, a
    bad line or a host that does not resolve is an error naming the file (and the line)."""
    try:
        with open(path, encoding="utf-8") as fh:
            text = fh.read()
    except OSError as exc:
        raise ValueError(f"cannot read flatfile {path}: {exc.strerror}") from None
    except UnicodeDecodeError as exc:
        raise ValueError(f"flatfile {path} is not utf-8 text (byte {exc.start})") from None
    peers: list[tuple[str, int]] = []
    for where, line, host, port in _entries(text, path):
        try:
            peer = (resolve(host), port)
        except ValueError as exc:
            raise ValueError(f"{where}: {exc} (the line reads {line!r})") from None
        if peer not in peers:
            peers.append(peer)
    return peers


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
