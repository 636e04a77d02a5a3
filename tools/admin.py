"""Administration CLI for a running aquifer cloud, and its keys.

    python -m tools.admin --cluster 127.0.0.1:54321 cloud [--json]
    python -m tools.admin keys [--prefix P] [--json] | frames [--json] | rm KEY
    python -m tools.admin jobs [--json] | cancel JOB_KEY | shutdown
    python -m tools.admin keygen DIR [--name NAME]          # a security dir, or another identity in one
    python -m tools.admin --security-dir DIR token          # the REST API's bearer token

Every cloud command attaches as a client to the node at ``--cluster`` (its REST port; the cluster port is
port + 1; with ``--security-dir DIR`` over CURVE), prints a table (or exactly one JSON document with
``--json``) and exits 0; when the cloud cannot be reached within ``--timeout`` it prints a one-line reason to
stderr and exits 1. ``keygen`` and ``token`` work on the files alone.
"""
from __future__ import annotations

import argparse
import json
import logging
import math
import os
import sys
import warnings
from typing import Callable

from cluster.placement import unhomed

EXIT_UNREACHABLE = 1
EXIT_ERROR = 2


def _table(rows: list[dict], columns: list[tuple]) -> str:
    """Plain aligned text table; ``columns`` are (key, heading) or (key, heading, format): ``format`` turns a
    cell's value into its text (default :func:`_fmt`; :func:`_ident` for pids, ports and other ids).

    >>> print(_table([{"pid": 11983, "bytes": 4724}], [("pid", "pid", _ident), ("bytes", "bytes")]))
    pid    bytes
    -----  -----
    11983  4,724
    """
    fmts = [c[2] if len(c) > 2 else _fmt for c in columns]
    cells = [[c[1] for c in columns]] + [[f(r.get(c[0])) for c, f in zip(columns, fmts)] for r in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(columns))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(row, widths)).rstrip() for row in cells]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def _fmt(value) -> str:
    """A count or byte count with thousands separators whatever its size (4,724 beside 8,162,584), a float to 3
    significant digits (thousands separated from 10,000 up).

    >>> [_fmt(v) for v in (6942, 11983, 0.01234, 123456.7, None, True)]
    ['6,942', '11,983', '0.0123', '123,457', '', 'True']
    """
    if isinstance(value, float):
        return f"{value:.3g}" if abs(value) < 1e4 else f"{value:,.0f}"
    if isinstance(value, int) and not isinstance(value, bool):
        return f"{value:,}"
    return "" if value is None else str(value)


def _ident(value) -> str:
    """A pid, port or other id: its digits as they are (no separators)."""
    return "" if value is None else str(value)


def _mb(n) -> str:
    return f"{n / 2**20:,.1f} MiB"


# ------------------------------------------------------------------------------------ commands
def web_url(node: str, timeout: float = 2.0) -> str | None:
    """The web UI and REST API of a member (served on its port), or None when nothing answers HTTP there."""
    import urllib.error
    import urllib.request
    url = f"http://{node}/"
    try:
        urllib.request.urlopen(url + "openapi.json", timeout=timeout).close()
    except urllib.error.HTTPError:          # it answered (a 401 still means it serves)
        pass
    except (OSError, ValueError):
        return None
    return url


def cmd_cloud(cloud, args) -> tuple[object, str]:
    from concurrent.futures import ThreadPoolExecutor
    st = cloud.status()
    with ThreadPoolExecutor(8) as pool:
        urls = list(pool.map(lambda m: None if m["removed"] else web_url(m["node"]), st["members"]))
    for m, url in zip(st["members"], urls):
        m["web_url"] = url
    st["census"] = census = cloud.dkv.census()
    rep = st["replication"]
    if st.get("formed", True):
        size = f"{st['size']} member(s), {'healthy' if st['healthy'] else 'UNHEALTHY'}"
    else:                   # not a sick cloud of fewer members: one still waiting for its members
        size = f"not formed: {st['size']} of {st['cloud_size']} members"
    head = (f"cloud {st['name']!r}: {size}, {'locked' if st['locked'] else 'not locked'}, "
            f"epoch {st['epoch']}, replication {rep['factor']}")
    for note in st.get("formation") or ():
        head += f"\nwaiting: {note}"
    if not st["quorum"]:
        head += "\nNO QUORUM: this member hears a minority of the cloud and refuses writes"
    if census["under"] or census["stray"]:
        how = f"re-replication STUCK: {census['stuck']}" if census.get("stuck") else "re-replication in progress"
        copies = (f"copies: {census['under']:,} of {census['keys']:,} key(s) below {census['target']} copies, "
                  f"{census['stray']:,} stray ({how})")
    else:
        copies = f"copies: {census['keys']:,} key(s), every one at {census['target']} copies"
    for x in census.get("lost", []):            # members lost with data the copies did not cover
        if x["covered"]:
            continue
        if rep["factor"] == 1:
            held = "the keys it held" if x["keys"] is None else f"the {x['keys']:,} key(s) it held"
            copies += f"\nDATA LOST: member {x['node']} was lost with replication 1 ({x['reason']}): {held} are gone"
        else:
            copies += (f"\nDATA MAY BE LOST: member {x['node']} was lost ({x['reason']}) with other members before "
                       f"their copies were restored: keys only they held are gone")
    rows = [dict(m, free_mem=_mb(m["free_mem_bytes"]), age=f"{m['last_heartbeat_age_s']:.1f} s",
                 state="removed" if m["removed"] else m["state"], web=m["web_url"] or "(no web)")
            for m in st["members"]]
    text = head + "\n" + copies + "\n" + _table(rows, [("node", "node"), ("state", "state"),
                                                     ("age", "last heartbeat"), ("cores", "cores"),
                                                     ("free_mem", "free memory"), ("keys", "keys"),
                                                     ("copying", "copying"), ("pid", "pid", _ident),
                                                     ("web", "web UI / REST API")])
    return st, text


def _lost_note(cloud) -> str:
    """A listing's note when members were lost with data the copies do not cover: what only they held is in no
    listing, so the listing says it may be incomplete, by whom ("" otherwise)."""
    lost = cloud.lost_members()
    if not lost:
        return ""
    print(f"note: member(s) {', '.join(lost)} were lost with data the copies did not cover: what only they held is "
          f"not listed (python -m tools.admin cloud)", file=sys.stderr)
    return f" (incomplete: member(s) {', '.join(lost)} were lost)"


def cmd_keys(cloud, args):
    rows = [dict(r, key=r["key"]) for r in cloud.dkv.keys(args.prefix)]
    if args.prefix:
        rows = [r for r in rows if r["key"].startswith(args.prefix) or unhomed(r["key"]).startswith(args.prefix)]
    text = _table(rows, [("key", "key"), ("type", "type"), ("bytes", "bytes"), ("home", "home"),
                         ("copies", "copies")])
    return rows, f"{len(rows)} key(s){_lost_note(cloud)}\n{text}"


cmd_keys.add_arguments = lambda sp: sp.add_argument("--prefix", default="", help="only keys starting with this")


def _frames(cloud) -> list[dict]:
    keys = [r["key"] for r in cloud.dkv.keys("") if r["type"] == "frame"]
    headers = cloud.dkv.get_many(keys) if keys else []
    rows = []
    for h in headers:
        if h is None:
            continue
        m = h.meta
        rows.append({"key": m["key"], "rows": int(m["espc"][-1]), "cols": len(m["names"]),
                     "bytes": cloud.dkv.bytes_of([f"{v}#" for v in m["vecs"]])})
    return sorted(rows, key=lambda r: r["key"])


def cmd_frames(cloud, args):
    rows = _frames(cloud)
    return rows, f"{len(rows)} frame(s){_lost_note(cloud)}\n" + _table(rows, [("key", "key"), ("rows", "rows"), ("cols", "cols"),
                                                            ("bytes", "bytes")])


def cmd_rm(cloud, args):
    """Remove a key; a frame (or model) takes everything it owns with it."""
    value = cloud.dkv.get(args.key)
    if value is None:
        raise KeyError(f"no key {args.key!r} in the cloud")
    if value.type == "frame":
        import frame
        frame.remove(args.key, cloud=cloud)
    elif value.type == "model":
        import algos
        algos.remove_model(args.key, cloud=cloud)
    else:
        cloud.dkv.delete(args.key)
    return {"removed": args.key, "type": value.type}, f"removed {value.type} {args.key}"


cmd_rm.add_arguments = lambda sp: sp.add_argument("key", help="the key to remove")


def cmd_models(cloud, args):
    """Models in the cloud with the main metric of their kind (AUC, logloss, RMSE or MSE)."""
    import algos
    with warnings.catch_warnings():          # said once, by _lost_note, in the admin's own words
        warnings.simplefilter("ignore", UserWarning)
        rows = algos.list_models(cloud)
    view = [dict(r, epochs=None if r["epochs"] is None else f"{r['epochs']:.2f}") for r in rows]
    text = _table(view, [("model_id", "model"), ("algo", "algo"), ("kind", "kind"), ("response", "response"),
                         ("epochs", "epochs"), ("metric", "metric"), ("training", "training"),
                         ("validation", "validation"), ("bytes", "bytes")])
    return rows, f"{len(rows)} model(s){_lost_note(cloud)}\n{text}"


def _when(t) -> str:
    import time as _t
    return _t.strftime("%Y-%m-%d %H:%M:%S", _t.localtime(t)) if t else ""


def cmd_jobs(cloud, args):
    import cluster
    rows = cluster.Job.list(cloud)
    view = [dict(r, key=unhomed(r["key"]), progress=f"{100 * r['progress']:.0f}%", start=_when(r["start"]),
                 end=_when(r["end"])) for r in rows]
    text = _table(view, [("key", "job"), ("description", "description"), ("status", "status"),
                         ("progress", "progress"), ("start", "start"), ("end", "end"), ("error", "error")])
    return rows, f"{len(rows)} job(s)\n{text}"


def cmd_cancel(cloud, args):
    import cluster
    key = args.job
    matches = [r["key"] for r in cluster.Job.list(cloud) if r["key"] == key or unhomed(r["key"]) == key]
    if not matches:
        raise KeyError(f"no job {key!r} (see: python -m tools.admin jobs)")
    job = cluster.Job.get(matches[0], cloud)
    if job.status not in ("CREATED", "RUNNING"):    # nothing to stop: say so, not "cancel requested"
        return {"job": matches[0], "status": job.status, "cancel_requested": False}, \
            f"{unhomed(matches[0])} has already ended ({job.status}): nothing to cancel"
    status = job.cancel()
    return {"job": matches[0], "status": status, "cancel_requested": True}, \
        f"cancel requested for {unhomed(matches[0])} (status {status}); it stops at its next chunk or iteration"


cmd_cancel.add_arguments = lambda sp: sp.add_argument("job", help="the job key (as `jobs` shows it)")


def cmd_shutdown(cloud, args):
    """Stop every node of the cloud (each exits 0)."""
    result = cloud.call("cloud.shutdown", timeout=30.0)
    text = f"stopping {len(result['stopping'])} node(s): {', '.join(result['stopping'])}"
    if result["unreachable"]:
        text += f"\nnot reached (stop them by hand): {', '.join(result['unreachable'])}"
    return result, text



def cmd_keygen(args):
    """Make a security dir (the cloud's key pair, authorized, and a REST token), or add identity ``--name``."""
    from cluster import security
    if args.name:
        path = security.add_identity(args.dir, args.name)
        return {"dir": os.path.abspath(args.dir), "identity": args.name, "secret": path}, (
            f"added identity {args.name!r}: its key pair is {path} (mode 600), its public key is authorized.\n"
            f"Give its holder {os.path.join(os.path.abspath(args.dir), 'cloud.key')} and that file, in a dir "
            f"laid out the same way (private/{args.name}.key_secret); revoke it by deleting "
            f"authorized/{args.name}.key.")
    path = security.make_security_dir(args.dir)
    return {"dir": path, "identity": security.CLOUD_IDENTITY}, (
        f"made security dir {path}: key pair 'cloud' (private/cloud.key_secret, mode 600, already authorized), "
        f"cloud.key, token.\nStart every node with --security-dir {path}; connect with "
        f"cluster.connect(..., security_dir={path!r}) or python -m tools.admin --security-dir {path} ...")


def _keygen_arguments(sp):
    sp.add_argument("dir", help="the security dir to make (or to add an identity to, with --name)")
    sp.add_argument("--name", help="add a key pair NAME (one per user or machine) to an existing security dir")


cmd_keygen.add_arguments = _keygen_arguments


def cmd_token(args):
    """Print the REST API's bearer token of the security dir."""
    from cluster import security
    if not args.security_dir:
        raise ValueError("token needs --security-dir DIR (before the command)")
    token = security.read_token(args.security_dir)
    return {"token": token}, token


# commands that work on local files, without a cloud
LOCAL_COMMANDS: dict[str, tuple[Callable, str]] = {
    "keygen": (cmd_keygen, "make a security dir (CURVE keys, REST token), or add an identity with --name"),
    "token": (cmd_token, "print the REST API bearer token of --security-dir"),
}

COMMANDS: dict[str, tuple[Callable, str]] = {
    "cloud": (cmd_cloud, "members, their state and resources, the replication and how many keys have their copies"),
    "keys": (cmd_keys, "keys in the DKV: key, type, bytes, primary node, copies"),
    "frames": (cmd_frames, "frames: key, rows, columns, compressed bytes"),
    "models": (cmd_models, "models: id, algo, kind, response, epochs, training/validation main metric, bytes"),
    "rm": (cmd_rm, "remove a key (a frame or model with everything it owns)"),
    "jobs": (cmd_jobs, "jobs: key, description, status, progress, start, end, error"),
    "cancel": (cmd_cancel, "cancel a running job"),
    "shutdown": (cmd_shutdown, "shut the whole cloud down (every node stops)"),
}


def _cluster(text: str) -> str:
    """HOST:PORT[,HOST:PORT...] with ports a node can have (argparse type; names are resolved at connect)."""
    from cluster.config import MAX_PORT
    for part in text.split(","):
        host, sep, port = part.strip().rpartition(":")
        if not (sep and host and port.isdigit() and 1 <= int(port) <= MAX_PORT):
            raise argparse.ArgumentTypeError(f"expected HOST:PORT with a port in 1..{MAX_PORT}, got {part!r}")
    return text


def _seconds(text: str) -> float:
    """A positive, finite number of seconds (argparse type)."""
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not 0 < value <= 86400:
        raise argparse.ArgumentTypeError(f"expected seconds in (0, 86400], got {text!r}")
    return value


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m tools.admin", description="Administer a running aquifer cloud.")
    p.add_argument("--cluster", default="127.0.0.1:54321", metavar="HOST:PORT", type=_cluster,
                   help="any node of the cloud, by its REST port (default 127.0.0.1:54321); several, comma-separated, "
                        "are tried in turn")
    p.add_argument("--timeout", type=_seconds, default=10.0, help="seconds to wait for the cloud (default 10)")
    p.add_argument("--security-dir", metavar="DIR", help="the cloud's security dir (its nodes run with "
                                                         "--security-dir): talk CURVE with its keys")
    p.add_argument("--identity", metavar="NAME", help="which key pair of DIR/private to use (default: cloud, "
                                                      "or the only one)")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name, (fn, help_text) in {**COMMANDS, **LOCAL_COMMANDS}.items():
        sp = sub.add_parser(name, help=help_text, description=help_text)
        sp.add_argument("--json", action="store_true", help="print exactly one JSON document")
        extra = getattr(fn, "add_arguments", None)
        if extra:
            extra(sp)
    return p


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.identity and not args.security_dir:
        parser.error("--identity names a key pair of --security-dir: give the security dir too")
    logging.basicConfig(level=logging.ERROR)
    if args.command in LOCAL_COMMANDS:
        try:
            data, text = LOCAL_COMMANDS[args.command][0](args)
        except (ValueError, OSError) as exc:
            print(f"error: {exc}", file=sys.stderr)
            return EXIT_ERROR
        print(json.dumps(data) if args.json else text)
        return 0
    import cluster
    try:
        cloud = cluster.connect(args.cluster, timeout=args.timeout, progress=False, security_dir=args.security_dir,
                                identity=args.identity)
    except cluster.CloudUnreachableError as exc:
        print(f"error: {str(exc).splitlines()[0]}", file=sys.stderr)
        return EXIT_UNREACHABLE
    except (ValueError, OSError) as exc:            # our own settings (a --security-dir that cannot be used)
        print(f"error: {str(exc).splitlines()[0]}", file=sys.stderr)
        return EXIT_ERROR
    try:
        fn, _ = COMMANDS[args.command]
        data, text = fn(cloud, args)
        print(json.dumps(data, indent=None if args.json else 2) if args.json else text)
        return 0
    except (cluster.AquiferError, KeyError, ValueError) as exc:
        print(f"error: {exc.args[0] if isinstance(exc, KeyError) and exc.args else exc}", file=sys.stderr)
        return EXIT_ERROR
    finally:
        cloud.shutdown()


if __name__ == "__main__":
    sys.exit(main())
