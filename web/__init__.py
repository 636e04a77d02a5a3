"""The REST API (JSON under ``/3/``, H2O-3's names), its OpenAPI document and the web UI, served by every node.

A layer above ``algos``: it uses the public Python API of ``cluster``, ``frame`` and ``algos`` and nothing
imports it; nodes load it by its plugin name (``web.plugin``, in ``cluster.config.DEFAULT_PLUGINS``).

>>> import cluster
>>> cluster.init()                        # doctest: +SKIP
aquifer node 127.0.0.1:54321 up: cloud 'me', 1 member(s), 2 compute threads
  web UI and REST API: http://127.0.0.1:54321/
"""
