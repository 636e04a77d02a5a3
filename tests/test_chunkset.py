"""What a map sees of one chunk (``cluster.mrtask.ChunkSet``) with the frame layer's codecs: columns decoded on
first access and read ahead in batches (``frame.chunks.ColumnBlock``), ``matrix()``, and arrays a map holds
never overwritten by recycled buffers."""
import numpy as np
import pytest

from cluster.mrtask import ChunkSet
from frame.chunks import ColumnBlock, decode_float64, encode_chunk

ROWS = 3001          # not a multiple of 8; big enough for the recycled decode buffers


def wide_chunk(ncols=300, seed=0):
    """Columns of every kind a frame holds: half-zero pixels (bitsparse), mostly zero (sparse), small ints,
    decimals, doubles with NaN, enum codes with NA, constants and strings."""
    rng = np.random.default_rng(seed)
    cols, expect = [], []
    for j in range(ncols):
        kind = j % 8
        if kind == 0:
            v = np.where(rng.random(ROWS) < 0.5, 0, rng.integers(1, 256, ROWS)).astype(float)
        elif kind == 1:
            v = np.where(rng.random(ROWS) < 0.95, 0.0, rng.normal(size=ROWS))
        elif kind == 2:
            v = rng.integers(-50, 50, ROWS).astype(float)
        elif kind == 3:
            v = rng.integers(-10**4, 10**4, ROWS) / 100.0
        elif kind == 4:
            v = np.where(rng.random(ROWS) < 0.1, np.nan, rng.normal(size=ROWS))
        elif kind == 5:
            codes = np.where(rng.random(ROWS) < 0.1, -1, rng.integers(0, 7, ROWS))
            cols.append(encode_chunk(codes, "enum"))
            expect.append(np.where(codes < 0, np.nan, codes).astype(float))
            continue
        elif kind == 6:
            v = np.full(ROWS, 2.5)
        else:
            cols.append(encode_chunk([f"s{i}" if i % 3 else None for i in range(ROWS)], "string"))
            expect.append(np.full(ROWS, np.nan))
            continue
        cols.append(encode_chunk(v, "numeric"))
        expect.append(v)
    return cols, expect


class CountingBlock(ColumnBlock):
    runs: list = []

    def decode(self, lo, hi):
        CountingBlock.runs.append(hi - lo)
        return super().decode(lo, hi)


def chunk_set(values, block=ColumnBlock):
    return ChunkSet(0, 0, ROWS, values, 0, decode=decode_float64, block=block)


def same(a, b):
    return np.array_equal(a, b, equal_nan=True)


def test_block_decodes_every_codec_like_single_decodes():
    values, expect = wide_chunk()
    block = ColumnBlock(values).decode(0, len(values))
    assert block.shape == (len(values), ROWS)
    for j, v in enumerate(values):
        np.testing.assert_array_equal(block[j].view(np.uint64), decode_float64(v).view(np.uint64))
        assert same(block[j], expect[j])
    part = ColumnBlock(values).decode(17, 40)
    assert all(same(part[j - 17], expect[j]) for j in range(17, 40))


def test_sequential_reads_are_decoded_in_growing_runs():
    values, expect = wide_chunk()
    CountingBlock.runs = []
    cs = chunk_set(values, CountingBlock)
    sums = [cs[i].sum() for i in range(len(cs))]
    assert [s == e.sum() or (np.isnan(s) and np.isnan(e.sum())) for s, e in zip(sums, expect)] == [True] * len(values)
    top = ChunkSet.READ_AHEAD_BYTES // (8 * ROWS)
    assert CountingBlock.runs[:4] == [2, 4, 8, 16] and max(CountingBlock.runs) == top
    assert sum(CountingBlock.runs) == len(values) - 1          # the first column alone, then runs, no column twice


def test_arrays_a_map_holds_are_never_recycled_under_it():
    values, expect = wide_chunk(seed=1)
    cs = chunk_set(values)
    held = {i: cs[i] for i in range(0, len(cs), 7)}             # kept while the map reads on
    for i in range(len(cs)):
        assert same(cs[i], expect[i])
    views = [cs[i][5:9] for i in range(1, 60, 11)]
    for i in range(len(cs)):
        cs[i].sum()
    assert all(same(a, expect[i]) for i, a in held.items())
    assert all(same(v, expect[i][5:9]) for v, i in zip(views, range(1, 60, 11)))


def test_a_column_read_again_is_decoded_again_then_everything_is_kept():
    values, expect = wide_chunk(seed=2)
    cs = chunk_set(values)
    for i in range(100):
        cs[i]
    again = cs[3]                                               # its run was dropped long ago
    assert same(again, expect[3])
    assert cs[3] is again
    later = [cs[i] for i in range(100, 200)]
    assert all(cs[i] is later[i - 100] for i in range(100, 200))
    assert same(cs[-1], expect[-1])
    with pytest.raises(IndexError):
        cs[len(values)]


def test_matrix_is_every_column_and_columns_are_its_views():
    values, expect = wide_chunk(seed=3)
    cs = chunk_set(values)
    first = cs[0]
    m = cs.matrix()
    assert m.shape == (ROWS, len(values)) and m.flags.f_contiguous
    assert same(m, np.column_stack(expect))
    assert np.shares_memory(cs[5], m) and same(cs[5], expect[5])
    assert same(first, expect[0])


def test_without_a_block_codec_columns_decode_one_by_one():
    values, expect = wide_chunk(ncols=40, seed=4)
    cs = chunk_set(values, block=None)
    assert all(same(cs[i], expect[i]) for i in range(len(cs)))
    assert same(cs.matrix(), np.column_stack(expect))


def test_decoded_columns_are_read_only_and_copies_are_not():
    values, expect = wide_chunk(ncols=60, seed=5)
    cs = chunk_set(values)
    for col in (cs[0], cs[1], cs[40], cs.matrix()):
        with pytest.raises(ValueError, match="read-only"):
            col[0] = 1.0
    c = cs[3].copy()
    c[0] = 7.0
    assert same(cs[3], expect[3])
    again = chunk_set(values)                                  # recycled buffers are still writeable
    assert all(same(again[i], expect[i]) for i in range(len(again)))
