"""Guess how to parse a CSV file from a sample of its first bytes, the way H2O's ``ParseSetup`` does.

The result, :class:`ParseSetup`, is a small msgpack-safe record (``to_dict``/``from_dict``) that the importer
ships to every node before they parse their byte ranges with :func:`frame.csv_parser.parse_range`.

Rules (H2O ``ParseSetup.guessSetup`` / ``CsvParser`` / ``PreviewParseWriter.guessType``):

* **Separator**: candidates in order ``\\x01 , ; | \\t space``; fields are counted quote-aware on the first
  lines and the first candidate giving the same count (> 1) on every sampled line wins. For space, runs of
  spaces count as one separator and leading/trailing spaces are ignored.
* **Header**: the first line is a header when all its fields are non-numeric strings and the second line is
  not all strings. ``header`` may also be forced (``True``/``False`` or H2O's ``1``/``-1``; ``0``/``None`` guess).
* **Types** per column from counts of numbers, zeros, strings, dates and empties (H2O's decision list), so a
  column of numbers plus a single stray token such as ``"?"`` is numeric, a column of mostly unique strings is
  ``string`` and repeated strings are ``enum``.
* **NA strings**: the empty field is always NA, and so are the user's ``na_strings`` in any column (a number
  among them, e.g. ``-999``, makes that value NA in a numeric column: pandas' rule; H2O ignores it). The
  spellings in :data:`NA_LIKE` are NA in numeric and time columns only: in enum and string columns they stay
  levels and strings, as in H2O (``Na`` is sodium, ``NA`` Namibia). Other stray strings in a column guessed
  numeric are *not* NA strings: the parser turns them into NA, counts them and the importer reports the counts
  per column (H2O does the same silently). H2O's "categorical with 0s for NAs" rule is not applied: a "0" level
  stays a level.
* Unnamed columns are called ``C1..Cn`` as in H2O. A UTF-8 byte-order mark is ignored.

Quoted fields may contain the separator, doubled quotes and line breaks: the guesser joins a sample's lines
into records while a quote is open, as the parser does (``frame.csv_parser``). ``encoding`` (UTF-8 by default,
any ASCII-compatible codec) decodes the text; bytes not valid in it are refused with their offset.

Example:
    >>> s = guess_setup(b"a,b,c\\n1,x,2.5\\n2,y,NA\\n3,x,1\\n")
    >>> (s.sep, s.header, s.column_names, s.column_types)
    (',', True, ['a', 'b', 'c'], ['numeric', 'enum', 'numeric'])
"""
from __future__ import annotations

import calendar
from collections import Counter
import re
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Mapping, Sequence

__all__ = [
    "ParseSetup", "guess_setup", "normalize_type", "split_fields", "parse_number", "parse_time",
    "COLUMN_TYPES", "SEPARATORS", "NA_LIKE",
]

COLUMN_TYPES = ("numeric", "enum", "string", "time")
SEPARATORS = ("\x01", ",", ";", "|", "\t", " ")
# Spellings H2O's guesser and users treat as "missing"; never numbers, so always safe in numeric columns.
NA_LIKE = ("NA", "N/A", "na", "n/a", "Na", "NaN", "nan", "NULL", "null")

# Type names accepted from users, including H2O's API spellings and R/pandas-ish aliases.
_TYPE_ALIASES = {
    "numeric": "numeric", "num": "numeric", "real": "numeric", "double": "numeric", "float": "numeric",
    "int": "numeric", "integer": "numeric", "long": "numeric",
    "enum": "enum", "factor": "enum", "categorical": "enum", "category": "enum",
    "string": "string", "str": "string", "character": "string",
    "time": "time", "date": "time", "datetime": "time",
}
_MAX_GUESS_CELLS = 200_000     # keeps guessing ~0.1 s on wide files (Fashion-MNIST: 785 columns)
_MIN_GUESS_LINES = 50
_SEP_LINES = 10                # lines used to choose the separator
_NUMBER_RE = re.compile(r"[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?")
_DATE_RE = re.compile(
    r"(\d{4})[-/](\d{1,2})[-/](\d{1,2})(?:[ T](\d{1,2}):(\d{2})(?::(\d{2})(?:\.(\d{1,9}))?)?)?Z?")


def normalize_type(name: str) -> str:
    """Map an H2O / user type spelling to one of :data:`COLUMN_TYPES`.

    >>> normalize_type("Enum"), normalize_type("real"), normalize_type("factor")
    ('enum', 'numeric', 'enum')
    """
    if not isinstance(name, str):
        raise ValueError(f"column type must be a string, got {name!r}")
    t = _TYPE_ALIASES.get(name.strip().lower())
    if t is None:
        raise ValueError(f"unknown column type {name!r}; expected one of {', '.join(COLUMN_TYPES)} "
                         f"(or H2O spellings such as 'Numeric', 'Enum', 'factor', 'real', 'int')")
    return t


def parse_number(text: str) -> float | None:
    """Parse a CSV number exactly as Python's ``float`` would; None if ``text`` is not a plain decimal number.

    Only sign, digits, one dot and an exponent are numbers (no ``inf``, ``nan``, ``1_000``): those are
    either NA strings or errors in a CSV.

    >>> parse_number(" -1.5e3 "), parse_number("abc"), parse_number("1_0")
    (-1500.0, None, None)
    """
    t = text.strip()
    if not _NUMBER_RE.fullmatch(t):
        return None
    return float(t)


def parse_time(text: str) -> float | None:
    """Milliseconds since the epoch (UTC) for ``YYYY-MM-DD[ HH:MM[:SS[.fff]]]`` (``-`` or ``/``, ``T``
    allowed); None if ``text`` is not such a date.

    >>> parse_time("1970-01-02"), parse_time("1970-01-01T00:00:01.5"), parse_time("12")
    (86400000.0, 1500.0, None)
    """
    m = _DATE_RE.fullmatch(text.strip())
    if m is None:
        return None
    y, mo, d, hh, mi, ss, frac = m.groups()
    try:
        dt = datetime(int(y), int(mo), int(d), int(hh or 0), int(mi or 0), int(ss or 0))
    except ValueError:
        return None
    ms = calendar.timegm(dt.timetuple()) * 1000.0
    if frac:
        ms += float("0." + frac) * 1000.0
    return ms


class UnterminatedQuote(ValueError):
    """A line ends inside a quoted field: the record goes on in the next line."""


def check_sep(sep: Any) -> str:
    """``sep`` if it is one character; ValueError otherwise."""
    if not isinstance(sep, str) or len(sep) != 1:
        raise ValueError(f"sep must be a single character, got {sep!r}")
    return sep


def check_encoding(encoding: str) -> str:
    """The codec name for ``encoding`` if it can be parsed byte-wise (separators, quotes, digits and line breaks
    are their ASCII bytes, as in UTF-8, Latin-1 or cp1252); ValueError otherwise (UTF-16, UTF-32, ...).

    >>> check_encoding("Latin-1"), check_encoding("utf-8-sig")
    ('iso8859-1', 'utf-8')
    """
    import codecs
    try:
        name = codecs.lookup(encoding).name
    except (LookupError, TypeError):
        raise ValueError(f"unknown encoding {encoding!r}") from None
    if name == "utf-8-sig":     # UTF-8 after a byte-order mark, which the import skips anyway
        name = "utf-8"
    probe = "\n\r\t ,;|\x01\"'0123456789.-+eENA"
    try:
        ok = probe.encode(name) == probe.encode("ascii")
    except UnicodeError:
        ok = False
    if not ok:
        raise ValueError(f"encoding {encoding!r} does not keep ASCII bytes as they are (UTF-16/32 do not): "
                         f"convert the file to UTF-8 first")
    return name


def split_fields(line: str, sep: str, quote: str = '"') -> list[str]:
    """Split one line into fields, quote-aware (a quote opens a field only at its start, ``""`` inside a
    quoted field is a literal quote). For ``sep == " "`` runs of spaces are one separator.

    >>> split_fields('1,"a, ""b"" c",x', ",")
    ['1', 'a, "b" c', 'x']
    """
    if quote not in line:
        if sep == " ":
            return line.split()
        return line.split(sep)
    out: list[str] = []
    i, n = 0, len(line)
    if sep == " ":
        i = len(line) - len(line.lstrip(" "))
    while True:
        if i < n and line[i] == quote:
            j, parts = i + 1, []
            while True:
                k = line.find(quote, j)
                if k < 0:
                    raise UnterminatedQuote(f"unterminated quote in line {line[:80]!r}")
                parts.append(line[j:k])
                if k + 1 < n and line[k + 1] == quote:
                    parts.append(quote)
                    j = k + 2
                    continue
                break
            out.append("".join(parts))
            i = k + 1
            while i < n and line[i] == " " and sep != " ":
                i += 1
            if i < n and line[i] != sep:
                raise ValueError(f"unexpected {line[i]!r} after a closing quote in line {line[:80]!r}")
        else:
            k = line.find(sep, i)
            k = n if k < 0 else k
            out.append(line[i:k])
            i = k
        if i >= n:
            return out
        i += 1   # past the separator
        if sep == " ":
            while i < n and line[i] == " ":
                i += 1
            if i >= n:
                return out


@dataclass
class ParseSetup:
    """How to parse a CSV: everything a node needs, msgpack-safe through ``to_dict``.

    >>> s = ParseSetup(",", False, ["C1"], ["numeric"], [["NA"]])
    >>> ParseSetup.from_dict(s.to_dict()) == s
    True
    """
    sep: str
    header: bool
    column_names: list[str]
    column_types: list[str]
    na_strings: list[list[str]]
    quote: str = '"'
    encoding: str = "utf-8"

    def __post_init__(self) -> None:
        if not isinstance(self.sep, str) or len(self.sep) != 1 or self.sep in "\r\n":
            raise ValueError(f"sep must be one character other than a line break, got {self.sep!r}")
        if not isinstance(self.quote, str) or len(self.quote) != 1 or self.quote == self.sep \
                or self.quote in "\r\n":
            raise ValueError(f"quote must be one character different from sep, got {self.quote!r}")
        if len(self.sep.encode()) != 1 or len(self.quote.encode()) != 1:
            raise ValueError("sep and quote must be single-byte (ASCII) characters")
        self.encoding = check_encoding(self.encoding)
        if not isinstance(self.header, bool):
            raise ValueError(f"header must be a bool, got {self.header!r}")
        n = len(self.column_names)
        if n == 0:
            raise ValueError("a ParseSetup needs at least one column")
        if len(self.column_types) != n or len(self.na_strings) != n:
            raise ValueError(f"column_names ({n}), column_types ({len(self.column_types)}) and na_strings "
                             f"({len(self.na_strings)}) must have the same length")
        dup = sorted(c for c, k in Counter(self.column_names).items() if k > 1)   # not list.count: 20k columns
        if dup:
            raise ValueError(f"duplicate column names: {dup}")
        self.column_types = [normalize_type(t) for t in self.column_types]
        self.na_strings = [sorted({str(s) for s in col}) for col in self.na_strings]

    @property
    def ncols(self) -> int:
        return len(self.column_names)

    def to_dict(self) -> dict:
        """Plain dict of str/bool/lists, safe for msgpack."""
        return {"sep": self.sep, "header": self.header, "column_names": list(self.column_names),
                "column_types": list(self.column_types), "na_strings": [list(c) for c in self.na_strings],
                "quote": self.quote, "encoding": self.encoding}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> "ParseSetup":
        """Inverse of :meth:`to_dict`; unknown or missing keys raise ValueError."""
        if not isinstance(d, Mapping):          # a task from the network may carry anything, or nothing
            raise ValueError(f"bad ParseSetup: expected a dict of its fields, got {type(d).__name__}")
        keys = {"sep", "header", "column_names", "column_types", "na_strings", "quote", "encoding"}
        missing, extra = keys - {"quote", "encoding"} - set(d), set(d) - keys
        if missing or extra:
            raise ValueError(f"bad ParseSetup dict: missing {sorted(missing)}, unexpected {sorted(extra)}")
        return cls(sep=d["sep"], header=d["header"], column_names=list(d["column_names"]),
                   column_types=list(d["column_types"]), na_strings=[list(c) for c in d["na_strings"]],
                   quote=d.get("quote", '"'), encoding=d.get("encoding", "utf-8"))


class ParseError(ValueError):
    """A malformed CSV record: ``line`` is the 1-based line in the whole file, ``column`` 1-based or None,
    ``offset`` the byte offset of the fault when it matters (text not valid in the file's encoding)."""

    def __init__(self, line: int, column: int | None, message: str, offset: int | None = None) -> None:
        self.line, self.column, self.message, self.offset = line, column, message, offset
        where = f"line {line}" + (f", column {column}" if column is not None else "") + \
            (f", byte {offset}" if offset is not None else "")
        super().__init__(f"{where}: {message}")


_LINE_END = re.compile("\r\n|\r|\n")   # a bare \r ends a line too (classic Mac), as in H2O and pandas


def _sample_lines(sample: bytes, encoding: str = "utf-8") -> list[str]:
    """The sample's physical lines (blank ones kept: a quoted field may hold them), without a byte-order mark,
    split at ``\n``, ``\r\n`` and a bare ``\r``. A sample not ending in a line break ends where the file does (the
    importer cuts a sample of a bigger file after a line break). Text not valid in ``encoding`` is refused."""
    if not isinstance(sample, (bytes, bytearray, memoryview)):
        raise ValueError(f"sample must be bytes, got {type(sample).__name__}")
    try:
        text = bytes(sample).decode(encoding)
    except UnicodeDecodeError as e:
        line = len(_LINE_END.findall(bytes(sample)[:e.start].decode("latin-1"))) + 1
        raise ParseError(line, None, f"not valid {encoding}: {bytes(sample)[e.start:e.end]!r}; import with the "
                         f"file's encoding (encoding='latin-1', 'cp1252', ...)", e.start) from None
    if text.startswith("\ufeff"):
        text = text[1:]
    lines = _LINE_END.split(text)
    if lines[-1] == "":
        lines.pop()   # after the final line break (a sample cut from a bigger file ends with one: _read_sample)
    return lines


_MAX_JOINED_LINES = 10_000   # a record the guesser joins from more lines than this ends the sample


def _records(lines: list[str], sep: str, quote: str, limit: int, strict: bool = True) -> list[list[str] | None]:
    """Up to ``limit`` non-blank records of the sample, split into fields: lines are joined while a quoted
    field is open (it may hold line breaks). A record that cannot be split raises ValueError (``strict``) or
    is None. A record still open when the sample ends is dropped (the sample cut it)."""
    out: list[list[str] | None] = []
    pending: list[str] = []
    blank = " \r" if sep == "\t" else " \r\t"   # as the parser: a tab is a field's end when it separates
    for i, ln in enumerate(lines):
        if not pending and not ln.strip(blank):
            continue
        pending.append(ln)
        rec = "\n".join(pending)
        try:
            fields = split_fields(rec, sep, quote)
        except UnterminatedQuote:
            if len(pending) < _MAX_JOINED_LINES:
                continue
            break
        except ValueError as e:
            if strict:
                raise ValueError(f"sample line {i + 1}: {e}") from None
            fields = None
        pending = []
        out.append(fields)
        if len(out) >= limit:
            break
    return out


def _guess_sep(lines: list[str], quote: str) -> str:
    for sep in SEPARATORS:
        counts = {len(f) if f is not None else -1 for f in _records(lines, sep, quote, _SEP_LINES, strict=False)}
        if len(counts) == 1 and counts.pop() > 1:
            return sep
    # no consistent candidate: take the first that splits the first record at all; ragged rows then surface
    # as ParseErrors with their line numbers instead of a silent one-column frame
    for sep in SEPARATORS:
        f = _records(lines, sep, quote, 1, strict=False)
        if f and f[0] is not None and len(f[0]) > 1:
            return sep
    return ","


def _is_string_token(t: str, na: set[str]) -> bool:
    return t != "" and t not in na and parse_number(t) is None


def _guess_header(rows: list[list[str]], na: set[str]) -> bool:
    if len(rows) < 2:
        # one line: a header only if it is all strings (H2O's single-line rule)
        return bool(rows) and all(_is_string_token(t, na) for t in rows[0])
    first_all = all(_is_string_token(t, na) or t == "" for t in rows[0]) and \
        any(_is_string_token(t, na) for t in rows[0])
    second_all = all(_is_string_token(t, na) for t in rows[1])
    return first_all and not second_all


@dataclass
class _ColumnStats:
    nnums: int = 0
    nzeros: int = 0
    nstrings: int = 0
    ndates: int = 0
    nempty: int = 0
    domain: set = field(default_factory=set)

    def add(self, tok: str, na: set[str], kinds: dict[str, int]) -> None:
        if tok == "" or tok in na:
            self.nempty += 1
            return
        kind = kinds.get(tok)
        if kind is None:   # classify each distinct token once: wide pixel files repeat "0".."255"
            v = parse_number(tok)
            kind = kinds[tok] = (0 if v == 0 else 1) if v is not None else 2 if parse_time(tok) is not None else 3
        if kind == 0:
            self.nzeros += 1
        elif kind == 1:
            self.nnums += 1
        elif kind == 2:
            self.ndates += 1
        else:
            self.nstrings += 1
            self.domain.add(tok)

    def guess(self, nlines: int) -> str:
        """H2O's ``PreviewParseWriter.guessType`` decision list (UUID detection omitted)."""
        nonempty = nlines - self.nempty
        nums = self.nnums + self.nzeros
        dom = len(self.domain)
        if nums >= nonempty:
            return "numeric"
        if dom == 1 and self.nnums == 0:
            only = next(iter(self.domain))
            return "numeric" if only in NA_LIKE or self.nstrings < nums else "enum"
        if dom <= 1 and nums > self.ndates:
            return "numeric"
        if self.ndates > nums and (self.ndates > self.nstrings or dom <= 1):
            return "time"
        if self.nstrings > self.ndates and self.nstrings > nums and dom >= 0.95 * self.nstrings:
            return "string"
        if self.nzeros > 0 and self.nzeros + self.nstrings >= nonempty and dom <= 0.95 * self.nstrings:
            return "enum"
        if self.nstrings >= nums and dom <= 0.95 * self.nstrings:
            return "enum"
        return "numeric"


def _resolve_header(header: Any) -> bool | None:
    if header is None or (header == 0 and header is not False):
        return None
    if header is True or header == 1:
        return True
    if header is False or header == -1:
        return False
    raise ValueError(f"header must be None/0 (guess), True/1 (header) or False/-1 (no header), got {header!r}")


def _per_column(spec: Any, names: list[str], what: str) -> list[Any]:
    """Expand a list (one per column) or a {name|index: value} dict to a per-column list (None = unset)."""
    n = len(names)
    if isinstance(spec, Mapping):
        out: list[Any] = [None] * n
        for k, v in spec.items():
            if isinstance(k, int) and not isinstance(k, bool):
                if not 0 <= k < n:
                    raise ValueError(f"{what}: column index {k} out of range for {n} columns")
                out[k] = v
            elif k in names:
                out[names.index(k)] = v
            else:
                raise ValueError(f"{what}: unknown column {k!r}; columns are {names}")
        return out
    if isinstance(spec, (list, tuple)):
        if len(spec) != n:
            raise ValueError(f"{what} has {len(spec)} entries but the file has {n} columns")
        return list(spec)
    raise ValueError(f"{what} must be a list or a dict, got {type(spec).__name__}")


def _user_na(na_strings: Any, names: list[str]) -> list[set[str]]:
    n = len(names)
    if na_strings is None:
        return [set() for _ in range(n)]
    if isinstance(na_strings, (list, tuple)) and not any(isinstance(s, (list, tuple, set)) for s in na_strings):
        return [{_na_text(s) for s in na_strings} for _ in range(n)]      # one list for every column
    out = []
    for v in _per_column(na_strings, names, "na_strings"):
        if v is None:
            v = []
        elif not isinstance(v, (list, tuple, set)):
            v = [v]
        out.append({_na_text(s) for s in v})
    return out


def _na_text(s: Any) -> str:
    """An NA string as given, or a number as its text (pandas takes ``na_values=[-999]``)."""
    if isinstance(s, str):
        return s
    if isinstance(s, (int, float)) and not isinstance(s, bool):
        return str(s)
    raise ValueError(f"na_strings entries must be strings or numbers, got {s!r}")


def guess_setup(sample: bytes, sep: str | None = None, header: bool | int | None = None,
                column_names: Sequence[str] | None = None,
                col_types: Sequence[str | None] | Mapping[str | int, str] | None = None,
                na_strings: Sequence[str] | Sequence[Sequence[str]] | Mapping[str | int, Any] | None = None,
                quote: str = '"', encoding: str = "utf-8") -> ParseSetup:
    """Guess a :class:`ParseSetup` from the first bytes of a file; given arguments override the guesses.

    ``col_types`` and ``na_strings`` keyed by name refer to the final names (``column_names`` if given,
    else the header's, else ``C1..Cn``). ``encoding`` is the file's text encoding (ASCII-compatible ones).

    >>> guess_setup(b"1;2\\n3;4\\n").sep
    ';'
    """
    encoding = check_encoding(encoding)
    lines = _sample_lines(sample, encoding)
    if not any(ln.strip(" \r" if sep == "\t" else " \r\t") for ln in lines):
        raise ValueError("cannot guess a parse setup from an empty sample")
    if sep is None:
        sep = _guess_sep(lines, quote)
    else:
        check_sep(sep)
    first = _records(lines, sep, quote, 1, strict=False)
    width0 = len(first[0] or [0]) if first else 1
    rows = _records(lines, sep, quote, max(_MIN_GUESS_LINES, _MAX_GUESS_CELLS // max(width0, 1)) + 1)
    if not rows:
        raise ValueError("the sample holds no complete record (a quoted field that never closes?)")

    forced = _resolve_header(header)
    has_header = _guess_header(rows, set(NA_LIKE)) if forced is None else forced
    data = rows[1:] if has_header else rows
    # the most common field count (the longest of equals): a ragged line is then the one the parse error names,
    # not the good lines around it. An empty last field is a column (pandas reads it so), unless the header is
    # one field shorter: then the data lines end in one trailing separator (which the parser allows)
    counts = Counter(len(r) for r in rows)
    ncols = max(counts, key=lambda k: (counts[k], k))
    if has_header and len(rows[0]) == ncols - 1 and all(r[-1] == "" for r in data if len(r) == ncols):
        ncols -= 1

    if column_names is not None:
        names = [str(c) for c in column_names]
        if len(names) != ncols:
            raise ValueError(f"column_names has {len(names)} names but the file has {ncols} columns")
    else:
        hdr = rows[0][:ncols] if has_header else []
        names = [h if h else f"C{i + 1}" for i, h in enumerate(hdr)] + \
            [f"C{i + 1}" for i in range(len(hdr), ncols)]

    user_na = _user_na(na_strings, names)
    user_types = [None] * ncols if col_types is None else _per_column(col_types, names, "col_types")

    max_lines = max(_MIN_GUESS_LINES, _MAX_GUESS_CELLS // ncols)
    guess_rows = data[:max_lines]
    types: list[str] = []
    nas: list[list[str]] = []
    kinds: dict[str, int] = {}
    for c in range(ncols):
        na_c = user_na[c] | set(NA_LIKE)
        st = _ColumnStats()
        for r in guess_rows:
            if c < len(r):
                st.add(r[c], na_c, kinds)
        t = normalize_type(user_types[c]) if user_types[c] is not None else st.guess(len(guess_rows))
        # the NA spellings are missing numbers and times; in enum and string columns they are text, as in H2O.
        # Anything else that is not of the column's type becomes NA at parse time *and is counted* (H2O: silently)
        types.append(t)
        nas.append(sorted(user_na[c] | set(NA_LIKE) if t in ("numeric", "time") else user_na[c]))
    return ParseSetup(sep=sep, header=has_header, column_names=names, column_types=types,
                      na_strings=nas, quote=quote, encoding=encoding)
