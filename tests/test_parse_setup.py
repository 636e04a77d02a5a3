"""Setup guessing (frame.parse_setup) on real H2O files and synthetic CSVs."""
from pathlib import Path

import msgpack
import numpy as np
import pytest

from frame.csv_parser import ParseError, parse_range
from frame.parse_setup import (NA_LIKE, ParseSetup, guess_setup, normalize_type, parse_number, parse_time,
                                split_fields)
from cloudkit import DATA, SMALL

ECG = DATA / "ecg"


def _guess(path: Path, **kw) -> ParseSetup:
    return guess_setup(path.read_bytes()[: 4 << 20], **kw)


# ---------------------------------------------------------------- real files

def test_prostate():
    s = _guess(SMALL / "prostate.csv")
    assert (s.sep, s.header) == (",", True)
    assert s.column_names == ["ID", "CAPSULE", "AGE", "RACE", "DPROS", "DCAPS", "PSA", "VOL", "GLEASON"]
    assert s.column_types == ["numeric"] * 9


def test_iris_with_header():
    s = _guess(SMALL / "iris_wheader.csv")
    assert (s.sep, s.header) == (",", True)
    assert s.column_names == ["sepal_len", "sepal_wid", "petal_len", "petal_wid", "class"]
    assert s.column_types == ["numeric"] * 4 + ["enum"]


def test_cars_names_with_spaces_and_parentheses():
    s = _guess(SMALL / "cars.csv")
    assert (s.sep, s.header) == (",", True)
    assert s.column_names == ["name", "economy (mpg)", "cylinders", "displacement (cc)", "power (hp)",
                              "weight (lb)", "0-60 mph (s)", "year"]
    # 306 distinct names in 406 rows (< 95 % unique) -> Enum, as H2O guesses it
    assert s.column_types == ["enum"] + ["numeric"] * 7


def test_boston_housing():
    s = _guess(SMALL / "BostonHousing.csv")
    assert (s.sep, s.header) == (",", True)
    assert s.column_names[0] == "crim" and s.column_names[-1] == "medv" and len(s.column_names) == 14
    assert s.column_types == ["numeric"] * 14


@pytest.mark.parametrize("name", ["ecg_discord_train.csv", "ecg_discord_test.csv"])
def test_ecg_no_header(name):
    s = _guess(ECG / name)
    assert (s.sep, s.header) == (",", False)
    assert s.column_names == [f"C{i}" for i in range(1, 211)]
    assert s.column_types == ["numeric"] * 210


def test_quoted_header_names_survive():
    s = guess_setup(b'"economy (mpg)","0-60 mph (s)",name\n1,2,"a, b"\n3,4,"a, b"\n')
    assert s.header and s.column_names == ["economy (mpg)", "0-60 mph (s)", "name"]


# ---------------------------------------------------------------- separators

@pytest.mark.parametrize("sep", ["\x01", ",", ";", "|", "\t"])
def test_separator_candidates(sep):
    data = sep.join(["a", "b", "c"]) + "\n" + "\n".join(sep.join(["1", "2.5", "x"]) for _ in range(5)) + "\n"
    s = guess_setup(data.encode())
    assert s.sep == sep and s.column_names == ["a", "b", "c"]


def test_multiple_spaces_are_one_separator():
    s = guess_setup(b"1   2  3\n  4 5     6\n7 8 9\n")
    assert s.sep == " " and s.column_names == ["C1", "C2", "C3"] and not s.header


def test_separator_counting_is_quote_aware():
    # commas only inside quotes; ';' is the real separator
    s = guess_setup(b'"a,b";c\n"1,2";3\n"4,5";6\n')
    assert s.sep == ";" and s.column_names == ["a,b", "c"]


def test_first_candidate_wins_ties():
    # both ',' (2 fields) and ' ' (2 fields) are consistent: ',' comes first in H2O's order
    assert guess_setup(b"a b,c\nd e,f\n").sep == ","


def test_trailing_separator_is_not_a_column():
    s = guess_setup(b"a,b\n1,2,\n3,4,\n")
    assert s.column_names == ["a", "b"]


# ---------------------------------------------------------------- header

@pytest.mark.parametrize("header,expect", [(None, True), (0, True), (1, True), (True, True),
                                           (-1, False), (False, False)])
def test_header_forced_or_guessed(header, expect):
    s = guess_setup(b"x,y\n1,2\n", header=header)
    assert s.header is expect
    assert s.column_names == (["x", "y"] if expect else ["C1", "C2"])


def test_no_header_when_second_line_is_strings_too():
    s = guess_setup(b"a,b\nc,d\nc,e\n")
    assert not s.header and s.column_names == ["C1", "C2"]


def test_bad_header_value():
    with pytest.raises(ValueError, match="header"):
        guess_setup(b"1,2\n", header=2)


def test_empty_header_names_become_Cn():
    s = guess_setup(b",b,\n1,2,3\n")
    assert s.header and s.column_names == ["C1", "b", "C3"]


def test_duplicate_header_names_raise():
    with pytest.raises(ValueError, match="duplicate column names"):
        guess_setup(b"a,a\n1,2\n")


# ---------------------------------------------------------------- types and NA

def test_type_guesses():
    rows = ["n,e,s,t,z"] + [f"{i},{'xyz'[i % 3]},id{i},2020-01-{i % 28 + 1:02d},{i * 0.5}" for i in range(40)]
    s = guess_setup(("\n".join(rows) + "\n").encode())
    assert s.column_types == ["numeric", "enum", "string", "time", "numeric"]


def test_numeric_with_na_like_and_stray_token():
    # H2O calls a column of numbers plus one repeated stray string numeric (the string becomes NA); the stray
    # string is NOT an NA string: the parser counts it as an invalid value, so the import reports it
    s = guess_setup(b"a,b\n1,?\n2,3\nNA,?\n4,5\n")
    assert s.column_types == ["numeric", "numeric"]
    assert "NA" in s.na_strings[0] and "?" not in s.na_strings[1]
    body = b"a,b\n1,?\n2,3\nNA,?\n4,5\n"
    blk = parse_range(body, 0, len(body), s)
    assert blk.invalid == {1: [2, "'?'"]}


def test_enum_zeros_stay_levels_and_na_spellings_are_na_in_numeric_columns_only():
    s = guess_setup(b"c\na\n0\nb\na\nb\n0\n")
    assert s.column_types == ["enum"] and "0" not in s.na_strings[0]   # no silent "0 -> NA" (H2O's rule)
    s = guess_setup(b"a,b,c\nx,1,y\nz,2,y\n", col_types={"c": "time"})
    assert s.na_strings[0] == [] and set(NA_LIKE) <= set(s.na_strings[1]) and set(NA_LIKE) <= set(s.na_strings[2])


def test_na_spellings_in_text_columns_stay_text_as_in_h2o():
    """Na is sodium and NA Namibia: H2O 3.46 keeps all nine NA_LIKE spellings as levels of an enum column (and
    as strings), only the empty field is NA; they used to become NA here, silently. In a numeric column they are
    NA; a user's na_strings are NA everywhere."""
    body = b"elem,v\nNa,1\nK,NA\nNa,3\nNA,null\n,5\nK,6\n"
    s = guess_setup(body)
    assert s.column_types == ["enum", "numeric"]
    blk = parse_range(body, 0, len(body), s)
    codes, dom = blk.columns[0]
    assert [None if c < 0 else dom[c] for c in codes] == ["Na", "K", "Na", "NA", None, "K"]
    assert np.isnan(blk.columns[1]).tolist() == [False, True, False, True, False, False] and blk.invalid == {}
    s = guess_setup(body, col_types={"elem": "string"}, na_strings={"elem": ["Na"]})
    assert parse_range(body, 0, len(body), s).columns[0] == [None, "K", None, "NA", None, "K"]


def test_na_strings_that_are_numbers_make_those_values_na():
    """pandas' rule (na_values=["-999"] also matches -999.0); H2O 3.46 ignores such na_strings silently."""
    body = b"a,b\n1,-999\n-999,4\n3,-999.0\n-999.5,-9990\n"
    s = guess_setup(body, na_strings={"b": ["-999"]})
    blk = parse_range(body, 0, len(body), s)
    assert np.isnan(blk.columns[1]).tolist() == [True, False, True, False] and blk.invalid == {}
    for as_number in ({"b": -999}, {"b": [-999]}):         # numbers as pandas takes them ([-999] once read as
        s = guess_setup(body, na_strings=as_number)        # "one list per column" and refused)
        assert np.isnan(parse_range(body, 0, len(body), s).columns[1]).tolist() == [True, False, True, False]
    assert "-999" in guess_setup(body, na_strings=[-999]).na_strings[0]
    assert blk.columns[0].tolist() == [1, -999, 3, -999.5]

def test_user_na_strings_list_and_dict():
    s = guess_setup(b"a,b\n1,x\n-999,y\n2,x\n", na_strings=["-999"])
    assert all("-999" in n for n in s.na_strings)
    s = guess_setup(b"a,b\n1,x\n-999,y\n2,x\n", na_strings={"b": ["y"]})
    assert "y" in s.na_strings[1] and "y" not in s.na_strings[0]
    with pytest.raises(ValueError, match="unknown column 'zz'"):
        guess_setup(b"a,b\n1,2\n", na_strings={"zz": ["y"]})


@pytest.mark.parametrize("spelling,expect", [("Numeric", "numeric"), ("real", "numeric"), ("int", "numeric"),
                                             ("Enum", "enum"), ("factor", "enum"), ("String", "string"),
                                             ("Time", "time")])
def test_col_types_h2o_spellings(spelling, expect):
    s = guess_setup(b"a,b\n1,2\n3,4\n", col_types={"b": spelling})
    assert s.column_types == ["numeric", expect]
    assert guess_setup(b"a,b\n1,2\n", col_types=[None, spelling]).column_types[1] == expect


def test_col_types_errors():
    with pytest.raises(ValueError, match="unknown column type 'UUIDX'"):
        guess_setup(b"a\n1\n", col_types=["UUIDX"])
    with pytest.raises(ValueError, match="col_types has 1 entries but the file has 2 columns"):
        guess_setup(b"a,b\n1,2\n", col_types=["enum"])
    with pytest.raises(ValueError, match="column index 5 out of range"):
        guess_setup(b"a,b\n1,2\n", col_types={5: "enum"})


def test_column_names_override_and_length_check():
    s = guess_setup(b"1,2\n3,4\n", column_names=["p", "q"], col_types={"q": "enum"})
    assert s.column_names == ["p", "q"] and s.column_types == ["numeric", "enum"]
    with pytest.raises(ValueError, match="column_names has 3 names but the file has 2 columns"):
        guess_setup(b"1,2\n", column_names=["a", "b", "c"])


def test_empty_sample_raises():
    with pytest.raises(ValueError, match="empty sample"):
        guess_setup(b"\n\n")


# ---------------------------------------------------------------- ParseSetup record and helpers

def test_to_dict_is_msgpack_safe():
    s = _guess(SMALL / "cars.csv")
    d = msgpack.unpackb(msgpack.packb(s.to_dict()))
    assert ParseSetup.from_dict(d) == s
    with pytest.raises(ValueError, match="unexpected"):
        ParseSetup.from_dict({**s.to_dict(), "evil": 1})


def test_parse_setup_validation():
    with pytest.raises(ValueError, match="same length"):
        ParseSetup(",", False, ["a", "b"], ["numeric"], [[], []])
    with pytest.raises(ValueError, match="quote"):
        ParseSetup(",", False, ["a"], ["numeric"], [[]], quote=",")
    with pytest.raises(ValueError, match="header must be a bool"):
        ParseSetup(",", 1, ["a"], ["numeric"], [[]])


def test_helpers():
    assert split_fields(' 1  "a b"  2 ', " ") == ["1", "a b", "2"]
    assert split_fields('"x""y",z', ",") == ['x"y', "z"]
    with pytest.raises(ValueError, match="unterminated quote"):
        split_fields('"abc,d', ",")
    assert parse_number("1e-3") == 1e-3 and parse_number(".5") == 0.5 and parse_number("inf") is None
    assert parse_time("2020-02-30") is None and parse_time("2000-01-01 00:00:00") == 946684800000.0
    assert normalize_type("Categorical") == "enum"


def test_doctests():
    import doctest

    import frame.parse_setup
    res = doctest.testmod(frame.parse_setup)
    assert res.failed == 0 and res.attempted > 0


def test_a_ragged_line_is_the_one_the_error_names():
    """The column count was the sample's longest record, so one line with a field too many made every good line
    'one field short' and the error named line 2; now the most common count decides (pandas names line 3 too)."""
    body = b"a,b,c\n1,2,3\n4,5,6,7\n6,7,8\n"
    s = guess_setup(body)
    assert s.column_names == ["a", "b", "c"]
    with pytest.raises(ParseError, match="line 3, column 4: expected 3 fields, found more"):
        parse_range(body, 0, len(body), s)


def test_a_setup_from_the_network_that_is_not_a_dict_is_a_clean_value_error():
    """The protocol fuzz test sent ParseTask with an empty state: from_dict(None) raised TypeError inside the map."""
    import pytest as _pytest
    from frame.parse_setup import ParseSetup
    for bad in (None, [], "sep"):
        with _pytest.raises(ValueError, match="bad ParseSetup: expected a dict"):
            ParseSetup.from_dict(bad)
