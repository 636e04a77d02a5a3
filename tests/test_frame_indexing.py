"""Frame column indexing as h2o-py's H2OFrame: ``fr[int]``, ``fr[[0, 2]]``, negative indexes, ``fr[int] = column``.

Issue 11: ``fr[1] = fr[1].asfactor()`` (the booklet's ``train[,785] <- as.factor(...)`` in h2o-py) appended a
new column named ``1`` and left column 1 numeric. Reads follow h2o-py (Rapids' ``cols_py``): a negative index
counts from the end; a name or index that matches nothing raises ``KeyError`` naming the frame's columns.
Assignment by a new name appends (as h2o-py); assignment by an out-of-range index raises.
"""
import numpy as np
import pytest

import frame
from cloudkit import SMALL
from frame import Frame

A = np.column_stack([np.arange(6.0), np.arange(6) % 3, -np.arange(6.0)])     # columns a, b, c


@pytest.fixture
def fr(one):
    f = Frame.from_numpy(A, names=["a", "b", "c"])
    yield f
    f.remove()


def test_int_assignment_replaces_the_column_in_place(fr):
    fr[1] = fr[1].asfactor()
    assert fr.names == ["a", "b", "c"]                                    # no column "1" appended
    assert fr.types == {"a": "numeric", "b": "enum", "c": "numeric"}
    assert fr.domains["b"] == ["0", "1", "2"]
    stored = frame.get_frame(fr.key)                                      # the header in the DKV says so too
    assert stored.names == ["a", "b", "c"] and stored.types["b"] == "enum"
    assert fr.as_pandas()["b"].astype(str).tolist() == [str(int(v)) for v in A[:, 1]]

    fr[-1] = fr[-1].asfactor()                                            # negative: from the end
    assert fr.names == ["a", "b", "c"] and fr.types["c"] == "enum"
    fr[np.int64(0)] = fr["a"].asfactor()                                  # a numpy integer is an index too
    assert fr.types["a"] == "enum" and fr.ncols == 3


def test_the_booklets_asfactor_by_index_on_real_data(one):
    p = frame.import_file(str(SMALL / "prostate.csv"))
    try:
        assert p.names[1] == "CAPSULE" and p.types["CAPSULE"] == "numeric"
        p[1] = p[1].asfactor()
        assert p.ncols == 9 and p.names[1] == "CAPSULE"
        assert p.types["CAPSULE"] == "enum" and p.domains["CAPSULE"] == ["0", "1"]
    finally:
        p.remove()


def test_reads_by_index_list_negative_and_slice(fr):
    assert fr[0].names == ["a"] and fr[2].names == ["c"]
    assert fr[-1].names == ["c"] and fr[-3].names == ["a"]
    assert fr[np.int64(1)].names == ["b"]
    assert fr[[0, 2]].names == ["a", "c"] and fr[[2, 0]].names == ["c", "a"]
    assert fr[[0, -1]].names == ["a", "c"] and fr[["c", "a"]].names == ["c", "a"]
    assert fr[["a", 1]].names == ["a", "b"]                               # names and indexes mixed
    assert fr[1:].names == ["b", "c"] and fr[:-1].names == ["a", "b"] and fr[::2].names == ["a", "c"]
    np.testing.assert_array_equal(fr[[0, 2]].as_numpy(), A[:, [0, 2]])
    np.testing.assert_array_equal(fr[-1].as_numpy()[:, 0], A[:, 2])
    assert [fr.col_index(c) for c in ("b", 1, -2, np.int32(-1))] == [1, 1, 1, 2]


def test_column_positions_follow_the_frame_as_it_changes(fr):
    # col_index looks names up in a map built once per header: a new column (a new header) must show in it
    wide = fr[["a", "b", "c"]]
    assert wide.col_index("c") == 2
    wide["d"] = wide["a"]
    assert wide.col_index("d") == 3 and wide.mr_layout(["d", "a"])["vecs"] == [wide.vecs[3], wide.vecs[0]]
    with pytest.raises(KeyError, match="no column 'e'"):
        wide.col_index("e")


@pytest.mark.parametrize("item", ["nope", 3, -4, 100, [0, 3], ["a", "nope"], [-4]])
def test_a_name_or_index_matching_nothing_raises_keyerror_naming_the_columns(fr, item):
    with pytest.raises(KeyError) as e:
        fr[item]
    msg = str(e.value)
    assert fr.key in msg and "['a', 'b', 'c']" in msg
    bad = item if not isinstance(item, list) else next(i for i in item if i not in ("a", 0))
    assert repr(bad) in msg or f"index {bad}" in msg


@pytest.mark.parametrize("item", [1.0, True, None, (0, 1), {"a"}])
def test_other_selectors_are_refused(fr, item):
    with pytest.raises(TypeError):
        fr[item]


def test_new_name_appends_and_an_out_of_range_index_raises(fr):
    fr["d"] = fr["a"].asfactor()                                          # a new name appends, as h2o-py
    assert fr.names == ["a", "b", "c", "d"] and fr.types["d"] == "enum" and fr.types["a"] == "numeric"
    assert frame.get_frame(fr.key).names == ["a", "b", "c", "d"]
    col = fr["b"].asfactor()
    try:
        for bad in (4, -5, 100):
            with pytest.raises(KeyError, match=r"column index .* in frame .*\['a', 'b', 'c', 'd'\]"):
                fr[bad] = col
        with pytest.raises(TypeError):
            fr[1.0] = col
        assert fr.names == ["a", "b", "c", "d"] and fr.types["b"] == "numeric"   # nothing changed
        assert frame.get_frame(fr.key).names == ["a", "b", "c", "d"]
    finally:
        col.remove()


def test_h2o_py_conveniences_nrow_ncol_dim_frame_id_nlevels_drop_tail_describe(fr, capsys):
    """What an h2o-py user types on a frame: nrow, ncol, dim, frame_id, nlevels(), drop(), tail(), describe()."""
    fr["b"] = fr["b"].asfactor()
    assert (fr.nrow, fr.ncol, fr.dim, fr.frame_id) == (6, 3, [6, 3], fr.key)
    assert fr.nlevels() == [0, 3, 0]
    assert fr.drop("b").names == ["a", "c"] and fr.drop([0, "c"]).names == ["b"] and fr.drop(-1).names == ["a", "b"]
    np.testing.assert_array_equal(fr.drop("b").as_numpy(), A[:, [0, 2]])     # a view of the same data
    with pytest.raises(KeyError, match="no column 'z'"):
        fr.drop("z")
    with pytest.raises(ValueError, match="only columns can be dropped"):
        fr.drop(0, axis=0)
    tail = fr.tail(2)
    assert tail["a"].tolist() == [4.0, 5.0] and list(tail.index) == [0, 1] and len(fr.tail(100)) == 6
    assert len(fr.tail(0)) == 0
    fr.describe()
    out = capsys.readouterr().out
    assert out.startswith("Rows: 6  Cols: 3") and "mean" in out and "enum" in out
