"""Which files a task may read on a node (``--data-dir``): the one check every file-reading task makes.

A task sent by another process (a client, another member) may read only under the node's data dirs (by
default its working directory); a task this very process started (an embedded node importing its user's
file) may read what the process can. Paths are compared after resolving symbolic links, so a link inside a
data dir cannot lead out of it.

>>> FileAccess(("/srv/data",), "n1").check("/srv/data/../data/x.csv")
'/srv/data/x.csv'
>>> FileAccess(("/srv/data",), "n1").check("/etc/shadow")
Traceback (most recent call last):
...
PermissionError: node n1 does not let tasks read /etc/shadow: it is outside its data dirs (/srv/data); start the node with --data-dir DIR to allow a directory
"""
from __future__ import annotations

import os


class FileAccess:
    """The directories a task may read under on one node; ``dirs=None`` means anywhere (an in-process task)."""

    def __init__(self, dirs: tuple[str, ...] | None, node: str = ""):
        self.dirs = None if dirs is None else tuple(os.path.realpath(d) for d in dirs)
        self.node = node

    def check(self, path: str, verb: str = "read") -> str:
        """The real path of ``path`` when tasks may ``verb`` it here; PermissionError naming the rule otherwise."""
        real = os.path.realpath(path)
        if self.dirs is None or any(os.path.commonpath((d, real)) == d for d in self.dirs):
            return real
        raise PermissionError(f"node {self.node} does not let tasks {verb} {path}: it is outside its data dirs "
                              f"({', '.join(self.dirs)}); start the node with --data-dir DIR to allow a directory")


ANYWHERE = FileAccess(None)
