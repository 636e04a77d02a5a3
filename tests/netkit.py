"""Network namespaces for fault tests: hosts on one bridge, and links between them cut and healed (root only).

Each host is a namespace with one veth end on a shared bridge; the bridge has an address of its own, so this
process (in the root namespace) reaches every host. A link is cut with blackhole routes on both sides: packets
between the two hosts vanish silently (as on a broken network; TCP retransmits once the routes are gone).
"""
from __future__ import annotations

import os
import shutil
import subprocess
from contextlib import contextmanager

PREFIX = f"aqt{os.getpid() % 10000}"


def _sh(*cmd):
    subprocess.run(cmd, check=True, capture_output=True, timeout=20)


def unavailable() -> str | None:
    """Why namespaces cannot be made here, or None."""
    if os.geteuid() != 0:
        return "needs root to create network namespaces (ip netns, veth, bridge)"
    if shutil.which("ip") is None:
        return "iproute2 (the ip command) is not installed"
    return None


@contextmanager
def hosts(n: int = 3):
    """``n`` namespaces on a bridge: yields [(namespace, address)]; everything is removed afterwards."""
    bridge = f"{PREFIX}br"
    names = [f"{PREFIX}n{i}" for i in range(n)]
    net = f"10.213.{os.getpid() % 200}"
    addrs = [f"{net}.{i + 10}" for i in range(n)]
    try:
        _sh("ip", "link", "add", bridge, "type", "bridge")
        _sh("ip", "addr", "add", f"{net}.1/24", "dev", bridge)
        _sh("ip", "link", "set", bridge, "up")
        for ns, addr in zip(names, addrs):
            _sh("ip", "netns", "add", ns)
            _sh("ip", "link", "add", f"{ns}h", "type", "veth", "peer", "name", f"{ns}c")
            _sh("ip", "link", "set", f"{ns}h", "master", bridge)
            _sh("ip", "link", "set", f"{ns}h", "up")
            _sh("ip", "link", "set", f"{ns}c", "netns", ns)
            _sh("ip", "-n", ns, "addr", "add", f"{addr}/24", "dev", f"{ns}c")
            _sh("ip", "-n", ns, "link", "set", f"{ns}c", "up")
            _sh("ip", "-n", ns, "link", "set", "lo", "up")
        yield list(zip(names, addrs))
    finally:
        for ns in names:
            pids = subprocess.run(["ip", "netns", "pids", ns], capture_output=True, text=True).stdout.split()
            for pid in pids:
                subprocess.run(["kill", "-9", pid], capture_output=True)
            subprocess.run(["ip", "link", "del", f"{ns}h"], capture_output=True)
            subprocess.run(["ip", "netns", "del", ns], capture_output=True)
        subprocess.run(["ip", "link", "del", bridge], capture_output=True)


def cut(a: tuple[str, str], b: tuple[str, str]) -> None:
    """Drop every packet between hosts ``a`` and ``b`` ((namespace, address) pairs), both ways."""
    _sh("ip", "-n", a[0], "route", "add", "blackhole", f"{b[1]}/32")
    _sh("ip", "-n", b[0], "route", "add", "blackhole", f"{a[1]}/32")


def heal(a: tuple[str, str], b: tuple[str, str]) -> None:
    _sh("ip", "-n", a[0], "route", "del", "blackhole", f"{b[1]}/32")
    _sh("ip", "-n", b[0], "route", "del", "blackhole", f"{a[1]}/32")
