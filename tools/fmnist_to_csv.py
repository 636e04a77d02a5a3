"""Convert the Debian ``dataset-fashion-mnist`` IDX files into H2O's benchmark CSVs.

Output: ``fmnist_train.csv`` and ``fmnist_test.csv`` with no header, 785 integer columns per row (784 pixels,
then the label) and ``\\n`` line endings, like the files H2O's Fashion-MNIST benchmarks import. With ``--limit N``
a split cut to its first N rows is written as ``fmnist_<split>_<N>.csv`` (e.g. ``fmnist_train_10000.csv``) and the
full files are left alone; a limit at or above a split's size gives that split's full file. Each file is written
once and reused while it is newer than its sources and has the rows it should.

    python -m tools.fmnist_to_csv [--src /usr/share/datasets/fashion-mnist] [--out data/] [--limit N] [--force]

Example (library use):
    >>> import numpy as np, io, os, tempfile
    >>> d = tempfile.mkdtemp(); p = os.path.join(d, "x.csv")
    >>> write_csv(np.array([[[0, 255]]], dtype=np.uint8), np.array([7], dtype=np.uint8), p)
    >>> open(p).read()
    '0,255,7\\n'
"""
from __future__ import annotations

import argparse
import gzip
import os
import sys
from pathlib import Path

import numpy as np

__all__ = ["load_idx", "write_csv", "csv_name", "convert", "main"]

_IDX_DTYPES = {0x08: np.uint8}        # the only element type Fashion-MNIST uses
_SPLITS = {"train": "train", "test": "t10k"}
_BATCH_ROWS = 4096                    # bounds the (rows, cols, 4) staging array to ~13 MB
DEFAULT_SRC = "/usr/share/datasets/fashion-mnist"
DEFAULT_OUT = Path(__file__).resolve().parent.parent / "data"


def _open(path: str | os.PathLike):
    with open(path, "rb") as f:
        gz = f.read(2) == b"\x1f\x8b"
    return gzip.open(path, "rb") if gz else open(path, "rb")


def _read_header(f, path) -> tuple[int, tuple[int, ...]]:
    head = f.read(4)
    if len(head) != 4 or head[0] != 0 or head[1] != 0 or head[2] not in _IDX_DTYPES or head[3] == 0:
        raise ValueError(f"{path}: not an IDX file of unsigned bytes (magic {head.hex()!r}; expected "
                         f"00000801 labels or 00000803 images)")
    ndim = head[3]
    raw = f.read(4 * ndim)
    if len(raw) != 4 * ndim:
        raise ValueError(f"{path}: truncated IDX header")
    return head[2], tuple(int(x) for x in np.frombuffer(raw, dtype=">u4"))


def idx_count(path: str | os.PathLike) -> int:
    """Number of items (first dimension) of an IDX file, reading only its header."""
    with _open(path) as f:
        return _read_header(f, path)[1][0]


def load_idx(path: str | os.PathLike) -> np.ndarray:
    """Read an IDX file (gzip or plain): big-endian magic ``0x0000 08 ndim``, ``ndim`` big-endian uint32
    dimensions, then the uint8 data.

    >>> load_idx("/usr/share/datasets/fashion-mnist/t10k-labels-idx1-ubyte.gz").shape   # doctest: +SKIP
    (10000,)
    """
    with _open(path) as f:
        code, dims = _read_header(f, path)
        dtype = _IDX_DTYPES[code]
        count = int(np.prod(dims))
        data = f.read(count)
    if len(data) != count:
        raise ValueError(f"{path}: expected {count} data bytes for dims {dims}, got {len(data)}")
    return np.frombuffer(data, dtype=dtype).reshape(dims)


def _digit_table(terminator: bytes) -> tuple[np.ndarray, np.ndarray]:
    """For v in 0..255: its decimal digits + terminator, padded to 4 bytes, and the used length."""
    tab = np.zeros((256, 4), dtype=np.uint8)
    lens = np.zeros(256, dtype=np.int64)
    for v in range(256):
        b = str(v).encode() + terminator
        tab[v, :len(b)] = np.frombuffer(b, dtype=np.uint8)
        lens[v] = len(b)
    return tab, lens


def write_csv(images: np.ndarray, labels: np.ndarray, path: str | os.PathLike) -> None:
    """Write one row per image: its pixels row-major, then the label; no header, ``\\n`` endings.

    Vectorised: each value is looked up in a 256-entry table of its digits plus separator and the padding
    is dropped with a mask, a few thousand rows at a time. Written to a temporary file, then renamed.
    """
    images = np.asarray(images)
    labels = np.asarray(labels)
    if images.ndim < 2 or labels.ndim != 1 or images.shape[0] != labels.shape[0]:
        raise ValueError(f"images {images.shape} and labels {labels.shape} must have the same number of rows")
    if images.dtype != np.uint8 or labels.dtype != np.uint8:
        raise ValueError(f"images and labels must be uint8, got {images.dtype} and {labels.dtype}")
    flat = images.reshape(images.shape[0], -1)
    comma, comma_len = _digit_table(b",")
    newline, newline_len = _digit_table(b"\n")
    tmp = Path(f"{path}.tmp{os.getpid()}")
    try:
        with open(tmp, "wb") as out:
            for lo in range(0, flat.shape[0], _BATCH_ROWS):
                vals = np.concatenate([flat[lo:lo + _BATCH_ROWS], labels[lo:lo + _BATCH_ROWS, None]], axis=1)
                chars = comma[vals]
                chars[:, -1] = newline[vals[:, -1]]
                lens = comma_len[vals]
                lens[:, -1] = newline_len[vals[:, -1]]
                mask = np.arange(4) < lens[..., None]
                out.write(chars[mask].tobytes())
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def _count_rows(path: Path) -> int:
    n = 0
    with open(path, "rb") as f:
        while block := f.read(1 << 24):
            n += block.count(b"\n")
    return n


def csv_name(split: str, nrows: int, total: int) -> str:
    """The file name of ``split`` cut to its first ``nrows`` of ``total`` rows: a cut file never takes the full
    file's name (which the quick start and the benchmarks read as the whole data set).

    >>> csv_name("train", 60000, 60000), csv_name("train", 10000, 60000)
    ('fmnist_train.csv', 'fmnist_train_10000.csv')
    """
    return f"fmnist_{split}.csv" if nrows >= total else f"fmnist_{split}_{nrows}.csv"


def convert(src: str | os.PathLike, out: str | os.PathLike, limit: int | None = None,
            force: bool = False) -> dict[str, tuple[Path, bool]]:
    """Write ``fmnist_{train,test}.csv`` into ``out``, or with ``limit`` below a split's size its first ``limit``
    rows as ``fmnist_{split}_{limit}.csv`` (the full files are not touched); returns {split: (path, written)}. An
    output newer than its sources and with the expected row count is kept unless ``force``."""
    if limit is not None and limit < 1:
        raise ValueError(f"--limit must be a positive number of rows, got {limit}")
    src, out = Path(src), Path(out)
    out.mkdir(parents=True, exist_ok=True)
    result = {}
    for split, prefix in _SPLITS.items():
        img = src / f"{prefix}-images-idx3-ubyte.gz"
        lab = src / f"{prefix}-labels-idx1-ubyte.gz"
        for p in (img, lab):
            if not p.exists():
                raise FileNotFoundError(f"{p} not found (install the Debian package dataset-fashion-mnist "
                                        f"or pass --src)")
        total = idx_count(lab)
        nrows = total if limit is None else min(limit, total)
        dest = out / csv_name(split, nrows, total)
        fresh = dest.exists() and dest.stat().st_mtime >= max(img.stat().st_mtime, lab.stat().st_mtime)
        if fresh and not force and _count_rows(dest) == nrows:
            result[split] = (dest, False)
            continue
        images, labels = load_idx(img), load_idx(lab)
        if images.shape[0] != labels.shape[0]:
            raise ValueError(f"{img} has {images.shape[0]} images but {lab} has {labels.shape[0]} labels")
        write_csv(images[:nrows], labels[:nrows], dest)
        result[split] = (dest, True)
    return result


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m tools.fmnist_to_csv", description=__doc__.split("\n\n")[0])
    ap.add_argument("--src", default=DEFAULT_SRC, help="directory with the IDX .gz files (default: %(default)s)")
    ap.add_argument("--out", default=str(DEFAULT_OUT), help="output directory (default: %(default)s)")
    ap.add_argument("--limit", type=int, default=None, metavar="N",
                    help="only the first N rows of each split, written as fmnist_<split>_<N>.csv (the full files "
                         "are left alone)")
    ap.add_argument("--force", action="store_true", help="rewrite outputs even if up to date")
    args = ap.parse_args(argv)
    try:
        res = convert(args.src, args.out, args.limit, args.force)
    except (OSError, ValueError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    for split, (path, written) in res.items():
        print(f"{split}: {path} ({'written' if written else 'up to date, kept'})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
