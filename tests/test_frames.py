"""Frames: import of real and tricky CSVs, numpy/pandas round trips, a 3-node cloud, admin keys/frames/rm."""
import json
import threading
import time

import numpy as np
import pandas as pd
import pytest

import algos
import cluster
import frame
from frame.csv_parser import ParseError
from cloudkit import FMNIST, SMALL, Launcher, admin
from frame import Frame


def test_import_small_real_files_with_h2o_setup(one):
    p = frame.import_file(str(SMALL / "prostate.csv"))
    assert p.shape == (380, 9) and p.names[:3] == ["ID", "CAPSULE", "AGE"]
    assert set(p.types.values()) == {"numeric"} and p.key == "prostate.hex"
    iris = frame.import_file(str(SMALL / "iris_wheader.csv"))
    assert iris.shape == (150, 5) and iris.types["class"] == "enum"
    assert iris.domains["class"] == ["Iris-setosa", "Iris-versicolor", "Iris-virginica"]
    cars = frame.import_file(str(SMALL / "cars.csv"))
    assert "economy (mpg)" in cars.names and "0-60 mph (s)" in cars.names and cars.types["name"] == "enum"
    assert cars.rollups()[cars.col_index("economy (mpg)")]["na_count"] == 8
    boston = frame.import_file(str(SMALL / "BostonHousing.csv"))
    assert boston.shape == (506, 14) and boston.types["medv"] == "numeric"
    ref = pd.read_csv(SMALL / "BostonHousing.csv")
    np.testing.assert_array_equal(boston.as_numpy(), ref.to_numpy(dtype=np.float64))
    st = boston.rollups()[boston.col_index("medv")]
    assert st["mean"] == pytest.approx(ref["medv"].mean()) and st["sigma"] == pytest.approx(ref["medv"].std())
    for fr in (p, iris, cars, boston):
        fr.remove()


def test_tricky_csv_header_quotes_na_categoricals_mixed_crlf(one, tmp_path):
    text = ('id,"name, full",score,grade,when\r\n'
            '1,"Smith, J",3.5,A,2024-01-02\r\n'
            '2,"O""Brien",NA,B,2024-01-03\r\n'
            '3,plain,-1e3,,2024-01-04\r\n'
            '4,"x",7,A,\r\n')
    path = tmp_path / "tricky.csv"
    path.write_bytes(text.encode())
    fr = frame.import_file(str(path), col_types={"name, full": "string"})
    assert fr.names == ["id", "name, full", "score", "grade", "when"]
    assert fr.types == {"id": "numeric", "name, full": "string", "score": "numeric", "grade": "enum", "when": "time"}
    df = fr.as_pandas()
    assert df["name, full"].tolist() == ["Smith, J", 'O"Brien', "plain", "x"]
    assert np.isnan(df["score"][1]) and df["score"][2] == -1000.0
    assert fr.domains["grade"] == ["A", "B"] and pd.isna(df["grade"][2])
    assert str(df["when"][0].date()) == "2024-01-02" and pd.isna(df["when"][3])
    # no header, forced; custom NA string
    p2 = tmp_path / "nohead.csv"
    p2.write_text("1,a,?\n2,b,5\n3,a,6\n")
    f2 = frame.import_file(str(p2), header=-1, na_strings=["?"])
    assert f2.names == ["C1", "C2", "C3"] and f2.types["C2"] == "enum"
    assert np.isnan(f2.as_numpy()[0, 2]) and f2.as_numpy()[2, 2] == 6
    fr.remove()
    f2.remove()


def test_ragged_row_names_the_line_and_leaves_nothing_behind(one, tmp_path):
    lines = ["a,b,c"] + [f"{i},{i * 2},{i * 3}" for i in range(5000)]
    lines[3000] = "1,2"                          # file line 3001
    path = tmp_path / "ragged.csv"
    path.write_text("\n".join(lines) + "\n")
    before = {r["key"] for r in one.dkv.keys("")}
    with pytest.raises(ParseError) as info:            # raised in the caller, from the node's report
        frame.import_file(str(path))
    assert "line 3001" in str(info.value) and "column 3" in str(info.value) and f"{path}: " in str(info.value)
    assert {r["key"] for r in one.dkv.keys("")} == before


def test_numpy_and_pandas_round_trips(one):
    rng = np.random.default_rng(3)
    special = np.array([np.nan, np.inf, -np.inf, -0.0, 5e-324, 1.7976931348623157e308, 0.1, 12.34])
    floats = np.concatenate([special, rng.normal(size=4992)])
    fr = Frame.from_numpy(floats)
    assert fr.as_numpy()[:, 0].view(np.uint64).tolist() == floats.view(np.uint64).tolist()
    ints = np.array([np.iinfo(np.int64).min, np.iinfo(np.int64).max, 0, -1] * 500, dtype=np.int64)
    fi = Frame.from_numpy(ints)
    assert fi.as_numpy().dtype == np.int64 and (fi.as_numpy()[:, 0] == ints).all()
    df = pd.DataFrame({
        "x": rng.normal(size=3000),
        "n": rng.integers(-5, 5, size=3000),
        "withna": np.where(rng.random(3000) < 0.1, np.nan, rng.random(3000)),
        "cat": pd.Categorical(rng.choice(["lo", "hi", "mid"], size=3000)),
        "catna": pd.Categorical(rng.choice(["u", "v", None], size=3000)),
        "flag": rng.random(3000) < 0.5,
    })
    out = Frame.from_pandas(df).as_pandas()
    pd.testing.assert_frame_equal(out[["x", "n", "withna"]], df[["x", "n", "withna"]])
    for c in ("cat", "catna"):
        assert out[c].astype(object).where(out[c].notna(), None).tolist() == \
            df[c].astype(object).where(df[c].notna(), None).tolist()
        assert list(out[c].cat.categories) == sorted(df[c].cat.categories)
    assert out["flag"].astype(bool).tolist() == df["flag"].tolist()
    for f in (fr, fi):
        f.remove()
    with pytest.raises(ValueError, match=r"column 'z' is complex \(complex128\)"):   # not its real part, silently
        Frame.from_pandas(pd.DataFrame({"x": [1.0, 2.0], "z": [1 + 2j, 3j]}))


def test_pandas_nullable_integers_stay_exact_beyond_2_53(one):
    """Int64 with NA used to go through float64: 2**60 + 1 came back as 2**60 (and the column as float64)."""
    big = 2 ** 60 + 1
    df = pd.DataFrame({"a": pd.array([big, None, -big, 3] * 1000, dtype="Int64"),
                       "b": pd.array([big, 1, 2, 3] * 1000, dtype="Int64"),
                       "flag": pd.array([True, None, False, True] * 1000, dtype="boolean"),
                       "u": pd.array([2 ** 64 - 1, 0, 1, 2] * 1000, dtype="UInt64")})
    fr = Frame.from_pandas(df, nchunks=3)
    out = fr.as_pandas()
    assert out["a"].dtype == "Int64" and out["a"].isna().sum() == 1000
    assert out["a"].dropna().astype(object).tolist() == df["a"].dropna().astype(object).tolist()
    assert out["b"].dtype == np.int64 and out["b"].tolist() == df["b"].astype(object).tolist()
    assert out["flag"].isna().sum() == 1000 and out["flag"].dropna().tolist() == [1, 0, 1] * 1000
    assert out["u"].dtype == np.uint64 and out["u"].tolist() == df["u"].astype(object).tolist()
    fr.remove()
    with pytest.raises(ValueError, match=r"column 'u' \(UInt64\) holds NA and values >= 2\*\*63"):
        Frame.from_pandas(pd.DataFrame({"u": pd.array([2 ** 64 - 1, None], dtype="UInt64")}))


def test_split_frame_and_new_frames_refuse_destinations_that_would_destroy_data(one):
    """split_frame stored its parts under any key: the source's own (100 rows became 47), a chunk or rollup key
    of another frame (which then could not be read), or twice the same key. A new frame may replace a frame
    (as in H2O) but not a model or another kind of value."""
    from cluster.dkv import Value
    victim = Frame.from_numpy(np.arange(10.0), destination_frame="victim")
    src = Frame.from_numpy(np.arange(100.0), destination_frame="src")
    for dest, why in (([victim.vecs[0] + "$rollups", "o1"], "bad frame key"),
                      ([victim.chunk_keys(0)[0], "o1"], "bad frame key"), (["a#b", "o1"], "bad frame key"),
                      (["src", "o1"], "names the frame being split, 'src'"), (["dd", "dd"], "repeats a key")):
        with pytest.raises(ValueError, match=why):
            src.split_frame([0.5], destination_frames=dest, seed=1)
    one.dkv.put("a_model", Value("model", {"algo": "deeplearning"}))
    with pytest.raises(ValueError, match="'a_model' holds a model, not a frame"):
        src.split_frame([0.5], destination_frames=["a_model", "o1"], seed=1)
    with pytest.raises(ValueError, match="'a_model' holds a model, not a frame"):
        Frame.from_numpy(np.arange(3.0), destination_frame="a_model")
    with pytest.raises(ValueError, match="'a_model' holds a model, not a frame"):
        frame.import_file(str(SMALL / "iris_wheader.csv"), destination_frame="a_model")
    assert one.dkv.get("a_model").type == "model"
    assert frame.get_frame("src").nrows == 100 and frame.get_frame("victim").as_numpy()[:, 0].tolist() == \
        list(range(10))
    assert {k for k in (r["key"] for r in one.dkv.keys("")) if k in ("o1", "dd")} == set()
    a, b = src.split_frame([0.5], destination_frames=["victim", "o1"], seed=1)   # a frame may be replaced
    assert frame.get_frame("victim").nrows == a.nrows
    one.dkv.delete("a_model")
    for f in (a, b, src):
        f.remove()


def test_a_column_assigned_from_another_frame_outlives_that_frame(one):
    """y["x"] = x["x"] shared x's vec: removing x took the column from y (read failed with an AttributeError).
    Now the column is copied; a selection read after its parent is gone names what is missing."""
    x = Frame.from_numpy(np.arange(4.0), names=["x"])
    y = Frame.from_numpy(np.arange(4.0) * 10, names=["y"])
    y["x"] = x["x"]
    y["x2"] = x["x"].asfactor()                # owned by the asfactor result: taken, not copied
    view = x["x"]
    x.remove()
    assert y.as_pandas()["x"].tolist() == [0, 1, 2, 3] and y.as_pandas()["x2"].tolist() == ["0", "1", "2", "3"]
    with pytest.raises(KeyError, match=r"the data of column 'x' is gone \(was the frame that owns it removed"):
        view.as_pandas()
    vecs = set(y.vecs)
    y.remove()                                 # the copy goes with y
    assert not [r["key"] for r in one.dkv.keys("") if r["key"].split("@")[-1].split("#")[0] in vecs]


def test_a_frame_imported_again_under_its_key_frees_the_old_copy(one):
    """Importing a file again (every re-run of a notebook cell: the key is <file>.hex) kept the old copy's chunks
    and rollups in the DKV for ever; H2O deletes the frame it overwrites. A handle on the old copy says so."""
    def keys():
        return sorted(r["key"] for r in one.dkv.keys(""))

    old = frame.import_file(str(SMALL / "prostate.csv"))
    before = keys()
    new = frame.import_file(str(SMALL / "prostate.csv"))
    assert new.key == old.key and len(keys()) == len(before) and set(new.vecs).isdisjoint(old.vecs)
    assert new.as_pandas().shape == (380, 9)
    with pytest.raises(KeyError, match=r"is gone \(was the frame that owns it removed, or replaced under its key"):
        old.as_pandas()
    new.remove()
    assert not [k for k in keys() if any(v in k for v in old.vecs + new.vecs)]


def test_a_frame_a_running_training_reads_is_neither_replaced_nor_removed(one):
    """H2O read-locks the frames a model builder reads. Ours replaced or removed them under a running training
    (its next iteration failed on missing chunks). Now both are refused naming the job; a cancelled job (say,
    one whose driver died) frees them."""
    from algos import DeepLearningEstimator
    fr = frame.import_file(str(SMALL / "prostate.csv"), destination_frame="locked.hex")
    dl = DeepLearningEstimator(hidden=[8], epochs=1e6, seed=1)
    failures = []

    def train():
        try:
            dl.train(y="CAPSULE", training_frame=fr[1:])       # a selection: its parent is what is locked
        except Exception as exc:
            failures.append(exc)

    worker = threading.Thread(target=train, daemon=True)
    worker.start()
    deadline = time.monotonic() + 120
    while not (job := cluster.jobs.lock_holder("locked.hex", one, writers=False)):
        assert time.monotonic() < deadline and worker.is_alive(), failures
        time.sleep(0.05)
    assert job["reads"] == ["locked.hex"]
    with pytest.raises(ValueError, match=r"cannot replace frame 'locked.hex': the running job 'DeepLearning"):
        frame.import_file(str(SMALL / "iris_wheader.csv"), destination_frame="locked.hex")
    with pytest.raises(ValueError, match=r"cannot remove frame 'locked.hex'"):
        fr.remove()
    assert fr.as_pandas().shape == (380, 9)
    cluster.Job.get(job["key"]).cancel()
    worker.join(120)
    assert not worker.is_alive() and isinstance(failures[0], cluster.JobCancelledError)
    again = frame.import_file(str(SMALL / "iris_wheader.csv"), destination_frame="locked.hex")
    assert again.shape == (150, 5)
    again.remove()
    for m in algos.list_models(one):     # the cancelled training kept its last iteration's model
        algos.remove_model(m["model_id"], cloud=one)


def test_small_frame_api_mistakes_are_refused_or_kept_right(one):
    """A careless user's sweep: each of these lost or changed data silently, or could not be read back."""
    with pytest.raises(ValueError, match="1 names for 3 columns"):          # two columns used to vanish
        Frame.from_numpy(np.arange(6.0).reshape(2, 3), names=["x"])
    u = Frame.from_numpy(np.array([[2 ** 64 - 1, 5]], dtype=np.uint64))
    assert u.as_numpy().dtype == np.uint64 and u.as_numpy().tolist() == [[2 ** 64 - 1, 5]]   # was [[-1, 5]]
    c = Frame.from_pandas(pd.DataFrame({"a": pd.Categorical(list("xyzx")), "s": [None, "p", "q", "p"]}))
    for bad in (["p"], ["p", "p", "q"]):                                   # the frame became unreadable
        with pytest.raises(ValueError, match="a new domain needs 3 distinct levels"):
            c.set_domain("a", bad)
    c.set_domain("a", ["X", "Y", "Z"])
    assert c.as_pandas()["a"].tolist() == ["X", "Y", "Z", "X"]
    assert c.summary(return_data=True)["s"]["missing"] == 1                # every string row counted missing
    twice = c[["a", "a", "s"]]
    assert twice.names == ["a", "a0", "s"] and twice.as_pandas().shape == (4, 3)   # as H2O names them
    masked = Frame.from_numpy(np.ma.masked_array([1.0, 2.0, 3.0], mask=[False, True, False]))
    assert np.isnan(masked.as_numpy()[:, 0]).tolist() == [False, True, False]      # the hidden 2.0 was kept
    odd = Frame.from_pandas(pd.DataFrame({"o": [pd.NaT, np.float32("nan"), b"ab", "x", None]}, dtype=object))
    assert odd.as_pandas()["o"].tolist() == [None, None, "ab", "x", None]         # were 'NaT', 'nan', "b'ab'"
    assert len(masked.head(-1)) == 2                                               # pandas' head(-1)
    times = pd.DataFrame({"t": pd.to_datetime(["2020-01-01 00:00:00.123456789", None, "2020-01-02 00:00:00.000"])})
    with pytest.warns(UserWarning, match="column 't': 1 times have parts below a millisecond"):   # were cut silently
        timed = Frame.from_pandas(times)
    assert timed.as_pandas()["t"].iloc[0] == pd.Timestamp("2020-01-01 00:00:00.123")
    timed.remove()
    for call, words in ((lambda: Frame.from_pandas({"a": [1]}), "takes a pandas DataFrame"),
                        (lambda: Frame.from_pandas(pd.DataFrame([[1, 2]], columns=["a", "a"])), "duplicate column"),
                        (lambda: Frame.from_numpy(pd.DataFrame({"a": [1.0]})), "use Frame.from_pandas"),
                        (lambda: c.split_frame([float("nan")]), "ratios must be positive"),
                        (lambda: c.split_frame([0.5], seed=1.7), "seed must be an integer"),
                        (lambda: Frame.from_numpy(np.zeros(3), nchunks=2.5), "nchunks must be"),
                        (lambda: masked.as_pandas(start=-2), "start and nrows must be >= 0"),
                        (lambda: frame.remove(None), "remove takes a frame or its key")):
        with pytest.raises((TypeError, ValueError), match=words):
            call()
    a, b = masked.split_frame(np.array([0.5]), seed=2 ** 32 + 1)                   # numpy ratios; a 64-bit seed
    assert a.nrows + b.nrows == 3
    for f in (u, c, masked, odd, a, b):
        f.remove()


def test_asfactor_assign_back_and_split_frame(one):
    fr = Frame.from_numpy(np.column_stack([np.arange(1000.0), np.arange(1000) % 3]), names=["x", "y"])
    fr["y"] = fr["y"].asfactor()
    assert fr.types["y"] == "enum" and fr.domains["y"] == ["0", "1", "2"]
    assert frame.get_frame(fr.key).types["y"] == "enum"
    a, b = fr.split_frame([0.7], seed=42)
    assert a.nrows + b.nrows == 1000 and 600 < a.nrows < 800
    assert sorted(np.concatenate([a.as_numpy()[:, 0], b.as_numpy()[:, 0]]).tolist()) == list(range(1000))
    again = fr.split_frame([0.7], seed=42)[0]
    assert again.as_numpy().tolist() == a.as_numpy().tolist()
    for f in (fr, a, b, again):
        f.remove()


def test_three_node_frames_spread_read_back_everywhere_and_delete_everywhere(tmp_path, security):
    kit = Launcher(tmp_path, security_dir=security)
    sec = ["--security-dir", str(security)] if security else []
    try:
        nodes = kit.cloud(3)
        path = tmp_path / "big.csv"
        rng = np.random.default_rng(5)
        data = rng.integers(0, 1000, size=(30_000, 6)).astype(np.float64)
        pd.DataFrame(data).to_csv(path, index=False, header=False)
        clients = [kit.connect(n, timeout=10) for n in nodes]
        try:
            fr = frame.import_file(str(path), cloud=clients[1], destination_frame="big")
            assert set(fr.homes) == {n.address for n in nodes}
            for c in clients:                                    # read back through every node
                np.testing.assert_array_equal(frame.get_frame("big", cloud=c).as_numpy(), data)
            per_node = {}
            for r in clients[0].dkv.keys(fr.vecs[0]):
                per_node[r["home"]] = per_node.get(r["home"], 0) + 1
            assert set(per_node) == {n.address for n in nodes}
            res = admin(*sec, "--cluster", nodes[2].address, "frames", "--json")
            assert res.returncode == 0, res.stderr
            (row,) = json.loads(res.stdout)
            assert row["key"] == "big" and row["rows"] == 30_000 and row["cols"] == 6 and row["bytes"] > 0
            res = admin(*sec, "--cluster", nodes[0].address, "keys", "--json")
            keys = json.loads(res.stdout)
            assert {k["home"] for k in keys} == {n.address for n in nodes}
            assert all(set(k) == {"key", "type", "bytes", "home", "copies"} and k["copies"] == 1 for k in keys)
            res = admin(*sec, "--cluster", nodes[0].address, "rm", "big")
            assert res.returncode == 0, res.stderr
            assert clients[2].dkv.keys("") == []
        finally:
            for c in clients:
                c.shutdown()
    finally:
        kit.cleanup()


@pytest.mark.slow
def test_fashion_mnist_test_set_end_to_end(one, tmp_path):
    from tools import fmnist_to_csv
    src = FMNIST
    if not src.exists():
        pytest.skip("Debian package dataset-fashion-mnist is not installed (tools/setup.sh installs it)")
    out = fmnist_to_csv.convert(src, tmp_path)
    fr = frame.import_file(str(out["test"][0]))
    assert fr.shape == (10_000, 785)
    fr["C785"] = fr["C785"].asfactor()
    assert fr.domains["C785"] == [str(i) for i in range(10)]
    images = fmnist_to_csv.load_idx(src / "t10k-images-idx3-ubyte.gz").reshape(10_000, -1)
    labels = fmnist_to_csv.load_idx(src / "t10k-labels-idx1-ubyte.gz")
    got = fr.as_numpy()
    np.testing.assert_array_equal(got[:, :784], images)
    np.testing.assert_array_equal(got[:, 784], labels)
    assert fr.byte_size < 10_000 * 785       # well under a byte per value
    fr.remove()
