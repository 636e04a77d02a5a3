"""Where the records of a CSV file start: the byte-level helpers and the record-boundary scan.

A record belongs to the byte range its first byte lies in, and where a record starts depends on everything before
it: a quoted field may hold separators, doubled quotes and line breaks. :func:`data_start` says where a file's data
begins (past a byte-order mark and the header); :func:`boundary_map` scans a range from each of the CSV grammar's
five states (it skips the scan when the range holds no quote byte) and :func:`record_starts_from_maps` composes the
maps in file order into each range's first record start, the way speculative parallel CSV parsers do.
:mod:`frame.csv_parser` parses records from there.

>>> from frame.parse_setup import ParseSetup
>>> s = ParseSetup(",", True, ["id", "text"], ["numeric", "string"], [[], []])
>>> buf = b'id,text\\n1,"two\\nlines"\\n2,x\\n'
>>> data_start(buf, s), record_starts(buf, [8, 12, len(buf)], s)    # byte 12 is inside "two\\nlines"
(8, [8, 22])
"""
from __future__ import annotations

from functools import lru_cache
from typing import Any

import numpy as np
from numba import njit

from frame.parse_setup import ParseSetup

__all__ = ["S_RECORD", "S_FIELD", "S_UNQUOTED", "S_QUOTED", "S_CLOSED", "boundary_map", "record_starts",
           "record_starts_from_maps", "data_start", "first_record", "count_lines", "line_end"]

_NL, _CR, _SP, _TAB = 10, 13, 32, 9


def _count_line_ends(arr: np.ndarray, start: int, end: int) -> int:
    """Line ends in ``arr[start:end]``: ``\\n``, ``\\r\\n`` and a bare ``\\r`` (classic Mac; H2O and pandas read it
    as a line end too) count one each; a ``\\r`` whose ``\\n`` is at ``end`` is counted with that ``\\n``. numpy
    in 1 MB blocks (8 GB/s, 3x a scalar Numba loop, and the temporary stays small); files without ``\\r`` pay
    one more comparison."""
    n = 0
    size = arr.shape[0]
    for lo in range(start, end, 1 << 20):
        hi = min(end, lo + (1 << 20))
        blk = arr[lo:hi]
        n += int(np.count_nonzero(blk == _NL))
        cr = blk == _CR
        if cr.any():
            nxt = arr[lo + 1:min(size, hi + 1)] == _NL          # the byte after each (none after the last)
            bare = cr.copy()
            bare[:nxt.shape[0]] &= ~nxt
            n += int(np.count_nonzero(bare))
    return n


def _as_u8(buf: Any) -> np.ndarray:
    if isinstance(buf, np.ndarray):
        arr = buf.reshape(-1).view(np.uint8) if buf.flags.c_contiguous else None
    else:
        try:
            arr = np.frombuffer(memoryview(buf).cast("B"), dtype=np.uint8)
        except (TypeError, ValueError):
            arr = None
    if arr is None:
        raise ValueError(f"buf must be a contiguous bytes-like object, got {type(buf).__name__}")
    if arr.flags.writeable:
        arr = arr.view()
        arr.flags.writeable = False   # one kernel signature (read-only) whatever the caller passes
    return arr


def count_lines(buf: bytes | memoryview, start: int = 0, end: int | None = None) -> int:
    """Number of line ends (``\\n``, ``\\r\\n`` or a bare ``\\r``) in ``buf[start:end]``: the file line of byte
    ``start`` is ``1 + count_lines(buf, 0, start)``.

    >>> count_lines(b"a\\nb\\nc", 0, 3), count_lines(b"a\\nb\\nc"), count_lines(b"a\\r\\nb\\rc")
    (1, 2, 2)
    """
    arr = _as_u8(buf)
    end = arr.shape[0] if end is None else end
    if not 0 <= start <= end <= arr.shape[0]:
        raise ValueError(f"bad range [{start}, {end}) for a buffer of {arr.shape[0]} bytes")
    return _count_line_ends(arr, start, end)


def _skip_blank(arr: np.ndarray, pos: int, n: int, sep: int) -> int:
    """Position of the first non-blank line at or after line start ``pos`` (as the kernel skips them)."""
    blank = (_SP,) if sep == _TAB else (_SP, _TAB)
    while pos < n:
        q = pos
        while q < n and int(arr[q]) in blank:
            q += 1
        if q < n and (arr[q] == _NL or arr[q] == _CR):
            pos = q + 1
            continue
        return pos
    return pos


def _find_byte(arr: np.ndarray, byte: int, pos: int, limit: int) -> int:
    """Index of the first ``byte`` in ``arr[pos:limit]``, or -1; scans in growing blocks so that finding the
    end of a short line never touches (or allocates for) the whole range."""
    step = 1 << 12
    while pos < limit:
        hi = min(limit, pos + step)
        seg = arr[pos:hi] == byte
        k = int(seg.argmax())
        if seg[k]:
            return pos + k
        pos, step = hi, min(step * 8, 1 << 22)
    return -1


def line_end(buf: Any, lo: int, hi: int) -> int:
    """Index of the first line end byte in ``buf[lo:hi]`` (``\\n``, or ``\\r``: a bare one ends a line too), or -1.

    >>> line_end(b"ab\\r\\ncd\\n", 0, 7), line_end(b"ab\\ncd", 3, 5)
    (2, -1)
    """
    arr = _as_u8(buf)
    nl = _find_byte(arr, _NL, lo, hi)
    cr = _find_byte(arr, _CR, lo, hi if nl < 0 else nl)     # files without \r scan one line for it
    return nl if cr < 0 else cr


@njit(nogil=True, cache=True)
def _find_either(buf, a, b, pos, limit):
    """Index of the first ``a`` or ``b`` byte in ``buf[pos:limit]``, or -1."""
    while pos < limit:
        if buf[pos] == a or buf[pos] == b:
            return pos
        pos += 1
    return -1


@lru_cache(maxsize=64)
def _byte_classes(sep: str, quote: str) -> tuple[int, int, np.ndarray]:
    cls = np.zeros(256, dtype=np.int8)   # 0 other, 1 separator, 2 line end (\\n or \\r), 3 quote
    cls[[ord(sep), _NL, _CR, ord(quote)]] = (1, 2, 2, 3)
    return ord(sep), ord(quote), cls


def _bytes_of(setup: ParseSetup) -> tuple[int, int, np.ndarray]:
    """(separator byte, quote byte, byte-class table) of a setup."""
    return _byte_classes(setup.sep, setup.quote)


# ---------------------------------------------------------------- record boundaries
# Where a record starts depends on everything before it: a quoted field may hold line breaks. The boundary
# scan runs the CSV grammar's five lexical states over a range; since the state at the range's first byte is
# not known until the ranges before it are scanned, it runs from all five at once (they merge after the first
# separator or line break, so it costs about two table lookups per byte) and returns, for each start state, the
# state at the range's end and the first record start inside it. Composing the ranges' maps in file order then
# gives every range its true first record (record_starts_from_maps), the way speculative parallel CSV parsers
# do. Ranges without a quote byte skip the scan (their map follows from the last separator or line break).
S_RECORD, S_FIELD, S_UNQUOTED, S_QUOTED, S_CLOSED = range(5)   # at a record start, a field start, inside an
# unquoted field, inside a quoted field, just after a quote in a quoted field (a doubled quote, or its end)
# byte classes: 0 other, 1 separator, 2 line end (\n or \r: in \r\n the \n starts a blank line, which the parser
# skips; a bare \r ends a line as in H2O and pandas), 3 quote
_TRANSITIONS = np.array([
    [S_UNQUOTED, S_FIELD, S_RECORD, S_QUOTED],      # S_RECORD: a quote opens a field only as its first byte
    [S_UNQUOTED, S_FIELD, S_RECORD, S_QUOTED],      # S_FIELD
    [S_UNQUOTED, S_FIELD, S_RECORD, S_UNQUOTED],    # S_UNQUOTED: a quote inside a field is text
    [S_QUOTED, S_QUOTED, S_QUOTED, S_CLOSED],       # S_QUOTED: separators and line breaks are text
    [S_UNQUOTED, S_FIELD, S_RECORD, S_QUOTED],      # S_CLOSED: "" is a quote; then separator or line end
], dtype=np.int8)


@njit(nogil=True, cache=True)
def _scan_states(buf, lo, hi, cls, table, ends, firsts):
    """For each start state k at ``lo``: ``ends[k]`` = state at ``hi``, ``firsts[k]`` = first record start in
    (lo, hi] (``lo`` itself for S_RECORD), or -1."""
    for k in range(5):
        ends[k] = k
        firsts[k] = -1
    firsts[0] = lo
    i = lo
    # five tracks until the four outside a quoted field agree (at the first separator or line break: on a
    # line feed all four reach S_RECORD together, so their first record starts agree too)
    while i < hi and not (ends[0] == ends[1] and ends[1] == ends[2] and ends[2] == ends[4]):
        c = cls[buf[i]]
        i += 1
        for k in range(5):
            s = table[ends[k], c]
            if s == 0 and firsts[k] < 0:
                firsts[k] = i
            ends[k] = s
    if not (ends[0] == ends[1] and ends[1] == ends[2] and ends[2] == ends[4]):
        return   # the range ended first
    # then two tracks: the merged one and the one that started inside a quoted field
    a = ends[0]
    q = ends[3]
    fa = firsts[1]
    fq = firsts[3]
    while i < hi and not (a == q and fa >= 0 and fq >= 0):
        c = cls[buf[i]]
        i += 1
        a = table[a, c]
        q = table[q, c]
        if a == 0 and fa < 0:
            fa = i
        if q == 0 and fq < 0:
            fq = i
    merged = a == q
    while i < hi:   # one track left: only the end state is still to find
        a = table[a, cls[buf[i]]]
        i += 1
    for k in (0, 1, 2, 4):
        ends[k] = a
    for k in (1, 2, 4):
        firsts[k] = fa
    ends[3] = a if merged else q
    firsts[3] = fq


@njit(nogil=True, cache=True)
def _next_record(buf, pos, hi, state, cls, table):
    """The first record start in (pos, hi] reached from ``state`` at ``pos``, or -1."""
    while pos < hi:
        state = table[state, cls[buf[pos]]]
        pos += 1
        if state == 0:
            return pos
    return -1


@njit(nogil=True, cache=True)
def _last_special(buf, lo, hi, sep):
    """Index of the last separator or line end byte in buf[lo:hi], or -1."""
    i = hi - 1
    while i >= lo:
        if buf[i] == sep or buf[i] == _NL or buf[i] == _CR:
            return i
        i -= 1
    return -1


def _contains(buf: Any, arr: np.ndarray, byte: int, lo: int, hi: int) -> bool:
    """Whether ``byte`` occurs in buf[lo:hi] (memchr through ``find`` where the buffer has it)."""
    if isinstance(buf, (bytes, bytearray)):
        return buf.find(bytes((byte,)), lo, hi) >= 0
    return _find_byte(arr, byte, lo, hi) >= 0


def boundary_map(buf: bytes | memoryview, lo: int, hi: int, setup: ParseSetup) -> tuple[list[int], list[int]]:
    """The range ``buf[lo:hi]`` as a map of the CSV states (``S_RECORD`` ... ``S_CLOSED``): for each state at
    ``lo``, (the state at ``hi``, the first record start in ``[lo, hi]`` or -1).

    >>> s = ParseSetup(",", False, ["a", "b"], ["string", "numeric"], [[], []])
    >>> ends, firsts = boundary_map(b'x,1\\n"y\\nz",2\\nw,3\\n', 6, 16, s)   # from the break inside "y\\nz"
    >>> firsts[S_QUOTED], firsts[S_UNQUOTED]     # inside quotes the next record starts at 12; outside, at 7
    (12, 7)
    """
    arr = _as_u8(buf)
    if not 0 <= lo <= hi <= arr.shape[0]:
        raise ValueError(f"bad range [{lo}, {hi}) for a buffer of {arr.shape[0]} bytes")
    sep, quote, cls = _bytes_of(setup)
    if _contains(buf, arr, quote, lo, hi):
        ends = np.empty(5, np.int64)
        firsts = np.empty(5, np.int64)
        _scan_states(arr, lo, hi, cls, _TRANSITIONS, ends, firsts)
        return ends.tolist(), firsts.tolist()
    # no quote: every state but S_QUOTED leaves at the first separator or line break and ends by the last one
    nl = line_end(arr, lo, hi)
    after = nl + 1 if nl >= 0 else -1
    firsts = [lo, after, after, -1, after]
    if hi == lo:
        return list(range(5)), firsts
    last = _last_special(arr, lo, hi, sep)
    out = S_UNQUOTED if last != hi - 1 else S_FIELD if arr[last] == sep else S_RECORD
    return [out, out, out, S_QUOTED, out], firsts


def record_starts_from_maps(maps: list[tuple[list[int], list[int], int]]) -> list[int]:
    """First record start of each range, from the ranges' boundary maps ``(ends, firsts, hi)`` in file order;
    the first range must begin at a record start. A range in which no record starts gets its ``hi``."""
    state, out = S_RECORD, []
    for ends, firsts, hi in maps:
        f = firsts[state]
        out.append(hi if f < 0 else f)
        state = ends[state]
    return out


def record_starts(buf: bytes | memoryview, bounds: list[int], setup: ParseSetup) -> list[int]:
    """First record start of each range ``[bounds[i], bounds[i+1])``; ``bounds[0]`` must be a record start
    (e.g. :func:`data_start`).

    >>> s = ParseSetup(",", False, ["a", "b"], ["string", "numeric"], [[], []])
    >>> record_starts(b'x,1\\n"y\\nz",2\\nw,3\\n', [0, 6, 16], s)
    [0, 12]
    """
    return record_starts_from_maps([(*boundary_map(buf, lo, hi, setup), hi) for lo, hi in zip(bounds, bounds[1:])])


def data_start(buf: bytes | memoryview, setup: ParseSetup) -> int:
    """Offset of the first data record of a file given from its first byte (at least through its header):
    after a UTF-8 byte-order mark and, when ``setup.header``, after the blank lines before the header and the
    header record. -1 if the header record does not end inside ``buf`` and ``buf`` may not be the whole file:
    callers with a sample check ``data_start(sample) >= 0``.

    >>> data_start(b"\\xef\\xbb\\xbfa,b\\n1,2\\n", ParseSetup(",", True, ["a", "b"], ["numeric"] * 2, [[], []]))
    7
    """
    arr = _as_u8(buf)
    n = arr.shape[0]
    pos = 3 if n >= 3 and arr[0] == 0xEF and arr[1] == 0xBB and arr[2] == 0xBF else 0
    if not setup.header:
        return pos
    sep, _, cls = _bytes_of(setup)
    pos = _skip_blank(arr, pos, n, sep)
    if pos >= n:
        return n
    return _next_record(arr, pos, n, S_RECORD, cls, _TRANSITIONS)


def first_record(arr: np.ndarray, start: int, end: int, setup: ParseSetup) -> int:
    """First record start in [start, end] of a whole-file buffer (``end`` if none): past the header, and
    aware of quoted line breaks before ``start`` (a scan of ``arr[:start]``: for callers that hold the file)."""
    ds = data_start(arr, setup)
    if ds < 0:
        ds = arr.shape[0]   # a header without a line end: the whole file
    if start <= ds:
        return min(ds, end)
    state = boundary_map(arr, ds, start, setup)[0][S_RECORD]
    if state == S_RECORD:
        return start
    f = _next_record(arr, start, end, state, _bytes_of(setup)[2], _TRANSITIONS)
    return end if f < 0 else f
