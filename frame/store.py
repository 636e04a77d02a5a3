"""Where a frame's parts live in the DKV: vec and rollup keys, frame headers, deleting a frame's vecs.

The low floor of the frame layer: it knows key conventions and header storage, not the ``Frame`` class, so
every frame module (the Frame handle, operations, rollups, import) can use it without importing another.

>>> rollup_key("$vec/0a1b")
'$vec/0a1b$rollups'
>>> check_key("prostate.hex")
>>> check_key("$vec/x")
Traceback (most recent call last):
...
ValueError: bad frame key '$vec/x': use a non-empty name not starting with $ or @, without # or control characters
"""
from __future__ import annotations

import uuid

from cluster.dkv import Value
from cluster.jobs import lock_holder


def new_vec_key() -> str:
    """A fresh, cloud-wide unique vec key (the column whose chunks are ``<vec>#<cidx>``)."""
    return f"$vec/{uuid.uuid4().hex}"


def rollup_key(vec: str) -> str:
    """The DKV key of a vec's cached rollup statistics."""
    return f"{vec}$rollups"


def check_key(key: str) -> None:
    """Refuse a frame key that could collide with internal keys (``$...``, ``@node@...``, chunk ``#``) or that
    holds control characters (a line break in a key ends up alone on a line of every file that names it)."""
    if not isinstance(key, str) or not key or key.startswith(("$", "@")) or "#" in key or has_control_characters(key):
        raise ValueError(f"bad frame key {key!r}: use a non-empty name not starting with $ or @, without # or "
                         f"control characters")


def has_control_characters(key: str) -> bool:
    """Whether a key holds a control character (the rule for frame keys and model ids alike)."""
    return any(c < " " or c == "\x7f" for c in key)


def check_destination(key: str, cloud) -> None:
    """Refuse ``key`` as the key of a new frame when it is not a valid frame key, holds something other than a
    frame (a model, a job: storing a frame there would replace it, silently) or holds a frame that a running job
    reads (a training would lose its data mid-way). Any other frame there is replaced, as in H2O."""
    check_key(key)
    found = cloud.dkv.type_of(key)
    if found not in (None, "frame"):
        raise ValueError(f"{key!r} holds a {found}, not a frame: choose another destination key")
    if found == "frame":
        check_unlocked(key, cloud, "replace")


def check_unlocked(key: str, cloud, action: str) -> None:
    """Refuse to ``action`` the frame ``key`` while a running job reads it (H2O's read lock)."""
    holder = lock_holder(key, cloud, writers=False)
    if holder is not None:
        raise ValueError(f"cannot {action} frame {key!r}: the running job {holder['description']!r} "
                         f"({holder['key']}) reads it; cancel the job or wait for it to finish")


def put_header(header: dict, cloud) -> dict:
    """Store a new frame's header under its key (mutable: columns can be assigned later); returns the stored
    header. A frame it replaces is deleted with the vecs it owned (H2O deletes a frame it overwrites), so that
    importing a file again under the same key does not keep the old copy's chunks for ever."""
    header = {**header, "stored": True}
    old = cloud.dkv.get(header["key"])
    cloud.dkv.put(header["key"], Value("frame", header, immutable=False))
    if old is not None and old.type == "frame":
        delete_vecs(cloud, sorted(set(old.meta.get("owned", [])) - set(header["vecs"])))
    return header


def delete_vecs(cloud, vecs: list[str]) -> None:
    """Delete every chunk and rollup of these vecs on every node (one broadcast)."""
    if vecs:
        cloud.dkv.delete_prefix([f"{v}#" for v in vecs] + [rollup_key(v) for v in vecs])
