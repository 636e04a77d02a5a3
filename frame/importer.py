"""CSV import: guess the setup from a sample, parse byte ranges in parallel on the nodes, unify domains.

``import_file(path)`` is for a path every node can read: the file is cut into byte ranges, one chunk each,
spread over the members; a :class:`ParseTask` (an MRTask over those ranges) parses each range on its home
node (the Numba tokenizer releases the GIL, so a node's cores parse in parallel) and stores the columns'
chunks right there. Categorical columns are parsed with per-chunk domains, then unified into one sorted
domain (H2O's rule) and their chunks recoded where needed. ``upload_file(path)`` is for a file only the
caller has, and for gzip files: the caller parses and ships the chunks.

A malformed line fails the whole import with an error naming the line and column, and every chunk already
written is deleted: no half-written frame stays in the DKV.

>>> fr = import_file("/work/shared/data/h2o-smalldata/iris_wheader.csv")      # doctest: +SKIP
>>> fr.types["class"]                                                         # doctest: +SKIP
'enum'
"""
from __future__ import annotations

import gzip
import math
import os
from concurrent.futures import ThreadPoolExecutor

import numpy as np

import cluster
from cluster.mrtask import MRTask

from .chunks import decode_native, encode_chunk
from .csv_parser import ParseError, count_lines, parse_range, unify_domains
from .frame import Frame, _check_key, _store, delete_vecs, new_vec_key, write_frame
from .parse_setup import ParseSetup, guess_setup

SAMPLE_BYTES = 4 << 20          # H2O guesses the setup from about one 4 MB chunk
MIN_RANGE_BYTES = 64 << 10


class ByteRanges:
    """A file cut into byte ranges, each homed on a node: the source of a :class:`ParseTask`."""

    def __init__(self, size: int, homes: list[str], nranges: int):
        self.bounds = np.linspace(0, size, nranges + 1).round().astype(np.int64).tolist()
        self.homes = homes

    def mr_layout(self, columns=None) -> dict:
        return {"vecs": [], "chunks": [{"cidx": i, "home": self.homes[i % len(self.homes)], "start": self.bounds[i],
                                        "nrows": self.bounds[i + 1] - self.bounds[i]} for i in range(len(self.bounds) - 1)]}


def _encode_block(block, setup: ParseSetup):
    """(vec index, chunk value) for every column of a parsed block, and the enum columns' local domains."""
    values, domains = [], []
    for col, ctype in zip(block.columns, setup.column_types):
        if ctype == "enum":
            codes, dom = col
            values.append(encode_chunk(codes, "enum"))
            domains.append(dom)
        else:
            values.append(encode_chunk(col, ctype))
            domains.append(None)
    return values, domains


def _in_file(exc: ParseError, path: str, lines_before: int) -> ParseError:
    """A range's ParseError (lines counted from the range) with the file's name and line number."""
    return ParseError(exc.line + lines_before, exc.column, f"{path}: {exc.message}")


def _parse(buf, start: int, end: int, setup: ParseSetup, path: str):
    try:
        return parse_range(buf, start, end, setup)
    except ParseError as exc:
        raise _in_file(exc, path, count_lines(buf, 0, start)) from None


class ParseTask(MRTask):
    """Parse one byte range per chunk of a :class:`ByteRanges` source; store its column chunks locally."""
    path: str = ""
    setup: dict = None
    vecs: list = None
    rows: list = None          # [[cidx, nrows]]
    domains: list = None       # [[cidx, [local domain or None per column]]]

    def map(self, cs):
        setup = ParseSetup.from_dict(self.setup)
        path = self.local_files.check(self.path)          # only under the node's --data-dir (cluster.files)
        buf, offset = _read_range(path, cs.start, cs.start + cs.nrows)
        try:
            block = parse_range(buf, cs.start - offset, cs.start + cs.nrows - offset, setup)
        except ParseError as exc:
            raise _in_file(exc, self.path, _lines_before(path, cs.start)) from None
        values, domains = _encode_block(block, setup)
        for vec, value in zip(self.vecs, values):
            cs.put_local(vec, value)
        self.rows = [[cs.cidx, block.nrows]]
        self.domains = [[cs.cidx, domains]]

    def reduce(self, o):
        self.rows = (self.rows or []) + (o.rows or [])
        self.domains = (self.domains or []) + (o.domains or [])


def _read_range(path: str, start: int, end: int) -> tuple[memoryview, int]:
    """The bytes a range needs: from the byte before ``start`` (the line-boundary rule looks at it) to the
    end of the line running past ``end``. Reading just that (not mapping the file) keeps a node's memory at
    a few ranges, whatever the file size. Returns (bytes, file offset of bytes[0])."""
    offset = max(0, start - 1)
    with open(path, "rb") as fh:
        data = bytearray(os.pread(fh.fileno(), end - offset, offset))
        pos, step = end, 1 << 16
        while True:
            more = os.pread(fh.fileno(), step, pos)
            if not more:
                break
            nl = more.find(b"\n")
            if nl >= 0:
                data += more[:nl + 1]
                break
            data += more
            pos += len(more)
    return memoryview(data), offset


def _lines_before(path: str, start: int) -> int:
    """Line breaks in the file before byte ``start`` (read in blocks: only on the error path)."""
    before = pos = 0
    with open(path, "rb") as fh:
        while pos < start:
            block = os.pread(fh.fileno(), min(1 << 24, start - pos), pos)
            if not block:
                break
            before += block.count(b"\n")
            pos += len(block)
    return before


class RecodeTask(MRTask):
    """Map local categorical codes to the unified domain, chunk by chunk (only chunks that need it)."""
    vecs: list = None          # enum vecs, in the order of the maps
    maps: list = None          # [[cidx, [map array per enum vec]]]

    def map(self, cs):
        todo = {c: m for c, m in self.maps}.get(cs.cidx)
        if todo is None:
            return
        for vec, value, remap in zip(self.vecs, cs.values, todo):
            if remap is None:
                continue
            codes, _ = decode_native(value)
            codes = np.where(codes < 0, -1, np.asarray(remap, dtype=np.int64)[np.maximum(codes, 0)])
            cs.put_local(vec, encode_chunk(codes, "enum"))


def _read_sample(path: str) -> bytes:
    opener = gzip.open if _is_gzip(path) else open
    with opener(path, "rb") as fh:
        sample = fh.read(SAMPLE_BYTES)
    if len(sample) == SAMPLE_BYTES:             # do not guess from a cut last line
        cut = sample.rfind(b"\n")
        sample = sample[:cut + 1] if cut > 0 else sample
    return sample


def _is_gzip(path: str) -> bool:
    with open(path, "rb") as fh:
        return fh.read(2) == b"\x1f\x8b"


def _setup(path, sep, header, col_names, col_types, na_strings) -> ParseSetup:
    if not os.path.isfile(path):
        raise FileNotFoundError(f"no such file: {path}")
    sample = _read_sample(path)
    if not sample.strip():
        raise ValueError(f"{path} is empty: nothing to import")
    return guess_setup(sample, sep=sep, header=header, column_names=col_names, col_types=col_types,
                       na_strings=na_strings)


def _frame_key(path: str, destination_frame: str | None) -> str:
    if destination_frame:
        _check_key(destination_frame)
        return destination_frame
    base = os.path.basename(path)
    for ext in (".gz", ".csv", ".txt", ".data"):
        if base.endswith(ext):
            base = base[: -len(ext)]
    return f"{base.replace('#', '_').replace('@', '_').lstrip('$') or 'frame'}.hex"


def import_file(path: str, sep: str | None = None, header=None, col_types=None, na_strings=None,
                destination_frame: str | None = None, col_names=None, cloud=None) -> Frame:
    """Import a CSV that every node can read at ``path``, parsed in parallel on the nodes.

    ``header``: None guesses (H2O's 0), True/1 first line is a header, False/-1 data. ``col_types``: a list
    or ``{name: type}`` of ``numeric``/``enum``/``string``/``time`` (H2O's spellings accepted).
    ``na_strings``: a list for all columns or ``{name: [...]}``. gzip files are parsed by the caller.
    Nodes read the file only under their ``--data-dir`` (by default their working directory); this process's
    own embedded node reads what this process can.
    """
    cloud = cloud or cluster.current()
    path = os.path.abspath(path)
    setup = _setup(path, sep, header, col_names, col_types, na_strings)
    key = _frame_key(path, destination_frame)
    if _is_gzip(path):
        return _parse_here(path, setup, key, cloud)
    size = os.path.getsize(path)
    st = cloud.status()
    members = [m["node"] for m in st["members"] if m["state"] != "dead"]
    cores = min(m["cores"] for m in st["members"])
    # H2O's heuristic: about 4 ranges per core over the cloud, but not tiny ones
    nranges = max(1, min(4 * cores * len(members), math.ceil(size / MIN_RANGE_BYTES)))
    source = ByteRanges(size, members, nranges)
    vecs = [new_vec_key() for _ in setup.column_names]
    try:
        task = ParseTask(path=path, setup=setup.to_dict(), vecs=vecs).do_all(source, cloud=cloud)
        rows = dict((c, n) for c, n in task.rows)
        espc = [0]
        for i in range(nranges):
            espc.append(espc[-1] + rows[i])
        homes = [r["home"] for r in source.mr_layout()["chunks"]]
        domains = _unify(task.domains, setup, vecs, espc, homes, cloud, key)
        header_ = {"key": key, "names": setup.column_names, "types": setup.column_types, "domains": domains,
                   "vecs": vecs, "espc": espc, "homes": homes, "dtypes": [None] * len(vecs), "owned": vecs,
                   "source": path}
        return _store(header_, cloud)
    except BaseException:
        delete_vecs(cloud, vecs)
        raise


def _unify(chunk_domains: list, setup: ParseSetup, vecs, espc, homes, cloud, key) -> list:
    enum_cols = [j for j, t in enumerate(setup.column_types) if t == "enum"]
    domains: list = [None] * len(vecs)
    if not enum_cols:
        return domains
    by_chunk = dict((c, d) for c, d in chunk_domains)
    maps: dict[int, list] = {c: [None] * len(enum_cols) for c in by_chunk}
    for k, j in enumerate(enum_cols):
        locals_ = [by_chunk[c][j] for c in sorted(by_chunk)]
        glob, remaps = unify_domains(locals_)
        if len(glob) > 10_000_000:
            raise ValueError(f"column {setup.column_names[j]!r}: {len(glob)} levels exceed H2O's categorical "
                             f"limit of 10,000,000")
        domains[j] = glob
        for c, local, remap in zip(sorted(by_chunk), locals_, remaps):
            if local != glob[:len(local)] or list(remap) != list(range(len(local))):
                maps[c][k] = remap
    todo = [[c, m] for c, m in maps.items() if any(x is not None for x in m)]
    if todo:
        view = Frame(key, {"key": key, "names": [setup.column_names[j] for j in enum_cols],
                           "types": ["enum"] * len(enum_cols), "domains": [None] * len(enum_cols),
                           "vecs": [vecs[j] for j in enum_cols], "espc": espc, "homes": homes, "owned": [],
                           "stored": False}, cloud)
        RecodeTask(vecs=[vecs[j] for j in enum_cols], maps=todo).do_all(view, cloud=cloud)
    return domains


def _parse_here(path: str, setup: ParseSetup, key: str, cloud) -> Frame:
    """Parse in this process (gzip, or a file only the caller has) and ship the chunks to their homes."""
    opener = gzip.open if _is_gzip(path) else open
    with opener(path, "rb") as fh:
        data = fh.read()
    cores = os.cpu_count() or 1
    nranges = max(1, min(4 * cores, math.ceil(len(data) / MIN_RANGE_BYTES)))
    bounds = np.linspace(0, len(data), nranges + 1).round().astype(np.int64).tolist()
    with ThreadPoolExecutor(max_workers=cores) as pool:
        blocks = list(pool.map(lambda i: _parse(data, bounds[i], bounds[i + 1], setup, path), range(nranges)))
    nrows = sum(b.nrows for b in blocks)
    columns = []
    for j, (name, ctype) in enumerate(zip(setup.column_names, setup.column_types)):
        if ctype == "enum":
            glob, remaps = unify_domains([b.columns[j][1] for b in blocks])
            codes = np.concatenate([np.where(b.columns[j][0] < 0, -1, r[np.maximum(b.columns[j][0], 0)])
                                    if len(r) else np.full(b.nrows, -1) for b, r in zip(blocks, remaps)]) \
                if blocks else np.empty(0, np.int64)
            columns.append((name, "enum", glob, codes, None))
        elif ctype == "string":
            columns.append((name, "string", None, [s for b in blocks for s in b.columns[j]], None))
        else:
            vals = np.concatenate([b.columns[j] for b in blocks]) if blocks else np.empty(0)
            columns.append((name, ctype, None, vals, None))
    return write_frame(columns, nrows, key=key, cloud=cloud)


def upload_file(path: str, sep: str | None = None, header=None, col_types=None, na_strings=None,
                destination_frame: str | None = None, col_names=None, cloud=None) -> Frame:
    """Import a file that only this process can read: parsed here, chunks shipped to their homes."""
    cloud = cloud or cluster.current()
    path = os.path.abspath(path)
    setup = _setup(path, sep, header, col_names, col_types, na_strings)
    return _parse_here(path, setup, _frame_key(path, destination_frame), cloud)
