"""Benchmark of the chunk codecs on Fashion-MNIST train images (60,000 x 784 pixels).

Loads the IDX file, splits every pixel column into chunks of 7,500 rows, encodes them all,
then decodes them all with ``decode_float64`` into one reused buffer, and prints encode time,
decode throughput, total bytes and the codecs chosen, with the machine it ran on.

Example::

    python -m tools.bench.codecs                 # pixels as uint8 (integer columns)
    python -m tools.bench.codecs --dtype float64 # as a CSV parser would hand them over
"""
from __future__ import annotations

import argparse
import collections
import gzip
import os
import platform
import struct
import time
from pathlib import Path

import numpy as np

from frame.codecs import decode_float64, encode

DEFAULT_IDX = Path("/usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz")
IDX_IMAGES_MAGIC = 0x00000803  # unsigned byte data, 3 dimensions


def load_idx_images(path: Path) -> np.ndarray:
    """Read a gzip'ed IDX3 image file into an (images, rows*cols) uint8 array.

    >>> load_idx_images(DEFAULT_IDX).shape  # doctest: +SKIP
    (60000, 784)
    """
    with gzip.open(path, "rb") as f:
        raw = f.read()
    if len(raw) < 16:
        raise ValueError(f"{path}: too short for an IDX header ({len(raw)} bytes)")
    magic, n, rows, cols = struct.unpack(">4I", raw[:16])
    if magic != IDX_IMAGES_MAGIC:
        raise ValueError(f"{path}: IDX magic {magic:#010x}, expected {IDX_IMAGES_MAGIC:#010x}")
    if len(raw) != 16 + n * rows * cols:
        raise ValueError(f"{path}: {len(raw) - 16} pixel bytes, header says {n}x{rows}x{cols}")
    return np.frombuffer(raw, dtype=np.uint8, offset=16).reshape(n, rows * cols)


def main(argv: list[str] | None = None) -> None:
    from tools.bench import HelpFormatter
    ap = argparse.ArgumentParser(prog="python -m tools.bench.codecs", description=__doc__.split("\n\n")[0],
                                 formatter_class=HelpFormatter, epilog=__doc__.split("\n\n", 1)[1])
    ap.add_argument("--path", type=Path, default=DEFAULT_IDX,
                    help="IDX file of images to split into columns (gzip or plain)")
    ap.add_argument("--chunk-rows", type=int, default=7500, help="rows per chunk")
    ap.add_argument("--dtype", choices=("uint8", "int64", "float64"), default="uint8",
                    help="type the pixel columns are encoded from: uint8 (integer columns) or float64 (as a CSV "
                         "parser hands them over)")
    ap.add_argument("--repeats", type=int, default=3, help="timings are the best of this many runs")
    args = ap.parse_args(argv)
    if args.chunk_rows < 1:
        ap.error("--chunk-rows must be >= 1")

    images = load_idx_images(args.path)
    columns = np.ascontiguousarray(images.T).astype(args.dtype)  # one row per pixel column
    nrows = columns.shape[1]
    starts = range(0, nrows, args.chunk_rows)

    # Best of N: the machine is shared, the minimum is the least disturbed run.
    t_encode = float("inf")
    for _ in range(max(1, args.repeats)):
        t0 = time.perf_counter()
        chunks = [encode(col[s:s + args.chunk_rows]) for col in columns for s in starts]
        t_encode = min(t_encode, time.perf_counter() - t0)

    buf = np.empty(args.chunk_rows, np.float64)
    best = float("inf")
    for _ in range(max(1, args.repeats)):
        t0 = time.perf_counter()
        for c in chunks:
            decode_float64(c, buf[:c.nrows])
        best = min(best, time.perf_counter() - t0)
    produced = 8 * columns.size

    total = sum(c.nbytes for c in chunks)
    counts = collections.Counter(c.codec + ("+lz4" if "lz4" in c.meta else "") for c in chunks)
    print(f"machine       : {platform.platform()}, {platform.processor() or platform.machine()}, "
          f"{os.cpu_count()} cpus, python {platform.python_version()}, numpy {np.__version__}")
    print(f"data          : {columns.shape[0]} columns x {nrows} rows ({args.dtype}), "
          f"{len(chunks)} chunks of {args.chunk_rows} rows")
    print(f"encode        : {t_encode:.3f} s ({1e6 * t_encode / len(chunks):.0f} us/chunk, "
          f"{columns.size / t_encode / 1e6:.0f} M values/s)")
    print(f"decode_float64: {best:.3f} s, {produced / best / 1e9:.2f} GB/s of float64 "
          f"({1e6 * best / len(chunks):.1f} us/chunk)")
    print(f"total bytes   : {total / 1e6:.2f} MB (raw uint8 {columns.size / 1e6:.1f} MB, "
          f"float64 {produced / 1e6:.0f} MB)")
    print("codecs        : " + ", ".join(f"{k} {v}" for k, v in counts.most_common()))


if __name__ == "__main__":
    main()
