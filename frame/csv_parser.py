"""Parse the CSV records of one byte range of a file into column arrays.

The importer splits a file into byte ranges and calls :func:`parse_range` on each; a record belongs to the range
its first byte lies in, so every record is parsed exactly once whatever the split. Where a record starts depends
on everything before it, because a quoted field may hold separators, doubled quotes and line breaks:

* the file's data begins at :func:`frame.csv_records.data_start` (after a UTF-8 byte-order mark, and after the
  header record when there is one): the importer decides that once, from the sample, never a range;
* :mod:`frame.csv_records` finds each range's first record start (a scan of the grammar's states composed over
  the ranges in file order); ranges are parsed from there, each last record read past the range's end to its end;
* blank lines are skipped, a last line without a line break is a record; ``\n``, ``\r\n`` and a bare ``\r``
  (classic Mac, old Excel for Mac) each end one, as in H2O and pandas.

One Numba kernel (:func:`_tokenize`, ``nogil`` so two threads parse two ranges in parallel; with two small
helpers) splits the records, converts numeric fields straight to float64 and records the byte spans of
enum/string/time fields, which Python then decodes (strictly, in the setup's encoding). All-numeric lines take
a bounds-check-free row lane (``_row_lane``); numbers are exact as ``float()``: at most 15 digits with one
correctly rounded division, or Clinger's fast path (<= 19 digits, powers of ten up to 1e22); anything else is
handed back to Python.

**Values that are not of their column's type.** A field of a numeric (or time) column that is neither a number
(a date) nor one of the column's NA strings becomes NA, as in H2O, but never silently: ``ParsedBlock.invalid``
counts them per column with the first one seen, and the importer reports the counts (a warning and the frame's
``parse_summary``). Text that is not valid in the file's encoding raises :class:`ParseError` naming its byte
offset; so does a malformed record (wrong number of fields, a quote that never closes). Messages quote at most
``MAX_SHOWN`` characters of a field.

Example:
    >>> from frame.parse_setup import guess_setup
    >>> data = b"x,y\\n1,a\\n2.5,b\\n,a\\n"
    >>> blk = parse_range(data, 0, len(data), guess_setup(data))
    >>> blk.nrows, blk.columns[0].tolist(), blk.columns[1][0].tolist(), blk.columns[1][1]
    (3, [1.0, 2.5, nan], [0, 1, 0], ['a', 'b'])
"""
from __future__ import annotations

import math
import re
from dataclasses import dataclass, field

import numpy as np
from numba import njit

from frame.chunks import int64_integers
from frame.csv_records import (_CR, _NL, _SP, _TAB, _as_u8, _count_line_ends, _find_byte, _find_either, _skip_blank,
                               count_lines, first_record)
from frame.parse_setup import ParseError, ParseSetup, parse_number, parse_time

__all__ = ["ParseError", "ParsedBlock", "NeedMore", "parse_range", "count_lines", "unify_domains"]

# kernel return codes
_DONE, _ODD, _FEW, _MANY, _QUOTE, _MORE = 0, 1, 2, 3, 4, 5
_TILE = 64   # rows staged row-major before the column-major copy (a power of two; 785 cols -> 400 KB)
# exact powers of ten for Clinger's fast path (all representable exactly in float64)
_POW10 = np.array([10.0 ** i for i in range(23)], dtype=np.float64)


_EXACT_INTS = 2 ** 53   # every integer up to this is a double; beyond, a parse may round


@dataclass
class ParsedBlock:
    """The rows of one byte range, column by column.

    ``columns[i]`` is a float64 array (numeric; time in ms since epoch; NaN = NA), an ``(int32 codes,
    local_domain)`` pair for enum (codes index the *sorted* local domain, -1 = NA) or a ``list[str | None]``.
    ``first_line`` is the 1-based file line of the first data row. ``invalid`` maps a column index to
    ``[count, first field shown]`` of the fields that were neither a value of the column's type nor an NA
    string and became NA; ``rounded`` likewise the numbers a float64 cannot hold: integers beyond 2**53 that
    became the nearest double, and finite literals beyond the double range that became +-inf. As H2O keeps
    integers up to 2**63 exact, a numeric column with integers beyond 2**53 whose other values are all integers
    too is in ``ints``: an int64 masked array (masked = NA), what its chunk stores (``columns`` keeps the
    nearest doubles, which rollups and models use), and ``exact`` holds its ``[count, first shown]``.
    """
    nrows: int
    columns: list
    first_line: int
    invalid: dict = field(default_factory=dict)
    rounded: dict = field(default_factory=dict)
    ints: dict = field(default_factory=dict)
    exact: dict = field(default_factory=dict)


@njit(nogil=True, cache=True, error_model="numpy")
def _flush_tile(tile, nums, row):
    """Copy the tile's rows [row - row % T, row) into the column-major output."""
    t = tile.shape[0]
    cnt = row % t if row % t else t
    r0 = row - cnt
    for s in range(tile.shape[1]):
        for r in range(cnt):
            nums[s, r0 + r] = tile[r, s]


@njit(nogil=True, cache=True, error_model="numpy")
def _row_lane(buf, i, lane_stop, sep, tile, r, pow10):
    """Parse a whole line of plain numbers ([-]digits[.digits], <= 15 digits) into ``tile[r]``; returns the
    position after its newline, or -1 if the line needs the general path (which then re-reads it).

    2-3x faster than the field state machine, and a separate function so that LLVM keeps its few variables
    in registers. Exact: m < 10**15 < 2**53 and 10**k (k <= 15) are exact doubles, so the single division is
    correctly rounded like ``float()``. Digit runs need no bounds checks: every read starts at or before
    ``lane_stop``, a byte no run can cross.
    """
    ncols = tile.shape[1]
    c = 0
    while True:
        neg = buf[i] == 45
        if neg:
            i += 1
        st = i
        m = 0
        d = np.int64(buf[i]) - 48
        while np.uint64(d) <= 9:
            m = m * 10 + d
            i += 1
            d = np.int64(buf[i]) - 48
        b = buf[i]
        if b == 46:
            if i == st:
                return -1
            i += 1
            f0 = i
            d = np.int64(buf[i]) - 48
            while np.uint64(d) <= 9:
                m = m * 10 + d
                i += 1
                d = np.int64(buf[i]) - 48
            if i - st > 16:
                return -1
            v = np.float64(m) / pow10[i - f0]
            b = buf[i]
        else:
            if i == st or i - st > 15:
                return -1
            v = np.float64(m)
        tile[r, c] = -v if neg else v
        if b == sep:
            c += 1
            i += 1
            if c == ncols or i > lane_stop:
                return -1
            continue
        if c != ncols - 1:
            return -1
        if b == _NL:
            return i + 1
        if b == _CR:
            return i + 2 if i + 1 < buf.shape[0] and buf[i + 1] == _NL else i + 1
        return -1


@njit(nogil=True, cache=True, error_model="numpy")
def _tokenize(buf, pos, end, phase, row, col, sep, quote, kinds, slots, tile, nums, tok_s, tok_e, tok_q,
              na_bytes, na_start, na_len, na_off, pow10, lane_stop, eof):
    """Parse rows from ``pos`` until the first line starting at or after ``end``; resumable.

    State is (pos, phase, row, col): phase 0 = at the start of field ``col``, phase 1 = at the byte that ends
    it. Returns (code, pos, row, col); on _ODD Python converts the field at ``pos`` and resumes in phase 1.
    Numbers go to row ``row % T`` of a small row-major ``tile`` that is copied to the column-major ``nums``
    every T rows: writing ``nums[col, row]`` directly touches one page per column per row and thrashes the
    TLB on wide files (785 columns: 2.5x slower).
    """
    n = buf.shape[0]
    ncols = kinds.shape[0]
    space_sep = sep == _SP
    tmask = tile.shape[0] - 1
    all_num = True
    for k in range(ncols):
        if kinds[k] != 0:
            all_num = False
    slow = False   # the current line failed the row lane
    while True:
        if phase == 0:
            if col == 0:
                # at a line start: stop at the range end, skip blank lines
                while True:
                    if pos >= end or pos >= n:
                        if row & tmask:
                            _flush_tile(tile, nums, row)
                        return _DONE, pos, row, col
                    q = pos
                    while q < n and (buf[q] == _SP or (buf[q] == _TAB and sep != _TAB)):
                        q += 1
                    if q >= n:
                        if row & tmask:
                            _flush_tile(tile, nums, row)
                        return _DONE, n, row, col
                    if buf[q] == _NL or buf[q] == _CR:
                        pos = q + 1
                        continue
                    break
                if space_sep:
                    pos = q
                elif all_num and not slow and pos <= lane_stop:
                    nxt = _row_lane(buf, pos, lane_stop, sep, tile, row & tmask, pow10)
                    if nxt >= 0:
                        row += 1
                        if row & tmask == 0:
                            _flush_tile(tile, nums, row)
                        pos = nxt
                        continue
                    slow = True
            p = pos
            if kinds[col] == 0:
                # ---- numeric field. Fast lane: unsigned digits with an optional fraction, <= 15 digits in
                # all (exact: m < 2**53 and one division by an exact power of ten), ended by the separator or
                # the line end; anything else (signs, exponents, spaces, NA, CRLF) takes the general path.
                i = p
                m = 0
                while i < n:
                    d = np.int64(buf[i]) - 48
                    if d < 0 or d > 9:
                        break
                    m = m * 10 + d
                    i += 1
                nfrac = 0
                if i < n and buf[i] == 46 and i > p:
                    i += 1
                    f0 = i
                    while i < n:
                        d = np.int64(buf[i]) - 48
                        if d < 0 or d > 9:
                            break
                        m = m * 10 + d
                        i += 1
                    nfrac = i - f0
                # exact: an integer of <= 16 digits up to 2**53 is a double (beyond, Python judges whether it
                # was rounded); with a fraction, m has <= 15 digits (< 2**53) and the one division rounds once
                if 0 < i - p <= 16 and i < n and m <= _EXACT_INTS:
                    b = buf[i]
                    fv = np.float64(m) / pow10[nfrac] if nfrac else np.float64(m)
                    if b == sep and col < ncols - 1 and not space_sep:
                        tile[row & tmask, slots[col]] = fv
                        col += 1
                        pos = i + 1
                        continue
                    if b == _NL and col == ncols - 1:
                        tile[row & tmask, slots[col]] = fv
                        row += 1
                        if row & tmask == 0:
                            _flush_tile(tile, nums, row)
                        col = 0
                        pos = i + 1
                        continue
                if p < n and buf[p] == quote:
                    return _ODD, p, row, col
                while p < n and (buf[p] == _SP or (buf[p] == _TAB and sep != _TAB)) and buf[p] != sep:
                    p += 1
                if p < n and buf[p] == quote:
                    # a quote after spaces is text, not a quoted field (pandas, and the record-boundary scan)
                    return _ODD, pos, row, col
                i = p
                neg = False
                if i < n and (buf[i] == 45 or buf[i] == 43):
                    neg = buf[i] == 45
                    i += 1
                mant = np.uint64(0)
                nd = 0
                ndig = 0
                exp10 = 0
                while i < n and 48 <= buf[i] <= 57:
                    if nd < 19:
                        mant = mant * np.uint64(10) + np.uint64(buf[i] - 48)
                        if mant > 0:
                            nd += 1
                    else:
                        nd += 1
                    ndig += 1
                    i += 1
                if i < n and buf[i] == 46:
                    i += 1
                    while i < n and 48 <= buf[i] <= 57:
                        if nd < 19:
                            mant = mant * np.uint64(10) + np.uint64(buf[i] - 48)
                            if mant > 0:
                                nd += 1
                            exp10 -= 1
                        else:
                            nd += 1
                        ndig += 1
                        i += 1
                ok = ndig > 0
                if ok and i < n and (buf[i] == 101 or buf[i] == 69):
                    i += 1
                    eneg = False
                    if i < n and (buf[i] == 45 or buf[i] == 43):
                        eneg = buf[i] == 45
                        i += 1
                    ed = 0
                    e = 0
                    while i < n and 48 <= buf[i] <= 57:
                        if e < 100000:
                            e = e * 10 + (buf[i] - 48)
                        ed += 1
                        i += 1
                    ok = ed > 0
                    exp10 += -e if eneg else e
                if ok:
                    while i < n and (buf[i] == _SP or (buf[i] == _TAB and sep != _TAB)) and buf[i] != sep:
                        i += 1
                    if i < n:
                        b = buf[i]
                        ok = b == sep or b == _NL or b == _CR
                if ok and nd <= 19:
                    if mant == 0:
                        v = 0.0
                    elif mant <= np.uint64(9007199254740992) and -22 <= exp10 <= 22:
                        v = np.float64(mant)
                        if exp10 >= 0:
                            v = v * pow10[exp10]
                        else:
                            v = v / pow10[-exp10]
                    else:
                        return _ODD, p, row, col
                    tile[row & tmask, slots[col]] = -v if neg else v
                    pos = i
                    phase = 1
                    continue
                if ok:
                    return _ODD, p, row, col
                # not a number: empty, an NA string of this column, or something for Python to judge
                j = p
                while j < n and buf[j] != sep and buf[j] != _NL and buf[j] != _CR:
                    j += 1
                e2 = j
                while e2 > p and (buf[e2 - 1] == _SP or (buf[e2 - 1] == _TAB and sep != _TAB)):
                    e2 -= 1
                ln = e2 - p
                isna = ln == 0
                k = na_off[col]
                while not isna and k < na_off[col + 1]:
                    if na_len[k] == ln:
                        same = True
                        s0 = na_start[k]
                        for t in range(ln):
                            if na_bytes[s0 + t] != buf[p + t]:
                                same = False
                                break
                        isna = same
                    k += 1
                if not isna:
                    return _ODD, p, row, col
                tile[row & tmask, slots[col]] = np.nan
                pos = j
                phase = 1
                continue
            # ---- token field (enum / string / time): record its span
            if p < n and buf[p] == quote:
                j = p + 1
                flag = 1
                while True:
                    if j >= n:   # a quoted field may hold line breaks; it must close before the end of file
                        return (_QUOTE if eof else _MORE), p, row, col
                    if buf[j] == quote:
                        if j + 1 < n and buf[j + 1] == quote:
                            flag = 2
                            j += 2
                            continue
                        break
                    j += 1
                tok_s[slots[col], row] = p + 1
                tok_e[slots[col], row] = j
                tok_q[slots[col], row] = flag
                i = j + 1
                while i < n and buf[i] == _SP and sep != _SP:
                    i += 1
                if i < n:
                    b = buf[i]
                    if not (b == sep or b == _NL or b == _CR):
                        return _QUOTE, p, row, col
                pos = i
            else:
                j = p
                while j < n and buf[j] != sep and buf[j] != _NL and buf[j] != _CR:
                    j += 1
                e2 = j
                tok_s[slots[col], row] = p
                tok_e[slots[col], row] = e2
                tok_q[slots[col], row] = 0
                pos = e2
            phase = 1
            continue
        # ---- phase 1: at the byte ending field `col`
        eol = pos >= n
        if eol and not eof:
            return _MORE, pos, row, col
        nxt = n
        if not eol:
            b = buf[pos]
            if b == _NL:
                eol = True
                nxt = pos + 1
            elif b == _CR:       # \r\n, or a bare \r (classic Mac line ends: H2O and pandas end the line)
                eol = True
                nxt = pos + 2 if pos + 1 < n and buf[pos + 1] == _NL else pos + 1
        if eol:
            if col != ncols - 1:
                return _FEW, pos, row, col
            row += 1
            if row & tmask == 0:
                _flush_tile(tile, nums, row)
            col = 0
            phase = 0
            pos = nxt
            slow = False
            continue
        # at a separator
        q = pos + 1
        if space_sep:
            while q < n and buf[q] == _SP:
                q += 1
        at_eol = q >= n or buf[q] == _NL or buf[q] == _CR
        if col == ncols - 1:
            if not at_eol:
                return _MANY, q, row, col
            pos = q   # one trailing separator: the line ends here
            continue
        if space_sep and at_eol:
            pos = q   # trailing spaces, not a field: report the missing fields
            continue
        col += 1
        phase = 0
        pos = q


class _Plan:
    """Per-setup arrays for the kernel: column kinds, output slots and the NA-string table."""

    def __init__(self, setup: ParseSetup) -> None:
        types = setup.column_types
        self.kinds = np.array([0 if t == "numeric" else 1 for t in types], dtype=np.int8)
        self.num_cols = [i for i, t in enumerate(types) if t == "numeric"]
        self.tok_cols = [i for i, t in enumerate(types) if t != "numeric"]
        slots = np.zeros(len(types), dtype=np.int64)
        slots[self.num_cols] = np.arange(len(self.num_cols))
        slots[self.tok_cols] = np.arange(len(self.tok_cols))
        self.slots = slots
        blob, starts, lens, off = bytearray(), [], [], [0]
        for c in range(len(types)):
            for s in setup.na_strings[c] if types[c] == "numeric" else ():
                b = s.strip().encode(setup.encoding)
                if b:
                    starts.append(len(blob))
                    lens.append(len(b))
                    blob += b
            off.append(len(starts))
        self.na_bytes = np.frombuffer(bytes(blob) or b"\0", dtype=np.uint8)
        self.na_start = np.array(starts or [0], dtype=np.int64)
        self.na_len = np.array(lens or [0], dtype=np.int64)
        self.na_off = np.array(off, dtype=np.int64)
        self.na_sets = [set(s) for s in setup.na_strings]
        # NA strings that are numbers (-999): the kernel parses them as numbers, so their values become NA after
        self.na_numbers = {c: np.array(sorted(v)) for c in self.num_cols
                           if (v := {x for s in setup.na_strings[c] if (x := parse_number(s)) is not None})}
        self.na_bytes_of = [{x.encode(setup.encoding) for x in s} | {b""} for s in setup.na_strings]
        self.sep = ord(setup.sep)
        self.quote = ord(setup.quote)


_PLANS: dict[tuple, _Plan] = {}


def _plan_for(setup: ParseSetup) -> _Plan:
    """The kernel arrays for ``setup``, built once per distinct setup (14 ms for 785 columns, as long as
    parsing a 4 MB range)."""
    key = (setup.sep, setup.quote, setup.encoding, tuple(setup.column_types), tuple(map(tuple, setup.na_strings)))
    plan = _PLANS.get(key)
    if plan is None:
        if len(_PLANS) >= 16:
            _PLANS.clear()
        plan = _PLANS[key] = _Plan(setup)
    return plan


def _lane_stop(arr: np.ndarray) -> int:
    """Index of the last byte that is not a digit, '.' or '-' (-1 if none): the kernel's row lane reads
    without bounds checks only from runs that start at or before it."""
    k = arr.shape[0] - 1
    while k >= 0 and (48 <= arr[k] <= 57 or arr[k] == 46 or arr[k] == 45):
        k -= 1
    return k


class NeedMore(Exception):
    """``parse_range`` reached the end of a buffer inside a record while ``eof`` was False: the caller reads
    further into the file and parses the range again."""


# ---------------------------------------------------------------- parsing a range
MAX_SHOWN = 60   # characters of a field quoted in an error or a report; the rest is counted, not copied


def _show(text: str) -> str:
    """A field for a message: its repr, cut to MAX_SHOWN characters with the full length said."""
    return repr(text) if len(text) <= MAX_SHOWN else f"{text[:MAX_SHOWN]!r}... ({len(text):,} characters)"


def _read_field(arr: np.ndarray, p: int, n: int, sep: int, quote: int, eof: bool) -> tuple[bytes, bool, int]:
    """Python reader for one field at ``p`` (the kernel's odd cases): (raw bytes, quoted, end position). A quoted
    field may hold line breaks; one running off the buffer raises NeedMore (``eof`` False) or ValueError."""
    if p < n and arr[p] == quote:
        parts, j = [], p + 1
        while True:
            k = _find_byte(arr, quote, j, n)
            if k < 0:
                if not eof:
                    raise NeedMore()
                raise ValueError("unterminated quoted field (it runs to the end of the file)")
            parts.append(arr[j:k].tobytes())
            if k + 1 < n and arr[k + 1] == quote:
                parts.append(bytes([quote]))
                j = k + 2
                continue
            break
        i = k + 1
        while i < n and arr[i] == _SP and sep != _SP:
            i += 1
        if i < n and not (arr[i] == sep or arr[i] == _NL or arr[i] == _CR):
            raise ValueError(f"unexpected {chr(arr[i])!r} after a closing quote")
        return b"".join(parts), True, i
    j = _find_either(arr, sep, _NL, p, n)
    j = n if j < 0 else j
    cr = _find_byte(arr, _CR, p, j)         # a field ends at \n, \r\n or a bare \r
    e = j if cr < 0 else cr
    return arr[p:e].tobytes(), False, e


def parse_range(buf: bytes | memoryview, start: int, end: int, setup: ParseSetup, *, first: int | None = None,
                eof: bool = True, file_start_line: int = 1) -> ParsedBlock:
    """Parse the records whose first byte lies in ``buf[start:end]``.

    A record's start depends on everything before it (a quoted field may hold line breaks), so either

    * ``buf`` is the whole file from its first byte (the default): the byte-order mark, the header and blank
      lines before it are skipped (:func:`data_start`) and the first record at or after ``start`` is found by
      scanning from there; or
    * ``buf`` is a window of the file and ``first`` is the offset of the first record start in
      ``[start, end]`` (from :mod:`frame.csv_records`; ``end`` if none). ``eof`` says
      whether the window ends where the file does: if not, a record running past the window's end raises
      :class:`NeedMore`.

    The last record is read past ``end`` to its end. ``file_start_line`` is the 1-based file line holding byte
    ``start``; it only affects ``first_line`` and error messages. A field of a numeric or time column that is
    neither a value nor one of the column's NA strings becomes NA and is counted in ``ParsedBlock.invalid``.

    >>> from frame.parse_setup import ParseSetup
    >>> s = ParseSetup(",", False, ["a", "b"], ["numeric", "numeric"], [[], []])
    >>> parse_range(b"1,2\\n3,4\\n5,6\\n", 2, 9, s, file_start_line=1).columns[0].tolist()
    [3.0, 5.0]
    """
    try:
        return _parse_range(buf, start, end, setup, first, eof, file_start_line)
    except Exception as e:   # noqa: BLE001 - re-raised unchanged just below
        failure = e
    # Drop the failed call's frames (they hold numpy/memoryview exports of ``buf``) before re-raising, so a
    # caller parsing an mmap can still close it (else: "BufferError: cannot close exported pointers exist").
    failure.__traceback__ = None
    raise failure


def _parse_range(buf: bytes | memoryview, start: int, end: int, setup: ParseSetup, first: int | None,
                 eof: bool, file_start_line: int) -> ParsedBlock:
    if not isinstance(setup, ParseSetup):
        raise ValueError(f"setup must be a ParseSetup, got {type(setup).__name__}")
    arr = _as_u8(buf)
    n = arr.shape[0]
    if not (isinstance(start, int) and isinstance(end, int) and 0 <= start <= end <= n):
        raise ValueError(f"bad range [{start!r}, {end!r}) for a buffer of {n} bytes")
    if file_start_line < 1:
        raise ValueError(f"file_start_line must be >= 1, got {file_start_line}")
    plan = _plan_for(setup)
    if first is None:
        if not eof:
            raise ValueError("parsing a window of a file (eof=False) needs its first record start (first=)")
        first = first_record(arr, start, end, setup)
    elif not (isinstance(first, int) and start <= first <= n):
        raise ValueError(f"first record start {first!r} outside [{start}, {n}]")
    pos = first
    line0 = file_start_line + _count_line_ends(arr, start, pos)   # invariant: line0 is the file line of pos
    first_row = _skip_blank(arr, pos, n, plan.sep) if pos < end else pos
    first_line = line0 + (_count_line_ends(arr, pos, first_row) if first_row > pos else 0)

    cap = _count_line_ends(arr, pos, end) + 1 if pos < end else 0
    nums = np.empty((len(plan.num_cols), cap), dtype=np.float64)
    tile = np.empty((_TILE, len(plan.num_cols)), dtype=np.float64)
    ntok = len(plan.tok_cols)
    tok_s = np.empty((ntok, cap), dtype=np.int64)
    tok_e = np.empty((ntok, cap), dtype=np.int64)
    tok_q = np.empty((ntok, cap), dtype=np.int8)
    invalid: dict[int, list] = {}
    rounded: dict[int, list] = {}   # column -> [count, first shown, its row]
    big: dict[int, list] = {}       # column -> [rows, int values, first shown]: integers beyond 2**53 in int64

    def err(at: int, column: int | None, msg: str, offset: int | None = None) -> ParseError:
        return ParseError(line0 + _count_line_ends(arr, pos0, at), column, msg, offset)

    pos0 = pos
    phase, row, col = 0, 0, 0
    lane_stop = _lane_stop(arr)
    while True:
        code, pos, row, col = _tokenize(arr, pos, end, phase, row, col, plan.sep, plan.quote, plan.kinds,
                                        plan.slots, tile, nums, tok_s, tok_e, tok_q, plan.na_bytes, plan.na_start,
                                        plan.na_len, plan.na_off, _POW10, lane_stop, eof)
        if code == _DONE:
            break
        if code == _MORE:
            raise NeedMore()
        name = setup.column_names[col]
        if code == _FEW:
            raise err(pos, col + 2, f"expected {setup.ncols} fields, found {col + 1} "
                                    f"(column {col + 2} {setup.column_names[col + 1]!r} missing)")
        if code == _MANY:
            raise err(pos, setup.ncols + 1, f"expected {setup.ncols} fields, found more")
        if code == _QUOTE:
            try:
                _read_field(arr, pos, n, plan.sep, plan.quote, True)
                why = "malformed quoted field"
            except ValueError as e:
                why = str(e)
            raise err(pos, col + 1, f"{why} in column {name!r}")
        # _ODD: a numeric field the kernel would not convert exactly or judge
        try:
            raw, quoted, after = _read_field(arr, pos, n, plan.sep, plan.quote, eof)
        except ValueError as e:
            raise err(pos, col + 1, f"{e} in column {name!r}") from None
        text = raw.decode(setup.encoding, errors="backslashreplace")   # undecodable bytes are no number either
        t = text.strip()
        if t == "" or t in plan.na_sets[col] or text in plan.na_sets[col]:
            v = np.nan
        else:
            v = parse_number(t)
            if v is None:   # not a number: NA, counted and reported (H2O's parse turns it into NA silently)
                v = np.nan
                invalid.setdefault(col, [0, _show(text)])[0] += 1
            elif _rounded(t, v):   # kept as the nearest double, counted and reported (or exact, below)
                i = int(t) if _INTEGER.fullmatch(t) else None
                if i is not None and _INT64_MIN <= i <= _INT64_MAX:
                    entry = big.setdefault(col, [[], [], _show(text)])
                    entry[0].append(row)
                    entry[1].append(i)
                else:
                    rounded.setdefault(col, [0, _show(text), row])[0] += 1
        tile[row & (_TILE - 1), plan.slots[col]] = v
        pos, phase = after, 1
    nrows = row

    columns: list = [None] * setup.ncols
    for k, c in enumerate(plan.num_cols):
        columns[c] = nums[k, :nrows]
        if c in plan.na_numbers:
            columns[c][np.isin(columns[c], plan.na_numbers[c])] = np.nan
    if plan.tok_cols:
        _decode_tokens(buf if isinstance(buf, bytes) else memoryview(arr), setup, plan, nrows, tok_s, tok_e,
                       tok_q, columns, invalid, err)
    ints, exact = {}, {}
    for col, (rows, vals, shown) in big.items():
        kept = int64_column(columns[col], np.asarray(rows, dtype=np.int64), np.asarray(vals, dtype=np.int64))
        if kept is None:   # the column holds fractions (or infinities) too: a float64 column, these rounded
            entry = rounded.setdefault(col, [0, shown, rows[0]])
            entry[0] += len(rows)
            if rows[0] < entry[2]:
                entry[1:] = shown, rows[0]
        else:
            ints[col], exact[col] = kept, [len(rows), shown]
    rounded = {col: [count, shown] for col, (count, shown, _) in rounded.items()}
    return ParsedBlock(nrows=nrows, columns=columns, first_line=first_line, invalid=invalid, rounded=rounded,
                       ints=ints, exact=exact)


_INTEGER = re.compile(r"[+-]?[0-9]+")
_INT64_MIN, _INT64_MAX = -2 ** 63, 2 ** 63 - 1


def int64_column(x: np.ndarray, rows: np.ndarray, vals: np.ndarray) -> np.ma.MaskedArray | None:
    """Float64 column ``x`` (NaN = NA) as exact int64, with ``x[rows]`` (integers a double rounded) replaced by
    ``vals``; None when another value is not an integer of the int64 range (a fraction, an infinity).

    >>> int64_column(np.array([1.0, np.nan, 2.0 ** 60]), np.array([2]), np.array([2 ** 60 + 1])).tolist()
    [1, None, 1152921504606846977]
    >>> int64_column(np.array([0.5, 2.0 ** 60]), np.array([1]), np.array([2 ** 60 + 1])) is None
    True
    """
    na = np.isnan(x)
    other = ~na
    other[rows] = False
    y = x[other]
    if not int64_integers(y):
        return None
    ints = np.zeros(x.size, dtype=np.int64)
    ints[other] = y.astype(np.int64)
    ints[rows] = vals
    return np.ma.masked_array(ints, mask=na)


def _rounded(text: str, v: float) -> bool:
    """Whether number ``text`` (stripped) became a different value as float64 ``v``: an integer beyond 2**53 that
    is not a double, or a finite literal beyond the double range (``v`` infinite). Decimal fractions are not
    counted: a double never holds most of them exactly, and the nearest one is what every CSV reader gives."""
    if math.isinf(v):
        return True
    return abs(v) >= _EXACT_INTS and _INTEGER.fullmatch(text) is not None and int(text) != int(v)


def _decode_tokens(src: bytes | memoryview, setup: ParseSetup, plan: _Plan, nrows: int, tok_s: np.ndarray,
                   tok_e: np.ndarray, tok_q: np.ndarray, columns: list, invalid: dict, err) -> None:
    """Turn recorded spans into enum codes, strings or times.

    Enum levels are looked up as raw bytes (one dict probe per field) and only the distinct levels are
    decoded, which is 2-3x faster than decoding every field. Text that is not valid in ``setup.encoding``
    raises ParseError naming its byte offset: nothing is replaced by U+FFFD.
    """
    q1 = bytes([plan.quote])
    q2 = q1 + q1
    enc = setup.encoding
    cut = (lambda a, b: src[a:b]) if isinstance(src, bytes) else (lambda a, b: bytes(src[a:b]))
    for k, c in enumerate(plan.tok_cols):
        s_list = tok_s[k, :nrows].tolist()
        keys = [cut(a, b) for a, b in zip(s_list, tok_e[k, :nrows].tolist())]
        for r in np.flatnonzero(tok_q[k, :nrows] == 2).tolist():
            keys[r] = keys[r].replace(q2, q1)   # doubled quotes inside a quoted field
        na = plan.na_bytes_of[c]

        def decode(key: bytes) -> str:
            try:
                return key.decode(enc)
            except UnicodeDecodeError as e:
                r = keys.index(key)
                at = s_list[r] + e.start   # exact unless doubled quotes came before the bad byte
                raise err(s_list[r], c + 1, f"bytes {key[e.start:e.end]!r} are not valid {enc} text in column "
                                            f"{setup.column_names[c]!r}; import with the file's encoding "
                                            f"(encoding='latin-1', 'cp1252', ...)", at) from None
        kind = setup.column_types[c]
        if kind == "enum":
            ids = dict.fromkeys(na, -1)
            get = ids.get
            local = []
            for key in keys:
                v = get(key)
                if v is None:
                    v = ids[key] = len(ids) - len(na)
                local.append(v)
            levels = [decode(key) for key, v in ids.items() if v >= 0]
            dom = sorted(levels)
            where = {d: i for i, d in enumerate(dom)}
            remap = np.array([where[t] for t in levels] + [-1], dtype=np.int32)   # -1 (NA) -> last slot
            columns[c] = (remap[np.array(local, dtype=np.int32)], dom)
            continue
        texts = [None if key in na else decode(key) for key in keys]
        if kind == "string":
            columns[c] = texts
            continue
        out = np.empty(nrows, dtype=np.float64)
        for r, t in enumerate(texts):
            ms = np.nan if t is None else parse_time(t)
            if ms is None:   # not a date: NA, counted and reported
                ms = np.nan
                invalid.setdefault(c, [0, _show(t)])[0] += 1
            out[r] = ms
        columns[c] = out


def unify_domains(domains: list[list[str]]) -> tuple[list[str], list[np.ndarray]]:
    """Merge sorted local enum domains into H2O's globally sorted one, with a local->global code map per block
    (apply as ``np.where(codes < 0, -1, maps[i][codes])``).

    >>> unify_domains([["a", "c"], ["b", "c"]])
    (['a', 'b', 'c'], [array([0, 2], dtype=int32), array([1, 2], dtype=int32)])
    """
    glob = sorted(set().union(*domains)) if domains else []
    index = {d: i for i, d in enumerate(glob)}
    return glob, [np.array([index[d] for d in dom], dtype=np.int32) for dom in domains]
