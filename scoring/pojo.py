"""The POJO: a portable model as one self-contained Java class (JDK only), like H2O's generated model code.

``pojo_source(model)`` turns a :class:`~scoring.portable.PortableModel` into Java source; ``write_pojo`` writes
``<Class>.java`` (and, for a large network, the companion resource ``<Class>.bin``). The class offers what H2O's
POJO offers, without the h2o-genmodel jar:

* ``COLUMNS`` (the row's columns, in order; the offset column last when the model has one), ``NAMES`` and
  ``DOMAINS`` in H2O's layout (``COLUMNS`` then the response, its levels last; null for numeric columns),
  ``getNames()``/``getNumCols()``/``getResponseIdx()`` as genmodel's, ``RESPONSE``, ``RESPONSE_DOMAIN``,
  ``OUTPUT_NAMES`` / ``getOutputNames()`` (the cloud's ``predict`` column names: ``p0``, ``p1`` for integer
  levels, as genmodel's ``getOutputNames``), ``getNumCols()``, ``nclasses()``, ``getPredsSize()``;
* ``double[] score0(double[] row, double[] preds)``: ``row`` holds numbers for numeric columns and level indices
  into ``DOMAINS[i]`` for categorical ones (NaN = missing). ``preds`` as H2O's: classification ``[label index,
  p_0, ..., p_K-1]``, regression ``[value, value]``, autoencoder the reconstruction;
* ``double[] score(String[] row)``: raw strings (level names, numbers, NA spellings or null), mapped as the
  portable scorer and the cloud map them (an unseen level is treated as missing);
* ``main``: ``java -cp DIR Class input.csv output.csv`` scores a CSV with a header (the same columns as
  ``python -m scoring.score``).

The numbers match :mod:`scoring.network` and :mod:`scoring.encoding`: float32 weights, double arithmetic, inputs
rounded to float as the cloud encodes them. Weights, biases and lookup tables are one little-endian blob (with a
CRC-32) embedded in the source as Base64 strings, or, past ``inline_limit`` parameters (H2O's own POJO size
limit, 1e6), read from ``<Class>.bin`` next to the class (``Class.getResourceAsStream``: its jar or directory).
One instance keeps its scratch arrays: use one per thread, as H2O's POJOs.

>>> src, blob = pojo_source(PortableModel.from_file("model.zip"))     # doctest: +SKIP
"""
from __future__ import annotations

import argparse
import base64
import re
import struct
import sys
import zlib
from pathlib import Path
from string import Template

import numpy as np

from .distributions import _MAX_EXP
from .encoding import NA_STRINGS
from .portable import PortableModel

INLINE_LIMIT = 1_000_000          # parameters: H2O's toJavaCheckTooBig bound; larger nets use <Class>.bin
MAGIC = b"AQPOJO\x00\x01"
_CHUNK_ELEMENTS = 1000            # array elements per nested class (an initialiser's bytecode is capped at 64 KiB)
_INLINE_ELEMENTS = 2000           # array elements written in the class itself (small arrays, for the reader)
_B64_CHARS = 60_000               # characters per string literal (a constant is capped at 65,535 bytes)
_JAVA_KEYWORDS = frozenset("""abstract assert boolean break byte case catch char class const continue default do double
else enum extends final finally float for goto if implements import instanceof int interface long native new package
private protected public return short static strictfp super switch synchronized this throw throws transient try void
volatile while true false null var record yield sealed permits""".split())
_ACT_CODE = {"Tanh": 0, "Rectifier": 1, "Maxout": 2, "ExpRectifier": 3}


def class_name(model_id: str) -> str:
    """A Java class name from a model id (H2O's ``toJavaId``: other characters become ``_``).

    >>> class_name("DeepLearning_model_1a2b"), class_name("3 layers-net")
    ('DeepLearning_model_1a2b', '_3_layers_net')
    """
    name = re.sub(r"[^A-Za-z0-9_]", "_", model_id) or "Model"
    if name[0].isdigit() or name in _JAVA_KEYWORDS:
        name = "_" + name
    return name


def java_string(s: str) -> str:
    """A Java string literal of ``s`` in ASCII (escapes that javac's unicode pre-pass cannot break).

    >>> java_string('a"b\\n\\u00e9')
    '"a\\\\"b\\\\n\\\\u00e9"'
    """
    out = ['"']
    for ch in s:
        o = ord(ch)
        if ch in '"\\':
            out.append("\\" + ch)
        elif ch == "\n":
            out.append("\\n")
        elif ch == "\r":
            out.append("\\r")
        elif ch == "\t":
            out.append("\\t")
        elif o < 0x20 or o == 0x7F:
            out.append(f"\\{o:03o}")
        elif o < 0x7F:
            out.append(ch)
        elif o <= 0xFFFF:
            out.append(f"\\u{o:04x}")
        else:
            hi, lo = divmod(o - 0x10000, 0x400)
            out.append(f"\\u{0xD800 + hi:04x}\\u{0xDC00 + lo:04x}")
    out.append('"')
    if len(s.encode("utf-8")) > 65_000:
        raise ValueError(f"a name or level of {len(s)} characters is too long for a Java string constant")
    return "".join(out)


def _comment(s: str) -> str:
    """Text safe inside a Java comment (javac reads unicode escapes there too)."""
    return re.sub(r"[^A-Za-z0-9 _.:,=()\[\]-]", "?", s)


def _blob(model: PortableModel) -> bytes:
    """The numeric tables, in the order the generated ``load`` reads them, then a CRC-32 of all before."""
    parts = [MAGIC]
    for i in range(len(model.cat_names)):
        parts.append(model.arrays[f"cat{i}.lookup"].astype("<i4").tobytes())
    enc = model.encoding
    for arr in (enc.num_sub, enc.num_mul, enc.num_fill.astype(np.float32).astype(np.float64)):
        parts.append(arr.astype("<f8").tobytes())
    for l in range(len(model.units) - 1):
        parts.append(model.arrays[f"layer{l}.weights"].astype("<f4").tobytes())
        parts.append(model.arrays[f"layer{l}.biases"].astype("<f8").tobytes())
    if model.priors is not None:
        parts.append(model.priors.astype("<f8").tobytes())
    body = b"".join(parts)
    return body + struct.pack("<I", zlib.crc32(body))


class _Source:
    """Collects the nested classes that hold the constant arrays: each holds at most ``_CHUNK_ELEMENTS`` values,
    so no class meets the JVM's limits (64 KiB of bytecode per initialiser, 65,535 constants per class)."""

    _CONCAT = {"String": "concatStrings", "String[]": "concatDomains", "int": "concatInts"}

    def __init__(self):
        self.helpers: list[str] = []
        self.inline_budget = _INLINE_ELEMENTS

    def array(self, jtype: str, literals: list[str]) -> str:
        """An expression of a ``jtype[]`` holding ``literals``: written in place while the class's own share
        lasts (readable), else held by nested classes."""
        if len(literals) <= min(100, self.inline_budget):
            self.inline_budget -= len(literals)
            return f"new {jtype}[]{{{', '.join(literals)}}}"
        parts = []
        for k in range(0, len(literals), _CHUNK_ELEMENTS):
            holder = f"K{len(self.helpers)}"
            body = ", ".join(literals[k:k + _CHUNK_ELEMENTS])
            self.helpers.append(f"  static final class {holder} {{ static final {jtype}[] V = new {jtype}[]{{{body}}}; }}")
            parts.append(f"{holder}.V")
        return parts[0] if len(parts) == 1 else f"{self._CONCAT[jtype]}({', '.join(parts)})"

    def strings(self, values) -> str:
        return "null" if values is None else self.array("String", [java_string(v) for v in values])


def pojo_source(model: PortableModel, *, inline_limit: int = INLINE_LIMIT, name: str | None = None
                ) -> tuple[str, bytes | None]:
    """``(java source, companion resource bytes or None)`` of ``model``; the class is ``name`` or the model id's
    :func:`class_name`. The weights are embedded when the network has at most ``inline_limit`` parameters."""
    cls = name or class_name(model.model_id)
    if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", cls) or cls in _JAVA_KEYWORDS:
        raise ValueError(f"{cls!r} is not a Java class name")
    src = _Source()
    names = model.input_names
    blob = _blob(model)
    n_params = sum(model.arrays[f"layer{l}.weights"].size + model.arrays[f"layer{l}.biases"].size
                   for l in range(len(model.units) - 1))
    inline = n_params <= inline_limit
    if inline:
        b64 = base64.b64encode(blob).decode("ascii")
        lits = [f'"{b64[k:k + _B64_CHARS]}"' for k in range(0, len(b64), _B64_CHARS)]
        blob_expr = f'Base64.getDecoder().decode(String.join("", {src.array("String", lits)}))'
    else:
        blob_expr = f"resource({java_string(cls + '.bin')}, {len(blob)})"
    domains = [src.strings(model.column(c).domain) if c != model.offset_column else "null" for c in names]
    cat_cols = [names.index(c) for c in model.cat_names]
    num_cols = [names.index(c) for c in model.num_names]
    classifier = model.response_domain is not None
    base_act = model.activation.removesuffix("WithDropout")
    values = {
        "CLASS": cls,
        "COMMENT_ID": _comment(model.model_id),
        "COMMENT_KIND": _comment(f"{model.category}, units {model.units}, {model.activation}, "
                                 f"{model.distribution} distribution"),
        "MODEL_ID": java_string(model.model_id),
        "CATEGORY": java_string(model.category),
        "COLUMNS": src.strings(names),
        # H2O's layout (genmodel's IGeneratedModel): the row's columns, then the response, whose domain ends DOMAINS
        "NAMES": src.strings(names + ([] if model.response_name is None else [model.response_name])),
        "DOMAINS": src.array("String[]", domains + ([] if model.response_name is None else
                                                    [src.strings(model.response_domain)])),
        "RESPONSE": "null" if model.response_name is None else java_string(model.response_name),
        "RESPONSE_DOMAIN": src.strings(model.response_domain),
        "OUTPUT_NAMES": src.strings(model.output_names),
        "OFFSET": "null" if model.offset_column is None else java_string(model.offset_column),
        "NA": src.strings(sorted(NA_STRINGS)),
        "CAT_COLS": src.array("int", [str(i) for i in cat_cols]),
        "NUM_COLS": src.array("int", [str(i) for i in num_cols]),
        "CAT_SIZES": src.array("int", [str(len(model.column(c).domain) + 1) for c in model.cat_names]),
        "UNITS": src.array("int", [str(u) for u in model.units]),
        "CHANNELS": src.array("int", [str(model.network.channels(l)) for l in range(len(model.units) - 1)]),
        "DROPOUT": f"new double[]{{{', '.join(repr(r) for r in model.network.hidden_dropout_ratios)}}}",   # one per layer
        "ACT": str(_ACT_CODE[base_act]),
        "OUTPUT_KIND": {"softmax": "0", "linear": "1", "autoencoder": "2"}[model.network.output],
        "N_INPUTS": str(model.n_inputs),
        "NUM_START": str(model.encoding.num_start),
        "LOG_LINK": "true" if model.link == "log" else "false",
        "MAX_EXP": repr(_MAX_EXP),
        "RESP_SUB": repr(model.resp_sub), "RESP_MUL": repr(model.resp_mul),
        "THRESHOLD": repr(model.threshold),
        "BINOMIAL": "true" if model.category == "Binomial" else "false",
        "CLASSIFIER": "true" if classifier else "false",
        "HAS_PRIORS": "true" if model.priors is not None else "false",
        "PREDS_SIZE": str(len(model.response_domain) + 1 if classifier else
                          2 if model.category == "Regression" else model.n_inputs),
        "NCLASSES": str(len(model.response_domain) if classifier else
                        1 if model.category == "Regression" else model.n_inputs),
        "BLOB": blob_expr,
        "WEIGHTS_WHERE": "embedded below (Base64)" if inline else f"read from the resource {cls}.bin next to the class",
    }
    text = Template(_TEMPLATE).substitute(values)
    text = text.replace("  // @@HELPERS@@\n", "\n".join(src.helpers) + ("\n" if src.helpers else ""))
    return text, None if inline else blob


def write_pojo(model: PortableModel, path: str | Path, *, inline_limit: int = INLINE_LIMIT) -> Path:
    """Write ``<Class>.java`` (and ``<Class>.bin`` for a large network) into directory ``path``, or to ``path``
    itself when it ends in ``.java`` (the class is then named after the file). Returns the ``.java`` path."""
    path = Path(path)
    if path.suffix == ".java":
        cls, folder = path.stem, path.parent
    else:
        cls, folder = class_name(model.model_id), path
    folder.mkdir(parents=True, exist_ok=True)
    src, blob = pojo_source(model, inline_limit=inline_limit, name=cls)
    out = folder / f"{cls}.java"
    out.write_text(src, encoding="ascii")
    res = folder / f"{cls}.bin"
    if blob is not None:
        res.write_bytes(blob)
    else:
        res.unlink(missing_ok=True)          # a stale resource of an earlier, larger export would mislead
    return out


def main(argv: list[str] | None = None) -> int:
    """``python -m scoring.pojo MODEL.zip OUT`` writes the POJO of a portable model file."""
    ap = argparse.ArgumentParser(prog="python -m scoring.pojo", description=(
        "Write the POJO (one self-contained Java class, JDK only) of a portable model file made by "
        "model.download_mojo(). Compile it with `javac`; `java -cp OUT <Class> in.csv out.csv` scores a CSV."))
    ap.add_argument("model", help="portable model file (.zip)")
    ap.add_argument("out", help="directory to write <Class>.java into, or a path ending in .java")
    ap.add_argument("--inline-limit", type=int, default=INLINE_LIMIT, metavar="N",
                    help=f"embed the weights when the network has at most N parameters (default {INLINE_LIMIT:,}); "
                         "else write <Class>.bin next to the source, to ship beside the compiled class")
    args = ap.parse_args(argv)
    try:
        out = write_pojo(PortableModel.from_file(args.model), args.out, inline_limit=args.inline_limit)
    except (OSError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(out)
    return 0


_TEMPLATE = r"""// Generated by aquifer (scoring.pojo) from model ${COMMENT_ID}: ${COMMENT_KIND}.
// Self-contained: compile with the JDK alone (javac ${CLASS}.java). Weights are ${WEIGHTS_WHERE}.
//
//   ${CLASS} model = new ${CLASS}();   // one instance per thread
//   double[] preds = model.score(new String[]{...});   // raw values in NAMES order; see OUTPUT_NAMES
//   double[] same = model.score0(row, new double[model.getPredsSize()]);   // numbers and level indices
//   java -cp . ${CLASS} input.csv output.csv   // scores a CSV with a header row

import java.io.*;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.util.*;
import java.util.zip.CRC32;

public class ${CLASS} {
  public static final String MODEL_ID = ${MODEL_ID};
  public static final String CATEGORY = ${CATEGORY};
  /** The columns of score0's and score's row, in order (the offset column, if any, last). */
  public static final String[] COLUMNS = ${COLUMNS};
  /** H2O's NAMES: COLUMNS, then the response column of a supervised model (genmodel's getNames()). */
  public static final String[] NAMES = ${NAMES};
  /** Training levels of each name in NAMES (the response's last); null for numeric columns. */
  public static final String[][] DOMAINS = ${DOMAINS};
  public static final String RESPONSE = ${RESPONSE};
  public static final String[] RESPONSE_DOMAIN = ${RESPONSE_DOMAIN};
  /** Names of what score0 returns: classification predict + one probability per class (H2O's getOutputNames:
   *  p0, p1, ... for integer levels), regression predict, else reconstr_*. */
  public static final String[] OUTPUT_NAMES = ${OUTPUT_NAMES};
  public static final String OFFSET_COLUMN = ${OFFSET};
  /** Spellings of a missing value in score(String[]) (besides null). */
  public static final String[] NA_STRINGS = ${NA};

  static final int[] CAT_COLS = ${CAT_COLS};  // categorical inputs, in the encoding's order
  static final int[] CAT_SIZES = ${CAT_SIZES};  // levels + 1 (the missing-value slot)
  static final int[] NUM_COLS = ${NUM_COLS};  // numeric inputs, in the encoding's order
  static final int[] UNITS = ${UNITS};
  static final int[] CHANNELS = ${CHANNELS};  // rows per neuron (2: Maxout)
  static final double[] HIDDEN_DROPOUT_RATIOS = ${DROPOUT};
  static final int ACTIVATION = ${ACT};  // 0 Tanh, 1 Rectifier, 2 Maxout, 3 ExpRectifier
  static final int OUTPUT = ${OUTPUT_KIND};  // 0 softmax, 1 linear, 2 autoencoder
  static final int N_INPUTS = ${N_INPUTS}, NUM_START = ${NUM_START};
  static final boolean LOG_LINK = ${LOG_LINK}, BINOMIAL = ${BINOMIAL}, CLASSIFIER = ${CLASSIFIER};
  static final double MAX_EXP = ${MAX_EXP}, RESP_SUB = ${RESP_SUB}, RESP_MUL = ${RESP_MUL}, THRESHOLD = ${THRESHOLD};

  static final int[][] CAT_LOOKUP = new int[CAT_COLS.length][];   // level index -> input slot (-1: none)
  static double[] NUM_SUB, NUM_MUL, NUM_FILL;
  static final double[][] WEIGHT = new double[UNITS.length - 1][];  // float32 weights, held exactly as double
  static final double[][] BIAS = new double[UNITS.length - 1][];
  static double[][] PRIORS;                                       // balance_classes: prior, training dist.
  static final List<Map<String, Integer>> LEVELS = new ArrayList<>();

  static {
    byte[] blob = ${BLOB};
    CRC32 crc = new CRC32();
    crc.update(blob, 0, blob.length - 4);
    ByteBuffer bb = ByteBuffer.wrap(blob).order(ByteOrder.LITTLE_ENDIAN);
    if ((int) crc.getValue() != bb.getInt(blob.length - 4) || bb.getLong() != 0x01004f4a4f505141L)
      throw new IllegalStateException("the weights of " + MODEL_ID + " are damaged (CRC or magic mismatch)");
    for (int i = 0; i < CAT_COLS.length; i++) {
      CAT_LOOKUP[i] = new int[CAT_SIZES[i]];
      bb.asIntBuffer().get(CAT_LOOKUP[i]);
      bb.position(bb.position() + 4 * CAT_SIZES[i]);
    }
    NUM_SUB = doubles(bb, NUM_COLS.length);
    NUM_MUL = doubles(bb, NUM_COLS.length);
    NUM_FILL = doubles(bb, NUM_COLS.length);
    for (int l = 0; l < UNITS.length - 1; l++) {
      float[] w = new float[UNITS[l + 1] * CHANNELS[l] * UNITS[l]];
      bb.asFloatBuffer().get(w);
      bb.position(bb.position() + 4 * w.length);
      WEIGHT[l] = new double[w.length];            // converted once: the inner loop then runs ~3x faster
      for (int i = 0; i < w.length; i++) WEIGHT[l][i] = w[i];
      BIAS[l] = doubles(bb, UNITS[l + 1] * CHANNELS[l]);
    }
    if (${HAS_PRIORS}) {
      int k = UNITS[UNITS.length - 1];
      PRIORS = new double[][]{doubles(bb, k), doubles(bb, k)};
    }
    if (bb.position() != blob.length - 4)
      throw new IllegalStateException("the weights of " + MODEL_ID + " do not fit this class");
    for (int i = 0; i < COLUMNS.length; i++) {
      Map<String, Integer> m = null;
      if (DOMAINS[i] != null) {
        m = new HashMap<>();
        for (int j = 0; j < DOMAINS[i].length; j++) m.put(DOMAINS[i][j], j);
      }
      LEVELS.add(m);
    }
  }

  private static double[] doubles(ByteBuffer bb, int n) {
    double[] a = new double[n];
    bb.asDoubleBuffer().get(a);
    bb.position(bb.position() + 8 * n);
    return a;
  }

  private static byte[] resource(String name, int size) {
    try (InputStream in = ${CLASS}.class.getResourceAsStream(name)) {
      if (in == null)
        throw new IllegalStateException("resource " + name + " not found: ship it next to ${CLASS}.class "
            + "(same directory or jar)");
      byte[] b = in.readAllBytes();
      if (b.length != size)
        throw new IllegalStateException("resource " + name + " has " + b.length + " bytes, expected " + size);
      return b;
    } catch (IOException e) {
      throw new UncheckedIOException("cannot read resource " + name, e);
    }
  }

  private final double[][] act = new double[UNITS.length][];
  private final double[][] net = new double[UNITS.length][];

  public ${CLASS}() {
    for (int l = 0; l < UNITS.length; l++) act[l] = new double[UNITS[l]];
    for (int l = 1; l < UNITS.length; l++) net[l] = new double[UNITS[l] * CHANNELS[l - 1]];
  }

  /** H2O's: the input columns, then the response (for a supervised model). */
  public String[] getNames() { return NAMES.clone(); }
  /** H2O's: the number of input columns, without the response and the offset. */
  public int getNumCols() { return COLUMNS.length - (OFFSET_COLUMN == null ? 0 : 1); }
  /** H2O's: the index of the response in getNames() and DOMAINS (the last one). */
  public int getResponseIdx() { return RESPONSE == null ? -1 : NAMES.length - 1; }
  public String getResponseName() { return RESPONSE; }
  public String[] getDomainValues(int i) { return DOMAINS[i] == null ? null : DOMAINS[i].clone(); }
  public String[] getOutputNames() { return OUTPUT_NAMES.clone(); }
  public boolean isSupervised() { return RESPONSE != null; }
  public int nclasses() { return ${NCLASSES}; }
  public int getPredsSize() { return ${PREDS_SIZE}; }

  /** Scores one row (COLUMNS order: numbers, level indices, NaN for missing) into preds (see OUTPUT_NAMES). */
  public double[] score0(double[] row, double[] preds) {
    if (row.length != COLUMNS.length) throw new IllegalArgumentException("row has " + row.length
        + " values, the model has " + COLUMNS.length + " columns " + Arrays.toString(COLUMNS));
    double[] x = act[0];
    Arrays.fill(x, 0);
    for (int i = 0; i < CAT_COLS.length; i++) {
      double c = row[CAT_COLS[i]];
      int k = CAT_SIZES[i] - 1;
      int slot = CAT_LOOKUP[i][(c >= 0 && c < k) ? (int) c : k];   // NaN, unseen (-1): the NA slot
      if (slot >= 0) x[slot] += 1.0;
    }
    for (int j = 0; j < NUM_COLS.length; j++) {
      double v = (row[NUM_COLS[j]] - NUM_SUB[j]) * NUM_MUL[j];
      x[NUM_START + j] = Double.isNaN(v) ? NUM_FILL[j] : (double) (float) v;   // float inputs, as encoded
    }
    double[] out = forward(-1);
    if (OUTPUT == 0) {
      if (${HAS_PRIORS}) {
        double s = 0;
        for (int j = 0; j < out.length; j++) { out[j] *= PRIORS[0][j] / Math.max(PRIORS[1][j], 1e-300); s += out[j]; }
        for (int j = 0; j < out.length; j++) out[j] /= s;
      }
      int label = 0;
      if (BINOMIAL) label = out[1] >= THRESHOLD ? 1 : 0;
      else for (int j = 1; j < out.length; j++) if (out[j] > out[label]) label = j;
      preds[0] = label;
      System.arraycopy(out, 0, preds, 1, out.length);
    } else if (OUTPUT == 1) {
      double v = out[0];
      if (OFFSET_COLUMN != null && !Double.isNaN(row[COLUMNS.length - 1])) v += row[COLUMNS.length - 1];
      v = LOG_LINK ? Math.min(Math.exp(v), MAX_EXP) : v / RESP_MUL + RESP_SUB;
      preds[0] = v;
      preds[1] = v;
    } else {
      for (int j = 0; j < out.length; j++)
        preds[j] = j < NUM_START ? out[j] : out[j] / NUM_MUL[j - NUM_START] + NUM_SUB[j - NUM_START];
    }
    return preds;
  }

  /** Scores one row of raw strings (COLUMNS order): level names, numbers, NA spellings or null. */
  public double[] score(String[] row) { return score0(rowFromStrings(row), new double[getPredsSize()]); }

  /** The score0 row of raw strings: level indices (-1 for a level unseen in training), numbers, NaN. */
  public double[] rowFromStrings(String[] row) {
    if (row.length != COLUMNS.length) throw new IllegalArgumentException("row has " + row.length
        + " values, the model has " + COLUMNS.length + " columns " + Arrays.toString(COLUMNS));
    double[] out = new double[row.length];
    for (int i = 0; i < row.length; i++) {
      String s = row[i];
      Map<String, Integer> levels = LEVELS.get(i);
      if (levels != null) {
        Integer code = s == null ? null : levels.get(s);
        out[i] = code != null ? code : (s == null || isNA(s.trim())) ? Double.NaN : -1;
      } else {
        out[i] = parseNumber(COLUMNS[i], s);
      }
    }
    return out;
  }

  /** The activations of hidden layer `layer` (0-based) for a score0 row (H2O's deepfeatures). */
  public double[] deepfeatures(double[] row, int layer) {
    if (layer < 0 || layer >= UNITS.length - 2) throw new IllegalArgumentException("no hidden layer " + layer);
    score0(row, new double[getPredsSize()]);
    return act[layer + 1].clone();
  }

  private static boolean isNA(String s) {
    for (String na : NA_STRINGS) if (na.equals(s)) return true;
    return false;
  }

  private static double parseNumber(String column, String s) {
    if (s == null) return Double.NaN;
    String t = s.trim();
    if (isNA(t)) return Double.NaN;
    if (plainNumber(t)) return Double.parseDouble(t);
    String u = t.toLowerCase(Locale.ROOT);
    if (u.equals("inf") || u.equals("+inf") || u.equals("infinity") || u.equals("+infinity"))
      return Double.POSITIVE_INFINITY;
    if (u.equals("-inf") || u.equals("-infinity")) return Double.NEGATIVE_INFINITY;
    throw new IllegalArgumentException("column '" + column + "': value '" + s + "' is not a number");
  }

  /** [+-]digits[.digits][(e|E)[+-]digits]: what Python's float() reads too (Double.parseDouble takes more). */
  private static boolean plainNumber(String t) {
    int i = 0, n = t.length(), digits = 0;
    if (i < n && (t.charAt(i) == '+' || t.charAt(i) == '-')) i++;
    for (; i < n && t.charAt(i) >= '0' && t.charAt(i) <= '9'; i++) digits++;
    if (i < n && t.charAt(i) == '.') for (i++; i < n && t.charAt(i) >= '0' && t.charAt(i) <= '9'; i++) digits++;
    if (digits == 0) return false;
    if (i < n && (t.charAt(i) == 'e' || t.charAt(i) == 'E')) {
      i++;
      if (i < n && (t.charAt(i) == '+' || t.charAt(i) == '-')) i++;
      int e = i;
      while (i < n && t.charAt(i) >= '0' && t.charAt(i) <= '9') i++;
      if (i == e) return false;
    }
    return i == n;
  }

  private double[] forward(int stop) {
    int last = UNITS.length - 2;
    for (int l = 0; l <= last; l++) {
      double[] w = WEIGHT[l], b = BIAS[l], a = act[l], z = net[l + 1], out = act[l + 1];
      int cols = UNITS[l];
      for (int r = 0, o = 0; r < z.length; r++, o += cols) {
        double s0 = 0, s1 = 0, s2 = 0, s3 = 0;   // four sums: independent adds pipeline (H2O unrolls too)
        int c = 0;
        for (; c + 3 < cols; c += 4) {
          s0 += w[o + c] * a[c];
          s1 += w[o + c + 1] * a[c + 1];
          s2 += w[o + c + 2] * a[c + 2];
          s3 += w[o + c + 3] * a[c + 3];
        }
        double s = (s0 + s1) + (s2 + s3);
        for (; c < cols; c++) s += w[o + c] * a[c];
        z[r] = s + b[r];
      }
      if (l < last) {
        for (int j = 0; j < out.length; j++) {
          double v = CHANNELS[l] == 2 ? (z[2 * j + 1] > z[2 * j] ? z[2 * j + 1] : z[2 * j]) : z[j];
          out[j] = activate(v);
          if (HIDDEN_DROPOUT_RATIOS[l] > 0) out[j] *= 1.0 - HIDDEN_DROPOUT_RATIOS[l];
        }
        if (l == stop) return out;
      } else if (OUTPUT == 0) {
        double max = z[0], sum = 0;
        for (int j = 1; j < z.length; j++) if (z[j] > max) max = z[j];
        for (int j = 0; j < z.length; j++) { out[j] = Math.exp(z[j] - max); sum += out[j]; }
        for (int j = 0; j < z.length; j++) out[j] /= sum;
      } else if (OUTPUT == 1) {
        out[0] = z[0];
      } else {
        for (int j = 0; j < z.length; j++) out[j] = activate(z[j]);
      }
    }
    return act[last + 1];
  }

  private static double activate(double v) {
    switch (ACTIVATION) {
      case 0: return 1.0 - 2.0 / (1.0 + Math.exp(2.0 * v));
      case 1: return Math.max(v, 0.0);
      case 3: return v >= 0.0 ? v : Math.expm1(v);
      default: return v;
    }
  }

  static String[] concatStrings(String[]... parts) { return concat(parts, new String[0]); }
  static String[][] concatDomains(String[][]... parts) { return concat(parts, new String[0][]); }
  static <T> T[] concat(T[][] parts, T[] empty) {
    List<T> all = new ArrayList<>();
    for (T[] p : parts) all.addAll(Arrays.asList(p));
    return all.toArray(empty);
  }
  static int[] concatInts(int[]... parts) {
    int n = 0, k = 0;
    for (int[] p : parts) n += p.length;
    int[] out = new int[n];
    for (int[] p : parts) { System.arraycopy(p, 0, out, k, p.length); k += p.length; }
    return out;
  }
  // @@HELPERS@@

  /** Scores a CSV file with a header row (the model's columns, in any order) into a CSV of OUTPUT_NAMES. */
  public static void main(String[] args) throws IOException {
    if (args.length != 2) {
      System.err.println("usage: java -cp DIR ${CLASS} input.csv output.csv");
      System.exit(2);
    }
    ${CLASS} model = new ${CLASS}();
    try (BufferedReader in = new BufferedReader(new InputStreamReader(new FileInputStream(args[0]),
             StandardCharsets.UTF_8));
         PrintWriter out = new PrintWriter(new BufferedWriter(new OutputStreamWriter(
             new FileOutputStream(args[1]), StandardCharsets.UTF_8)))) {
      List<String> header = readRecord(in);
      if (header == null) throw new IOException(args[0] + " is empty: a header row is needed");
      if (!header.isEmpty() && header.get(0).startsWith("\uFEFF")) header.set(0, header.get(0).substring(1));
      int[] pos = new int[COLUMNS.length];
      for (int i = 0; i < COLUMNS.length; i++) {
        pos[i] = header.indexOf(COLUMNS[i]);
        if (pos[i] < 0) throw new IOException(args[0] + " lacks the model's column '" + COLUMNS[i] + "'");
      }
      out.println(csvLine(Arrays.asList(OUTPUT_NAMES)));
      double[] preds = new double[model.getPredsSize()];
      String[] raw = new String[COLUMNS.length];
      List<String> rec;
      long line = 1;
      List<String> cells = new ArrayList<>();
      while ((rec = readRecord(in)) != null) {
        line++;
        if (rec.size() == 1 && rec.get(0).isEmpty()) continue;
        if (rec.size() != header.size())
          throw new IOException(args[0] + ": record " + line + " has " + rec.size() + " fields, the header "
              + header.size());
        for (int i = 0; i < COLUMNS.length; i++) raw[i] = rec.get(pos[i]);
        model.score0(model.rowFromStrings(raw), preds);
        cells.clear();
        if (CLASSIFIER) {
          cells.add(RESPONSE_DOMAIN[(int) preds[0]]);
          for (int j = 1; j < preds.length; j++) cells.add(Double.toString(preds[j]));
        } else if (OUTPUT == 1) {
          cells.add(Double.toString(preds[0]));
        } else {
          for (double p : preds) cells.add(Double.toString(p));
        }
        out.println(csvLine(cells));
      }
    }
  }

  private static String csvLine(List<String> cells) {
    StringBuilder sb = new StringBuilder();
    for (int i = 0; i < cells.size(); i++) {
      String c = cells.get(i);
      if (i > 0) sb.append(',');
      if (c.indexOf(',') >= 0 || c.indexOf('"') >= 0 || c.indexOf('\n') >= 0 || c.indexOf('\r') >= 0)
        sb.append('"').append(c.replace("\"", "\"\"")).append('"');
      else sb.append(c);
    }
    return sb.toString();
  }

  /** One CSV record (RFC 4180: quoted fields may hold commas, doubled quotes, line breaks); null at the end. */
  private static List<String> readRecord(BufferedReader in) throws IOException {
    int ch = in.read();
    if (ch < 0) return null;
    List<String> fields = new ArrayList<>();
    StringBuilder f = new StringBuilder();
    boolean quoted = false, wasQuoted = false;
    while (true) {
      if (quoted) {
        if (ch < 0) throw new IOException("a quoted field is not closed at the end of the file");
        if (ch == '"') {
          in.mark(1);
          int next = in.read();
          if (next == '"') f.append('"');
          else { quoted = false; in.reset(); }
        } else f.append((char) ch);
      } else if (ch == '"' && f.length() == 0 && !wasQuoted) {
        quoted = wasQuoted = true;
      } else if (ch == ',' ) {
        fields.add(f.toString()); f.setLength(0); wasQuoted = false;
      } else if (ch == '\n' || ch < 0) {
        break;
      } else if (ch == '\r') {
        in.mark(1);
        if (in.read() != '\n') in.reset();
        break;
      } else f.append((char) ch);
      ch = in.read();
    }
    fields.add(f.toString());
    return fields;
  }
}
"""


if __name__ == "__main__":
    sys.exit(main())
