"""DataInfo: H2O's DL input layout, transforms, NA handling, hashing and state round trip."""
from __future__ import annotations

import doctest
import math
import time

import msgpack
import numpy as np
import pandas as pd
import pytest

import algos.datainfo
from algos.datainfo import (HASHED_COLUMN, ColumnInfo, DataInfo, hash_buckets, merge_moments,
                            murmur3_slots, weighted_moments)
from cloudkit import SMALL

PROSTATE = SMALL / "prostate.csv"
NAN = math.nan


def enum(name, codes, domain, **kw):
    return ColumnInfo.from_values(name, np.asarray(codes, dtype=np.float64), domain=domain, **kw)


def num(name, values, **kw):
    return ColumnInfo.from_values(name, np.asarray(values, dtype=np.float64), **kw)


def build(preds, response=None, **kw):
    return DataInfo.build(preds, response, **kw)


# a small frame: frame order is x, small (2 levels), y, big (4 levels), mid (3 levels)
X_VALS = np.array([1.0, 2.0, 3.0, 6.0])
Y_VALS = np.array([10.0, 10.0, 20.0, NAN])
SMALL = np.array([0, 1, 1, 0.0])
BIG = np.array([0, 1, 2, 3.0])
MID = np.array([2, 1, 0, NAN])


def frame_infos():
    return [num("x", X_VALS), enum("small", SMALL, ["a", "b"]), num("y", Y_VALS),
            enum("big", BIG, ["p", "q", "r", "s"]), enum("mid", MID, ["u", "v", "w"])]


def frame_cols():
    return [X_VALS, SMALL, Y_VALS, BIG, MID]


# ---------------------------------------------------------------------------------------------------
# layout
# ---------------------------------------------------------------------------------------------------
def test_layout_categoricals_by_decreasing_cardinality_then_numerics():
    di = build(frame_infos())
    assert di.cat_names == ["big", "mid", "small"]
    assert di.num_names == ["x", "y"]
    assert di.columns == ["x", "small", "y", "big", "mid"]          # transform's input order: the frame's
    assert di.cat_offsets.tolist() == [0, 5, 9, 12]                 # K + 1 NA slot each
    assert di.num_start == 12 and di.n_inputs == 14


def test_equal_cardinality_keeps_frame_order():
    di = build([enum("b2", [0, 1], ["x", "y"]), enum("a3", [0, 1, 2], ["x", "y", "z"]),
                enum("c2", [1, 0], ["x", "y"])])
    assert di.cat_names == ["a3", "b2", "c2"]


def test_slot_counts_without_all_factor_levels():
    di = build(frame_infos(), use_all_factor_levels=False)
    assert di.cat_offsets.tolist() == [0, 4, 7, 9]                  # K - 1 + 1 NA slot each
    assert di.n_inputs == 11


def test_coef_names_follow_h2o():
    di = build(frame_infos(), use_all_factor_levels=False)
    assert di.coef_names == ["big.q", "big.r", "big.s", "big.missing(NA)", "mid.v", "mid.w",
                             "mid.missing(NA)", "small.b", "small.missing(NA)", "x", "y"]
    full = build(frame_infos())
    assert full.coef_names[:5] == ["big.p", "big.q", "big.r", "big.s", "big.missing(NA)"]
    assert full.reconstruction_names()[-1] == "reconstr_y"
    assert full.expanded_to_column() == ["big"] * 5 + ["mid"] * 4 + ["small"] * 3 + ["x", "y"]


# ---------------------------------------------------------------------------------------------------
# one-hot encoding
# ---------------------------------------------------------------------------------------------------
def test_one_hot_rows_and_na_bucket():
    di = build(frame_infos(), transform="NONE")
    x, keep = di.transform(frame_cols())
    assert x.dtype == np.float32 and x.flags.c_contiguous and x.shape == (4, 14)
    assert keep.all()
    names = di.coef_names
    for r in range(4):
        hot = {names[i] for i in np.flatnonzero(x[r, :12])}
        expect = {f"big.{'pqrs'[int(BIG[r])]}", f"small.{'ab'[int(SMALL[r])]}",
                  "mid.missing(NA)" if np.isnan(MID[r]) else f"mid.{'uvw'[int(MID[r])]}"}
        assert hot == expect
        assert np.all(x[r, :12][x[r, :12] != 0] == 1)


def test_dropped_first_level_encodes_as_all_zeros():
    di = build([enum("c", [0, 1, 2], ["a", "b", "c"])], use_all_factor_levels=False)
    x, _ = di.transform([np.array([0.0, 1.0, 2.0, NAN])])
    assert x.tolist() == [[0, 0, 0], [1, 0, 0], [0, 1, 0], [0, 0, 1]]


def test_unseen_and_invalid_codes_go_to_na_bucket():
    di = build([enum("c", [0, 1, 2], ["a", "b", "c"])])
    codes = np.array([-1.0, NAN, 3.0, 7.0, 1.0])
    x, keep = di.transform([codes])
    assert x[:4, 3].tolist() == [1, 1, 1, 1] and x[:4, :3].sum() == 0
    assert x[4].tolist() == [0, 1, 0, 0]
    assert keep.all()                                               # MeanImputation keeps every row
    xi, _ = di.transform([np.array([-1, 3, 1], dtype=np.int32)])    # integer codes work too
    assert xi.tolist() == [[0, 0, 0, 1], [0, 0, 0, 1], [0, 1, 0, 0]]


def test_map_domain_sends_unseen_levels_to_na():
    di = build([enum("c", [0, 1, 2], ["a", "b", "c"])], enum("resp", [0, 1], ["no", "yes"]))
    cmap = di.map_domain("c", ["b", "c", "zzz", "a"])
    assert cmap.tolist() == [1, 2, -1, 0]
    mapped = DataInfo.remap_codes(np.array([0, 1, 2, 3, NAN, -1]), cmap)
    assert mapped.tolist() == [1, 2, -1, 0, -1, -1]
    x, _ = di.transform([mapped])
    assert x.argmax(axis=1).tolist() == [1, 2, 3, 0, 3, 3]
    assert di.map_domain("resp", ["yes", "maybe"]).tolist() == [1, -1]
    with pytest.raises(ValueError, match="not a categorical"):
        di.map_domain("nope", ["a"])


# ---------------------------------------------------------------------------------------------------
# numeric transforms (hand computed: x = 1, 2, 3, 6 -> mean 3, sigma sqrt(14/3), range 5)
# ---------------------------------------------------------------------------------------------------
SIG = math.sqrt(14 / 3)


@pytest.mark.parametrize("transform, expect", [
    ("STANDARDIZE", [(1 - 3) / SIG, (2 - 3) / SIG, 0.0, 3 / SIG]),
    ("NORMALIZE", [-2 / 5, -1 / 5, 0.0, 3 / 5]),
    ("DESCALE", [1 / SIG, 2 / SIG, 3 / SIG, 6 / SIG]),
    ("NONE", [1.0, 2.0, 3.0, 6.0]),
])
def test_numeric_transforms(transform, expect):
    di = build([num("x", X_VALS)], transform=transform)
    x, _ = di.transform([X_VALS])
    np.testing.assert_allclose(x[:, 0], expect, rtol=1e-6)
    sub, mul = {"STANDARDIZE": (3, 1 / SIG), "NORMALIZE": (3, 1 / 5), "DESCALE": (0, 1 / SIG),
                "NONE": (0, 1)}[transform]
    assert di.norm_sub[0] == pytest.approx(sub) and di.norm_mul[0] == pytest.approx(mul)


@pytest.mark.parametrize("transform, expect", [
    ("STANDARDIZE", 0.0), ("NORMALIZE", 0.0), ("DESCALE", 3 / SIG), ("NONE", 3.0)])
def test_mean_imputation(transform, expect):
    di = build([num("x", X_VALS)], transform=transform)
    x, keep = di.transform([np.array([NAN, 2.0])])
    assert x[0, 0] == pytest.approx(expect, rel=1e-6)
    assert keep.all()


def test_skip_drops_rows_with_any_na_predictor():
    di = build(frame_infos(), missing_values_handling="Skip")
    cols = [np.array([1.0, NAN, 3.0, 4.0, 5.0]), np.array([0, 1, 1, 0, 1.0]),
            np.array([1.0, 2.0, 3.0, 4.0, 5.0]), np.array([0, 1, NAN, 3, 9.0]),
            np.array([0, 1, 2, 0, 1.0])]
    x, keep = di.transform(cols)
    assert keep.tolist() == [True, False, False, True, False]       # NaN numeric, NA enum, unseen code
    assert np.isfinite(x).all()
    assert x[1, di.num_start] == 0.0                                # NaN reaching the input layer -> 0


@pytest.mark.parametrize("mvh", ["MeanImputation", "Skip"])
def test_numerics_of_any_dtype_and_layout_give_the_float64_formula_in_float32(mvh):
    # The encoder reads each column as contiguous float64: ints, bools, float32 and strided views alike, with
    # (x - sub) * mul in float64 and one float32 rounding, as numpy's formula; a NaN result is the NA.
    rng = np.random.default_rng(5)
    n = 150                                                          # more than one block of 64 rows
    raw = [rng.integers(-5, 9, n).astype(np.int32), rng.random(n) < 0.3, rng.normal(size=n).astype(np.float32),
           rng.normal(size=2 * n)[::2], rng.normal(size=n)]
    raw[4][[3, 70]] = [NAN, np.inf]
    infos = [ColumnInfo.from_values(f"c{i}", np.asarray(c, dtype=np.float64)) for i, c in enumerate(raw)]
    di = build(infos, missing_values_handling=mvh)
    x, keep = di.transform(raw)
    want = [(np.asarray(c, dtype=np.float64) - di.norm_sub[j]) * di.norm_mul[j] for j, c in enumerate(raw)]
    fill = di._num_fill
    for j, w in enumerate(want):
        na = np.isnan(w)
        np.testing.assert_array_equal(x[:, di.num_start + j], np.where(na, fill[j], w).astype(np.float32))
    assert keep.tolist() == ((~np.isnan(want[4])).tolist() if mvh == "Skip" else [True] * n)
    empty, k0 = di.transform([c[:0] for c in raw])
    assert empty.shape == (0, di.n_inputs) and k0.size == 0


def test_all_na_numeric_kept_imputes_zero():
    col = num("allna", [NAN, NAN])
    di = build([col, num("x", X_VALS)], ignore_const_cols=False)
    x, _ = di.transform([np.array([NAN, NAN]), np.array([1.0, 2.0])])
    assert x[:, 0].tolist() == [0.0, 0.0]


def test_mapping_input_and_out_reuse():
    di = build(frame_infos())
    x1, _ = di.transform(frame_cols())
    buf = np.full((4, di.n_inputs), 7.0, dtype=np.float32)
    x2, _ = di.transform(dict(zip(di.columns, frame_cols())), out=buf)
    assert x2 is buf
    np.testing.assert_array_equal(x1, x2)                           # stale values were cleared
    with pytest.raises(ValueError, match="float32"):
        di.transform(frame_cols(), out=np.zeros((4, di.n_inputs)))
    with pytest.raises(ValueError, match="expects 5 predictor columns"):
        di.transform(frame_cols()[:4])
    with pytest.raises(ValueError, match="missing predictor columns"):
        di.transform({"x": X_VALS})
    with pytest.raises(ValueError, match="has 3 rows"):
        di.transform([X_VALS, SMALL, Y_VALS[:3], BIG, MID])


def test_untransform_numerics_inverts_the_input_transform():
    di = build(frame_infos(), transform="NORMALIZE")
    x, _ = di.transform(frame_cols())
    back = di.untransform_numerics(x)
    np.testing.assert_allclose(back[:, -2], X_VALS, rtol=1e-6)
    np.testing.assert_array_equal(back[:, :di.num_start], x[:, :di.num_start])


# ---------------------------------------------------------------------------------------------------
# constant columns
# ---------------------------------------------------------------------------------------------------
def test_constant_columns_are_dropped_and_listed():
    preds = [num("const", [5.0, 5.0, 5.0]), num("x", [1.0, 2.0, 4.0]),
             enum("one_level", [0, 0, 0], ["only"]), enum("one_used", [1, 1, NAN], ["a", "b"]),
             num("empty", [NAN, NAN, NAN]), enum("ok", [0, 1, 0], ["a", "b"])]
    di = build(preds)
    assert di.columns == ["x", "ok"]
    assert set(di.ignored) == {"const", "one_level", "one_used", "empty"}
    assert "sigma" in di.ignored["const"] and "NA" in di.ignored["empty"]
    assert "level" in di.ignored["one_level"]
    kept = build(preds, ignore_const_cols=False)
    assert kept.ignored == {} and len(kept.columns) == 6
    assert kept.norm_mul[kept.num_names.index("const")] == 1.0       # sigma 0 -> multiplier 1
    with pytest.raises(ValueError, match="no predictor left"):
        build([num("const", [5.0, 5.0])])


# ---------------------------------------------------------------------------------------------------
# hashing
# ---------------------------------------------------------------------------------------------------
def murmur3_reference(data: bytes, seed: int) -> int:
    """Straightforward scalar MurmurHash3 x86_32 (any byte length), to check the vectorised one."""
    c1, c2, mask = 0xCC9E2D51, 0x1B873593, 0xFFFFFFFF
    rotl = lambda v, r: ((v << r) | (v >> (32 - r))) & mask  # noqa: E731
    h = seed & mask
    n4 = len(data) // 4 * 4
    for i in range(0, n4, 4):
        k = int.from_bytes(data[i:i + 4], "little")
        h ^= rotl(k * c1 & mask, 15) * c2 & mask
        h = (rotl(h, 13) * 5 + 0xE6546B64) & mask
    tail = data[n4:]
    if tail:
        h ^= rotl(int.from_bytes(tail, "little") * c1 & mask, 15) * c2 & mask
    h ^= len(data)
    for shift, mult in ((16, 0x85EBCA6B), (13, 0xC2B2AE35)):
        h = (h ^ (h >> shift)) * mult & mask
    return h ^ (h >> 16)


def test_murmur3_matches_reference_vectors():
    # published MurmurHash3 x86_32 vectors
    assert murmur3_reference(b"", 1) == 0x514E28B7
    assert murmur3_reference(b"Hello, world!", 0x9747B28C) == 0x24884CBA
    assert murmur3_reference(b"\x00\x00\x00\x00", 0) == 0x2362F9DE
    slots = np.array([0, 1, 255, 0x61626364, 2 ** 31 - 1])
    for seed in (0, 42, -1, 0x9747B28C):
        got = murmur3_slots(slots, seed)
        assert got.tolist() == [murmur3_reference(int(s).to_bytes(4, "big"), seed) for s in slots]


def test_hashing_bounds_inputs_and_is_deterministic():
    rng = np.random.default_rng(3)
    n = 500
    cats = [rng.integers(0, k, n).astype(float) for k in (40, 30, 20)]
    preds = [enum(f"c{k}", c, [str(i) for i in range(k)]) for k, c in zip((40, 30, 20), cats)]
    xnum = rng.normal(size=n)
    preds.append(num("x", xnum))
    cols = cats + [xnum]
    m = 16
    di = build(preds, max_categorical_features=m, seed=7)
    assert di.hashed and di.n_inputs == m + 1 and di.n_inputs <= m + len(di.num_names)
    assert di.coef_names[:2] == ["hash.0", "hash.1"] and di.coef_names[-1] == "x"
    x, _ = di.transform(cols)
    # every categorical adds exactly one 1 into the bucket block (collisions add, as H2O's _a.add)
    np.testing.assert_array_equal(x[:, :m].sum(axis=1), 3.0)
    unhashed = build(preds)
    xu, _ = unhashed.transform(cols)
    np.testing.assert_array_equal(x[:, m:], xu[:, unhashed.num_start:])
    # the bucket of each row is the hash of its un-hashed slot
    buckets = hash_buckets(int(unhashed.cat_offsets[-1]), m, 7)
    hot = [np.flatnonzero(r) for r in xu[:, :unhashed.num_start]]
    expect = np.zeros((n, m))
    for r, slots in enumerate(hot):
        np.add.at(expect[r], buckets[slots], 1.0)
    np.testing.assert_array_equal(x[:, :m], expect)
    again, _ = build(preds, max_categorical_features=m, seed=7).transform(cols)
    np.testing.assert_array_equal(x, again)
    other, _ = build(preds, max_categorical_features=m, seed=8).transform(cols)
    assert not np.array_equal(x, other)
    owners = di.expanded_to_column()
    slot_owner = unhashed.expanded_to_column()
    sources = [{slot_owner[s] for s in np.flatnonzero(buckets == b)} for b in range(m)]
    assert owners == [src.pop() if len(src) == 1 else HASHED_COLUMN for src in sources] + ["x"]
    assert di.na_slots_never_seen().size == 0


def test_no_hashing_when_slots_fit():
    di = build([enum("c", [0, 1, 2], ["a", "b", "c"])], max_categorical_features=4)
    assert not di.hashed and di.n_inputs == 4
    assert build([enum("c", [0, 1, 2], ["a", "b", "c"])], max_categorical_features=3).hashed


# ---------------------------------------------------------------------------------------------------
# response, weights
# ---------------------------------------------------------------------------------------------------
def test_response_standardisation_round_trip():
    y = np.array([3.0, 5.0, 10.0, 2.0])
    di = build([num("x", X_VALS)], num("y", y), response_transform=True)
    z = di.transform_response(y)
    assert z.mean() == pytest.approx(0.0, abs=1e-12) and z.std(ddof=1) == pytest.approx(1.0)
    assert di.resp_sub == pytest.approx(5.0) and di.resp_mul == pytest.approx(1 / y.std(ddof=1))
    np.testing.assert_allclose(di.inverse_response(z), y)
    plain = build([num("x", X_VALS)], num("y", y))
    np.testing.assert_array_equal(plain.transform_response(y), y)
    with pytest.raises(ValueError, match="numeric response"):
        build([num("x", X_VALS)], enum("y", [0, 1], ["a", "b"]), response_transform=True)


def test_weighted_moments_merge_and_weighted_stats():
    rng = np.random.default_rng(1)
    x, w = rng.normal(size=101), rng.random(101) * 3
    x[5] = NAN
    whole = weighted_moments(x, w)
    parts = [weighted_moments(x[a:b], w[a:b]) for a, b in ((0, 10), (10, 60), (60, 101))]
    merged = merge_moments(merge_moments(parts[0], parts[1]), parts[2])
    np.testing.assert_allclose(merged, whole)
    ok = ~np.isnan(x)
    mean = np.average(x[ok], weights=w[ok])
    assert whole[1] == pytest.approx(mean)
    info = num("x", x, weights=w)
    assert info.weighted and info.mean == pytest.approx(mean)
    assert info.sigma == pytest.approx(math.sqrt((w[ok] * (x[ok] - mean) ** 2).sum() / (w[ok].sum() - 1)))
    # integer weights act as repeated rows
    rep = num("r", np.repeat([1.0, 2.0, 4.0], [1, 2, 3]))
    wtd = num("r", np.array([1.0, 2.0, 4.0]), weights=np.array([1.0, 2.0, 3.0]))
    assert (wtd.mean, wtd.sigma) == pytest.approx((rep.mean, rep.sigma))


def test_weights_column_requires_weighted_statistics():
    w = np.array([1.0, 2.0, 1.0, 0.0])
    wcol = num("w", w)
    with pytest.raises(ValueError, match="not weighted: \\['x'\\]"):
        build([num("x", X_VALS)], weights=wcol)
    di = build([num("x", X_VALS, weights=w)], weights=wcol)
    assert di.weights_column == "w"
    assert di.norm_sub[0] == pytest.approx(np.average(X_VALS, weights=w))
    with pytest.raises(ValueError, match="negative"):
        build([num("x", X_VALS, weights=w)], weights=num("w", [-1.0, 1.0]))
    with pytest.raises(ValueError, match="also listed as a predictor"):
        build([num("x", X_VALS, weights=w), num("w", w, weights=w)], weights=wcol)


# ---------------------------------------------------------------------------------------------------
# serialisation
# ---------------------------------------------------------------------------------------------------
def _pack(obj):
    if isinstance(obj, np.ndarray):
        return msgpack.ExtType(1, msgpack.packb([obj.dtype.str, list(obj.shape), obj.tobytes()]))
    raise TypeError(f"unexpected {type(obj).__name__} in a DataInfo state")


def _unpack(code, data):
    assert code == 1
    dt, shape, raw = msgpack.unpackb(data)
    return np.frombuffer(raw, dtype=dt).reshape(shape)          # read-only, as the wire gives them


@pytest.mark.parametrize("kw", [
    {}, {"use_all_factor_levels": False, "transform": "NORMALIZE", "missing_values_handling": "Skip"},
    {"max_categorical_features": 5, "seed": -3, "transform": "DESCALE"}])
def test_state_round_trip_through_msgpack(kw):
    di = build(frame_infos(), num("resp", [1.0, 2.0, 4.0, 8.0]), response_transform=True, **kw)
    wire = msgpack.packb(di.to_state(), default=_pack, use_bin_type=True)
    back = DataInfo.from_state(msgpack.unpackb(wire, ext_hook=_unpack, raw=False, strict_map_key=True))
    for attr in ("columns", "cat_names", "num_names", "coef_names", "n_inputs", "ignored", "hashed",
                 "resp_mul", "resp_sub", "response"):
        assert getattr(back, attr) == getattr(di, attr), attr
    np.testing.assert_array_equal(back.cat_offsets, di.cat_offsets)
    np.testing.assert_array_equal(back.transform(frame_cols())[0], di.transform(frame_cols())[0])
    # plain lists instead of arrays are accepted too (e.g. a JSON export)
    as_lists = {k: v.tolist() if isinstance(v, np.ndarray) else v for k, v in di.to_state().items()}
    assert DataInfo.from_state(as_lists).coef_names == di.coef_names


def test_bad_state_and_bad_options_raise_clear_errors():
    state = build(frame_infos()).to_state()
    with pytest.raises(ValueError, match="lacks \\['norm_mul'\\]"):
        DataInfo.from_state({k: v for k, v in state.items() if k != "norm_mul"})
    with pytest.raises(ValueError, match="version"):
        DataInfo.from_state({**state, "version": 99})
    with pytest.raises(ValueError, match="one entry per numeric"):
        DataInfo.from_state({**state, "norm_mul": [1.0]})
    with pytest.raises(ValueError, match="transform must be one of"):
        build(frame_infos(), transform="standardize")
    with pytest.raises(ValueError, match="missing_values_handling"):
        build(frame_infos(), missing_values_handling="Drop")
    with pytest.raises(ValueError, match="max_categorical_features"):
        build(frame_infos(), max_categorical_features=0)
    with pytest.raises(ValueError, match="duplicate predictor names"):
        build([num("x", X_VALS), num("x", X_VALS)])
    with pytest.raises(ValueError, match="needs a domain"):
        ColumnInfo("c", "enum")
    with pytest.raises(ValueError, match="type must be"):
        ColumnInfo("c", "string")


# ---------------------------------------------------------------------------------------------------
# real data, rollups, speed, doctests
# ---------------------------------------------------------------------------------------------------
def test_prostate_matches_an_independent_pandas_encoding():
    from frame.rollups import RollupTask
    df = pd.read_csv(PROSTATE)
    factors, numerics = ["RACE", "DPROS", "DCAPS"], ["AGE", "PSA", "VOL", "GLEASON"]
    frame_order = ["AGE", "RACE", "DPROS", "DCAPS", "PSA", "VOL", "GLEASON"]
    domains = {f: [str(v) for v in sorted(df[f].unique())] for f in factors}
    cols = [df[c].to_numpy(np.float64) if c in numerics else
            df[c].map({int(v): i for i, v in enumerate(domains[c])}).to_numpy(np.float64) for c in frame_order]
    task = RollupTask()
    task.map(cols)                                                  # the rollups the driver would read
    infos = [ColumnInfo.from_rollups(c, "enum" if c in factors else "numeric", domains.get(c), task.stats(i))
             for i, c in enumerate(frame_order)]
    di = build(infos, use_all_factor_levels=False)
    assert di.cat_names == ["DPROS", "RACE", "DCAPS"]
    x, _ = di.transform(cols)
    parts = []
    for f in di.cat_names:
        dummies = pd.get_dummies(df[f].astype(str)).reindex(columns=domains[f]).astype(float)
        parts.append(dummies.iloc[:, 1:].to_numpy())
        parts.append(np.zeros((len(df), 1)))                        # no NA in prostate
    parts += [((df[c] - df[c].mean()) / df[c].std()).to_numpy()[:, None] for c in numerics]
    np.testing.assert_allclose(x, np.hstack(parts), rtol=1e-5, atol=1e-6)
    assert di.na_slots_never_seen().tolist() == [3, 6, 8]


def test_speed_60k_by_784():
    rng = np.random.default_rng(0)
    n, p = 60_000, 784
    cols = [rng.integers(0, 256, n).astype(np.float64) for _ in range(p)]
    cols[0][:10] = NAN
    di = build([ColumnInfo(f"C{i}", "numeric", None, 127.5, 74.0, 0.0, 255.0, 0, n) for i in range(p)])
    out = np.empty((n, p), dtype=np.float32)
    t0 = time.perf_counter()
    x, _ = di.transform(cols, out=out)
    dt = time.perf_counter() - t0
    print(f"\nDataInfo.transform 60000 x 784 numerics: {dt:.3f} s")
    assert x[0, 0] == 0.0 and x[10, 0] == pytest.approx((cols[0][10] - 127.5) / 74.0, rel=1e-6)


def test_doctests():
    res = doctest.testmod(algos.datainfo)
    assert res.attempted > 5 and res.failed == 0
