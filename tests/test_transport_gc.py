"""An abandoned transport (never closed, in a reference cycle with its sockets) must not hang the thread whose
garbage collection finds it: pyzmq would terminate its context there and wait forever for the sockets."""
from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent

SCRIPT = textwrap.dedent("""
    import gc, zmq
    from cluster.config import NodeConfig
    from cluster.transport import Transport
    t = Transport(NodeConfig(), boot=1, on_frames=lambda *a: None)
    sock = t.ctx.socket(zmq.DEALER)                 # as a dealer to a peer: open, never closed
    sock.connect("tcp://127.0.0.1:9")
    t.dealers["127.0.0.1:9"] = sock
    t.cycle = t                                     # garbage only for the cycle collector
    del t, sock
    gc.collect()
    print("collected")
""")


def test_collecting_an_abandoned_transport_does_not_hang():
    proc = subprocess.run([sys.executable, "-c", SCRIPT], cwd=REPO, capture_output=True, text=True, timeout=30)
    assert proc.returncode == 0 and "collected" in proc.stdout, proc.stderr[-2000:]
