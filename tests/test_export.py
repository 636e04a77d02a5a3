"""Exported models predict as the cloud does: the cloud's ``predict``, ``scoring.load_scorer``, the command line
``python -m scoring.score`` and the compiled POJO (``javac``/``java``) agree to 1e-6 relative on every row.

Models: prostate (categoricals with blanked cells and a level unseen in training; binomial and multinomial; every
activation, ``use_all_factor_levels`` off, hashed categoricals, balance_classes priors, Skip, mini-batches),
abalone regression under every distribution (one with an offset column), an autoencoder (reconstruction, anomaly,
deepfeatures), and Fashion-MNIST on 1 node and on a 2-node cloud with mini-batches. The cloud scores frames whose
categorical columns arrived as strings (H2O's adaptTestForTrain), the other three take the raw CSV/pandas values.
"""
from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import cluster
import frame
from algos import DeepLearningEstimator, download_mojo, download_pojo
from algos.deeplearning.export import pojo_preview
from cloudkit import FMNIST, SMALL, Launcher
from scoring import load_scorer

REPO = Path(__file__).resolve().parent.parent
JAVAC, JAVA, JAR = shutil.which("javac"), shutil.which("java"), shutil.which("jar")
RTOL = 1e-6
PROSTATE_X = ["AGE", "RACE", "DPROS", "DCAPS", "PSA", "VOL", "GLEASON"]


# ------------------------------------------------------------------------------------------------------ helpers
def java_scores(java_file: Path, csv_in: Path, csv_out: Path) -> pd.DataFrame:
    """Compile the POJO with javac and score ``csv_in`` with ``java -cp classes <Class>``."""
    if not (JAVAC and JAVA):
        pytest.skip("no JDK on PATH (javac, java): .ci/run installs Debian's default-jdk-headless")
    classes = java_file.parent / "classes"
    classes.mkdir(exist_ok=True)
    subprocess.run([JAVAC, "-d", str(classes), str(java_file)], check=True, capture_output=True, timeout=600)
    res = run_java(classes, java_file.stem, csv_in, csv_out)
    assert res.returncode == 0, res.stderr
    return pd.read_csv(csv_out, keep_default_na=False, dtype={"predict": str})


def run_java(classpath: Path, cls: str, csv_in: Path, csv_out: Path) -> subprocess.CompletedProcess:
    return subprocess.run([JAVA, "-cp", str(classpath), cls, str(csv_in), str(csv_out)], capture_output=True,
                          text=True, timeout=600)


def cli_scores(model_file: str, csv_in: Path, csv_out: Path, *extra: str) -> pd.DataFrame:
    res = subprocess.run([sys.executable, "-m", "scoring.score", model_file, str(csv_in), str(csv_out),
                          "--batch-rows", "333", *extra], capture_output=True, text=True, timeout=600,
                         cwd=str(REPO))
    assert res.returncode == 0, res.stderr
    return pd.read_csv(csv_out, keep_default_na=False, dtype={"predict": str})


def assert_same(ref: pd.DataFrame, got, what: str, threshold: float | None = None) -> None:
    """Same columns; labels equal; numbers within 1e-6 relative on every row. The max-F1 ``threshold`` of a
    binomial model is one training row's probability: a row exactly on it may take either label when two
    implementations round its last bit differently, and only such a row may."""
    got = got if isinstance(got, pd.DataFrame) else pd.DataFrame(got)
    assert list(got.columns) == list(ref.columns), what
    assert len(got) == len(ref), what
    for c in ref.columns:
        if c == "predict" and (ref[c].dtype == object or str(ref[c].dtype) == "category"):
            differ = ref[c].astype(str).to_numpy() != got[c].astype(str).to_numpy()
            if threshold is not None and len(ref.columns) == 3:
                differ &= ~np.isclose(ref.iloc[:, 2].to_numpy(np.float64), threshold, rtol=1e-12, atol=0)
            assert not differ.any(), f"{what}: labels differ on rows {np.flatnonzero(differ)[:10]}"
        else:
            np.testing.assert_allclose(got[c].to_numpy(np.float64), ref[c].to_numpy(np.float64), rtol=RTOL,
                                       atol=1e-300, err_msg=f"{what}: column {c}")


def check_exports(model, fr, raw: pd.DataFrame, tmp: Path, **pojo) -> dict:
    """The cloud's predictions on ``fr`` against the scorer (pandas, dicts, numpy), the CLI and the POJO, all
    fed the raw values ``raw`` (strings for categoricals, blanks)."""
    ref = model.predict(fr).as_pandas()
    path = model.download_mojo(tmp / "model.zip")
    scorer = load_scorer(path)
    th = scorer.model.threshold if scorer.category == "Binomial" else None
    assert_same(ref, scorer.predict(raw), "load_scorer(DataFrame)", th)
    rows = raw[scorer.names].astype(object).where(raw[scorer.names].notna(), None).to_dict("records")
    assert_same(ref, scorer.predict(rows), "load_scorer(list of dicts)", th)
    assert_same(ref, scorer.predict(raw[scorer.names].to_numpy(dtype=object)), "load_scorer(numpy)", th)
    one = scorer.predict(rows[3])
    assert list(one) == list(ref.columns)
    if "predict" in one and isinstance(one["predict"], str):
        assert one["predict"] == str(ref["predict"].iloc[3])
    csv_in = tmp / "in.csv"
    raw.to_csv(csv_in, index=False)
    assert_same(ref, cli_scores(path, csv_in, tmp / "cli.csv"), "python -m scoring.score", th)
    java_file = Path(model.download_pojo(tmp / "pojo", **pojo))
    assert_same(ref, java_scores(java_file, csv_in, tmp / "java.csv"), "POJO", th)
    return {"ref": ref, "scorer": scorer, "model_file": path, "java": java_file, "csv": csv_in}


# ------------------------------------------------------------------------------------------------------ prostate
@pytest.fixture(scope="module")
def prostate(one, tmp_path_factory):
    """(training frame, raw test DataFrame, its cloud frame made from strings): a few cells blanked in training,
    the test adds a RACE level unseen in training and missing categoricals and numbers."""
    tmp = tmp_path_factory.mktemp("prostate")
    df = pd.read_csv(SMALL / "prostate.csv")
    train = df.copy()
    train.loc[::13, "PSA"] = np.nan
    train.loc[5::17, "DPROS"] = np.nan
    train.to_csv(tmp / "train.csv", index=False)
    fr = frame.import_file(str(tmp / "train.csv"), cloud=one)
    for c in ("CAPSULE", "RACE", "DPROS", "DCAPS"):
        fr[c] = fr[c].asfactor()
    raw = df.copy()
    for c in ("CAPSULE", "RACE", "DPROS", "DCAPS"):
        raw[c] = raw[c].astype("Int64").astype(str).astype(object)
    raw.loc[3, "RACE"] = "7"                 # unseen in training
    raw.loc[[4, 9], "RACE"] = None
    raw.loc[[6, 11], "DPROS"] = None
    raw.loc[::10, "PSA"] = np.nan
    raw.loc[7, "VOL"] = np.nan
    test = frame.Frame.from_pandas(raw, cloud=one)
    assert test.types["RACE"] == "string" and test.types["DPROS"] == "string"
    return fr, raw, test


PROSTATE_MODELS = {
    "rectifier": dict(hidden=[16, 8]),
    "tanh_dropout_no_first_level": dict(hidden=[8], activation="TanhWithDropout", use_all_factor_levels=False,
                                        input_dropout_ratio=0.1, hidden_dropout_ratios=[0.3]),
    "maxout_hashed": dict(hidden=[6, 6], activation="MaxoutWithDropout", max_categorical_features=4),
    "elu_balanced_skip": dict(hidden=[8], activation="ExpRectifier", balance_classes=True,
                              missing_values_handling="Skip"),
    "minibatch_unstandardized": dict(hidden=[8, 8], mini_batch_size=16, standardize=False),
}


@pytest.mark.parametrize("name", sorted(PROSTATE_MODELS))
def test_prostate_binomial_exports_agree(prostate, name, tmp_path):
    fr, raw, test = prostate
    dl = DeepLearningEstimator(epochs=3, seed=7, reproducible=True, **PROSTATE_MODELS[name])
    dl.train(x=PROSTATE_X, y="CAPSULE", training_frame=fr)
    out = check_exports(dl.model, test, raw, tmp_path)
    assert list(out["ref"].columns) == ["predict", "p0", "p1"]
    if name == "maxout_hashed":
        assert out["scorer"].model.meta["encoding"]["hashed"]
    if name == "elu_balanced_skip":
        assert out["scorer"].model.priors is not None
    # the cloud maps a string column and an enum column with other levels alike
    enum_test = frame.Frame.from_pandas(raw.astype({c: "category" for c in ("RACE", "DPROS", "DCAPS")}))
    assert_same(out["ref"], dl.predict(enum_test).as_pandas(), "cloud on an enum frame with other levels")


def test_prostate_multinomial_exports_agree(prostate, tmp_path):
    fr, raw, test = prostate
    dl = DeepLearningEstimator(hidden=[12], activation="Tanh", epochs=3, seed=3, reproducible=True)
    dl.train(x=["AGE", "RACE", "CAPSULE", "DCAPS", "PSA", "VOL", "GLEASON"], y="DPROS", training_frame=fr)
    assert dl.model.kind == "multinomial"
    out = check_exports(dl.model, test, raw, tmp_path)
    assert list(out["ref"].columns) == ["predict", "p1", "p2", "p3", "p4"]          # H2O's names for integer levels
    # the cloud reads string responses as H2O does too: metrics on the string frame equal those on the labels
    assert dl.model_performance(test).logloss() == pytest.approx(
        dl.model_performance(frame.Frame.from_pandas(raw.astype({c: "category" for c in raw.columns
                                                                 if raw[c].dtype == object}))).logloss())


def test_probability_names_of_awkward_labels_agree_everywhere(prostate, tmp_path):
    """Labels that are Java Integers (-3, +7) name their probabilities p-3, p+7; others (1.5, beyond int32) stay;
    levels "1" and "p1" clash (p1, then p10): the cloud, the scorer, the command line and the POJO name alike."""
    fr, raw, test = prostate
    odd = {"1": "-3", "2": "1.5", "3": "2147483648", "4": "p1"}
    y = fr.as_pandas()["DPROS"].astype("Int64").astype(str).map(lambda v: odd.get(v, "1"))   # blanked cells: "1"
    train = frame.Frame.from_pandas(fr.as_pandas().drop(columns=["DPROS"]).assign(y=y.to_numpy()), cloud=fr.cloud)
    train["y"] = train["y"].asfactor()
    assert sorted(train.domains["y"]) == sorted(set(y))
    dl = DeepLearningEstimator(hidden=[6], activation="Tanh", epochs=2, seed=3, reproducible=True)
    dl.train(x=["AGE", "RACE", "CAPSULE", "DCAPS", "PSA", "VOL", "GLEASON"], y="y", training_frame=train)
    name_of = {"-3": "p-3", "1.5": "1.5", "2147483648": "2147483648", "p1": "p10", "1": "p1"}
    out = check_exports(dl.model, test, raw, tmp_path)
    assert list(out["ref"].columns) == ["predict"] + [name_of[lv] for lv in dl.model.response_domain]


def test_prostate_autoencoder_reconstruction_anomaly_and_deepfeatures(prostate, tmp_path):
    fr, raw, test = prostate
    dl = DeepLearningEstimator(autoencoder=True, hidden=[5, 3, 5], activation="Tanh", epochs=3, seed=5,
                               reproducible=True)
    dl.train(x=PROSTATE_X, training_frame=fr)
    out = check_exports(dl.model, test, raw, tmp_path)
    scorer, mf, csv_in = out["scorer"], out["model_file"], out["csv"]
    for per_feature in (False, True):
        ref = dl.anomaly(test, per_feature=per_feature).as_pandas()
        assert_same(ref, scorer.anomaly(raw, per_feature=per_feature), "anomaly")
        extra = ["--anomaly"] + (["--per-feature"] if per_feature else [])
        assert_same(ref, cli_scores(mf, csv_in, tmp_path / "anomaly.csv", *extra), "CLI --anomaly")
    for layer in (0, 1):
        ref = dl.deepfeatures(test, layer).as_pandas()
        assert_same(ref, scorer.deepfeatures(raw, layer), "deepfeatures")
        assert_same(ref, cli_scores(mf, csv_in, tmp_path / "df.csv", "--deepfeatures", str(layer)),
                    "CLI --deepfeatures")


def test_cloud_refuses_strings_for_a_numeric_column(prostate):
    fr, raw, _ = prostate
    dl = DeepLearningEstimator(hidden=[4], epochs=1, seed=1, reproducible=True)
    dl.train(x=PROSTATE_X, y="CAPSULE", training_frame=fr)
    bad = frame.Frame.from_pandas(raw.astype({"AGE": str}))
    with pytest.raises(ValueError, match="column 'AGE' is numeric in the model but string"):
        dl.predict(bad)


# ------------------------------------------------------------------------------------------------------ abalone
@pytest.fixture(scope="module")
def abalone(one):
    df = pd.read_csv(SMALL / "abalone.csv")
    df["offset"] = np.round(0.1 * df["length"], 4)
    fr = frame.Frame.from_pandas(df.astype({"sex": "category"}), cloud=one)
    raw = df.copy().astype({"sex": object})
    raw.loc[::50, "shell_weight"] = np.nan
    raw.loc[3::70, "sex"] = None
    raw.loc[10, "sex"] = "U"                     # unseen
    return fr, raw, frame.Frame.from_pandas(raw, cloud=one)


@pytest.mark.parametrize("distribution", ["gaussian", "poisson", "gamma", "tweedie", "laplace", "huber", "quantile",
                                          "poisson+offset"])
def test_abalone_regression_exports_agree_for_every_distribution(abalone, distribution, tmp_path):
    fr, raw, test = abalone
    dist, _, offset = distribution.partition("+")
    dl = DeepLearningEstimator(hidden=[10], epochs=1, seed=11, reproducible=True, distribution=dist,
                               activation="Rectifier", offset_column=offset or None)
    x = [c for c in raw.columns if c not in ("rings", "offset")]
    dl.train(x=x, y="rings", training_frame=fr)
    out = check_exports(dl.model, test, raw, tmp_path)
    meta = out["scorer"].model.meta
    assert meta["prediction"]["distribution"] == dist
    assert meta["offset_column"] == (offset or None)
    assert out["ref"]["predict"].std() > 0


# ------------------------------------------------------------------------------------------------------ fmnist
def _fmnist(n_train: int, n_test: int, tmp: Path) -> tuple[Path, Path, pd.DataFrame]:
    if not FMNIST.exists():
        pytest.skip("Debian package dataset-fashion-mnist is not installed (tools/setup.sh installs it)")
    from tools.fmnist_to_csv import load_idx
    names = [f"C{i + 1}" for i in range(785)]
    paths = []
    for split, prefix, n in (("train", "train", n_train), ("test", "t10k", n_test)):
        img = load_idx(FMNIST / f"{prefix}-images-idx3-ubyte.gz")[:n].reshape(n, -1)
        lab = load_idx(FMNIST / f"{prefix}-labels-idx1-ubyte.gz")[:n]
        df = pd.DataFrame(np.column_stack([img, lab]).astype(np.int64), columns=names)
        df.to_csv(tmp / f"{split}.csv", index=False)
        paths.append(tmp / f"{split}.csv")
    return paths[0], paths[1], df


def _fmnist_frames(cloud, train_csv, test_csv):
    train = frame.import_file(str(train_csv), cloud=cloud)
    test = frame.import_file(str(test_csv), cloud=cloud)
    train["C785"] = train["C785"].asfactor()
    return train, test


@pytest.mark.slow
def test_fmnist_one_node_exports_agree_and_a_large_pojo_reads_its_weights_resource(one, tmp_path, capsys):
    train_csv, test_csv, raw = _fmnist(6000, 1500, tmp_path)
    train, test = _fmnist_frames(one, train_csv, test_csv)
    dl = DeepLearningEstimator(activation="RectifierWithDropout", hidden=[64, 32], input_dropout_ratio=0.2,
                               epochs=1, seed=1234)
    dl.train(x=train.names[:-1], y="C785", training_frame=train)
    out = check_exports(dl.model, test, raw, tmp_path)
    assert "Base64" in out["java"].read_text()
    ref = out["ref"]
    assert (ref["predict"].astype(str) == raw["C785"].astype(str)).mean() > 0.6      # it learnt something
    # the same network with its weights in <Class>.bin, read from the class's directory or jar
    big = tmp_path / "big"
    java_file = Path(download_pojo(dl.model, big, inline_limit=1000))
    blob = big / f"{java_file.stem}.bin"
    assert blob.exists() and "Base64.getDecoder" not in java_file.read_text()
    classes = big / "classes"
    classes.mkdir()
    subprocess.run([JAVAC, "-d", str(classes), str(java_file)], check=True, capture_output=True, timeout=600)
    res = run_java(classes, java_file.stem, out["csv"], big / "java.csv")
    assert res.returncode != 0 and f"resource {java_file.stem}.bin not found" in res.stderr, res.stderr
    shutil.copy(blob, classes)
    assert run_java(classes, java_file.stem, out["csv"], big / "java.csv").returncode == 0
    assert_same(ref, pd.read_csv(big / "java.csv", dtype={"predict": str}), "POJO reading <Class>.bin")
    if JAR:
        subprocess.run([JAR, "cf", str(big / "model.jar"), "-C", str(classes), "."], check=True, timeout=300)
        assert run_java(big / "model.jar", java_file.stem, out["csv"], big / "jar.csv").returncode == 0
        assert_same(ref, pd.read_csv(big / "jar.csv", dtype={"predict": str}), "POJO in a jar")
    blob.write_bytes(blob.read_bytes()[:-1] + b"\0")                      # a damaged resource is refused
    shutil.copy(blob, classes)
    res = run_java(classes, java_file.stem, out["csv"], big / "java.csv")
    assert res.returncode != 0 and "damaged" in res.stderr, res.stderr
    capsys.readouterr()
    assert dl.model.download_pojo("") is None                          # h2o-py: an empty path prints it
    printed = capsys.readouterr().out
    assert f"public class {java_file.stem}" in printed
    head = pojo_preview(dl.model, max_lines=40).splitlines()          # the web UI's PREVIEW POJO
    assert head[:40] == printed.splitlines()[:40] and "more lines" in head[-1]


@pytest.mark.slow
def test_fmnist_two_nodes_minibatch_exports_agree(tmp_path):
    train_csv, test_csv, raw = _fmnist(6000, 1500, tmp_path)
    kit = Launcher(tmp_path)
    try:
        nodes = kit.cloud(2, extra=["--nthreads", "1"])
        client = cluster.connect(nodes[0].address, timeout=10)
        try:
            train, test = _fmnist_frames(client, train_csv, test_csv)
            assert len(set(test.homes)) == 2                    # the cloud's predict runs on both nodes
            dl = DeepLearningEstimator(activation="Rectifier", hidden=[48], mini_batch_size=32, epochs=1, seed=42)
            dl.train(x=train.names[:-1], y="C785", training_frame=train)
            check_exports(dl.model, test, raw, tmp_path)
            assert download_mojo(dl.model, tmp_path / "again") .endswith(".zip")
        finally:
            client.shutdown()
    finally:
        kit.cleanup()
