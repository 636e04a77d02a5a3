"""Where a DKV key lives: its holders, by rendezvous hashing over the member set.

Every key has ``R`` *holders* (``R`` = the cloud's replication factor, ``--replication``), in order; the first is
its *primary*, which orders the writes of a mutable value. A key ranks the members by a hash of (key, member)
and takes the top R. A key may name its home explicitly as ``"@<node>@<rest>"`` (frames put chunk i of every
column on one node that way, spreading chunks evenly): the home is then the primary and the others follow it in
the ranking. The ranking of a chunk key (``@node@vec#i``) is by its home and chunk index only, so all columns of
chunk i share their holders and a map finds every column of its chunk on one node, replicas included.

Rendezvous hashing moves little when members change: a lost member's keys gain one new holder each (the next
in their ranking), a member that joins becomes a holder of only the keys that rank it in their top R; when an
explicit home is removed, its keys keep their other holders.

>>> members = ("10.0.0.1:54321", "10.0.0.2:54321", "10.0.0.3:54321")
>>> holders("@10.0.0.2:54321@$vec/a#3", members, 2)[0]
'10.0.0.2:54321'
>>> holders("@10.0.0.2:54321@$vec/a#3", members, 2) == holders("@10.0.0.2:54321@$vec/b#3", members, 2)
True
>>> len(holders("model_1", members, 2)), holders("model_1", members, 1)[0] == home_of("model_1", members)
(2, True)
"""
from __future__ import annotations

import hashlib


def _rank(key: str, node: str) -> int:
    return int.from_bytes(hashlib.blake2b(f"{key}\0{node}".encode(), digest_size=8).digest(), "big")


def explicit_home(key: str) -> str | None:
    """The node a key names as its home (``@node@rest``), else None."""
    if key.startswith("@"):
        end = key.find("@", 1)
        if end > 1:
            return key[1:end]
    return None


def unhomed(key: str) -> str:
    """A key without its explicit-home prefix (what users see, and what prefix searches match)."""
    if key.startswith("@"):
        end = key.find("@", 1)
        if end > 1:
            return key[end + 1:]
    return key


def homed_key(node: str, rest: str) -> str:
    """A key whose home is ``node``."""
    return f"@{node}@{rest}"


def _group(key: str, home: str | None) -> str:
    """What a key is ranked by: a chunk (``@home@vec#i``) by its home and index, so its columns stay together."""
    if home is not None:
        rest = key[len(home) + 2:]
        hash_at = rest.rfind("#")
        if hash_at >= 0:
            return f"@{home}@#{rest[hash_at + 1:]}"
    return key


def holders(key: str, members, r: int) -> list[str]:
    """The ``r`` members holding ``key``, primary first (fewer when the cloud has fewer members)."""
    home = explicit_home(key)
    group = _group(key, home)
    if home is not None and home in members:
        others = [m for m in members if m != home]
        return [home] + sorted(others, key=lambda m: _rank(group, m), reverse=True)[:r - 1]
    return sorted(members, key=lambda m: _rank(group, m), reverse=True)[:r]


def home_of(key: str, members) -> str:
    """The primary of ``key``: its explicit home (member or not), else the top of the rendezvous ranking."""
    home = explicit_home(key)
    if home is not None:
        return home
    return max(members, key=lambda m: _rank(key, m))
