"""What a node loads from the web layer: its HTTP server (REST API and web UI) on the node's ``--port``.

The node calls :func:`start_node` on its loop once its cluster sockets are bound and :func:`stop_node` when
it stops (``cluster.node.load_plugins``). ``cluster.init(web=False)`` leaves this plugin out.
"""
from __future__ import annotations

_SERVERS: dict[int, object] = {}     # id(node) -> its WebServer (several nodes may live in one process)


async def start_node(node) -> None:
    from .server import start          # aiohttp is imported only by nodes that serve
    server = await start(node)
    _SERVERS[id(node)] = server
    node.endpoints["web UI and REST API"] = server.url


async def stop_node(node) -> None:
    server = _SERVERS.pop(id(node), None)
    if server is not None:
        await server.stop()
