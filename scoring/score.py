"""Command line: score a CSV file with a portable model file, streaming (bounded memory).

    python -m scoring.score MODEL.zip input.csv output.csv [--batch-rows N] [--sep ,]
    python -m scoring.score MODEL.zip input.csv output.csv --anomaly [--per-feature]
    python -m scoring.score MODEL.zip input.csv output.csv --deepfeatures LAYER

``input.csv`` needs a header row naming the model's columns (in any order; others are ignored); ``-`` reads
standard input and writes standard output. Rows are read, scored and written ``--batch-rows`` at a time, so memory
stays bounded whatever the file size. ``output.csv`` has the cloud's ``predict`` columns (or ``Reconstruction.MSE``
/ ``reconstr_<input>.SE`` / ``DF.L<k>.C<j>``); numbers are written with Python's ``repr`` (they read back
bit-identical). Exit status: 0 done, 1 a bad model file or input (the message names the line and column), 2 bad
arguments.

>>> main(["--help"])                                            # doctest: +SKIP
"""
from __future__ import annotations

import argparse
import csv
import sys
from contextlib import ExitStack
from pathlib import Path
from typing import IO, Iterator

import numpy as np

from .model_file import ModelFormatError
from .scorer import Scorer, load_scorer

BATCH_ROWS = 10_000


def score_csv(scorer: Scorer, src: IO[str], dst: IO[str], *, sep: str = ",", batch_rows: int = BATCH_ROWS,
              mode: str = "predict", layer: int = 0, per_feature: bool = False) -> int:
    """Score CSV text from ``src`` into ``dst`` in batches; returns the number of rows scored.

    >>> score_csv(load_scorer("m.zip"), open("in.csv"), open("out.csv", "w"))    # doctest: +SKIP
    """
    if batch_rows < 1:
        raise ValueError(f"batch_rows must be >= 1, got {batch_rows}")
    reader = csv.reader(src, delimiter=sep)
    header = next(reader, None)
    if header is None:
        raise ValueError("the input is empty: a header row naming the model's columns is needed")
    if header and header[0].startswith("\ufeff"):
        header[0] = header[0][1:]
    twice = sorted({c for c in scorer.names if header.count(c) > 1})
    if twice:            # which of the two would be the model's? refuse rather than take the first silently
        raise ValueError(f"the input's header names the model's column(s) {twice[:10]} more than once")
    missing = [c for c in scorer.names if c not in header]
    if missing:
        more = f" and {len(missing) - 10} more" if len(missing) > 10 else ""
        text = f"the input's header lacks the model's columns {missing[:10]}{more}"
        if len(missing) == len(scorer.names):            # none matches: most likely a file without a header row
            first = sep.join(header)
            first = first if len(first) <= 60 else first[:57] + "..."
            text += (f": none of them is there (the first line is read as the header, and it reads {first!r}; "
                     f"put a header row naming the model's columns first)")
        raise ValueError(text)
    pos = [header.index(c) for c in scorer.names]
    writer = csv.writer(dst, lineterminator="\n")
    total, wrote_header = 0, False
    for first_line, batch in _batches(reader, len(header), batch_rows):
        if pos != list(range(len(header))):                 # only the model's columns become an array
            batch = [[rec[p] for p in pos] for rec in batch]
        table = np.array(batch, dtype=str).reshape(len(batch), len(pos))
        try:
            if mode == "anomaly":
                out = scorer.anomaly(table, per_feature=per_feature)
            elif mode == "deepfeatures":
                out = scorer.deepfeatures(table, layer)
            else:
                out = scorer.predict(table)
        except ValueError as exc:
            raise ValueError(f"in the rows from line {first_line}: {exc}") from None
        if not wrote_header:
            writer.writerow(list(out))
            wrote_header = True
        cols = [v.tolist() if v.dtype == object else [repr(x) for x in v.tolist()] for v in out.values()]
        writer.writerows(zip(*cols))
        total += len(batch)
    if not wrote_header:                                   # no data rows: still name the columns
        writer.writerow(_names(scorer, mode, layer, per_feature))
    return total


def _batches(reader, width: int, size: int) -> Iterator[tuple[int, list[list[str]]]]:
    """(line of the batch's first record, records) of at most ``size`` records, checked to be ``width`` wide."""
    batch, first = [], None
    for rec in reader:
        if not rec:                                        # a blank line
            continue
        if len(rec) != width:
            raise ValueError(f"line {reader.line_num}: {len(rec)} fields, the header has {width}")
        if first is None:
            first = reader.line_num
        batch.append(rec)
        if len(batch) == size:
            yield first, batch
            batch, first = [], None
    if batch:
        yield first, batch


def _names(scorer: Scorer, mode: str, layer: int, per_feature: bool) -> list[str]:
    m = scorer.model
    if mode == "anomaly":
        return [f"reconstr_{c}.SE" for c in m.coef_names] if per_feature else ["Reconstruction.MSE"]
    if mode == "deepfeatures":
        return [f"DF.L{layer + 1}.C{j + 1}" for j in range(m.units[layer + 1])]
    return m.output_names


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m scoring.score", description=(
        "Score a CSV file with a portable model file (model.download_mojo()), numpy only. The input needs a "
        "header row with the model's columns; rows are streamed in batches (bounded memory)."))
    ap.add_argument("model", help="portable model file (.zip)")
    ap.add_argument("input", help="CSV file to score, with a header row ('-' for standard input)")
    ap.add_argument("output", help="CSV file to write ('-' for standard output)")
    ap.add_argument("--sep", default=",", help="field separator of the input (default ',')")
    ap.add_argument("--batch-rows", type=int, default=BATCH_ROWS, metavar="N",
                    help=f"rows scored at a time (default {BATCH_ROWS:,}); bounds the memory used")
    what = ap.add_mutually_exclusive_group()
    what.add_argument("--anomaly", action="store_true", help="autoencoder: write Reconstruction.MSE per row")
    what.add_argument("--deepfeatures", type=int, metavar="LAYER",
                      help="write hidden layer LAYER's activations (0-based) instead of predictions")
    ap.add_argument("--per-feature", action="store_true", help="with --anomaly: one squared error per input")
    args = ap.parse_args(argv)
    if args.per_feature and not args.anomaly:
        ap.error("--per-feature needs --anomaly")
    if len(args.sep) != 1:
        ap.error(f"--sep must be one character, got {args.sep!r}")
    mode = "anomaly" if args.anomaly else "deepfeatures" if args.deepfeatures is not None else "predict"
    wrote = False
    try:
        scorer = load_scorer(args.model)
        with ExitStack() as stack:
            src = sys.stdin if args.input == "-" else stack.enter_context(
                open(args.input, newline="", encoding="utf-8-sig"))
            if args.output == "-":
                dst = sys.stdout
            else:
                dst = stack.enter_context(open(args.output, "w", newline="", encoding="utf-8"))
                wrote = True
            score_csv(scorer, src, dst, sep=args.sep, batch_rows=args.batch_rows, mode=mode,
                      layer=args.deepfeatures or 0, per_feature=args.per_feature)
    except (ModelFormatError, ValueError, OSError, csv.Error, UnicodeDecodeError) as exc:
        if wrote:                                          # no half-written output left behind
            Path(args.output).unlink(missing_ok=True)
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0

if __name__ == "__main__":
    sys.exit(main())
