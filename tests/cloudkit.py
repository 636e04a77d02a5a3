"""Test kit: real node processes on loopback ports, with deadlines and guaranteed clean-up."""
from __future__ import annotations

import os
import random
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
# the test data lives in the checkout (provenance in tests/data/SOURCES.md), so a fresh clone passes its tests
DATA = REPO / "tests" / "data"
SMALL = DATA / "h2o-smalldata"
# too big for the repository: the Debian package dataset-fashion-mnist (tools/setup.sh installs it)
FMNIST = Path("/usr/share/datasets/fashion-mnist")


def fmnist_csvs(out_dir: Path, rows: int = 10_000) -> tuple[str, str]:
    """The Fashion-MNIST train and test CSVs (their first ``rows`` rows) made in ``out_dir``; the calling test is
    skipped when the Debian package is not installed."""
    if not FMNIST.exists():
        import pytest
        pytest.skip("Debian package dataset-fashion-mnist is not installed (tools/setup.sh installs it)")
    from tools import fmnist_to_csv
    out = fmnist_to_csv.convert(FMNIST, out_dir, limit=rows)
    return str(out["train"][0]), str(out["test"][0])


def _port_range() -> tuple[int, int]:
    """Where test nodes listen: below the kernel's ephemeral range, from which outgoing connections (other
    nodes', clients') take their local ports, so a port found free is not taken by one before its node binds."""
    try:
        low = int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        low = 32768
    return (20000, low) if low >= 22000 else (10000, 20000)


PORT_RANGE = _port_range()
_handed_out: set[int] = set()     # ports given to this process's tests: never twice, free or not


def free_port_pair(ip: str = "127.0.0.1") -> int:
    """A port p such that p and p+1 are both free now (REST port, cluster port), outside the ephemeral range
    and not handed out before in this process."""
    start, stop = PORT_RANGE
    for _ in range(400):
        port = random.randrange(start, stop - 1, 2)
        if port in _handed_out:
            continue
        ok = True
        for p in (port, port + 1):
            with socket.socket() as s:
                try:
                    s.bind((ip, p))
                except OSError:
                    ok = False
                    break
        if ok:
            _handed_out.add(port)
            return port
    raise RuntimeError("no free port pair")


def wait_until(predicate, timeout: float, what: str, interval: float = 0.05):
    deadline = time.monotonic() + timeout
    last_exc = None
    while time.monotonic() < deadline:
        try:
            value = predicate()
            if value:
                return value
        except Exception as exc:     # report the last one if we time out
            last_exc = exc
        time.sleep(interval)
    raise TimeoutError(f"timed out after {timeout:g} s waiting for {what}" + (f" (last error: {last_exc!r})" if last_exc else ""))


@dataclass
class NodeProc:
    port: int
    ip: str
    proc: subprocess.Popen
    log_path: Path

    @property
    def address(self) -> str:
        return f"{self.ip}:{self.port}"

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def wait_log(self, text: str, timeout: float = 15.0) -> str:
        return wait_until(lambda: text in self.log() and self.log(), timeout, f"{text!r} in log of {self.address}:\n")

    def kill(self, sig=signal.SIGKILL) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(sig)

    def wait_exit(self, timeout: float = 15.0) -> int:
        return self.proc.wait(timeout)


@dataclass
class Launcher:
    """Starts node processes and kills whatever is left at the end of the test."""
    tmp: Path
    procs: list[NodeProc] = field(default_factory=list)
    security_dir: Path | None = None       # run the nodes with CURVE (tools.admin keygen)
    data_dirs: list[Path] | None = None    # --data-dir of the nodes (default: the data sets, temporary files)

    def flatfile(self, entries: list[str], name: str = "nodes.txt") -> Path:
        path = self.tmp / name
        path.write_text("# test cloud\n" + "\n".join(entries) + "\n")
        return path

    def start(self, port: int, flatfile: Path | None, *, ip: str = "127.0.0.1", name: str = "testcloud",
              extra: list[str] = (), env: dict | None = None, netns: str | None = None,
              prefix: list[str] = ()) -> NodeProc:
        log_path = self.tmp / f"node-{ip}-{port}.log"
        cmd = [sys.executable, "-m", "cluster.node", "--port", str(port), "--ip", ip, "--name", name,
               "--log-level", "INFO", "--plugin", "aquifer_test_plugin", *self.node_args(), *extra]
        if flatfile is not None:
            cmd += ["--flatfile", str(flatfile)]
        if netns:
            cmd = ["ip", "netns", "exec", netns, *cmd]
        cmd = [*prefix, *cmd]          # e.g. unshare: the node in a mount namespace of its own
        full_env = {**os.environ, "PYTHONPATH": f"{REPO}{os.pathsep}{REPO / 'tests'}", **(env or {})}
        fh = open(log_path, "wb")
        proc = subprocess.Popen(cmd, stdout=fh, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                env=full_env, cwd=str(REPO), start_new_session=True)
        fh.close()
        node = NodeProc(port, ip, proc, log_path)
        self.procs.append(node)
        return node

    def node_args(self) -> list[str]:
        """Options every test node gets: what tests import may be read (the test data, Fashion-MNIST and temporary
        files), and the security dir when the kit runs its cloud with CURVE."""
        dirs = self.data_dirs if self.data_dirs is not None else [
            d for d in (DATA, FMNIST, Path(tempfile.gettempdir())) if d.is_dir()]
        args = [a for d in dirs for a in ("--data-dir", str(d))]
        return args + (["--security-dir", str(self.security_dir)] if self.security_dir else [])

    def connect(self, node: "NodeProc", **kw):
        """A client of ``node`` with this kit's keys (``cluster.connect``)."""
        import cluster
        return cluster.connect(node.address, security_dir=self.security_dir and str(self.security_dir), **kw)

    def cloud(self, n: int, *, name: str = "testcloud", extra: list[str] = (), wait: bool = True,
              timeout: float = 20.0) -> list[NodeProc]:
        ports = [free_port_pair() for _ in range(n)]
        ff = self.flatfile([f"127.0.0.1:{p}" for p in ports], f"flat-{ports[0]}.txt")
        nodes = [self.start(p, ff, name=name, extra=["--cloud-size", str(n), *extra]) for p in ports]
        if wait:
            for node in nodes:
                node.wait_log(f"cloud formed: name={name} size={n}", timeout)
        return nodes

    def cleanup(self) -> None:
        for node in self.procs:
            if node.proc.poll() is None:
                try:
                    os.killpg(node.proc.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
        for node in self.procs:
            try:
                node.proc.wait(10)
            except subprocess.TimeoutExpired:
                pass


def admin(*args: str, timeout: float = 30.0) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "tools.admin", *args], capture_output=True, text=True,
                          timeout=timeout, cwd=str(REPO), env=dict(os.environ, PYTHONPATH=str(REPO)))
