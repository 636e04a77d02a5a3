"""CSV import: guess the setup from a sample, parse byte ranges in parallel on the nodes, unify domains.

``import_file(path)`` is for a path every node can read: the file's data (from :func:`data_start`: past a
byte-order mark and the header, decided once here from the sample) is cut into byte ranges, one chunk each,
spread over the members; a :class:`ParseTask` (an MRTask over those ranges) parses each range on its home
node (the Numba tokenizer releases the GIL, so a node's cores parse in parallel) and stores the columns'
chunks right there. Categorical columns are parsed with per-chunk domains, then unified into one sorted
domain (H2O's rule) and their chunks recoded where needed. ``upload_file(path)`` is for a file only the
caller has, and for gzip files: the caller parses and ships the chunks.

**Record boundaries.** A record belongs to the range its first byte lies in. Where a record starts depends on
everything before it (a quoted field may hold line breaks), so the parse is speculative and checked: each
range is parsed from the first line start in it, and returns its :func:`~frame.csv_records.boundary_map`
(cheap unless it holds a quote byte); the caller composes the maps in file order, which gives every range its
true first record start, and parses again only the ranges whose guess was wrong (a range that begins inside a
quoted field). Errors found while parsing from a wrong guess are dropped with it.

Nothing is lost silently: a malformed record fails the whole import with an error naming the file, line and
column, and every chunk already written is deleted; values that were not of their column's type and became NA
are counted per column, reported by a :class:`ParseWarning` and kept in the frame's ``parse_summary``.

>>> fr = import_file("tests/data/h2o-smalldata/iris_wheader.csv")      # doctest: +SKIP
>>> fr.types["class"], fr.parse_summary["rows"]                        # doctest: +SKIP
('enum', 150)
"""
from __future__ import annotations

import gzip
import logging
import math
import os
import warnings
from concurrent.futures import ThreadPoolExecutor

import numpy as np

import cluster
from cluster.mrtask import MRTask

from .chunks import decode_native, encode_chunk
from .csv_parser import NeedMore, ParseError, count_lines, int64_column, parse_range, unify_domains
from .csv_records import boundary_map, data_start, line_end, record_starts_from_maps
from .frame import Frame, store_frame, write_frame
from .rollups import chunk_partials, rollups_from_partials, store_rollups
from .store import check_destination, check_key, delete_vecs, new_vec_key
from .parse_setup import ParseSetup, guess_setup

log = logging.getLogger("aquifer.import")

SAMPLE_BYTES = 4 << 20          # H2O guesses the setup from about one 4 MB chunk
MIN_RANGE_BYTES = 64 << 10
MAX_RANGES = 100_000            # chunks one import may make (a tiny chunk_size on a big file is refused)
MAX_RECORD_BYTES = 64 << 20     # how far past its range a node reads to finish the range's last record


class ParseWarning(UserWarning):
    """Values of a parsed file that became NA without being NA strings (counted per column)."""


class ByteRanges:
    """A file's byte ranges ``[bounds[i], bounds[i+1])``, each homed on a node: the source of a
    :class:`ParseTask`. ``only`` restricts the ranges mapped over (their chunk indexes stay)."""

    def __init__(self, bounds: list[int], homes: list[str], only: list[int] | None = None):
        self.bounds, self.homes, self.only = bounds, homes, only

    def mr_layout(self, columns=None) -> dict:
        todo = range(len(self.bounds) - 1) if self.only is None else self.only
        return {"vecs": [], "chunks": [{"cidx": i, "home": self.homes[i], "start": self.bounds[i],
                                        "nrows": self.bounds[i + 1] - self.bounds[i]} for i in todo]}


def _encode_block(block, setup: ParseSetup):
    """(vec index, chunk value) for every column of a parsed block, and the enum columns' local domains."""
    values, domains = [], []
    for j, (col, ctype) in enumerate(zip(block.columns, setup.column_types)):
        if ctype == "enum":
            codes, dom = col
            values.append(encode_chunk(codes, "enum"))
            domains.append(dom)
        else:
            values.append(encode_chunk(block.ints.get(j, col), ctype))
            domains.append(None)
    return values, domains


def _in_file(exc: ParseError, path: str, lines_before: int, offset: int = 0) -> ParseError:
    """A range's ParseError (lines and bytes counted from the range) with the file's name, line and byte."""
    return ParseError(exc.line + lines_before, exc.column, f"{path}: {exc.message}",
                      None if exc.offset is None else exc.offset + offset)


class ParseTask(MRTask):
    """Parse one byte range per chunk of a :class:`ByteRanges` source; store its column chunks locally.

    Without ``firsts`` a range is parsed from its first line start (a guess, checked by the caller from the
    returned boundary maps); with ``firsts`` from its known first record. Parse errors are returned in
    ``failed`` for the caller to judge (a wrong guess makes errors of its own) and raise as ParseError."""
    path: str = ""
    size: int = -1             # the file's size where import_file runs: every node must read that same file
    setup: dict = None
    vecs: list = None
    data_start: int = 0
    firsts: list = None        # [[cidx, file offset of the range's first record]] for a checked re-parse
    rows: list = None          # [[cidx, nrows]]
    domains: list = None       # [[cidx, [local domain or None per column]]]
    maps: list = None          # [[cidx, ends, firsts, guessed first]] (file offsets)
    invalid: list = None       # [[cidx, [[column, count, shown, "na" | "rounded"]]]]
    failed: list = None        # [[cidx, line in the range, column, message, file byte offset or None]]
    rollups: list = None       # [[cidx, (numeric and time columns) x 10 partial rollups, row-major]]

    def map(self, cs):
        setup = ParseSetup.from_dict(self.setup)
        start, end = cs.start, cs.start + cs.nrows
        known = dict(self.firsts).get(cs.cidx) if self.firsts else None
        path = self.local_files.check(self.path)          # only under the node's --data-dir (cluster.files)
        here = os.path.getsize(path)
        if self.size >= 0 and here != self.size:          # a copy still being written, or another file
            raise ValueError(f"{self.path} is {here:,} bytes on node {cs.home}, {self.size:,} where import_file "
                             f"runs: every node must read the same file (a shared or identical copy)")
        buf, offset, eof = _read_range(path, start, end, end)
        lo, hi = start - offset, end - offset
        if known is not None:
            first = known - offset
        else:
            nl = line_end(buf, lo, hi)   # the guess: the first line start in the range
            first = lo if start == self.data_start or buf[lo - 1] in (10, 13) else hi if nl < 0 else nl + 1
            ends, fsts = boundary_map(buf, lo, hi, setup)
            self.maps = [[cs.cidx, ends, [f + offset if f >= 0 else -1 for f in fsts], first + offset]]
        while True:
            try:
                block = parse_range(buf, lo, hi, setup, first=first, eof=eof)
                break
            except NeedMore:
                if len(buf) - hi >= MAX_RECORD_BYTES:
                    exc = ParseError(1 + count_lines(buf, lo, hi), None,
                                     f"a record that starts before this line runs more than "
                                     f"{MAX_RECORD_BYTES >> 20} MiB further (the limit of a record): a quote "
                                     f"that never closes?")
                    return self._failed(cs, exc, offset)
                buf, offset, eof = _read_range(path, start, end, offset + 2 * len(buf))
            except ParseError as exc:
                return self._failed(cs, exc, offset)
        values, domains = _encode_block(block, setup)
        for vec, value in zip(self.vecs, values):
            cs.put_local(vec, value)
        self.rows = [[cs.cidx, block.nrows]]
        self.domains = [[cs.cidx, domains]]
        self.invalid = [[cs.cidx, _changed_values(block)]]
        self.rollups = [[cs.cidx, chunk_partials([block.columns[j] for j in _rolled(setup)]).ravel().tolist()]]

    def _failed(self, cs, exc: ParseError, offset: int) -> None:
        """Return a parse error: its line counted from the range's start (the caller adds the lines before the
        range if it raises it), its byte offset in the file."""
        self.failed = [[cs.cidx, exc.line, exc.column, exc.message, None if exc.offset is None else exc.offset + offset]]

    def reduce(self, o):
        for name in ("rows", "domains", "maps", "invalid", "failed", "rollups"):
            setattr(self, name, (getattr(self, name) or []) + (getattr(o, name) or []))


def _read_range(path: str, start: int, end: int, upto: int) -> tuple[bytearray, int, bool]:
    """The bytes a range needs: from the byte before ``start`` (the line-start guess looks at it) to at least
    ``upto`` and then to the end of that line. Reading just that (not mapping the file) keeps a node's memory at
    a few ranges, whatever the file size. Returns (bytes, file offset of bytes[0], whether they reach EOF)."""
    offset = max(0, start - 1)
    with open(path, "rb") as fh:
        fd = fh.fileno()
        data = bytearray(os.pread(fd, max(upto, end) - offset, offset))
        pos, step = offset + len(data), 1 << 16
        eof = pos < max(upto, end)
        while not eof:
            more = os.pread(fd, step, pos)
            if not more:
                eof = True
                break
            nl = line_end(more, 0, len(more))
            if nl >= 0:
                data += more[:nl + 1]
                break
            data += more
            pos += len(more)
        if not eof:   # EOF right after the line end?
            eof = os.pread(fd, 1, offset + len(data)) == b""
    return data, offset, eof


class CountLinesTask(MRTask):
    """Line breaks in each byte range of a file (only on the error path: to name a file line)."""
    path: str = ""
    count: int = 0

    def map(self, cs):
        pos, end = cs.start, cs.start + cs.nrows
        with open(self.local_files.check(self.path), "rb") as fh:       # only under the node's --data-dir
            while pos < end:
                # one byte past the block: a \r there is a line end only when no \n follows it
                block = os.pread(fh.fileno(), min(1 << 24, end - pos) + 1, pos)
                if not block:
                    break
                size = min(len(block), end - pos)
                self.count += count_lines(block, 0, size)
                pos += size

    def reduce(self, o):
        self.count += o.count


class RecodeTask(MRTask):
    """Map local categorical codes to the unified domain, chunk by chunk (only chunks that need it)."""
    retry_safe = False         # it rewrites its input chunks: a second run would map codes twice
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
        cut = max(sample.rfind(b"\n"), sample.rfind(b"\r"))
        sample = sample[:cut + 1] if cut > 0 else sample
    return sample


def _is_gzip(path: str) -> bool:
    with open(path, "rb") as fh:
        return fh.read(2) == b"\x1f\x8b"


def _setup(path, sample: bytes, sep, header, col_names, col_types, na_strings, encoding) -> ParseSetup:
    if not sample.strip(b" \r\n"):
        raise ValueError(f"{path} is empty: nothing to import")
    try:
        return guess_setup(sample, sep=sep, header=header, column_names=col_names, col_types=col_types,
                           na_strings=na_strings, encoding=encoding)
    except ParseError as e:
        raise ParseError(e.line, e.column, f"{path}: {e.message}", e.offset) from None
    except ValueError as e:
        raise ValueError(f"{path}: {e}") from None


def _data_start(path: str, sample: bytes, setup: ParseSetup, whole: bool) -> int:
    """Where the data records begin (decided once, for every range)."""
    start = data_start(sample, setup)
    if start < 0:
        if not whole:
            raise ValueError(f"{path}: the header record is longer than the {SAMPLE_BYTES >> 20} MiB sample")
        start = len(sample)
    return start


def _range_bounds(begin: int, size: int, parallelism: int, chunk_size: int | None) -> list[int]:
    """Byte-range bounds over ``[begin, size)``: ``chunk_size`` bytes each, or H2O's heuristic (about 4
    ranges per core over the cloud, but not tiny ones)."""
    span = size - begin
    if chunk_size is None:
        n = max(1, min(4 * parallelism, math.ceil(span / MIN_RANGE_BYTES)))
    else:
        if isinstance(chunk_size, bool) or not isinstance(chunk_size, (int, np.integer)) or chunk_size < 1:
            raise ValueError(f"chunk_size must be a positive number of bytes, got {chunk_size!r}")
        n = max(1, math.ceil(span / int(chunk_size)))
        if n > MAX_RANGES:
            raise ValueError(f"chunk_size={chunk_size} would cut {span:,} bytes into {n:,} chunks (at most "
                             f"{MAX_RANGES:,}): use a larger chunk_size")
    return np.linspace(begin, size, n + 1).round().astype(np.int64).tolist()


def frame_key(path: str, destination_frame: str | None = None) -> str:
    """The key :func:`import_file` stores ``path`` under: ``destination_frame`` (checked) when given, else H2O's
    ``<file name without .gz/.csv/.txt/.data>.hex``.

    >>> frame_key("/data/prostate.csv")
    'prostate.hex'
    """
    if destination_frame:
        check_key(destination_frame)
        return destination_frame
    base = os.path.basename(path)
    for ext in (".gz", ".csv", ".txt", ".data"):
        if base.endswith(ext):
            base = base[: -len(ext)]
    return f"{base.replace('#', '_').replace('@', '_').lstrip('$') or 'frame'}.hex"


def import_file(path: str, sep: str | None = None, header=None, col_types=None, na_strings=None,
                destination_frame: str | None = None, col_names=None, encoding: str = "utf-8",
                chunk_size: int | None = None, cloud=None) -> Frame:
    """Import a CSV that every node can read at ``path``, parsed in parallel on the nodes.

    ``header``: None guesses (H2O's 0), True/1 first line is a header, False/-1 data. ``col_types``: a list
    or ``{name: type}`` of ``numeric``/``enum``/``string``/``time`` (H2O's spellings accepted).
    ``na_strings``: a list for all columns or ``{name: [...]}`` (added to the usual NA spellings).
    ``encoding``: the file's text encoding (UTF-8; any ASCII-compatible one such as ``"latin-1"``).
    ``chunk_size``: bytes per parse range and chunk (H2O's parse ``chunk_size``; default: about 4 ranges per
    core of the cloud). gzip files are parsed by the caller. Values that are not of their column's type
    become NA, are counted and reported (:class:`ParseWarning`, ``frame.parse_summary``).
    Nodes read the file only under their ``--data-dir`` (by default their working directory); this process's
    own embedded node reads what this process can.

    >>> fr = import_file("tests/data/h2o-smalldata/prostate.csv")       # doctest: +SKIP
    >>> fr.shape                                                          # doctest: +SKIP
    (380, 9)
    """
    cloud = cloud or cluster.current()
    path = os.path.abspath(path)
    if not os.path.isfile(path):
        raise FileNotFoundError(f"no such file: {path}")
    sample = _read_sample(path)
    setup = _setup(path, sample, sep, header, col_names, col_types, na_strings, encoding)
    key = frame_key(path, destination_frame)
    check_destination(key, cloud)            # before any range is parsed
    if _is_gzip(path):
        return _parse_here(path, setup, key, cloud, chunk_size)
    size = os.path.getsize(path)
    begin = _data_start(path, sample, setup, whole=len(sample) == size)
    st = cloud.status()
    members = [m["node"] for m in st["members"] if m["state"] != "dead"]
    cores = min(m["cores"] for m in st["members"])
    bounds = _range_bounds(begin, size, cores * len(members), chunk_size)
    nranges = len(bounds) - 1
    source = ByteRanges(bounds, [members[i % len(members)] for i in range(nranges)])
    vecs = [new_vec_key() for _ in setup.column_names]
    try:
        task = ParseTask(path=path, size=size, setup=setup.to_dict(), vecs=vecs, data_start=begin).do_all(
            source, cloud=cloud)
        rows, domains, invalid = dict(task.rows or ()), dict(task.domains or ()), dict(task.invalid or ())
        partials = dict(task.rollups or ())
        maps = {c: (ends, firsts, bounds[c + 1], guess) for c, ends, firsts, guess in task.maps}
        true = record_starts_from_maps([maps[i][:3] for i in range(nranges)])
        wrong = [i for i in range(nranges) if true[i] != maps[i][3]]
        failed = [f for f in task.failed or () if f[0] not in wrong]
        if failed and (not wrong or min(failed)[0] < min(wrong)):
            _raise_first(failed, path, source, cloud)   # no range before it is parsed again: it is the first
        if wrong:   # ranges that begin inside a quoted field: parse them again from their true first record
            log.info("%s: %d of %d ranges begin inside a quoted field; parsing them again", path, len(wrong),
                     nranges)
            again = ParseTask(path=path, size=size, setup=setup.to_dict(), vecs=vecs, data_start=begin,
                              firsts=[[i, true[i]] for i in wrong]).do_all(ByteRanges(bounds, source.homes, wrong),
                                                                           cloud=cloud)
            _raise_first(failed + (again.failed or []), path, source, cloud)   # the earliest of them all
            rows.update(again.rows or ())
            domains.update(again.domains or ())
            invalid.update(again.invalid or ())
            partials.update(again.rollups or ())
        espc = [0]
        for i in range(nranges):
            espc.append(espc[-1] + rows[i])
        domains_ = _unify(sorted(domains.items()), setup, vecs, espc, source.homes, cloud, key)
        changed = [[i, *e] for i in range(nranges) for e in invalid.get(i, [])]
        parse = _summary(path, setup, espc[-1], [e[1:] for e in changed],
                         _reads_exact(setup, [partials[i] for i in range(nranges)], changed))
        header_ = {"key": key, "names": setup.column_names, "types": setup.column_types, "domains": domains_,
                   "vecs": vecs, "espc": espc, "homes": source.homes, "dtypes": [None] * len(vecs),
                   "owned": vecs, "source": path, "parse": parse}
        _store_rollups(setup, vecs, [partials[i] for i in range(nranges)], cloud)   # before the header: a
        fr = store_frame(header_, cloud)                                              # failure leaves neither
    except BaseException:
        delete_vecs(cloud, vecs)
        raise
    _report(parse)
    return fr


def _rolled(setup: ParseSetup) -> list[int]:
    """The columns whose rollups the parse computes: numeric and time (enum codes are final only after the
    domains are unified; strings have none)."""
    return [j for j, t in enumerate(setup.column_types) if t in ("numeric", "time")]


def _store_rollups(setup: ParseSetup, vecs: list[str], partials: list[list[float]], cloud) -> None:
    """Store the rollups of the parsed numeric and time columns, as H2O's parse does, so that the first use
    (a summary, a model's standardisation: 0.5 s on the 785 F-MNIST columns) does not decode them again."""
    cols = _rolled(setup)
    if cols and partials:
        stats = rollups_from_partials([np.asarray(p, dtype=np.float64).reshape(len(cols), 10) for p in partials])
        store_rollups([vecs[j] for j in cols], stats, cloud)


def _reads_exact(setup: ParseSetup, partials: list[list[float]], changed: list[list]):
    """Whether column c reads back as int64 (``Frame._read_columns``): each chunk of it either kept integers
    beyond 2**53 exact (an int64 chunk) or holds only integers below 2**63 in magnitude (its partial rollups:
    no non-integer, no infinity). ``changed``: ``[chunk, column, count, shown, kind]``."""
    at = {c: k for k, c in enumerate(_rolled(setup))}
    int_chunks = {(i, c) for i, c, _, _, kind in changed if kind == "exact"}

    def integral(i: int, c: int) -> bool:
        n, mean, m2, lo, hi, nas, zeros, pinfs, ninfs, nonint = partials[i][10 * at[c]:10 * at[c] + 10]
        return not (nonint or pinfs or ninfs) and lo >= -2.0 ** 63 and hi < 2.0 ** 63

    return lambda c: all((i, c) in int_chunks or integral(i, c) for i in range(len(partials)))


def _raise_first(failed: list | None, path: str, source: ByteRanges, cloud) -> None:
    """Raise the parse error of the earliest range, if any, with its file line (the lines before its range
    counted on the nodes: the caller may not have the file)."""
    if failed:
        cidx, line, column, message, offset = min(failed)
        before = ByteRanges([0, *source.bounds[:cidx + 1]], [source.homes[0], *source.homes[:cidx]])
        lines = CountLinesTask(path=path).do_all(before, cloud=cloud).count
        raise ParseError(line + lines, column, f"{path}: {message}", offset)


def _changed_values(block) -> list[list]:
    """A block's counts of values that became NA, were rounded or were kept exact as int64 (integers beyond
    2**53), as ``[column, count, shown, kind]``."""
    return [[c, n, shown, kind]
            for kind, per in (("na", block.invalid), ("rounded", block.rounded), ("exact", block.exact))
            for c, (n, shown) in per.items()]


def _summary(path: str, setup: ParseSetup, nrows: int, changed: list[list], reads_exact=lambda c: False) -> dict:
    """The frame's parse summary: rows, and per column the values that became NA without being NA strings
    (``invalid``) and the numbers a float64 could not hold (``rounded``). Integers beyond 2**53 that a chunk
    kept exact count as rounded unless ``reads_exact(column)``: the column is integers of the int64 range
    throughout, so it reads back as int64 (else it reads as float64)."""
    per: dict[str, dict[str, dict]] = {"na": {}, "rounded": {}}
    for c, n, shown, kind in changed:
        if kind == "exact":
            if reads_exact(c):
                continue
            kind = "rounded"
        rec = per[kind].setdefault(setup.column_names[c], {"count": 0, "type": setup.column_types[c], "first": shown})
        rec["count"] += n
    return {"source": path, "rows": nrows, "header": setup.header, "sep": setup.sep, "encoding": setup.encoding,
            "invalid": per["na"], "rounded": per["rounded"]}


def _report(parse: dict) -> None:
    """Warn (and log) once per import, naming every column with values that became NA or were rounded, with
    their counts."""
    def columns(per: dict) -> str:
        return "; ".join(f"column {name!r} ({r['type']}): {r['count']:,} (first {r['first']})"
                         for name, r in per.items())
    msgs = []
    if parse["invalid"]:
        msgs.append(f"{parse['source']}: values that were not of their column's type became NA: "
                    f"{columns(parse['invalid'])}")
    if parse["rounded"]:
        first = next(iter(parse["rounded"]))
        msgs.append(f"{parse['source']}: numbers were rounded (integers beyond 2**53 in a column that also "
                    f"holds fractions, or beyond 2**63, to the nearest double; beyond the double range to +-inf): "
                    f"{columns(parse['rounded'])}; import such "
                    f"a column as text to keep it exact (col_types={{{first!r}: 'string'}})")
    for msg in msgs:
        log.warning(msg)
        warnings.warn(msg, ParseWarning, stacklevel=3)


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


_NO_ROWS = np.empty(0, dtype=np.int64)


def _parse_here(path: str, setup: ParseSetup, key: str, cloud, chunk_size: int | None = None) -> Frame:
    """Parse in this process (gzip, or a file only the caller has) and ship the chunks to their homes."""
    opener = gzip.open if _is_gzip(path) else open
    with opener(path, "rb") as fh:
        data = fh.read()
    begin = _data_start(path, data, setup, whole=True)
    cores = os.cpu_count() or 1
    bounds = _range_bounds(begin, len(data), cores, chunk_size)
    nranges = len(bounds) - 1

    def scan(i):
        return (*boundary_map(data, bounds[i], bounds[i + 1], setup), bounds[i + 1])

    def parse(i):
        try:
            return parse_range(data, bounds[i], bounds[i + 1], setup, first=firsts[i])
        except ParseError as exc:
            raise _in_file(exc, path, count_lines(data, 0, bounds[i]), 0) from None

    with ThreadPoolExecutor(max_workers=cores) as pool:
        firsts = record_starts_from_maps(list(pool.map(scan, range(nranges))))
        blocks = list(pool.map(parse, range(nranges)))
    nrows = sum(b.nrows for b in blocks)
    columns, exact = [], set()
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
            if any(j in b.ints for b in blocks):
                ints = [b.ints[j] if j in b.ints else int64_column(b.columns[j], _NO_ROWS, _NO_ROWS)
                        for b in blocks]
                if all(x is not None for x in ints):
                    vals = np.ma.concatenate(ints)
                    exact.add(j)
            columns.append((name, ctype, None, vals, None))
    parse = _summary(path, setup, nrows, [e for b in blocks for e in _changed_values(b)], exact.__contains__)
    fr = write_frame(columns, nrows, key=key, cloud=cloud, parse=parse)
    _report(parse)
    return fr


def upload_file(path: str, sep: str | None = None, header=None, col_types=None, na_strings=None,
                destination_frame: str | None = None, col_names=None, encoding: str = "utf-8",
                chunk_size: int | None = None, cloud=None) -> Frame:
    """Import a file that only this process can read: parsed here, chunks shipped to their homes. Same
    options as :func:`import_file` (``chunk_size`` is the parse range here; the frame's chunks follow the
    usual layout)."""
    cloud = cloud or cluster.current()
    path = os.path.abspath(path)
    if not os.path.isfile(path):
        raise FileNotFoundError(f"no such file: {path}")
    setup = _setup(path, _read_sample(path), sep, header, col_names, col_types, na_strings, encoding)
    key = frame_key(path, destination_frame)
    check_destination(key, cloud)
    return _parse_here(path, setup, key, cloud, chunk_size)
