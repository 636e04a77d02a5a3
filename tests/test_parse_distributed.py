"""The distributed CSV parse keeps every row: split anywhere, on one node or three, it reads what pandas reads.

A record belongs to the byte range its first byte lies in; where a record starts depends on everything before
it (quoted fields may hold line breaks). These tests cut random files into random ranges and compare the frame
with ``pandas.read_csv`` of the same bytes: row count, every value, and the kind of every column.
"""
from __future__ import annotations

import math
import warnings

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import cluster
import frame
from cloudkit import SMALL, Launcher, free_port_pair

DATA = SMALL.parent   # every real CSV the tests ship


# ---------------------------------------------------------------- the reproduction from the issue
def test_aligned_rows_are_all_kept_on_every_range_boundary(one, tmp_path):
    """header + 52,431 rows of exactly 10 bytes: every range boundary fell on a line start and lost that row."""
    n = 8 * 6554 - 1
    path = tmp_path / "aligned.csv"
    path.write_text("value_col\n" + "".join(f"{i:09d}\n" for i in range(n)))
    for fn in (frame.import_file, frame.upload_file):
        fr = fn(str(path))
        assert fr.nrows == n, fn.__name__
        assert fr.as_numpy()[:, 0].tolist() == list(range(n)), fn.__name__
        assert fr.parse_summary["rows"] == n and fr.parse_summary["invalid"] == {}
        fr.remove()


@pytest.fixture(scope="module")
def three(tmp_path_factory):
    """A 3-node cloud of real processes and a client attached to it."""
    kit = Launcher(tmp_path_factory.mktemp("three"))
    try:
        nodes = kit.cloud(3)
        client = cluster.connect(nodes[0].address, timeout=10, progress=False)
        yield client
        client.shutdown()
    finally:
        kit.cleanup()


@pytest.mark.parametrize("end", [b"\r", b"\r\n"], ids=["CR", "CRLF"])
def test_classic_mac_and_windows_line_ends_read_as_unix_ones_on_three_nodes(three, tmp_path, end):
    """A bare \\r ends a line (classic Mac, old Excel for Mac), as in H2O and pandas: it made one long record."""
    body = (SMALL / "prostate.csv").read_bytes()
    head, rows = body.split(b"\n", 1)
    unix = tmp_path / "unix.csv"
    unix.write_bytes(head + b"\n" + rows * 40)
    other = tmp_path / "other.csv"
    other.write_bytes(unix.read_bytes().replace(b"\n", end))
    want = frame.import_file(str(unix), cloud=three).as_pandas()
    assert len(want) == 380 * 40
    for chunk in (None, 1 << 12, 4099):
        for fn in (frame.import_file, frame.upload_file):
            with warnings.catch_warnings():
                warnings.simplefilter("error")
                fr = fn(str(other), cloud=three, chunk_size=chunk)
            try:
                pd.testing.assert_frame_equal(fr.as_pandas(), want, obj=f"{fn.__name__} chunk_size={chunk}")
            finally:
                fr.remove()


def test_prostate_repeated_300_times_on_three_nodes(three, tmp_path):
    body = (SMALL / "prostate.csv").read_bytes()
    head, rows = body.split(b"\n", 1)
    path = tmp_path / "prostate300.csv"
    path.write_bytes(head + b"\n" + rows * 300)
    fr = frame.import_file(str(path), cloud=three)
    assert fr.nrows == 380 * 300 == len(pd.read_csv(path))
    assert fr.nchunks > 3
    fr.remove()


@pytest.mark.parametrize("end", ["\n", "\r"], ids=["LF", "CR"])
def test_an_error_on_three_nodes_names_the_file_line(three, tmp_path, end):
    lines = ["a,b,c"] + [f'{i},"t{i}",{i}' for i in range(100_000)]
    lines[77_777] = '1,"x'                          # file line 77,778: a quoted field with a line break ...
    lines[77_778] = '2,y"z,3'                       # ... closed in the next line and followed by junk
    path = tmp_path / "bad.csv"
    path.write_bytes((end.join(lines) + end).encode())
    with pytest.raises(frame.ParseError, match=r"line 77778, column 2: .*bad.csv: unexpected 'z' after a closing quote"):
        frame.import_file(str(path), cloud=three, chunk_size=1 << 16)


# ---------------------------------------------------------------- random files against pandas
LETTERS = "abcXYZ"
TEXT = st.text(alphabet=LETTERS + " ,;\"\n\r-", min_size=1, max_size=8).filter(
    lambda s: any(c in LETTERS for c in s) and s == s.strip(" "))


@st.composite
def csv_files(draw):
    """(bytes, sep, header) of a small CSV pandas and aquifer must read alike: numbers (ints, decimals,
    exponents, quoted), strings (with separators, quotes, line breaks), NAs, blank lines, \\n, \\r\\n or \\r line
    ends, optional header and final newline."""
    sep = draw(st.sampled_from([",", ";", "\t", "|"]))
    ncols = draw(st.integers(1, 4))
    kinds = draw(st.lists(st.sampled_from(["num", "str"]), min_size=ncols, max_size=ncols))
    nrows = draw(st.integers(1, 30))
    header = draw(st.booleans())

    def cell(kind):
        if draw(st.integers(0, 9)) == 0:   # "NA" is NA in numbers only: in text it is text, as in H2O
            return draw(st.sampled_from(["", "NA"] if kind == "num" else [""]))
        if kind == "num":
            v = draw(st.one_of(st.integers(-10**6, 10**6).map(str),
                               st.decimals(-1000, 1000, places=draw(st.integers(0, 6)), allow_nan=False).map(str),
                               st.floats(-1e6, 1e6, allow_nan=False).map(lambda f: f"{f:.5e}")))
            return f'"{v}"' if draw(st.integers(0, 7)) == 0 else v
        v = draw(TEXT)
        if any(c in v for c in (sep, '"', "\n", "\r")) or draw(st.integers(0, 5)) == 0:
            return '"' + v.replace('"', '""') + '"'
        return v

    lines = [sep.join(f"c{j}" for j in range(ncols))] if header else []
    for _ in range(nrows):
        row = [cell(k) for k in kinds]
        if ncols == 1 and row[0] == "":     # a single empty field is a blank line: skipped by both
            row = ["NA" if kinds[0] == "num" else "a"]
        lines.append(sep.join(row))
        if draw(st.integers(0, 9)) == 0:
            lines.append("")                # a blank line
    # a bare \r ends a line too; not a blank one: pandas's tokenizer then also eats the next line's first
    # separator ('1\n\r,,0' gives [nan, 0, nan]: its quirk, where aquifer, H2O and Python's csv give [nan, nan, 0])
    ends = [draw(st.sampled_from(["\n", "\r\n"] + (["\r"] if ln else []))) for ln in lines]
    body = "".join(ln + e for ln, e in zip(lines, ends))
    if not draw(st.booleans()):
        body = body[:-len(ends[-1])]        # no final line break
    return body.encode(), sep, header


def _expected(body: bytes, sep: str, header: bool) -> pd.DataFrame:
    import io
    return pd.read_csv(io.BytesIO(body), sep=sep, header=0 if header else None,
                       keep_default_na=False, na_values=["", "NA"])


def _same(fr, want: pd.DataFrame, what: str) -> None:
    got = fr.as_pandas()
    assert got.shape == want.shape, f"{what}: shape {got.shape} != pandas {want.shape}"
    for j in range(want.shape[1]):
        w, g, t = want.iloc[:, j], got.iloc[:, j], fr._h["types"][j]
        if w.dtype.kind in "iuf":
            assert t == "numeric", f"{what}: column {j} is {t}, pandas reads numbers"
            wv, gv = w.to_numpy(np.float64), g.to_numpy(np.float64, na_value=np.nan)
            assert np.array_equal(wv, gv, equal_nan=True), f"{what}: column {j}: {gv} != {wv}"
        else:
            assert t in ("enum", "string"), f"{what}: column {j} is {t}, pandas reads text"
            wv = [None if isinstance(x, float) and math.isnan(x) else x for x in w.tolist()]
            gv = [None if x is None or (isinstance(x, float) and math.isnan(x)) else x for x in g.astype(object)]
            assert gv == wv, f"{what}: column {j}"


def _check(cloud, tmp_path, body, sep, header, nranges, jitter):
    path = tmp_path / "random.csv"
    path.write_bytes(body)
    want = _expected(body, sep, header)
    chunk = max(1, math.ceil(len(body) / nranges) + jitter)
    for fn in (frame.import_file, frame.upload_file):
        with warnings.catch_warnings():
            warnings.simplefilter("error")           # nothing here may turn into NA unannounced
            fr = fn(str(path), sep=sep, header=header, chunk_size=chunk, cloud=cloud)
        try:
            _same(fr, want, f"{fn.__name__} chunk_size={chunk} of {len(body)} bytes")
        finally:
            fr.remove()


SETTINGS = dict(deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])


@settings(max_examples=40, **SETTINGS)
@given(csv_files(), st.integers(1, 8), st.integers(-3, 3))
def test_random_csvs_read_as_pandas_reads_them_on_one_node(one, tmp_path, f, nranges, jitter):
    _check(one, tmp_path, *f, nranges, jitter)


@settings(max_examples=15, **SETTINGS)
@given(csv_files(), st.integers(1, 8), st.integers(-3, 3))
def test_random_csvs_read_as_pandas_reads_them_on_three_nodes(three, tmp_path, f, nranges, jitter):
    _check(three, tmp_path, *f, nranges, jitter)


# ---------------------------------------------------------------- the real test data, every range size
@pytest.mark.parametrize("path", sorted(DATA.rglob("*.csv")), ids=lambda p: p.name)
def test_every_range_size_gives_the_same_frame(one, path):
    ref = frame.import_file(str(path))
    want = ref.as_pandas()
    header = ref.parse_summary["header"]
    assert len(want) == len(pd.read_csv(path, header=0 if header else None)), "rows differ from pandas"
    ref.remove()
    for k in range(10, 21):    # 1 KiB .. 1 MiB
        fr = frame.import_file(str(path), chunk_size=1 << k)
        try:
            pd.testing.assert_frame_equal(fr.as_pandas(), want, obj=f"{path.name} chunk_size=2**{k}")
        finally:
            fr.remove()


# ---------------------------------------------------------------- what the review of the split points found
@pytest.mark.parametrize("body,rows", [
    (b"\xef\xbb\xbfa,b\n1,2\n3,4\n", 2),                        # BOM, header
    (b"\xef\xbb\xbf1,2\n3,4\n", 2),                             # BOM, no header: row 1 is data
    (b"\n\n\r\na,b\n\n1,2\r\n\r\n3,4", 2),                      # blank lines before the header and between rows
    (b"a,b\r\n1,2\r\n3,4\r\n", 2),                              # CRLF split anywhere (a range may end between)
    (b'a,b\n1,"x\n2,y"\n3,z\n', 2),                             # a quoted line break that looks like a row
    (b'a,b\n1,"\n\n\n"\n2,z\n', 2),                             # blank lines inside quotes are data
])
@pytest.mark.parametrize("fn", ["import_file", "upload_file"])
def test_split_points_every_chunk_size(one, tmp_path, body, rows, fn):
    path = tmp_path / "f.csv"
    path.write_bytes(body)
    header = not body.lstrip(b"\xef\xbb\xbf").startswith(b"1")
    ref = None
    for chunk in range(1, len(body) + 2):
        fr = getattr(frame, fn)(str(path), header=header, chunk_size=chunk)
        df = fr.as_pandas()
        fr.remove()
        assert len(df) == rows, chunk
        ref = df if ref is None else ref
        pd.testing.assert_frame_equal(df, ref, obj=f"chunk_size={chunk}")


def test_gzip_file_keeps_every_row(one, tmp_path):
    import gzip
    body = b"a,b\n" + b"".join(f'{i},"t{i}\nx"\n'.encode() for i in range(5000))
    path = tmp_path / "f.csv.gz"
    path.write_bytes(gzip.compress(body))
    fr = frame.import_file(str(path), chunk_size=1000)
    assert fr.nrows == 5000 and fr.as_pandas()["b"].tolist()[4999] == "t4999\nx"


def test_invalid_values_are_reported_by_column(one, tmp_path):
    path = tmp_path / "f.csv"
    path.write_text("a,b,t\n" + "1,2,2020-01-01\n" * 100 + "?,x,soon\n" + "3,4,2020-01-02\n" * 100 + "?,5,\n")
    with pytest.warns(frame.ParseWarning, match=r"column 'a' \(numeric\): 2 \(first '\?'\).*column 'b'.*1.*"
                                                r"column 't' \(time\): 1 \(first 'soon'\)"):
        fr = frame.import_file(str(path), chunk_size=700, col_types={"t": "time"})
    assert fr.parse_summary["invalid"] == {"a": {"count": 2, "type": "numeric", "first": "'?'"},
                                           "b": {"count": 1, "type": "numeric", "first": "'x'"},
                                           "t": {"count": 1, "type": "time", "first": "'soon'"}}
    assert fr.nrows == 202
    with warnings.catch_warnings():
        warnings.simplefilter("error")   # NA strings the user named are NA, not invalid
        fr = frame.import_file(str(path), na_strings=["?", "x", "soon"], col_types={"t": "time"})
    assert fr.parse_summary["invalid"] == {}


def _ids_file(tmp_path):
    ids = [None if i % 101 == 5 else (-1 if i % 2 else 1) * (1234567890123456789 + i) if i % 3 else i
           for i in range(3000)]
    ids[-1] = 2 ** 63 - 1
    path = tmp_path / "ids.csv"
    path.write_text("id,x\n" + "".join(f"{'' if v is None else v},{i}\n" for i, v in enumerate(ids)))
    return path, ids


def test_integers_beyond_two_to_the_53_are_kept_exact_on_three_nodes(three, tmp_path):
    path, ids = _ids_file(tmp_path)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        fr = frame.import_file(str(path), chunk_size=4096, cloud=three)
    assert fr.nchunks > 10 and fr.parse_summary["rounded"] == {}
    assert [None if v is pd.NA else v for v in fr.as_pandas()["id"].astype(object)] == ids
    levels = fr["id"].asfactor()                # distinct as integers, not as their nearest doubles
    got = levels.as_pandas()["id"]
    assert got.astype(object).where(got.notna(), None).tolist() == [None if v is None else str(v) for v in ids]
    fr.remove()


@pytest.mark.parametrize("fn", [frame.import_file, frame.upload_file])
def test_integers_beyond_two_to_the_53_are_kept_exact_as_h2o_keeps_them(one, tmp_path, fn):
    """A 19-digit id column, with NAs, negatives and small integers between, reads back exact at every chunk
    size (H2O keeps integers up to 2**63 in long chunks; a float64 would change 2,989 of these 3,000 ids)."""
    path, ids = _ids_file(tmp_path)
    for chunk in (4096, 20_000, 1 << 20):
        with warnings.catch_warnings():
            warnings.simplefilter("error")       # nothing was rounded: no warning
            fr = fn(str(path), chunk_size=chunk)
        got = fr.as_pandas()["id"]
        assert str(got.dtype) == "Int64"
        assert [None if v is pd.NA else v for v in got.astype(object)] == ids, chunk
        assert fr.parse_summary["rounded"] == {} and fr.types["id"] == "numeric"
        assert fr.rollups()[0]["max"] == float(2 ** 63 - 1)     # models and rollups see the nearest doubles
        fr.remove()


@pytest.mark.parametrize("fn", [frame.import_file, frame.upload_file])
def test_integers_beyond_two_to_the_53_in_a_column_with_fractions_are_reported(one, tmp_path, fn):
    """A column that also holds a fraction (here in another chunk) reads back as float64: its big integers are
    the nearest doubles, counted and reported, and string keeps them; so is an integer beyond int64."""
    path = tmp_path / "mixed.csv"
    ids = [1234567890123456789 + i for i in range(3000)]
    rows = [f"{v},{2 ** 64 + 1 if i == 7 else i}" for i, v in enumerate(ids)] + ["0.5,1"]
    path.write_text("id,y\n" + "\n".join(rows) + "\n")
    changed = sum(int(float(v)) != v for v in ids)       # doubles are 256 apart here: 11 ids are exact
    assert changed == 2989
    with pytest.warns(frame.ParseWarning, match=r"numbers were rounded .*column 'id' "
                                                r"\(numeric\): 2,989 \(first '1234567890123456789'\).*"
                                                r"col_types=\{'(id|y)': 'string'\}"):
        fr = fn(str(path), chunk_size=4096)
    assert fr.parse_summary["rounded"] == {
        "id": {"count": changed, "type": "numeric", "first": "'1234567890123456789'"},
        "y": {"count": 1, "type": "numeric", "first": "'18446744073709551617'"}}
    assert fr.parse_summary["invalid"] == {}
    assert fr.as_pandas()["id"].dtype == np.float64
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        fr = fn(str(path), col_types={"id": "string", "y": "string"}, chunk_size=4096)
    assert fr.as_pandas()["id"].tolist()[-2] == str(1234567890123456789 + 2999)


def test_the_import_stores_numeric_rollups_equal_to_a_rollup_task(one, tmp_path):
    """As H2O's parse: numeric and time columns come with their rollups, computed from the parsed values (no
    decode later), bit-equal to what a RollupTask computes over the chunks; enum columns get theirs on first use."""
    from frame.rollups import RollupTask
    from frame.store import rollup_key
    rng = np.random.default_rng(5)
    lines = ["x,n,t,c"] + [f"{rng.normal():.6g},{rng.integers(-3, 3)},2020-01-{1 + i % 28:02d},{'abc'[i % 3]}"
                           for i in range(5000)]
    lines[17] = "1e400,NA,2020-01-02,a"            # +inf (reported as rounded) and an NA
    path = tmp_path / "r.csv"
    path.write_text("\n".join(lines) + "\n")
    with pytest.warns(frame.ParseWarning, match="'1e400'"):
        fr = frame.import_file(str(path), chunk_size=4096, col_types={"t": "time"})
    assert fr.nchunks > 10
    stored = one.dkv.get_many([rollup_key(v) for v in fr.vecs])
    assert [v is not None for v in stored] == [True, True, True, False]
    task = RollupTask().do_all(fr, columns=[0, 1, 2], cloud=one)
    for i in range(3):
        assert dict(stored[i].meta) == task.stats(i), fr.names[i]
    assert stored[0].meta["pinfs"] == 1 and stored[1].meta["na_count"] == 1
    assert fr.rollups()[3]["max"] == 2     # the enum column's, computed now
    fr.remove()
    assert one.dkv.get_many([rollup_key(v) for v in fr.vecs]) == [None] * 4


def test_non_utf8_needs_its_encoding(one, tmp_path):
    path = tmp_path / "latin.csv"
    path.write_bytes("name,n\n".encode() + "".join(f"caf\u00e9{i},{i}\n" for i in range(3000)).encode("latin-1"))
    with pytest.raises(frame.ParseError, match=r"line 2, byte 10: .*latin.csv: not valid utf-8.*encoding="):
        frame.import_file(str(path))
    fr = frame.import_file(str(path), encoding="latin-1", chunk_size=5000)
    assert fr.nrows == 3000 and fr.as_pandas()["name"].tolist()[2999] == "caf\u00e92999"
    # bad bytes after the 4 MiB sample: named by file line and byte, whichever node parses them
    good = b"name,n\n" + b"".join(b"cafe%d,%d\n" % (i, i) for i in range(400_000))
    path.write_bytes(good + b"caf\xe9,1\n")
    with pytest.raises(frame.ParseError, match=rf"line 400002, column 1, byte {len(good) + 3}: .*latin.csv: "
                                               rf"bytes b'\\xe9' are not valid utf-8"):
        frame.import_file(str(path), chunk_size=1 << 20)


def test_a_huge_bad_field_is_not_copied_into_the_message(one, tmp_path):
    path = tmp_path / "big.csv"
    path.write_text("a,b\n1,x\n2,y\n3" + "y" * 10_000_000 + ",z\n")
    for fn in (frame.import_file, frame.upload_file):
        with pytest.warns(frame.ParseWarning) as rec:
            fr = fn(str(path))
        assert fr.nrows == 3 and all(len(str(w.message)) < 300 for w in rec)
        assert "10,000,001 characters" in fr.parse_summary["invalid"]["a"]["first"]
        fr.remove()
    path.write_text("a,b\n1,x\n2,y\n3,\"" + "y" * 10_000_000 + "\n")
    for fn in (frame.import_file, frame.upload_file):
        with pytest.raises(frame.ParseError, match="line 4, column 2: .*unterminated quoted field") as ei:
            fn(str(path))
        assert len(str(ei.value)) < 300


def test_a_record_over_the_limit_names_its_line_and_the_limit(one, tmp_path, monkeypatch):
    from frame import importer
    monkeypatch.setattr(importer, "MAX_RECORD_BYTES", 1 << 20)     # the node is this process: it sees the patch
    path = tmp_path / "open.csv"
    path.write_text("a,b\n1,x\n2,\"never closed\n" + "3,y\n" * 1_000_000)
    with pytest.raises(frame.ParseError, match=r"line \d+: .*runs more than 1 MiB further \(the limit of a record\)"):
        frame.import_file(str(path), chunk_size=1 << 16)


@pytest.mark.parametrize("chunk", [1024, 1500, 4096])
def test_the_first_bad_record_is_named_when_it_follows_a_long_quoted_field(one, tmp_path, chunk):
    """The ranges that begin inside a quoted field are parsed again; a later range's error used to be raised
    before them, so the error named the second bad record (line 3,404 here) instead of the first."""
    quoted = '"' + "\n".join(["q"] * 600) + '"'
    lines = ["a,b"] + ["0,0"] * 2000 + [f"1,{quoted}", "2,2", "3,3,3"] + ["4,4"] * 800 + ["5,5,5", "6,6"]
    body = "\n".join(lines) + "\n"
    path = tmp_path / "bad.csv"
    path.write_text(body)
    first = body[:body.index("3,3,3")].count("\n") + 1
    assert first == 2603
    for fn in (frame.import_file, frame.upload_file):
        with pytest.raises(frame.ParseError, match=f"line {first}, column 3: .*expected 2 fields, found more"):
            fn(str(path), chunk_size=chunk)


def test_a_file_that_differs_on_one_node_is_refused_naming_node_and_sizes(launcher, tmp_path):
    """A copy still being written (or another file) at the same path on one node failed the import with internal
    errors ('attempt to get argmax of an empty sequence', 'bad range'). Node B runs in a mount namespace of its own
    where the path is a shorter file: the import now names the node and both sizes."""
    full, short = tmp_path / "data.csv", tmp_path / "short.csv"
    full.write_text("a,b\n" + "".join(f"{i},{i * 2}\n" for i in range(20000)))
    short.write_text("a,b\n" + "".join(f"{i},{i * 2}\n" for i in range(15000)))
    ports = [free_port_pair(), free_port_pair()]
    ff = launcher.flatfile([f"127.0.0.1:{p}" for p in ports])
    a = launcher.start(ports[0], ff, extra=["--cloud-size", "2"])
    bind = ["unshare", "-m", "--propagation", "private", "sh", "-c",
            'mount --bind "$1" "$2" && shift 2 && exec "$@"', "sh", str(short), str(full)]
    b = launcher.start(ports[1], ff, extra=["--cloud-size", "2"], prefix=bind)
    try:
        a.wait_log("cloud formed: name=testcloud size=2", 20)
    except TimeoutError:
        if b.proc.poll() is not None:
            pytest.skip(f"cannot make a mount namespace here: {b.log()[-300:]}")
        raise
    client = cluster.connect(a.address, timeout=10, progress=False)
    try:
        with pytest.raises(cluster.RemoteError,
                           match=rf"data.csv is \d[\d,]* bytes on node 127.0.0.1:{ports[1]}, "
                                 rf"{full.stat().st_size:,} where import_file runs"):
            frame.import_file(str(full), chunk_size=20_000, cloud=client)
        assert not [k for k in (r["key"] for r in client.dkv.keys("")) if "$vec/" in k]    # nothing kept
    finally:
        client.shutdown()
