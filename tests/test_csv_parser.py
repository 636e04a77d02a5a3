"""Byte-range CSV parsing (frame.csv_parser) and the Fashion-MNIST converter (tools.fmnist_to_csv)."""
import io
import random

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from frame.csv_parser import ParseError, ParsedBlock, count_lines, parse_range, unify_domains
from frame.parse_setup import ParseSetup, guess_setup
from tools import fmnist_to_csv
from cloudkit import DATA, FMNIST, SMALL

ECG = DATA / "ecg"


def _whole(buf: bytes, setup: ParseSetup) -> ParsedBlock:
    return parse_range(buf, 0, len(buf), setup)


def _values(block: ParsedBlock, setup: ParseSetup) -> list[list]:
    """Columns as plain lists (enum decoded to strings, NaN -> None) so blocks compare with ==."""
    out = []
    for col, t in zip(block.columns, setup.column_types):
        if t == "enum":
            codes, dom = col
            out.append([None if c < 0 else dom[c] for c in codes.tolist()])
        elif t == "string":
            out.append(list(col))
        else:
            out.append([None if v != v else v for v in np.asarray(col).tolist()])
    return out


def _split_parse(buf: bytes, setup: ParseSetup, cuts: list[int]) -> tuple[list[list], list[int]]:
    bounds = [0, *cuts, len(buf)]
    cols: list[list] = [[] for _ in range(setup.ncols)]
    firsts = []
    for a, z in zip(bounds, bounds[1:]):
        blk = parse_range(buf, a, z, setup, file_start_line=1 + count_lines(buf, 0, a))
        if blk.nrows:
            firsts.append(blk.first_line)
        for k, v in enumerate(_values(blk, setup)):
            cols[k].extend(v)
    return cols, firsts


# A file exercising everything the line-boundary rule must survive: header, CRLF and LF, quotes with embedded
# separators, doubled quotes and embedded CR-less text, empty fields, NA strings, blank lines, no final newline.
TRICKY = (b'id,name,score,when\r\n'
          b'1,"Smith, J",3.5,2020-01-01\r\n'
          b'2,plain,NA,2020-01-02 10:00:00\n'
          b'\n'
          b'3,"say ""hi""",,2021-06-30\r\n'
          b'4,,-1e3,\n'
          b'   \r\n'
          b'5,"x,y,z",0.1,2000-02-29T12:30:00\n'
          b'6,plain,7,2020-01-01')
TRICKY_SETUP = ParseSetup(",", True, ["id", "name", "score", "when"], ["numeric", "enum", "numeric", "time"],
                          [[], [], ["NA"], []])


def test_tricky_whole_parse():
    blk = _whole(TRICKY, TRICKY_SETUP)
    assert blk.nrows == 6 and blk.first_line == 2
    ids, names, scores, whens = _values(blk, TRICKY_SETUP)
    assert ids == [1, 2, 3, 4, 5, 6]
    assert names == ["Smith, J", "plain", 'say "hi"', None, "x,y,z", "plain"]
    assert scores == [3.5, None, None, -1000.0, 0.1, 7.0]
    assert whens[0] == 1577836800000.0 and whens[3] is None
    codes, dom = blk.columns[1]
    assert dom == sorted(dom) and codes.dtype == np.int32 and codes[3] == -1


def test_every_two_way_split_equals_whole_parse():
    whole = _values(_whole(TRICKY, TRICKY_SETUP), TRICKY_SETUP)
    for cut in range(len(TRICKY) + 1):
        cols, firsts = _split_parse(TRICKY, TRICKY_SETUP, [cut])
        assert cols == whole, f"split at byte {cut}"
        assert firsts[0] == 2


def test_every_two_way_split_numeric_fast_path():
    buf = open(ECG / "ecg_discord_test.csv", "rb").read()[:6000]
    buf = buf[: buf.rindex(b"\n") + 1]
    setup = guess_setup(buf)
    whole = _values(_whole(buf, setup), setup)
    for cut in range(0, len(buf) + 1, 7):
        assert _split_parse(buf, setup, [cut])[0] == whole, f"split at byte {cut}"


@pytest.mark.parametrize("ending", [b"\n", b"\r\n", b"\r"])
def test_every_split_all_numeric_rows_crlf_and_unterminated_last_line(ending):
    rows = [b"1,-2.5,3", b"4,5,-0", b"007,.5,1e2", b"", b"8,9.25,10", b"11,12,13"]
    buf = ending.join(rows)          # no final line break: the last row ends at the buffer end
    setup = ParseSetup(",", False, ["a", "b", "c"], ["numeric"] * 3, [[]] * 3)
    whole = _values(_whole(buf, setup), setup)
    assert whole == [[1.0, 4.0, 7.0, 8.0, 11.0], [-2.5, 5.0, 0.5, 9.25, 12.0], [3.0, 0.0, 100.0, 10.0, 13.0]]
    for cut in range(len(buf) + 1):
        for cut2 in range(cut, len(buf) + 1, 5):
            assert _split_parse(buf, setup, [cut, cut2])[0] == whole, (cut, cut2)


def test_header_after_leading_blank_lines_in_any_range():
    buf = b"\n\r\n\n\na,b\n1,2\n\n3,4\n"
    setup = guess_setup(buf)
    assert setup.header and setup.column_names == ["a", "b"]
    whole = _whole(buf, setup)
    assert _values(whole, setup) == [[1.0, 3.0], [2.0, 4.0]] and whole.first_line == 6
    for cut in range(len(buf) + 1):
        cols, firsts = _split_parse(buf, setup, [cut])
        assert cols == [[1.0, 3.0], [2.0, 4.0]] and firsts[0] == 6, cut


def test_random_multi_way_splits_and_first_lines():
    rng = random.Random(1234)
    lines = ["a,b,c"] + [f"{i},{rng.choice(['u', 'v', 'w'])},{rng.random():.6g}" for i in range(300)]
    buf = ("\n".join(lines) + "\n").encode()
    setup = guess_setup(buf)
    whole = _values(_whole(buf, setup), setup)
    for _ in range(200):
        cuts = sorted(rng.sample(range(1, len(buf)), rng.choice([2, 3])))
        cols, firsts = _split_parse(buf, setup, cuts)
        assert cols == whole
        # first_line of each non-empty block is the line of its first row (row i is on line i + 2)
        bounds = [0, *cuts, len(buf)]
        expect = [1 + count_lines(buf, 0, a) + (a > 0 and buf[a - 1] != 10) + (a == 0)
                  for a, z in zip(bounds, bounds[1:])]
        got_rows = [parse_range(buf, a, z, setup, file_start_line=1 + count_lines(buf, 0, a)).nrows
                    for a, z in zip(bounds, bounds[1:])]
        assert firsts == [e for e, r in zip(expect, got_rows) if r]


@pytest.mark.parametrize("name", ["prostate.csv", "BostonHousing.csv", "cars.csv", "iris_wheader.csv"])
def test_real_files_match_pandas(name):
    buf = (SMALL / name).read_bytes()
    setup = guess_setup(buf)
    blk = _whole(buf, setup)
    df = pd.read_csv(io.BytesIO(buf))
    assert blk.nrows == len(df) and setup.column_names == list(df.columns)
    for k, t in enumerate(setup.column_types):
        ref = df.iloc[:, k]
        if t == "numeric":
            np.testing.assert_array_equal(blk.columns[k], ref.to_numpy(dtype=np.float64))
        else:
            codes, dom = blk.columns[k]
            assert [dom[c] for c in codes] == ref.tolist()


def test_ecg_matches_pandas():
    buf = (ECG / "ecg_discord_train.csv").read_bytes()
    setup = guess_setup(buf)
    blk = _whole(buf, setup)
    ref = pd.read_csv(io.BytesIO(buf), header=None).to_numpy(dtype=np.float64)
    assert blk.nrows == 20 and len(blk.columns) == 210
    np.testing.assert_array_equal(np.stack(blk.columns, axis=1), ref)


@pytest.mark.parametrize("ending", [b"\n", b"\r\n", b"\r"])
@pytest.mark.parametrize("final", [True, False])
def test_line_endings_and_final_newline(ending, final):
    rows = [b"1,x,\"q\"", b"2,,\"r\"", b"3,y,"]
    buf = ending.join(rows) + (ending if final else b"")
    setup = ParseSetup(",", False, ["a", "b", "c"], ["numeric", "string", "string"], [[], [], []])
    assert _values(_whole(buf, setup), setup) == [[1.0, 2.0, 3.0], ["x", None, "y"], ["q", "r", None]]


def test_a_bare_carriage_return_ends_a_line_as_in_h2o_and_pandas():
    """Classic Mac line ends (old Excel for Mac writes them): read as one record per line, not one long record
    (which made 1 row of garbled fields out of a whole file, without a word). Mixed with \\n and \\r\\n, with a
    header, blank lines and a quoted \\r kept as text, split at every byte: what pandas reads."""
    buf = b'id,name,x\r1,"a\rb",2.5\r\r2,c,3\n3,"d",4\r\n\r4,e,5\r'
    setup = guess_setup(buf)
    assert setup.header and setup.column_names == ["id", "name", "x"]
    want = pd.read_csv(io.BytesIO(buf))
    whole = _values(_whole(buf, setup), setup)
    assert whole == [want[c].tolist() for c in want.columns] == [[1.0, 2.0, 3.0, 4.0], ["a\rb", "c", "d", "e"],
                                                                 [2.5, 3.0, 4.0, 5.0]]
    for cut in range(len(buf) + 1):
        assert _split_parse(buf, setup, [cut])[0] == whole, f"split at byte {cut}"
    assert count_lines(buf) == 8 and count_lines(buf, 0, 13) == 1   # physical lines: the quoted \r is one too
    bad = b"a,b\r1,2\r3,4,5\r"
    with pytest.raises(ParseError, match=r"line 3, column 3: expected 2 fields, found more"):
        _whole(bad, ParseSetup(",", True, ["a", "b"], ["numeric"] * 2, [[], []]))


def test_numbers_a_double_cannot_hold_are_counted_as_rounded():
    """An integer beyond 2**53 (a 16-19 digit id: H2O keeps it exact up to 2**63) becomes the nearest double when
    its block holds fractions too (else it is kept exact in ``ints``) and a literal beyond the double range becomes
    inf: both counted per column, never silent. Exact big integers, decimal fractions and 1e308 are not counted."""
    body = (b'id\n9007199254740993\n9007199254740992\n-12345678901234567890123\n"9999999999999999"\n1e400\n'
            b'-1e400\n1e308\n0.1\n123456789012345678\n18014398509481984\n')
    setup = ParseSetup(",", True, ["id"], ["numeric"], [[]])
    for cuts in ([], [30], [60, 90]):
        blocks = [parse_range(body, a, z, setup) for a, z in zip([0, *cuts], [*cuts, len(body)])]
        values = [v for b in blocks for v in b.columns[0].tolist()]
        assert values == [float(t) for t in ["9007199254740993", "9007199254740992", "-12345678901234567890123",
                                             "9999999999999999", "1e400", "-1e400", "1e308", "0.1",
                                             "123456789012345678", "18014398509481984"]]
        counted = sum(b.rounded.get(0, [0])[0] + b.exact.get(0, [0])[0] for b in blocks)
        assert counted == 6, cuts                       # 2**53 + 1, the 23 digits, the quoted 16 nines, +-1e400,
        assert all(b.invalid == {} for b in blocks)     # 12345...78
    whole = parse_range(body, 0, len(body), setup)
    assert whole.rounded == {0: [6, "'9007199254740993'"]} and whole.ints == {}
    only_ints = b"id\n123456789012345678\n18014398509481984\n"      # a block of integers only keeps them exact
    ints = parse_range(only_ints, 0, len(only_ints), setup)
    assert ints.rounded == {} and ints.exact == {0: [1, "'123456789012345678'"]}
    assert ints.ints[0].tolist() == [123456789012345678, 18014398509481984]


def test_trailing_separator_blank_lines_bom_and_spaces():
    buf = b"\xef\xbb\xbfa;b\n\n1;2;\n 3 ; 4 \n\n"
    setup = guess_setup(buf)
    assert setup.sep == ";" and setup.column_names == ["a", "b"]
    assert _values(_whole(buf, setup), setup) == [[1.0, 3.0], [2.0, 4.0]]


def test_space_separated_runs():
    buf = b"  1   2.5  x\n3 4 y  \n"
    setup = guess_setup(buf)
    assert _values(_whole(buf, setup), setup)[:2] == [[1.0, 3.0], [2.5, 4.0]]


def test_na_strings_and_quoted_numbers():
    setup = ParseSetup(",", False, ["a", "b"], ["numeric", "enum"], [["NA", "-"], ["none"]])
    buf = b'NA,none\n"2.5",x\n-,"none"\n 7 ,y\n'
    assert _values(_whole(buf, setup), setup) == [[None, 2.5, None, 7.0], [None, "x", None, "y"]]


def test_number_edge_cases_match_float():
    toks = ["0", "-0", "+5", "007", ".5", "5.", "1e5", "1E-5", "-2.5e+3", "123456789012345678901234",
            "0.30000000000000004", "1.7976931348623157e308", "4.9e-324", "1e400", "9007199254740993",
            "0.000000000000000000000000000001", "12345678901234567890.5"]
    buf = ("\n".join(toks) + "\n").encode()
    setup = ParseSetup(",", False, ["x"], ["numeric"], [[]])
    got = _whole(buf, setup).columns[0]
    want = np.array([float(t) for t in toks])
    assert got.tobytes() == want.tobytes()   # bit-exact, including -0.0


@settings(max_examples=60, deadline=None)
@given(st.lists(st.floats(allow_nan=False, allow_infinity=False), min_size=1, max_size=30),
       st.sampled_from(["{!r}", "{:.3f}", "{:.17g}", "{:e}", "{:.0f}"]))
def test_random_floats_bit_exact(values, fmt):
    toks = [fmt.format(v) for v in values]
    buf = (",".join(toks) + "\n" + ",".join(reversed(toks)) + "\n").encode()
    setup = ParseSetup(",", False, [f"C{i}" for i in range(len(toks))], ["numeric"] * len(toks),
                       [[] for _ in toks])
    blk = _whole(buf, setup)
    got = np.array([[c[0], c[1]] for c in blk.columns])
    want = np.array([[float(a), float(b)] for a, b in zip(toks, reversed(toks))])
    assert got.tobytes() == want.tobytes()


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.floats(allow_nan=False, allow_infinity=False),
                          st.sampled_from(["{!r}", "{:.4f}", "{:.17g}", "{:.0f}", "{:e}"])), min_size=1, max_size=40))
def test_random_floats_bit_exact_in_mixed_file(items):
    # an enum column switches off the all-numeric row lane: the per-field path must be exact as well
    toks = [fmt.format(v) for v, fmt in items]
    buf = "".join(f"k{i % 3},{t}\n" for i, t in enumerate(toks)).encode()
    setup = ParseSetup(",", False, ["k", "x"], ["enum", "numeric"], [[], []])
    got = _whole(buf, setup).columns[1]
    assert got.tobytes() == np.array([float(t) for t in toks]).tobytes()


# ---------------------------------------------------------------- errors

NUM3 = ParseSetup(",", True, ["a", "b", "c"], ["numeric"] * 3, [["NA"]] * 3)


@pytest.mark.parametrize("body,line,column,msg", [
    (b"a,b,c\n1,2,3\n4,5\n", 3, 3, "expected 3 fields, found 2"),
    (b"a,b,c\n1,2,3\n4,5,6,7\n", 3, 4, "found more"),
    (b"a,b,c\n1,\"2,3\n", 2, 2, "unterminated"),
])
def test_parse_errors_name_line_and_column(body, line, column, msg):
    with pytest.raises(ParseError, match=msg) as ei:
        _whole(body, NUM3)
    assert (ei.value.line, ei.value.column) == (line, column)
    assert f"line {line}, column {column}" in str(ei.value)


def test_error_line_is_a_file_line_in_a_later_range():
    buf = b"a,b,c\n" + b"1,2,3\n" * 50 + b"1,2\n" + b"1,2,3\n" * 10
    start = 100   # inside line 17
    with pytest.raises(ParseError) as ei:
        parse_range(buf, start, len(buf), NUM3, file_start_line=1 + count_lines(buf, 0, start))
    assert (ei.value.line, ei.value.column) == (52, 3)


@pytest.mark.parametrize("body,column,count,shown", [
    (b"a,b,c\n1,2,3\n\n4,x5,6\n", 1, 1, "'x5'"),
    (b"a,b,c\r\n1,2,3\r\n4,5,1e\r\n7,8,1e\r\n", 2, 2, "'1e'"),
    (b"a,b,c\n1,2,\x003\n", 2, 1, "'\\x003'"),            # a NUL byte
    (b"a,b,c\n1,2,\xff\n", 2, 1, "'\\\\xff'"),               # an undecodable byte in a numeric field
])
def test_non_numbers_in_numeric_columns_become_na_and_are_counted(body, column, count, shown):
    blk = _whole(body, NUM3)
    assert blk.invalid == {column: [count, shown]}
    assert np.isnan(blk.columns[column][-1])


def test_long_fields_are_cut_in_messages_and_reports():
    blk = _whole(b"a,b,c\n1,2," + b"y" * 1_000_000 + b"\n", NUM3)
    count, shown = blk.invalid[2]
    assert count == 1 and len(shown) < 120 and "1,000,000 characters" in shown
    with pytest.raises(ParseError) as ei:
        _whole(b"a,b,c\n1,2,3,\"" + b"y" * 1_000_000 + b"\"\n", NUM3)
    assert len(str(ei.value)) < 200


def test_error_from_an_mmap_lets_the_caller_close_it(tmp_path):
    import mmap
    p = tmp_path / "bad.csv"
    p.write_bytes(b"a,b,c\n1,2,3\n4,5\n")
    with open(p, "rb") as fh:
        with pytest.raises(ParseError, match="line 3, column 3"):
            with mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ) as buf:
                try:
                    parse_range(buf, 0, len(buf), NUM3)
                except ParseError as exc:   # re-raise as an importer does, inside the with block
                    raise ParseError(exc.line, exc.column, "in bad.csv: " + str(exc)) from None


def test_enum_error_for_quote_junk_and_bad_dates_counted():
    s = ParseSetup(",", False, ["e"], ["enum"], [[]])
    with pytest.raises(ParseError, match="line 2, column 1"):
        _whole(b'a\n"b"c\n', s)
    t = ParseSetup(",", False, ["t"], ["time"], [[]])
    blk = _whole(b"2020-01-01\ntomorrow\n", t)
    assert blk.invalid == {0: [1, "'tomorrow'"]} and np.isnan(blk.columns[0][1])


def test_undecodable_text_is_refused_with_its_byte_offset_or_decoded_with_the_encoding():
    body = "a,b\n1,caf\u00e9\n2,x\n".encode("latin-1")
    s = ParseSetup(",", True, ["a", "b"], ["numeric", "string"], [[], []])
    with pytest.raises(ParseError, match=r"line 2, column 2, byte 9: bytes b'\\xe9' are not valid utf-8"):
        _whole(body, s)
    s1 = ParseSetup(",", True, ["a", "b"], ["numeric", "string"], [[], []], encoding="latin-1")
    assert _whole(body, s1).columns[1] == ["caf\u00e9", "x"]
    with pytest.raises(ValueError, match="does not keep ASCII bytes"):
        ParseSetup(",", True, ["a"], ["numeric"], [[]], encoding="utf-16")


def test_quoted_fields_may_hold_line_breaks_across_every_split():
    buf = b'id,text\r\n1,"two\r\nlines, and ""quotes"""\n2,"\n"\n\n3,plain\n4,"x\n\ny"'
    s = guess_setup(buf)
    assert s.column_names == ["id", "text"] and s.column_types == ["numeric", "string"]
    want = [[1.0, 2.0, 3.0, 4.0], ['two\r\nlines, and "quotes"', "\n", "plain", "x\n\ny"]]
    assert _values(_whole(buf, s), s) == want
    for cut in range(len(buf) + 1):
        for cut2 in range(cut, len(buf) + 1, 3):
            assert _split_parse(buf, s, [cut, cut2])[0] == want, (cut, cut2)


def test_bad_arguments():
    with pytest.raises(ValueError, match="bad range"):
        parse_range(b"1\n", 0, 5, NUM3)
    with pytest.raises(ValueError, match="setup must be a ParseSetup"):
        parse_range(b"1\n", 0, 2, {"sep": ","})


def test_memoryview_input_and_count_lines():
    buf = bytearray(b"1,2,3\n4,5,6\n")
    setup = ParseSetup(",", False, ["a", "b", "c"], ["numeric"] * 3, [[]] * 3)
    assert parse_range(memoryview(buf), 0, len(buf), setup).columns[2].tolist() == [3.0, 6.0]
    assert count_lines(buf) == 2 and count_lines(buf, 1, 6) == 1


def test_unify_domains():
    glob, maps = unify_domains([["b", "d"], ["a", "b"], []])
    assert glob == ["a", "b", "d"]
    assert [m.tolist() for m in maps] == [[1, 2], [0, 1], []]


# ---------------------------------------------------------------- Fashion-MNIST converter

@pytest.mark.skipif(not FMNIST.exists(), reason="dataset-fashion-mnist not installed")
def test_fmnist_converter_round_trip(tmp_path, capsys):
    assert fmnist_to_csv.main(["--src", str(FMNIST), "--out", str(tmp_path), "--limit", "40"]) == 0
    csv = tmp_path / "fmnist_train_40.csv"
    buf = csv.read_bytes()
    assert buf.count(b"\n") == 40 and b"\r" not in buf and buf.endswith(b"\n")
    setup = guess_setup(buf)
    assert setup.ncols == 785 and not setup.header and set(setup.column_types) == {"numeric"}
    blk = _whole(buf, setup)
    images = fmnist_to_csv.load_idx(FMNIST / "train-images-idx3-ubyte.gz")[:40]
    labels = fmnist_to_csv.load_idx(FMNIST / "train-labels-idx1-ubyte.gz")[:40]
    got = np.stack(blk.columns, axis=1)
    np.testing.assert_array_equal(got[:, :784], images.reshape(40, -1))
    np.testing.assert_array_equal(got[:, 784], labels)
    assert (tmp_path / "fmnist_test_40.csv").read_bytes().count(b"\n") == 40
    assert not (tmp_path / "fmnist_train.csv").exists() and not (tmp_path / "fmnist_test.csv").exists()
    # up to date -> kept; --force rewrites
    capsys.readouterr()
    fmnist_to_csv.main(["--src", str(FMNIST), "--out", str(tmp_path), "--limit", "40"])
    assert "up to date" in capsys.readouterr().out
    fmnist_to_csv.main(["--src", str(FMNIST), "--out", str(tmp_path), "--limit", "40", "--force"])
    assert "written" in capsys.readouterr().out


def _fake_idx(src, prefix: str, n: int, seed: int) -> None:
    """gzip IDX files of ``n`` 2x2 images and their labels, as the Debian package's."""
    import gzip
    rng = np.random.default_rng(seed)
    with gzip.open(src / f"{prefix}-images-idx3-ubyte.gz", "wb") as f:
        f.write(b"\x00\x00\x08\x03" + np.array([n, 2, 2], ">u4").tobytes()
                + rng.integers(0, 256, (n, 2, 2), dtype=np.uint8).tobytes())
    with gzip.open(src / f"{prefix}-labels-idx1-ubyte.gz", "wb") as f:
        f.write(b"\x00\x00\x08\x01" + np.array([n], ">u4").tobytes() + rng.integers(0, 10, n, dtype=np.uint8).tobytes())


def test_a_limited_conversion_never_touches_the_full_files(tmp_path, capsys):
    """``trial_run --limit 10000`` rewrote data/fmnist_train.csv with 10,000 rows, which the quick start and the
    benchmarks then read as the data set: a cut file has its own name, and each file is still written once."""
    src, out = tmp_path / "src", tmp_path / "out"
    src.mkdir()
    _fake_idx(src, "train", 60, 1)
    _fake_idx(src, "t10k", 10, 2)
    full = fmnist_to_csv.convert(src, out)
    assert {k: (p.name, w) for k, (p, w) in full.items()} == {"train": ("fmnist_train.csv", True),
                                                             "test": ("fmnist_test.csv", True)}
    before = {p.name: (p.read_bytes(), p.stat().st_mtime_ns) for p in out.iterdir()}
    cut = fmnist_to_csv.convert(src, out, limit=10)
    assert cut["train"] == (out / "fmnist_train_10.csv", True)
    assert cut["test"] == (out / "fmnist_test.csv", False)         # a limit at its size: the full file, kept
    assert {p.name: (p.read_bytes(), p.stat().st_mtime_ns) for p in out.iterdir() if p.name in before} == before
    full_lines = (out / "fmnist_train.csv").read_bytes().splitlines()
    assert len(full_lines) == 60 and (out / "fmnist_train_10.csv").read_bytes().splitlines() == full_lines[:10]
    # up to date -> reused, the cut and the full file alike; the command line says which it wrote
    assert fmnist_to_csv.convert(src, out, limit=10)["train"] == (out / "fmnist_train_10.csv", False)
    assert fmnist_to_csv.convert(src, out)["train"] == (out / "fmnist_train.csv", False)
    capsys.readouterr()
    assert fmnist_to_csv.main(["--src", str(src), "--out", str(out), "--limit", "20"]) == 0
    said = capsys.readouterr().out
    assert f"train: {out / 'fmnist_train_20.csv'} (written)" in said and "fmnist_test.csv (up to date, kept)" in said
    # a full file cut short by an older version (same name, fewer rows) is written again in full
    (out / "fmnist_train.csv").write_bytes(b"\n".join(full_lines[:10]) + b"\n")
    assert fmnist_to_csv.convert(src, out)["train"] == (out / "fmnist_train.csv", True)
    assert (out / "fmnist_train.csv").read_bytes().splitlines() == full_lines


def test_the_frames_benchmark_does_not_measure_a_cut_file(tmp_path, monkeypatch, capsys):
    """``tools.bench.frames``/``mrtask`` converted only when data/fmnist_train.csv was missing, so a file cut by an
    older ``--limit`` run was benchmarked as the data set; it is checked (and written again) like any output."""
    from tools.bench import frames
    src, out = tmp_path / "src", tmp_path / "data"
    src.mkdir()
    _fake_idx(src, "train", 30, 3)
    _fake_idx(src, "t10k", 5, 4)
    monkeypatch.setattr(fmnist_to_csv, "DEFAULT_SRC", str(src))
    monkeypatch.setattr(frames, "DEFAULT_CSV", out / "fmnist_train.csv")
    assert frames.ensure_csv(None) == out / "fmnist_train.csv"
    assert "missing: converting" in capsys.readouterr().err
    lines = (out / "fmnist_train.csv").read_bytes().splitlines()
    (out / "fmnist_train.csv").write_bytes(b"\n".join(lines[:7]) + b"\n")        # cut short, newer than the IDX
    assert frames.ensure_csv(None) == out / "fmnist_train.csv"
    assert (out / "fmnist_train.csv").read_bytes().splitlines() == lines and "written" in capsys.readouterr().err
    stamp = (out / "fmnist_train.csv").stat().st_mtime_ns
    frames.ensure_csv(None)                                                         # up to date: kept, silently
    assert (out / "fmnist_train.csv").stat().st_mtime_ns == stamp and capsys.readouterr().err == ""


def test_load_idx_rejects_bad_magic(tmp_path):
    p = tmp_path / "bad.idx"
    p.write_bytes(b"\x00\x00\x0d\x01\x00\x00\x00\x01\x05")
    with pytest.raises(ValueError, match="not an IDX file"):
        fmnist_to_csv.load_idx(p)
    p.write_bytes(b"\x00\x00\x08\x01\x00\x00\x00\x05\x01")
    with pytest.raises(ValueError, match="expected 5 data bytes"):
        fmnist_to_csv.load_idx(p)


def test_write_csv_checks_shapes(tmp_path):
    with pytest.raises(ValueError, match="same number of rows"):
        fmnist_to_csv.write_csv(np.zeros((2, 2, 2), np.uint8), np.zeros(3, np.uint8), tmp_path / "x.csv")


def test_boundary_maps_compose_to_the_true_record_starts():
    from frame.csv_records import record_starts
    s = ParseSetup(",", False, ["a", "b"], ["string", "numeric"], [[], []])
    buf = b'x,1\n"y\nz",2\n"""q""\n",3\nw,4'
    truth = [0, 4, 12, 23]                              # the record starts (the line breaks at 6 and 18 are quoted)
    for cut in range(1, len(buf)):
        for cut2 in range(cut, len(buf) + 1):
            starts = record_starts(buf, [0, cut, cut2, len(buf)], s)
            assert starts[1:] == [min([t for t in truth if t >= c] + [e]) for c, e in ((cut, cut2), (cut2, len(buf)))]
