"""Tests of frame/codecs/: bit-exact round trips (hypothesis), codec choice, sizes, errors."""
from __future__ import annotations

import msgpack
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from frame.codecs import (
    CODECS,
    HEADER_BYTES,
    EncodedChunk,
    decode,
    decode_float64,
    decode_na,
    decode_strings,
    encode,
    encode_strings,
    from_wire,
    to_wire,
)

# numpy warnings (overflow, invalid cast) must not leak out of the codecs.
pytestmark = pytest.mark.filterwarnings("error::RuntimeWarning")
FAST = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
I64_MIN, I64_MAX = -(2**63), 2**63 - 1
CANON_NAN = np.array(np.nan).view(np.uint64)


# --------------------------------------------------------------------------- checkers

def _assert_msgpack_safe(obj) -> None:
    """Only plain Python scalars/lists/dicts: numpy scalars would break strict msgpack peers."""
    if isinstance(obj, dict):
        for k, v in obj.items():
            assert type(k) is str
            _assert_msgpack_safe(v)
    elif isinstance(obj, list):
        for v in obj:
            _assert_msgpack_safe(v)
    else:
        assert type(obj) in (str, int, float, bool, type(None)), f"{obj!r} is {type(obj)}"


def _wire_trip(enc: EncodedChunk) -> EncodedChunk:
    header, data = to_wire(enc)
    _assert_msgpack_safe(header)
    header2 = msgpack.unpackb(msgpack.packb(header, use_bin_type=True), raw=False, strict_map_key=True)
    back = from_wire(header2, memoryview(data))
    assert back == enc
    return back


def _common(enc: EncodedChunk, n: int) -> None:
    assert enc.codec in CODECS
    assert enc.nrows == n
    assert enc.nbytes <= 8 * n + HEADER_BYTES, (enc.codec, enc.nbytes, n)


def check_float(v: np.ndarray) -> EncodedChunk:
    """Encode float64 ``v`` and check every decoder against it, bit for bit."""
    v = np.ascontiguousarray(v, dtype=np.float64)
    enc = encode(v)
    _common(enc, v.size)
    out = decode(enc)
    assert out.dtype == np.float64
    np.testing.assert_array_equal(out.view(np.uint64), v.view(np.uint64), err_msg=enc.codec)
    buf = np.full(v.size, 7.0)
    assert decode_float64(enc, buf) is buf
    np.testing.assert_array_equal(buf.view(np.uint64), v.view(np.uint64))
    na = decode_na(enc)
    if np.isnan(v).any():
        np.testing.assert_array_equal(na, np.isnan(v))
    else:
        assert na is None
    back = _wire_trip(enc)
    np.testing.assert_array_equal(decode(back).view(np.uint64), v.view(np.uint64))
    return enc


def check_int(v: np.ndarray, na: np.ndarray | None = None) -> EncodedChunk:
    """Encode integers (NA rows per ``na``) and check decode, decode_na, decode_float64."""
    enc = encode(v, na)
    _common(enc, v.size)
    out = decode(enc)
    assert out.dtype == np.int64
    nam = np.zeros(v.size, bool) if na is None else na
    expect = np.where(nam, 0, v.astype(np.int64))
    np.testing.assert_array_equal(out, expect, err_msg=enc.codec)
    got_na = decode_na(enc)
    if nam.any():
        np.testing.assert_array_equal(got_na, nam)
    else:
        assert got_na is None
    f = decode_float64(enc)
    np.testing.assert_array_equal(f, np.where(nam, np.nan, expect.astype(np.float64)))
    np.testing.assert_array_equal(decode(_wire_trip(enc)), expect)
    return enc


def check_cat(codes: np.ndarray, na: np.ndarray | None = None) -> EncodedChunk:
    enc = encode(codes, na, categorical=True)
    _common(enc, codes.size)
    assert enc.codec == "cat"
    nam = codes < 0 if na is None else (na | (codes < 0))
    expect = np.where(nam, -1, codes.astype(np.int64))
    out = decode(enc)
    assert out.dtype == np.int64
    np.testing.assert_array_equal(out, expect)
    np.testing.assert_array_equal(decode_float64(enc), np.where(nam, np.nan, expect))
    got_na = decode_na(enc)
    assert (got_na is None) == (not nam.any())
    if got_na is not None:
        np.testing.assert_array_equal(got_na, nam)
    np.testing.assert_array_equal(decode(_wire_trip(enc)), expect)
    return enc


# --------------------------------------------------------------------------- strategies

sizes = st.integers(1, 3000)


@st.composite
def with_nan(draw, values: np.ndarray) -> np.ndarray:
    """Copy of ``values`` with a drawn fraction of rows set to (canonical) NaN."""
    frac = draw(st.sampled_from([0.0, 0.0, 0.01, 0.3, 0.95]))
    seed = draw(st.integers(0, 2**32 - 1))
    out = values.astype(np.float64)
    out[np.random.default_rng(seed).random(out.size) < frac] = np.nan
    return out


@st.composite
def small_ints(draw) -> tuple[np.ndarray, int]:
    n = draw(sizes)
    width = draw(st.sampled_from([1, 2, 4]))
    span = draw(st.sampled_from([2 ** (8 * width) - 2, 2 ** (8 * width) - 1, 2 ** (8 * width - 4)]))
    lo = draw(st.integers(-(2**40), 2**40))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    v = lo + rng.integers(0, span + 1, n, dtype=np.int64)
    v[0], v[-1] = lo, lo + span  # pin the range so the width boundary is really exercised
    return v, width


@st.composite
def decimals(draw) -> np.ndarray:
    n = draw(sizes)
    digits = draw(st.integers(1, 3))
    lo = draw(st.integers(-(10**6), 10**6))
    span = draw(st.sampled_from([200, 60000, 10**8]))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    return (lo + rng.integers(0, span, n)) / 10.0**digits  # correctly rounded decimals


@st.composite
def sparse_floats(draw) -> np.ndarray:
    n = draw(st.integers(16, 3000))
    density = draw(st.sampled_from([0.01, 0.1, 0.5, 0.8]))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    vals = draw(st.sampled_from(["ones", "ints", "floats"]))
    v = np.zeros(n)
    keep = rng.random(n) < density
    v[keep] = {"ones": np.ones(n), "ints": rng.integers(-50, 50, n).astype(float), "floats": rng.normal(size=n)}[vals][keep]
    return v


any_bits = hnp.arrays(np.uint64, sizes.map(lambda n: min(n, 400)), elements=st.integers(0, 2**64 - 1))
specials = st.sampled_from([0.0, -0.0, np.inf, -np.inf, np.nan, 5e-324, -2.2250738585072014e-308,
                            1.7976931348623157e308, 1.0, 0.5, 0.1])


# --------------------------------------------------------------------------- property tests

@FAST
@given(sizes, st.floats(allow_nan=True, allow_infinity=True))
def test_constants_round_trip(n, x):
    enc = check_float(np.full(n, x))
    assert enc.codec == "const"


@FAST
@given(small_ints(), st.booleans(), st.data())
def test_small_ints_round_trip(vw, as_float, data):
    v, width = vw
    if as_float:
        v = data.draw(with_nan(v))
        enc = check_float(v)
    else:
        na = np.random.default_rng(data.draw(st.integers(0, 99))).random(v.size) < data.draw(
            st.sampled_from([0.0, 0.05, 0.5]))
        enc = check_int(v, na)
    if enc.codec == "int":
        assert enc.meta["width"] == width


@FAST
@given(decimals(), st.data())
def test_decimals_round_trip(v, data):
    check_float(data.draw(with_nan(v)))


@FAST
@given(hnp.arrays(np.float32, sizes, elements=st.floats(width=32, allow_nan=False)), st.data())
def test_float32_exact_round_trip(v32, data):
    check_float(data.draw(with_nan(v32.astype(np.float64))))


@FAST
@given(st.lists(specials | st.floats(), min_size=1, max_size=300))
def test_wide_floats_with_specials_round_trip(xs):
    check_float(np.array(xs, dtype=np.float64))


@FAST
@given(any_bits)
def test_arbitrary_bit_patterns_round_trip(bits):
    """Any 64-bit pattern, so NaN payloads, signalling NaNs and subnormals all appear."""
    check_float(bits.view(np.float64))


@FAST
@given(any_bits, st.sampled_from([0.0, 0.5, 0.9, 0.99]), st.integers(0, 2**32 - 1))
def test_sparse_arbitrary_bits_round_trip(bits, zero_frac, seed):
    v = bits.view(np.float64).copy()
    v[np.random.default_rng(seed).random(v.size) < zero_frac] = 0.0
    check_float(v)


@FAST
@given(sparse_floats(), st.data())
def test_sparse_round_trip(v, data):
    check_float(data.draw(with_nan(v)))


@FAST
@given(hnp.arrays(np.int64, sizes.map(lambda n: min(n, 500)),
                  elements=st.sampled_from([I64_MIN, I64_MAX, 0, -1, 1]) | st.integers(I64_MIN, I64_MAX)),
       st.integers(0, 2**32 - 1), st.sampled_from([0.0, 0.1, 0.9]))
def test_int64_extremes_round_trip(v, seed, na_frac):
    na = np.random.default_rng(seed).random(v.size) < na_frac
    check_int(v, na)


@FAST
@given(hnp.arrays(hnp.integer_dtypes(endianness="=") | hnp.unsigned_integer_dtypes(endianness="="),
                  sizes.map(lambda n: min(n, 500))), st.data())
def test_every_integer_dtype_round_trip(v, data):
    if v.dtype == np.uint64:
        v = v % np.uint64(2**63)  # decode gives int64; larger uint64 are refused (tested below)
    na = data.draw(hnp.arrays(np.bool_, v.size))
    check_int(v, na)


@FAST
@given(sizes, st.integers(1, 70000), st.integers(0, 2**32 - 1), st.sampled_from([0.0, 0.2]), st.booleans())
def test_categoricals_round_trip(n, levels, seed, na_frac, na_as_mask):
    rng = np.random.default_rng(seed)
    codes = rng.integers(0, levels, n)
    na = rng.random(n) < na_frac
    if na_as_mask:
        codes[na] = rng.integers(0, levels, n)[na]  # garbage under the mask
        check_cat(codes, na)
    else:
        codes[na] = -1
        check_cat(codes)


@FAST
@given(st.lists(st.none() | st.text(), max_size=200))
def test_strings_round_trip(xs):
    enc = encode_strings(xs)
    assert enc.codec == "str" and enc.nrows == len(xs)
    assert decode_strings(enc) == xs
    assert decode_strings(_wire_trip(enc)) == xs


# --------------------------------------------------------------------------- codec choice

def test_constant_chunks_choose_const():
    for v in (np.full(500, 3.25), np.full(500, np.nan), np.full(500, -0.0), np.full(500, -np.inf)):
        assert check_float(v).codec == "const"
    assert check_int(np.full(500, I64_MIN)).codec == "const"
    assert check_int(np.arange(10), np.ones(10, bool)).codec == "const"  # all NA


def test_small_integers_choose_int_with_narrowest_width():
    base = np.arange(1, 1001)
    for span, width in ((200, 1), (60000, 2), (2**31, 4)):
        v = 7 + (base * 7919) % span
        enc = check_int(v)
        assert (enc.codec, enc.meta["width"], enc.meta["bias"]) == ("int", width, int(v.min()))
        assert check_float(v.astype(float)).meta["width"] == width


def test_int_na_uses_sentinel_or_mask_when_range_hits_it():
    v = np.arange(1, 1001) % 255 + 1.0      # range 254: sentinel 255 is free
    v[::10] = np.nan
    enc = check_float(v)
    assert (enc.codec, enc.meta["na"], enc.meta["width"]) == ("int", "sentinel", 1)
    w = np.arange(1, 1001) % 256 + 1        # range 255: the sentinel collides
    na = np.zeros(1000, bool)
    na[::10] = True
    enc = check_int(w, na)
    assert (enc.codec, enc.meta["na"], enc.meta["width"]) == ("int", "mask", 1)


def test_decimals_choose_dec_and_reject_negative_zero():
    v = np.round(np.random.default_rng(0).uniform(1, 100, 2000), 2)
    enc = check_float(v)
    assert (enc.codec, enc.meta["digits"], enc.meta["width"]) == ("dec", 2, 2)
    v[5] = -0.0
    assert check_float(v).codec != "dec"
    ints = np.arange(1, 1001, dtype=float)
    ints[3] = -0.0  # -0.0 == 0 is "integral", but the int codec would lose its sign
    assert check_float(ints).codec not in ("int", "dec")


def test_float32_exact_chooses_f4_and_random_doubles_f8():
    rng = np.random.default_rng(1)
    assert check_float(rng.normal(size=1000).astype(np.float32).astype(np.float64)).codec == "f4"
    assert check_float(rng.normal(size=1000)).codec == "f8"


def test_non_canonical_nan_keeps_its_bits():
    v = np.random.default_rng(2).normal(size=100).astype(np.float32).astype(np.float64)
    v[10] = np.array(0x7FF0000000000001, dtype=np.uint64).view(np.float64)  # signalling NaN
    v[11] = np.array(0xFFF8000000000123, dtype=np.uint64).view(np.float64)  # negative, payload
    assert check_float(v).codec == "f8"
    ints = np.arange(1.0, 101.0)
    ints[5] = v[11]
    assert check_float(ints).codec == "f8"


def test_wide_int64_chooses_i8_and_finds_a_free_na_value():
    v = np.array([I64_MIN, I64_MAX, 0, 5, I64_MIN + 1, I64_MAX - 1] * 50, dtype=np.int64)
    na = np.zeros(v.size, bool)
    na[2::12] = True  # NA rows below 1/8 keep it dense; both extremes force a gap search
    enc = check_int(v, na)
    assert enc.codec == "i8" and enc.meta["na_value"] not in (I64_MIN, I64_MAX)
    assert check_int(np.arange(0, 2**40, 2**30, dtype=np.int64) * 3).codec == "i8"
    only_extremes = np.array([I64_MIN, I64_MAX] * 20 + [7], dtype=np.int64)
    na = np.zeros(only_extremes.size, bool)
    na[-1] = True
    enc = check_int(only_extremes, na)
    assert enc.codec == "i8" and enc.meta["na_value"] == I64_MIN + 1


def test_mostly_zero_chooses_sparse_with_narrow_values():
    v = np.zeros(10_000)
    v[::97] = np.arange(104) % 100 + 1
    enc = check_float(v)
    assert (enc.codec, enc.meta["v_codec"], enc.meta["v_width"], enc.meta["idx_width"]) == ("sparse", "int", 1, 2)
    assert enc.nbytes < 10_000 * 8 / 20
    big = np.zeros(70_000, np.int32)
    big[::9] = -3
    enc = check_int(big)
    assert (enc.codec, enc.meta["idx_width"], enc.meta["v_codec"]) == ("sparse", 4, "const")


def test_mostly_na_chooses_na_filled_sparse():
    v = np.full(4000, np.nan)
    v[::50] = 2.5
    v[1::50] = 0.0
    enc = check_float(v)
    assert (enc.codec, enc.meta["fill"]) == ("sparse", "na")
    na = np.ones(4000, bool)
    na[::40] = False
    assert check_int(np.arange(4000) % 3, na).meta["fill"] == "na"


def test_half_zero_chooses_bitsparse_and_booleans_cost_a_bit_per_row():
    rng = np.random.default_rng(3)
    pixels = rng.integers(1, 256, 8000) * (rng.random(8000) < 0.5)
    enc = check_int(pixels.astype(np.uint8))
    assert (enc.codec, enc.meta["v_codec"], enc.meta["v_width"]) == ("bitsparse", "int", 1)
    flags = (rng.random(8000) < 0.5).astype(np.float64)
    enc = check_float(flags)
    assert (enc.codec, enc.meta["v_codec"]) == ("bitsparse", "const")
    assert enc.nbytes <= 8000 // 8 + HEADER_BYTES


def test_lz4_kept_only_when_it_pays():
    repetitive = np.tile(np.random.default_rng(4).normal(size=16), 500)
    enc = check_float(repetitive)
    assert enc.codec == "f8" and enc.meta["lz4"] == 8 * repetitive.size and enc.nbytes < 8 * repetitive.size / 4
    noise = check_float(np.random.default_rng(5).normal(size=20_000))
    assert "lz4" not in noise.meta and len(noise.data) == 8 * 20_000


def test_empty_chunks():
    assert decode(check_float(np.empty(0))).size == 0
    assert decode(check_int(np.empty(0, np.int16))).size == 0
    assert decode(check_cat(np.empty(0, np.int64))).size == 0
    assert decode_strings(encode_strings([])) == []


def test_float_na_mask_argument_marks_rows_nan():
    v = np.arange(6.0)
    enc = encode(v, np.array([0, 1, 0, 0, 1, 0], bool))
    np.testing.assert_array_equal(decode(enc), [0, np.nan, 2, 3, np.nan, 5])
    assert v[1] == 1.0  # input untouched


def test_strings_keep_unicode_empty_none_and_lone_surrogates():
    xs = ["", None, "héllo", "日本語", "\ud800", "a" * 5000, None, "🙂"]
    assert decode_strings(encode_strings(xs)) == xs
    long = encode_strings(["abc"] * 10_000)
    assert "lz4" in long.meta and long.nbytes < 30_000 / 10


# --------------------------------------------------------------------------- errors

def test_bad_input_raises_clear_errors():
    with pytest.raises(ValueError, match="1-D"):
        encode(np.zeros((2, 2)))
    with pytest.raises(ValueError, match="dtype bool"):
        encode(np.array([True, False]))
    with pytest.raises(ValueError, match="dtype object"):
        encode(np.array(["a"], dtype=object))
    with pytest.raises(ValueError, match="na must be a bool array"):
        encode(np.zeros(3), np.zeros(4, bool))
    with pytest.raises(ValueError, match=">= 0"):
        encode(np.array([0, -2]), categorical=True)
    with pytest.raises(ValueError, match="integer array"):
        encode(np.array([0.5]), categorical=True)
    with pytest.raises(ValueError, match="uint64"):
        encode(np.array([2**64 - 1], dtype=np.uint64))
    with pytest.raises(ValueError, match="row 1 is int"):
        encode_strings(["a", 3])
    with pytest.raises(ValueError, match="unknown codec"):
        EncodedChunk("zip", 3, {}, b"")
    with pytest.raises(ValueError, match="out must be"):
        decode_float64(encode(np.arange(4.0)), np.empty(4, np.float32))
    with pytest.raises(ValueError, match="decode_strings"):
        decode(encode_strings(["a"]))
    with pytest.raises(ValueError, match="needs a str chunk"):
        decode_strings(encode(np.arange(3.0)))


def test_malformed_wire_input_raises_value_error():
    enc = encode(np.random.default_rng(6).normal(size=100))
    header, data = to_wire(enc)
    with pytest.raises(ValueError, match="codec/nrows/meta"):
        from_wire({"codec": "f8"}, data)
    with pytest.raises(ValueError, match="too short"):
        decode(from_wire(header, data[:-8]))
    with pytest.raises(ValueError, match="trailing"):
        decode(from_wire(header, data + b"\0" * 8))
    with pytest.raises(ValueError, match="malformed"):
        decode(from_wire({**header, "meta": {}}, data))
    packed = encode(np.tile(np.arange(8.0) + 0.1, 100))
    h, d = to_wire(packed)
    assert "lz4" in h["meta"]
    with pytest.raises(ValueError, match="LZ4|too short"):
        decode(from_wire(h, d[: len(d) // 2]))
    sparse = encode(np.where(np.arange(1000) % 100 == 0, 1.5, 0.0))
    h, d = to_wire(sparse)
    with pytest.raises(ValueError, match="nnz"):
        decode(from_wire({**h, "meta": {**h["meta"], "nnz": 5000}}, d))


# --------------------------------------------------------------------------- fast decode path

def _checked(enc: EncodedChunk) -> np.ndarray:
    """decode_float64 through the checked (unplanned) decoder."""
    import dataclasses
    slow = dataclasses.replace(enc)
    slow.__dict__["_plan"] = False
    return decode_float64(slow)


def _fast_cases():
    rng = np.random.default_rng(11)
    n = 1003                                        # not a multiple of 8: mask tails
    weird = np.array([np.nan, -0.0, np.inf, -np.inf, 5e-324, -1.5, 2.0**60])
    snan = np.array([0x7FF0000000000001, 0xFFF8000000000123], np.uint64).view(np.float64)
    sparse_f = np.where(rng.random(n) < 0.6, 0.0, rng.normal(size=n))
    sparse_f[::97] = -0.0
    yield "int1", encode(rng.integers(0, 200, n).astype(float))
    yield "int2 sentinel", encode(np.where(rng.random(n) < 0.1, np.nan, rng.integers(-5, 60000, n)))
    yield "int mask", encode(np.arange(n) % 256 + 1, na=rng.random(n) < 0.05)
    yield "i8 dense NA", encode(rng.integers(I64_MIN, I64_MAX, n), na=rng.random(n) < 0.05)
    yield "int4 wide bias", encode(2**62 + rng.integers(0, 2**31, n))
    yield "dec", encode(rng.integers(-10**5, 10**5, n) / 100.0)
    yield "f4", encode(rng.normal(size=n).astype(np.float32).astype(np.float64))
    yield "f8 specials", encode(np.concatenate([rng.normal(size=n), weird, snan]))
    yield "i8 extremes", encode(np.array([I64_MIN, I64_MAX, 0, -1] * 300), na=np.arange(1200) % 7 == 0)
    yield "cat", encode(np.where(rng.random(n) < 0.1, -1, rng.integers(0, 300, n)), categorical=True)
    yield "const", encode(np.full(n, -0.0))
    yield "const int NA", encode(np.zeros(n, np.int64), na=np.ones(n, bool))
    yield "bitsparse f8", encode(sparse_f)
    yield "bitsparse na fill", encode(np.where(rng.random(n) < 0.5, np.nan, rng.integers(0, 9, n)))
    yield "bitsparse int mask", encode(np.where(rng.random(n) < 0.4, 0, rng.integers(0, 256, n)),
                                       na=rng.random(n) < 0.1)
    yield "sparse u16", encode(np.where(rng.random(n) < 0.05, rng.normal(size=n), 0.0))
    yield "sparse u32", encode(np.where(np.arange(70001) % 1000 == 3, 1.25, 0.0))
    yield "sparse const", encode(np.where(np.arange(n) % 50 == 0, 7.0, 0.0))
    yield "lz4", encode(np.tile(np.arange(8.0) + 0.1, 100))


@pytest.mark.parametrize("name,enc", list(_fast_cases()), ids=[c for c, _ in _fast_cases()])
def test_fast_decode_matches_checked_decoder_bit_for_bit(name, enc):
    assert enc.__dict__.get("_plan") is None
    fast = decode_float64(enc)
    assert enc.__dict__["_plan"], f"{name} ({enc.codec}) should take the planned path"
    np.testing.assert_array_equal(fast.view(np.uint64), _checked(enc).view(np.uint64))
    header, data = to_wire(enc)
    for _ in range(2):                                  # second call: cached wire header
        back = from_wire(header, data)
        np.testing.assert_array_equal(decode_float64(back).view(np.uint64), fast.view(np.uint64))


def _bitsparse_cases():
    """Bitsparse chunks of every stored-value path (narrow ints of each width, with NA sentinel or mask,
    decimals, float32/64, int64) and every mask tail length, at densities from one row to all but one."""
    rng = np.random.default_rng(12)
    for n in (2, 7, 8, 9, 15, 16, 17, 64, 65, 1003):
        keep = rng.random(n) < 0.5
        keep[rng.integers(n)] = True                       # at least one stored row
        if n > 1:
            keep[(np.flatnonzero(keep)[0] + 1) % n] = False  # at least one fill row
        k = int(keep.sum())

        def spread(vals, fill=0.0):
            out = np.full(n, fill)
            out[keep] = vals
            return out
        yield f"u8 n={n}", encode(spread(rng.integers(1, 250, k) + 3.0))
        yield f"u16 n={n}", encode(spread(rng.integers(300, 60000, k).astype(float)))
        yield f"u32 n={n}", encode(spread(rng.integers(70000, 2**31, k).astype(float)))
        yield f"dec n={n}", encode(spread(rng.integers(1, 999, k) / 100.0))
        yield f"na fill n={n}", encode(spread(rng.integers(1, 9, k).astype(float), np.nan))
        na = np.zeros(n, bool)
        na[np.flatnonzero(keep)[::3]] = True
        yield f"sentinel n={n}", encode(spread(rng.integers(1, 200, k)).astype(np.int64), na=na)
        yield f"f4 n={n}", encode(spread(rng.normal(size=k).astype(np.float32).astype(float)))
        yield f"f8 n={n}", encode(spread(rng.normal(size=k)))
        yield f"i8 n={n}", encode(spread(rng.integers(-2**62, 2**62, k) | 1).astype(np.int64))


def codecs_plan(enc):
    from frame.codecs import batch, planned, pool, simd, wire  # noqa: F401
    return planned.plan_of(enc)


@pytest.mark.parametrize("name,enc", list(_bitsparse_cases()), ids=[c for c, _ in _bitsparse_cases()])
def test_bitsparse_fast_decode_matches_checked_decoder_at_every_width_and_tail(name, enc):
    assert enc.codec == "bitsparse" and codecs_plan(enc), name
    np.testing.assert_array_equal(decode_float64(enc).view(np.uint64), _checked(enc).view(np.uint64))


def test_both_mask_scatters_match_numpy_and_refuse_a_wrong_count():
    """The vector expansion (used where the CPU has AVX-512 VBMI2) and the scalar scatter (used elsewhere)
    are both run here, whatever this machine has: LLVM emulates vexpand where it is missing."""
    from frame.codecs import batch, planned, pool, simd, wire  # noqa: F401
    rng = np.random.default_rng(13)
    for n in (1, 5, 8, 13, 64, 100, 7514):
        for density in (0.0, 0.1, 0.5, 0.9, 1.0):
            keep = rng.random(n) < density
            m = int(keep.sum())
            mask = np.packbits(keep)
            mask[-1] |= (1 << (8 - n % 8)) - 1 if n % 8 else 0   # bits past n must be ignored
            vals = rng.normal(size=m)
            expect = np.full(n, -1.5)
            expect[keep] = vals
            scalar = np.empty(n)
            scalar[n - m:] = vals
            planned._scatter_mask(mask, -1.5, m, scalar)
            vector = np.empty(n)
            vector[n - m:] = vals                               # in place, as the decode kernel does
            addr = vector.ctypes.data
            assert simd.expand_mask(mask, m, addr + 8 * (n - m), 8, 0.0, 0.0, 0, -1.5, vector)
            np.testing.assert_array_equal(scalar, expect)
            np.testing.assert_array_equal(vector, expect)
            small = rng.integers(0, 255, m).astype(np.uint8)
            narrow = np.empty(n)
            assert simd.expand_mask(mask, m, small.ctypes.data, 1, 2.0, 4.0, 1, np.nan, narrow)
            expect = np.full(n, np.nan)
            expect[keep] = np.where(small == 255, np.nan, (small + 2.0) / 4.0)
            np.testing.assert_array_equal(narrow, expect)
            if m:
                before = vector.copy()
                assert not simd.expand_mask(mask, m - 1, addr, 8, 0.0, 0.0, 0, 0.0, vector)
                assert not simd.expand_mask(mask, m + 1, addr, 8, 0.0, 0.0, 0, 0.0, vector)
                np.testing.assert_array_equal(vector, before)   # a wrong count is refused before any write


def test_cached_wire_header_still_rejects_bad_payloads():
    header, data = to_wire(encode(np.random.default_rng(6).normal(size=100)))
    decode_float64(from_wire(header, data))             # header now planned and cached
    with pytest.raises(ValueError, match="too short"):
        decode_float64(from_wire(header, data[:-8]))
    with pytest.raises(ValueError, match="trailing"):
        decode_float64(from_wire(header, data + b"\0" * 8))
    rng = np.random.default_rng(7)
    h, d = to_wire(encode(np.where(rng.random(1000) < 0.4, 0.0, rng.normal(size=1000))))
    assert h["codec"] == "bitsparse" and "lz4" not in h["meta"]
    decode_float64(from_wire(h, d))
    bad = bytearray(d)
    bad[0] ^= 0x01                                      # mask count no longer nnz
    with pytest.raises(ValueError, match="nnz"):
        decode_float64(from_wire(h, bytes(bad)))
    h, d = to_wire(encode(np.where(rng.random(1000) < 0.05, rng.normal(size=1000), 0.0)))
    assert h["codec"] == "sparse" and "lz4" not in h["meta"]
    decode_float64(from_wire(h, d))
    bad = bytearray(d)
    bad[0:2] = (999).to_bytes(2, "little")              # row ids no longer increasing
    with pytest.raises(ValueError, match="increasing"):
        decode_float64(from_wire(h, bytes(bad)))


def test_pooled_outputs_are_never_reused_while_held():
    from frame.codecs import batch, planned, pool, simd, wire  # noqa: F401
    expect = np.arange(5000.0) % 250                    # 5000 rows: a prefix view of a pooled array
    enc = encode(expect)
    a = decode_float64(enc)
    addr = a.ctypes.data
    view = a[10:20]
    del a
    held = [decode_float64(enc) for _ in range(20)]     # the view keeps the first buffer busy
    assert addr not in {x.ctypes.data for x in held}
    assert all(np.array_equal(x, expect) for x in held)
    assert view[0] == 10.0
    del view, held
    assert any(decode_float64(enc).ctypes.data == addr for _ in range(pool._POOL_PROBES * 3))
    pool.release_buffers()


def test_wire_plan_cache_forgets_dropped_headers():
    from frame.codecs import batch, planned, pool, simd, wire  # noqa: F401
    headers = [to_wire(encode(np.arange(10.0) + i))[0] for i in range(3)]
    data = to_wire(encode(np.arange(10.0)))[1]
    for h in headers:
        from_wire(h, data)
    keys = [id(h) for h in headers]
    assert all(k in wire._WIRE_PLANS for k in keys)
    keep = headers[0]
    del headers, h
    saved = wire._wire_limit
    wire._wire_limit = 0                              # force a sweep
    try:
        wire._sweep_wire_plans()
    finally:
        wire._wire_limit = max(saved, wire._wire_limit)
    assert keys[0] in wire._WIRE_PLANS and keys[1] not in wire._WIRE_PLANS and keys[2] not in wire._WIRE_PLANS
    assert keep is wire._WIRE_PLANS[keys[0]][0]


def test_batch_decodes_every_planned_codec_bit_for_bit_and_leaves_the_rest():
    from frame.codecs import Batch
    encs = [e for _, e in _fast_cases() if e.nrows == 1003]
    assert len({e.codec for e in encs}) >= 8
    strings = encode_strings(["x"] * 1003)
    wires = [to_wire(e) for e in encs] + [to_wire(strings)]
    block, left = Batch(*zip(*wires)).decode(0, len(wires))
    assert left == [len(encs)]                                  # strings are the caller's business
    for j, e in enumerate(encs):
        np.testing.assert_array_equal(block[j].view(np.uint64), _checked(e).view(np.uint64))
    part, left = Batch(*zip(*wires)).decode(2, 5)
    assert left == [] and part.shape == (3, 1003)
    np.testing.assert_array_equal(part[1].view(np.uint64), block[3].view(np.uint64))
    lz = [to_wire(e) for _, e in _fast_cases() if e.meta.get("lz4")][:1]
    assert lz
    block, left = Batch(*zip(*lz)).decode(0, len(lz))
    assert left == [] and np.array_equal(block[0], decode_float64(from_wire(*lz[0])), equal_nan=True)


def test_batch_leaves_an_inconsistent_payload_to_the_checked_decoder():
    from frame.chunks import ColumnBlock
    from frame.codecs import Batch
    from cluster.dkv import Value
    rng = np.random.default_rng(8)
    good = [encode(rng.normal(size=1000)) for _ in range(3)]
    h, d = to_wire(encode(np.where(rng.random(1000) < 0.4, 0.0, rng.normal(size=1000))))
    assert h["codec"] == "bitsparse" and "lz4" not in h["meta"]
    bad = bytearray(d)
    bad[0] ^= 0x01                                              # mask count no longer nnz
    wires = [to_wire(good[0]), (h, bytes(bad)), to_wire(good[1]), to_wire(good[2])]
    block, left = Batch(*zip(*wires)).decode(0, 4)
    assert left == [1]
    for j, e in zip((0, 2, 3), good):
        assert np.array_equal(block[j], decode(e))
    with pytest.raises(ValueError, match="nnz"):
        ColumnBlock([Value("chunk", w[0], (w[1],)) for w in wires]).decode(0, 4)
    with pytest.raises(ValueError, match="one row count"):
        Batch(*zip(to_wire(good[0]), to_wire(encode(np.zeros(7)))))
    with pytest.raises(IndexError):
        Batch(*zip(*wires)).decode(2, 9)
    with pytest.raises(ValueError, match="chunk header must be a dict"):
        Batch([{"codec": "int"}], [b""])


def test_batch_reads_payloads_of_any_buffer_type_in_place():
    from frame.codecs import batch, planned, pool, simd, wire  # noqa: F401
    rng = np.random.default_rng(9)
    encs = [encode(np.where(rng.random(2000) < 0.5, 0, rng.integers(0, 256, 2000)).astype(float)) for _ in range(5)]
    headers = [to_wire(e)[0] for e in encs]
    expect = [decode_float64(e) for e in encs]
    def strided(b):                                             # a non-contiguous view of the same bytes
        spread = np.zeros(2 * len(b), np.uint8)
        spread[::2] = np.frombuffer(b, np.uint8)
        return memoryview(spread[::2])

    for wrap in (bytes, memoryview, bytearray, lambda b: np.frombuffer(b, np.uint8), strided):
        block, left = batch.Batch(headers, [wrap(e.data) for e in encs]).decode(0, 5)
        assert left == [] and all(np.array_equal(block[j], expect[j]) for j in range(5))
    assert batch._SET_PLANS[tuple(map(id, headers))].headers[0] is headers[0]     # made once, then shared


def test_set_plan_cache_keeps_the_recently_used_sets_within_its_column_budget():
    from frame.codecs import batch, planned, pool, simd, wire  # noqa: F401
    data = [to_wire(encode(np.arange(10.0) + i))[1] for i in range(3)]
    sets = [[to_wire(encode(np.arange(10.0) + i + 100 * j))[0] for i in range(3)] for j in range(4)]
    saved = batch._SET_COLUMNS
    batch._SET_PLANS.clear()
    batch._set_columns = 0
    batch._SET_COLUMNS = 6                                         # room for two sets of three
    try:
        for hs in sets[:2]:
            batch.Batch(hs, data)
        batch.Batch(sets[0], data)                                 # set 0 is now the most recently used
        for hs in sets[2:]:
            batch.Batch(hs, data)
        cached = [tuple(map(id, hs)) in batch._SET_PLANS for hs in sets]
        assert cached == [False, False, True, True]
        assert batch._set_columns <= batch._SET_COLUMNS
        batch.Batch(sets[2], data)                                 # a hit: the same tables
        assert batch._SET_PLANS[tuple(map(id, sets[2]))].headers[0] is sets[2][0]
    finally:
        batch._SET_COLUMNS = saved
