"""The portable scorer without a cloud: input shapes and raw values, the model file's checks (corrupt, truncated,
newer-version and hostile files refused with clear errors), the command line, and ``scoring`` importing and
predicting in a fresh virtual environment that has only numpy.

The models here are made by hand (a small network with a categorical and a numeric column), so every expected
number is computed independently with numpy below; tests/test_export.py checks models trained in a cloud.
"""
from __future__ import annotations

import io
import json
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import scoring
from scoring import ModelFormatError, PortableModel, load_scorer
from scoring.model_file import FORMAT_VERSION

REPO = Path(__file__).resolve().parent.parent


def tiny_parts(category: str = "Binomial", seed: int = 0):
    """(meta, arrays) of a 2-layer network over color (enum r/g/b) and size (numeric, mean 3, sd 2)."""
    rng = np.random.default_rng(seed)
    n_out = {"Binomial": 2, "Multinomial": 3, "Regression": 1, "AutoEncoder": 5}[category]
    output = {"Binomial": "softmax", "Multinomial": "softmax", "Regression": "linear", "AutoEncoder": "autoencoder"}
    dist = {"Binomial": "bernoulli", "Multinomial": "multinomial", "Regression": "poisson",
            "AutoEncoder": "gaussian"}[category]
    domain = {"Binomial": ["no", "yes"], "Multinomial": ["a", "b", "c"]}.get(category)
    arrays = {
        "cat0.lookup": np.array([0, 1, 2, 3], dtype=np.int32),
        "num.sub": np.array([3.0]), "num.mul": np.array([0.5]), "num.mean": np.array([3.0]),
        "layer0.weights": rng.normal(size=(4, 5)).astype(np.float32), "layer0.biases": rng.normal(size=4),
        "layer1.weights": rng.normal(size=(n_out, 4)).astype(np.float32), "layer1.biases": rng.normal(size=n_out),
    }
    meta = {
        "model_id": f"tiny_{category}", "algo": "deeplearning", "category": category,
        "columns": [{"name": "color", "type": "enum", "domain": ["r", "g", "b"]},
                    {"name": "size", "type": "numeric", "domain": None}],
        "offset_column": None,
        "response": None if category == "AutoEncoder" else {"name": "y", "domain": domain},
        "encoding": {"categoricals": ["color"], "numerics": ["size"], "use_all_factor_levels": True,
                     "coef_names": ["color.r", "color.g", "color.b", "color.missing(NA)", "size"],
                     "missing_values_handling": "MeanImputation", "transform": "STANDARDIZE", "hashed": False,
                     "max_categorical_features": 2 ** 31 - 1},
        "network": {"units": [5, 4, n_out], "activation": "TanhWithDropout", "output": output[category],
                    "hidden_dropout_ratios": [0.25], "input_dropout_ratio": 0.0},
        "prediction": {"distribution": dist, "link": scoring.LINKS[dist], "response_transform": False,
                       "resp_sub": 0.0, "resp_mul": 1.0, "threshold": 0.4, "priors": False},
    }
    return meta, arrays


def reference(arrays, color_codes, sizes):
    """The network by hand: one-hot + NA slot, float32 standardised size, tanh x 0.75, output net."""
    n = len(sizes)
    X = np.zeros((n, 5), dtype=np.float32)
    for i, c in enumerate(color_codes):
        X[i, 3 if c is None else c] = 1.0
    z = (np.asarray(sizes, dtype=np.float64) - 3.0) * 0.5
    X[:, 4] = np.where(np.isnan(z), 0.0, z)
    h = np.tanh(X.astype(np.float64) @ arrays["layer0.weights"].astype(np.float64).T + arrays["layer0.biases"]) * 0.75
    return X, h @ arrays["layer1.weights"].astype(np.float64).T + arrays["layer1.biases"]


@pytest.fixture
def model_file(tmp_path):
    meta, arrays = tiny_parts()
    path = tmp_path / "tiny.zip"
    PortableModel.from_parts(meta, arrays).to_file(path)
    return path, arrays


# ------------------------------------------------------------------------------------------------------ inputs
def test_every_input_shape_gives_the_same_predictions_as_the_hand_computed_network(model_file):
    path, arrays = model_file
    sc = load_scorer(path)
    rows = [{"color": "g", "size": 5.0}, {"color": "zz", "size": None}, {"size": "1.5"}, {"color": "r", "size": "NA"}]
    _, z = reference(arrays, [1, None, None, 0], [5.0, np.nan, 1.5, np.nan])
    p = np.exp(z - z.max(axis=1, keepdims=True))
    p /= p.sum(axis=1, keepdims=True)
    labels = np.where(p[:, 1] >= 0.4, "yes", "no")
    out = sc.predict(rows)
    assert list(out) == ["predict", "no", "yes"]
    np.testing.assert_allclose(np.column_stack([out["no"], out["yes"]]), p, rtol=1e-12)
    assert out["predict"].tolist() == labels.tolist()
    one = sc.predict(rows[0])
    assert one == {"predict": labels[0], "no": pytest.approx(p[0, 0], rel=1e-12), "yes": pytest.approx(p[0, 1])}
    arr = np.array([["g", 5.0], ["zz", None], [None, "1.5"], ["r", np.nan]], dtype=object)
    np.testing.assert_allclose(sc.predict(arr)["yes"], p[:, 1], rtol=1e-12)
    df = pd.DataFrame({"size": [5.0, np.nan, 1.5, np.nan], "color": pd.Categorical(["g", "zz", None, "r"]),
                       "extra": 1}, index=[10, 11, 12, 13])
    got = sc.predict(df)
    assert list(got.index) == [10, 11, 12, 13]
    np.testing.assert_allclose(got["yes"].to_numpy(), p[:, 1], rtol=1e-12)
    df2 = df.astype({"color": object, "size": "Float64"})
    np.testing.assert_allclose(sc.predict(df2)["yes"].to_numpy(), p[:, 1], rtol=1e-12)


def test_numbers_name_the_levels_of_a_categorical_column(tmp_path):
    meta, arrays = tiny_parts()
    meta["columns"][0]["domain"] = ["1", "2", "2.5"]
    PortableModel.from_parts(meta, arrays).to_file(tmp_path / "m.zip")
    sc = load_scorer(tmp_path / "m.zip")
    by_number = sc.encode(np.array([[1.0, 0.0], [2.5, 0.0], [3.0, 0.0]]))
    by_string = sc.encode([{"color": "1", "size": 0}, {"color": "2.5", "size": 0}, {"color": "3", "size": 0}])
    assert by_number.tolist() == by_string.tolist()
    assert by_number[:, :4].tolist() == [[1, 0, 0, 0], [0, 0, 1, 0], [0, 0, 0, 1]]


def test_bad_inputs_are_refused_naming_what_is_wrong(model_file):
    sc = load_scorer(model_file[0])
    with pytest.raises(ValueError, match=r"column 'size': value 'big' \(row 1\) is not a number"):
        sc.predict([{"color": "r", "size": 1}, {"color": "r", "size": "big"}])
    with pytest.raises(ValueError, match="'size'.*'1_000'"):
        sc.predict({"color": "r", "size": "1_000"})
    with pytest.raises(ValueError, match="lacks the model's columns \\['size'\\]"):
        sc.predict(pd.DataFrame({"color": ["r"]}))
    with pytest.raises(ValueError, match="2 columns"):
        sc.predict(np.zeros((3, 3)))
    with pytest.raises(TypeError, match="a list of rows must hold dicts"):
        sc.predict([["r", 1.0]])
    with pytest.raises(TypeError, match="not str"):
        sc.predict("color=r")
    with pytest.raises(ValueError, match="categorical value must be a string"):
        sc.predict({"color": ["r"], "size": 1})
    with pytest.raises(ValueError, match="autoencoder"):
        sc.anomaly({"color": "r", "size": 1})


def test_regression_autoencoder_and_deepfeatures_outputs(tmp_path):
    meta, arrays = tiny_parts("Regression")
    PortableModel.from_parts(meta, arrays).to_file(tmp_path / "r.zip")
    _, z = reference(arrays, [2], [4.0])
    assert load_scorer(tmp_path / "r.zip").predict({"color": "b", "size": 4})["predict"] == \
        pytest.approx(np.exp(z[0, 0]), rel=1e-12)                           # poisson: log link
    meta, arrays = tiny_parts("AutoEncoder")
    meta["network"]["activation"] = "Tanh"
    meta["network"]["hidden_dropout_ratios"] = [0.0]
    PortableModel.from_parts(meta, arrays).to_file(tmp_path / "a.zip")
    sc = load_scorer(tmp_path / "a.zip")
    X = sc.encode([{"color": "r", "size": 7.0}])
    h = np.tanh(X.astype(np.float64) @ arrays["layer0.weights"].T.astype(np.float64) + arrays["layer0.biases"])
    rec = np.tanh(h @ arrays["layer1.weights"].T.astype(np.float64) + arrays["layer1.biases"])
    out = sc.predict({"color": "r", "size": 7.0})
    assert list(out) == ["reconstr_color.r", "reconstr_color.g", "reconstr_color.b", "reconstr_color.missing(NA)",
                         "reconstr_size"]
    assert out["reconstr_size"] == pytest.approx(rec[0, 4] / 0.5 + 3.0, rel=1e-12)  # back in the column's units
    assert sc.anomaly({"color": "r", "size": 7.0})["Reconstruction.MSE"] == pytest.approx(((rec - X) ** 2).mean())
    feats = sc.deepfeatures([{"color": "r", "size": 7.0}], 0)
    assert list(feats) == ["DF.L1.C1", "DF.L1.C2", "DF.L1.C3", "DF.L1.C4"]
    np.testing.assert_allclose(np.column_stack(list(feats.values())), h, rtol=1e-12)
    with pytest.raises(ValueError, match="layer must be in \\[0, 1\\)"):
        sc.deepfeatures([{"color": "r"}], 1)


# ------------------------------------------------------------------------------------------------------ the file
def _rewrite(src: Path, dst: Path, change):
    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(dst, "w") as zout:
        for info in zin.infolist():
            data = change(info.filename, zin.read(info.filename))
            if data is not None:
                zout.writestr(info, data)


def test_damaged_truncated_newer_and_foreign_files_are_refused(model_file, tmp_path):
    path, _ = model_file
    raw = path.read_bytes()
    cases = {}
    (tmp_path / "truncated.zip").write_bytes(raw[: len(raw) // 2])
    cases["truncated.zip"] = "damaged or truncated"
    flipped = bytearray(raw)
    at = raw.index(b"arrays/layer0.weights.npy") + 200
    flipped[at] ^= 0xFF
    (tmp_path / "flipped.zip").write_bytes(bytes(flipped))
    cases["flipped.zip"] = "damaged"
    (tmp_path / "text.zip").write_text("hello")
    cases["text.zip"] = "not a readable portable model file"

    def newer(name, data):
        if name == "model.json":
            doc = json.loads(data)
            doc["format_version"] = FORMAT_VERSION + 1
            return json.dumps(doc).encode()
        return data
    _rewrite(path, tmp_path / "newer.zip", newer)
    cases["newer.zip"] = f"format version {FORMAT_VERSION + 1}; this scorer reads versions up to {FORMAT_VERSION}"

    def foreign(name, data):
        return json.dumps({"format": "h2o-mojo"}).encode() if name == "model.json" else data
    _rewrite(path, tmp_path / "foreign.zip", foreign)
    cases["foreign.zip"] = "not an aquifer portable model file"

    def pickled(name, data):
        if name == "arrays/num.sub.npy":
            buf = io.BytesIO()
            np.save(buf, np.array([{"x": 1}], dtype=object), allow_pickle=True)
            return buf.getvalue()
        return data
    _rewrite(path, tmp_path / "pickled.zip", pickled)
    cases["pickled.zip"] = "num.sub"

    def dropped(name, data):
        return None if name == "arrays/layer1.biases.npy" else data
    _rewrite(path, tmp_path / "dropped.zip", dropped)
    cases["dropped.zip"] = "lacks the array 'layer1.biases'"

    def smuggled(name, data):
        return data
    _rewrite(path, tmp_path / "extra.zip", smuggled)
    with zipfile.ZipFile(tmp_path / "extra.zip", "a") as zf:
        zf.writestr("payload.pkl", b"\x80\x04.")
    cases["extra.zip"] = "members the metadata does not list"

    def nan_json(name, data):
        return data.replace(b'"threshold": 0.4', b'"threshold": NaN') if name == "model.json" else data
    _rewrite(path, tmp_path / "nan.zip", nan_json)
    cases["nan.zip"] = "not valid JSON"
    for name, message in cases.items():
        with pytest.raises(ModelFormatError, match=message.replace("(", r"\(").replace("[", r"\[")):
            load_scorer(tmp_path / name)
    with pytest.raises(FileNotFoundError):
        load_scorer(tmp_path / "absent.zip")


def test_inconsistent_metadata_is_refused_before_scoring():
    checks = [
        (lambda m, a: m["network"].update(units=[6, 4, 2]), "do not start with the 5 encoded inputs"),
        (lambda m, a: a.update({"layer1.weights": a["layer1.weights"][:1], "layer1.biases": a["layer1.biases"][:1]}),
         "softmax output needs >= 2"),
        (lambda m, a: a.update({"cat0.lookup": np.array([0, 1, 2], dtype=np.int32)}), "3 entries for 3 levels"),
        (lambda m, a: m["prediction"].update(link="log"), "distribution 'bernoulli' with link 'log'"),
        (lambda m, a: m.update(category="Regression"), "a Regression model has no response domain"),
        (lambda m, a: m.update(category="Multinomial"), "Multinomial model's response has 2 classes"),
        (lambda m, a: m["encoding"].update(numerics=[]), "exactly the enum/numeric columns"),
        (lambda m, a: a.update({"num.mul": np.array([0.0])}), "num.mul non-zero"),
        (lambda m, a: m["columns"][0].update(domain=["r", "r", "b"]), "distinct strings"),
        (lambda m, a: m.pop("network"), "malformed model metadata"),
        (lambda m, a: a.update({"layer0.weights": a["layer0.weights"].astype(np.float64)}), "float32"),
    ]
    for change, message in checks:
        meta, arrays = tiny_parts()
        change(meta, arrays)
        with pytest.raises(ModelFormatError, match=message.replace("(", r"\(").replace("[", r"\[")):
            PortableModel.from_parts(meta, arrays)


def test_the_file_is_byte_identical_for_one_model(tmp_path):
    meta, arrays = tiny_parts()
    PortableModel.from_parts(meta, arrays).to_file(tmp_path / "a.zip")
    PortableModel.from_parts(meta, arrays).to_file(tmp_path / "b.zip")
    assert (tmp_path / "a.zip").read_bytes() == (tmp_path / "b.zip").read_bytes()
    with zipfile.ZipFile(tmp_path / "a.zip") as zf:
        doc = json.loads(zf.read("model.json"))
    assert doc["format"] == "aquifer-portable-model" and doc["format_version"] == FORMAT_VERSION
    assert doc["arrays"]["layer0.weights"]["dtype"] == "<f4"


# ------------------------------------------------------------------------------------------------------ CLI
def _cli(*args, cwd=REPO, python=sys.executable, env=None):
    return subprocess.run([python, "-m", "scoring.score", *map(str, args)], capture_output=True, text=True,
                          cwd=str(cwd), timeout=120, env=env)


def test_command_line_streams_batches_and_reports_bad_rows(model_file, tmp_path):
    path, arrays = model_file
    rng = np.random.default_rng(1)
    n = 250
    colors = rng.choice(["r", "g", "b", "zz", ""], n)
    sizes = np.round(rng.normal(3, 2, n), 3).astype(str)
    sizes[::9] = "NA"
    src = tmp_path / "in.csv"
    with open(src, "w") as fh:
        fh.write("id,size,color\n")
        for i in range(n):
            fh.write(f"{i},{sizes[i]},\"{colors[i]}\"\n")
    res = _cli(path, src, tmp_path / "out.csv", "--batch-rows", "37")
    assert res.returncode == 0, res.stderr
    got = pd.read_csv(tmp_path / "out.csv", keep_default_na=False)
    want = load_scorer(path).predict(pd.read_csv(src, keep_default_na=False, dtype=str))
    assert got["predict"].tolist() == want["predict"].tolist()
    np.testing.assert_array_equal(got["yes"].to_numpy(), want["yes"].to_numpy())      # repr: bit-identical
    bad = tmp_path / "bad.csv"
    bad.write_text("color,size\nr,1\n" + "g,2\n" * 60 + "b,oops\n")
    res = _cli(path, bad, tmp_path / "bad_out.csv", "--batch-rows", "16")
    assert res.returncode == 1 and "line 50" in res.stderr and "'oops'" in res.stderr, res.stderr
    assert not (tmp_path / "bad_out.csv").exists()                              # no half-written output
    res = _cli(path, tmp_path / "in.csv", tmp_path / "x.csv", "--per-feature")
    assert res.returncode == 2 and "--per-feature needs --anomaly" in res.stderr
    nohead = tmp_path / "nohead.csv"
    nohead.write_text("r,1\n")
    res = _cli(path, nohead, tmp_path / "x.csv")
    assert res.returncode == 1 and "lacks the model's columns" in res.stderr
    # none of the model's columns: most likely no header row, and the message says how the file was read
    assert "the first line is read as the header, and it reads 'r,1'" in res.stderr, res.stderr
    part = tmp_path / "part.csv"                        # one column missing: a header, so no such note
    part.write_text("color,width\nr,1\n")
    res = _cli(path, part, tmp_path / "x.csv")
    assert res.returncode == 1 and "lacks the model's columns ['size']" in res.stderr
    assert "first line" not in res.stderr
    twice = tmp_path / "twice.csv"                      # it scored the first 'size' silently
    twice.write_text("color,size,size\nr,1,2\n")
    res = _cli(path, twice, tmp_path / "x.csv")
    assert res.returncode == 1 and "names the model's column(s) ['size'] more than once" in res.stderr
    help_text = _cli("--help").stdout
    assert "--batch-rows" in help_text and "portable model file" in help_text


def test_command_line_memory_does_not_grow_with_the_file(model_file, tmp_path):
    """Peak RSS of the CLI scoring 2,000 rows and 200,000 rows (30 MB, a wide ignored column) in 1,000-row batches:
    streaming keeps it flat (reading the whole file would add well over 100 MB of Python strings)."""
    path, _ = model_file
    filler = "x" * 120
    peaks = []
    for n in (2_000, 200_000):
        src = tmp_path / f"in{n}.csv"
        with open(src, "w") as fh:
            fh.write("note,color,size\n")
            fh.writelines(f"{filler},{'rgb'[i % 3]},{i % 7}\n" for i in range(n))
        code = ("import resource, runpy, sys\n"
                f"sys.argv = ['score', {str(path)!r}, {str(src)!r}, {str(tmp_path / 'out.csv')!r}, '--batch-rows', '1000']\n"
                "try:\n    runpy.run_module('scoring.score', run_name='__main__')\n"
                "except SystemExit as e:\n    assert not e.code, e.code\n"
                "print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)\n")
        res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=str(REPO), timeout=300)
        assert res.returncode == 0, res.stderr
        peaks.append(int(res.stdout.split()[-1]) / 1024)          # MiB
        assert sum(1 for _ in open(tmp_path / "out.csv")) == n + 1
    assert peaks[1] - peaks[0] < 25, f"peak RSS {peaks[0]:.0f} MiB for 2k rows, {peaks[1]:.0f} MiB for 200k rows"


# ------------------------------------------------------------------------------------------------------ POJO
def test_pojo_of_a_wide_model_with_large_domains_and_awkward_levels_compiles_and_agrees(tmp_path):
    """1,100 numeric columns, a 2,500-level categorical and levels with quotes, backslashes, commas, line breaks and
    non-ASCII letters: the generated class stays inside the JVM's limits (constants held by nested classes),
    compiles, reads the CSV and scores as the portable scorer does, with weights embedded and in <Class>.bin."""
    javac, java = shutil.which("javac"), shutil.which("java")
    if not (javac and java):
        pytest.skip("no JDK on PATH (javac, java): .ci/run installs Debian's default-jdk-headless")
    rng = np.random.default_rng(3)
    odd = ['a"b', "x\\y", "caf\u00e9 \U0001f600", "new\nline", "comma,here", "*/ \\u000a"]
    big = [f"L{i:04d}" for i in range(2500)]
    nums = [f"n{i}" for i in range(1100)]
    n_in = 2501 + 7 + 1100
    meta = {"model_id": "wide model/1", "algo": "deeplearning", "category": "Multinomial",
            "columns": [{"name": "big", "type": "enum", "domain": big}, {"name": "odd", "type": "enum", "domain": odd}]
            + [{"name": c, "type": "numeric", "domain": None} for c in nums],
            "offset_column": None, "response": {"name": "y", "domain": odd[:3]},
            "encoding": {"categoricals": ["big", "odd"], "numerics": nums, "use_all_factor_levels": True,
                         "coef_names": [f"s{i}" for i in range(n_in)], "missing_values_handling": "MeanImputation",
                         "transform": "STANDARDIZE", "hashed": False, "max_categorical_features": 2 ** 31 - 1},
            "network": {"units": [n_in, 4, 3], "activation": "MaxoutWithDropout", "output": "softmax",
                        "hidden_dropout_ratios": [0.2], "input_dropout_ratio": 0.0},
            "prediction": {"distribution": "multinomial", "link": "log", "response_transform": False,
                           "resp_sub": 0.0, "resp_mul": 1.0, "threshold": 0.5, "priors": True}}
    arrays = {"cat0.lookup": np.arange(2501, dtype=np.int32), "cat1.lookup": np.arange(2501, 2508, dtype=np.int32),
              "num.sub": rng.normal(size=1100), "num.mul": rng.uniform(0.5, 2, 1100), "num.mean": rng.normal(size=1100),
              "layer0.weights": rng.normal(size=(8, n_in)).astype(np.float32) * 0.1, "layer0.biases": rng.normal(size=8),
              "layer1.weights": rng.normal(size=(3, 4)).astype(np.float32), "layer1.biases": rng.normal(size=3),
              "priors": np.array([[0.2, 0.3, 0.5], [0.4, 0.4, 0.2]])}
    model = PortableModel.from_parts(meta, arrays)
    n = 30
    df = pd.DataFrame(rng.normal(size=(n, 1100)).round(4), columns=nums)
    df.iloc[::4, 7] = np.nan
    df.insert(0, "odd", [odd[i % 6] if i % 7 else None for i in range(n)])
    df.insert(0, "big", [big[int(i)] for i in rng.integers(0, 2500, n)])
    df.loc[5, "big"] = "unseen"
    csv_in = tmp_path / "in.csv"
    df.to_csv(csv_in, index=False)
    want = load_scorer_of(model, tmp_path).predict(df)
    from scoring.pojo import write_pojo
    for limit in (10 ** 6, 0):
        out = tmp_path / f"pojo{limit}"
        java_file = write_pojo(model, out, inline_limit=limit)
        assert java_file.name == "wide_model_1.java" and (out / "wide_model_1.bin").exists() == (limit == 0)
        subprocess.run([javac, "-d", str(out), str(java_file)], check=True, capture_output=True, timeout=600)
        res = subprocess.run([java, "-cp", str(out), "wide_model_1", str(csv_in), str(out / "out.csv")],
                             capture_output=True, text=True, timeout=600)
        assert res.returncode == 0, res.stderr
        got = pd.read_csv(out / "out.csv", keep_default_na=False)
        assert list(got.columns) == list(want.columns)
        assert got["predict"].tolist() == want["predict"].tolist()
        np.testing.assert_allclose(got.iloc[:, 1:].to_numpy(float), want.iloc[:, 1:].to_numpy(float), rtol=1e-12)


def test_probability_names_follow_h2o_in_the_scorer_the_command_line_and_the_pojo(tmp_path):
    """H2O's rule (Model.makeScoringNames, genmodel's getOutputNames): a class label Java reads as an Integer
    names its probability "p" + label, other labels name it as they are; a clash (levels "1" and "p1") renames
    the later one as a frame does (p10). The scorer, the command line's header and the POJO's OUTPUT_NAMES /
    getOutputNames() / CSV header agree; labels and RESPONSE_DOMAIN stay the raw levels."""
    levels = ["-3", "1", "1.5", "2147483648", "p1", " 2", "1e3", "007"]
    want_names = ["predict", "p-3", "p1", "1.5", "2147483648", "p10", " 2", "1e3", "p007"]
    meta, arrays = tiny_parts("Multinomial")
    k = len(levels)
    meta["response"]["domain"] = levels
    meta["network"]["units"] = [5, 4, k]
    rng = np.random.default_rng(5)
    arrays["layer1.weights"] = rng.normal(size=(k, 4)).astype(np.float32)
    arrays["layer1.biases"] = rng.normal(size=k)
    model = PortableModel.from_parts(meta, arrays)
    sc = load_scorer_of(model, tmp_path)
    assert sc.output_names == want_names and sc.response_domain == levels
    rows = [{"color": c, "size": s} for c in ("r", "g", "b") for s in (-2.0, 1.0, 4.0, 9.0)]
    _, z = reference(arrays, [0] * 4 + [1] * 4 + [2] * 4, [r["size"] for r in rows])
    p = np.exp(z - z.max(axis=1, keepdims=True))
    p /= p.sum(axis=1, keepdims=True)
    out = sc.predict(rows)
    assert list(out) == want_names
    np.testing.assert_allclose(np.column_stack([out[n] for n in want_names[1:]]), p, rtol=1e-12)
    assert out["predict"].tolist() == [levels[j] for j in p.argmax(axis=1)]
    assert list(sc.predict(rows[0])) == want_names
    src = tmp_path / "in.csv"
    pd.DataFrame(rows).to_csv(src, index=False)
    assert _cli(tmp_path / "model.zip", src, tmp_path / "cli.csv").returncode == 0
    assert (tmp_path / "cli.csv").read_text().splitlines()[0].split(",") == want_names
    from scoring.pojo import pojo_source, write_pojo
    assert 'public String[] getOutputNames() { return OUTPUT_NAMES.clone(); }' in pojo_source(model)[0]
    javac, java = shutil.which("javac"), shutil.which("java")
    if not (javac and java):
        pytest.skip("no JDK on PATH (javac, java): .ci/run installs Debian's default-jdk-headless")
    out_dir = tmp_path / "pojo"
    java_file = write_pojo(model, out_dir)
    (out_dir / "Names.java").write_text(
        "public class Names { public static void main(String[] a) {\n"
        f"  {java_file.stem} m = new {java_file.stem}();\n"
        "  System.out.println(String.join(\"|\", m.getOutputNames()));\n"
        f"  System.out.println(String.join(\"|\", {java_file.stem}.RESPONSE_DOMAIN));\n"
        "  System.out.println(String.join(\"|\", m.getDomainValues(0)));\n"
        # genmodel's layout: the input columns, then the response (its levels last in DOMAINS)
        "  System.out.println(String.join(\"|\", m.getNames()) + \";\" + m.getNumCols() + \";\" + m.getResponseIdx()\n"
        "      + \";\" + m.getResponseName() + \";\" + String.join(\"|\", m.getDomainValues(m.getResponseIdx()))); } }\n")
    subprocess.run([javac, "-d", str(out_dir), str(java_file), str(out_dir / "Names.java")], check=True,
                   capture_output=True, timeout=600)
    res = subprocess.run([java, "-cp", str(out_dir), "Names"], capture_output=True, text=True, timeout=600)
    assert res.returncode == 0, res.stderr
    names = [*model.input_names, model.response_name]
    assert res.stdout.splitlines() == ["|".join(want_names), "|".join(levels), "r|g|b",
                                       f"{'|'.join(names)};2;2;{model.response_name};{'|'.join(levels)}"]
    res = subprocess.run([java, "-cp", str(out_dir), java_file.stem, str(src), str(tmp_path / "java.csv")],
                         capture_output=True, text=True, timeout=600)
    assert res.returncode == 0, res.stderr
    got = pd.read_csv(tmp_path / "java.csv", keep_default_na=False, dtype={"predict": str})
    assert list(got.columns) == want_names and got["predict"].tolist() == out["predict"].tolist()
    np.testing.assert_allclose(got.iloc[:, 1:].to_numpy(float), p, rtol=1e-12)


def load_scorer_of(model: PortableModel, tmp_path: Path):
    model.to_file(tmp_path / "model.zip")
    return load_scorer(tmp_path / "model.zip")


def test_pojo_command_line(model_file, tmp_path):
    path, _ = model_file
    res = subprocess.run([sys.executable, "-m", "scoring.pojo", str(path), str(tmp_path / "out")], capture_output=True,
                         text=True, cwd=str(REPO), timeout=120)
    assert res.returncode == 0 and Path(res.stdout.strip()) == tmp_path / "out" / "tiny_Binomial.java", res.stderr
    res = subprocess.run([sys.executable, "-m", "scoring.pojo", str(tmp_path / "nothing.zip"), str(tmp_path)],
                         capture_output=True, text=True, cwd=str(REPO), timeout=120)
    assert res.returncode == 1 and "error:" in res.stderr
    assert "--inline-limit" in subprocess.run([sys.executable, "-m", "scoring.pojo", "--help"], capture_output=True,
                                              text=True, cwd=str(REPO), timeout=120).stdout


# ------------------------------------------------------------------------------------------------------ venv
def test_scoring_imports_and_predicts_in_a_virtualenv_with_only_numpy(model_file, tmp_path):
    """The package copied alone into a fresh venv that has numpy and nothing else (pip installs it from the
    local wheels / index that pip is configured with; skipped when none can be had)."""
    path, arrays = model_file
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=300, capture_output=True)
    py = venv / "bin" / "python"
    res = subprocess.run([str(py), "-m", "pip", "install", "-q", f"numpy=={np.__version__}"], capture_output=True,
                         text=True, timeout=300)
    if res.returncode != 0:
        pytest.skip(f"numpy {np.__version__} cannot be installed into a fresh venv here: {res.stderr[-300:]}")
    site = tmp_path / "only_scoring"
    shutil.copytree(REPO / "scoring", site / "scoring", ignore=shutil.ignore_patterns("__pycache__"))
    env = {"PATH": os.environ.get("PATH", ""), "PYTHONPATH": str(site), "PYTHONNOUSERSITE": "1"}
    code = ("import sys, json, scoring\n"
            f"s = scoring.load_scorer({str(path)!r})\n"
            "out = s.predict([{'color': 'g', 'size': 5.0}, {'color': None, 'size': 'NA'}])\n"
            "import importlib.util as u\n"
            "absent = [m for m in ('pandas', 'numba', 'zmq', 'msgpack', 'cluster', 'frame', 'algos') "
            "if u.find_spec(m) is not None or m in sys.modules]\n"
            "print(json.dumps({'yes': out['yes'].tolist(), 'present': absent}))\n")
    res = subprocess.run([str(py), "-c", code], capture_output=True, text=True, cwd=str(tmp_path), env=env,
                         timeout=120)
    assert res.returncode == 0, res.stderr
    doc = json.loads(res.stdout)
    assert doc["present"] == []
    want = load_scorer(path).predict([{"color": "g", "size": 5.0}, {"color": None, "size": "NA"}])["yes"]
    assert doc["yes"] == want.tolist()
    src = tmp_path / "in.csv"
    src.write_text("color,size\ng,5\n,NA\n")
    res = _cli(path, src, tmp_path / "out.csv", python=py, cwd=tmp_path, env=env)
    assert res.returncode == 0, res.stderr
    assert pd.read_csv(tmp_path / "out.csv")["yes"].tolist() == want.tolist()
