"""Administration CLI for a running aquifer cloud.

    python -m tools.admin --cluster 127.0.0.1:54321 cloud [--json]

Every command attaches as a client to the node at ``--cluster`` (its REST port; the cluster port is
port + 1), prints a table (or exactly one JSON document with ``--json``) and exits 0; when the cloud cannot
be reached within ``--timeout`` it prints a one-line reason to stderr and exits 1.
"""
from __future__ import annotations

import argparse
import json
import logging
import sys
from typing import Callable

EXIT_UNREACHABLE = 1
EXIT_ERROR = 2


def _table(rows: list[dict], columns: list[tuple[str, str]]) -> str:
    """Plain aligned text table; ``columns`` are (key, heading)."""
    cells = [[h for _, h in columns]] + [[_fmt(r.get(k)) for k, _ in columns] for r in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(columns))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(row, widths)).rstrip() for row in cells]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def _fmt(value) -> str:
    if isinstance(value, float):
        return f"{value:.3g}" if abs(value) < 1e4 else f"{value:,.0f}"
    if isinstance(value, int) and not isinstance(value, bool) and abs(value) >= 1e4:
        return f"{value:,}"
    return "" if value is None else str(value)


def _mb(n) -> str:
    return f"{n / 2**20:,.1f} MiB"


# ------------------------------------------------------------------------------------ commands
def cmd_cloud(cloud, args) -> tuple[object, str]:
    st = cloud.status()
    head = (f"cloud {st['name']!r}: {st['size']} member(s), "
            f"{'healthy' if st['healthy'] else 'UNHEALTHY'}, {'locked' if st['locked'] else 'not locked'}")
    rows = [dict(m, free_mem=_mb(m["free_mem_bytes"]), age=f"{m['last_heartbeat_age_s']:.1f} s")
            for m in st["members"]]
    text = head + "\n" + _table(rows, [("node", "node"), ("state", "state"), ("age", "last heartbeat"),
                                       ("cores", "cores"), ("free_mem", "free memory"), ("keys", "keys"),
                                       ("pid", "pid")])
    return st, text


COMMANDS: dict[str, tuple[Callable, str]] = {
    "cloud": (cmd_cloud, "members, their state and resources"),
}


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m tools.admin", description="Administer a running aquifer cloud.")
    p.add_argument("--cluster", default="127.0.0.1:54321", metavar="HOST:PORT",
                   help="any node of the cloud, by its REST port (default 127.0.0.1:54321)")
    p.add_argument("--timeout", type=float, default=10.0, help="seconds to wait for the cloud (default 10)")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name, (_, help_text) in COMMANDS.items():
        sp = sub.add_parser(name, help=help_text, description=help_text)
        sp.add_argument("--json", action="store_true", help="print exactly one JSON document")
        extra = getattr(COMMANDS[name][0], "add_arguments", None)
        if extra:
            extra(sp)
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.ERROR)
    import cluster
    try:
        cloud = cluster.connect(args.cluster, timeout=args.timeout, progress=False)
    except (cluster.CloudUnreachableError, ValueError) as exc:
        print(f"error: {str(exc).splitlines()[0]}", file=sys.stderr)
        return EXIT_UNREACHABLE
    try:
        fn, _ = COMMANDS[args.command]
        data, text = fn(cloud, args)
        print(json.dumps(data, indent=None if args.json else 2) if args.json else text)
        return 0
    except cluster.AquiferError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_ERROR
    finally:
        cloud.shutdown()


if __name__ == "__main__":
    sys.exit(main())
