"""A node's DKV share (cluster.shard): prefix matching and the tombstones of prefix deletes."""
from __future__ import annotations

import random
from types import SimpleNamespace as V

from cluster.placement import unhomed
from cluster.shard import Shard, prefix_matcher


def test_prefix_matcher_is_startswith_any_of_the_prefixes():
    # The matcher keeps only the prefixes no other one starts and bisects them; it must still say what testing
    # every prefix says, homed keys ("@node@rest") matched by their visible part too.
    rng = random.Random(0)
    alphabet = "ab#@n1"

    def word(most: int) -> str:
        return "".join(rng.choice(alphabet) for _ in range(rng.randint(0, most)))
    for _ in range(2000):
        prefixes = [word(4) for _ in range(rng.randint(1, 6))]
        match = prefix_matcher(prefixes)
        for key in [word(8) for _ in range(30)]:
            want = unhomed(key).startswith(tuple(prefixes)) or key.startswith(tuple(prefixes))
            assert match(key) == want, (prefixes, key)


def test_a_prefix_delete_refuses_older_copies_of_matching_keys_only():
    shard = Shard("n1", quota=1 << 20)
    old = shard.next_version()
    vecs = [f"$vec_{i:04d}" for i in range(785)]             # a wide frame's delete: one prefix per column
    shard.put(f"{vecs[7]}#0", V(nbytes=8))
    assert shard.delete([], [f"{v}#" for v in vecs], shard.next_version()) == [f"{vecs[7]}#0"]
    assert not shard.put_if_newer(f"@n2@{vecs[500]}#3", V(nbytes=8), old)     # deleted after that copy
    assert shard.put_if_newer("$vec_9999#0", V(nbytes=8), old)                # no prefix of the delete
    assert shard.put_if_newer(f"{vecs[500]}#3", V(nbytes=8), shard.next_version())   # written after it
