"""Model files, the model registry, checkpoint restarts and ``tools.admin models``.

The models are small (prostate, a hidden layer of 8) and trained with ``reproducible=True`` so that two
restarts from equal checkpoints must give equal weights.
"""
import json
import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

import algos
import cluster
import frame
from algos import DeepLearningEstimator, persistence, registry
from cloudkit import REPO, SMALL, admin

PROSTATE = SMALL / "prostate.csv"
X = ["AGE", "RACE", "DPROS", "DCAPS", "PSA", "VOL", "GLEASON"]
BASE = dict(hidden=[8], seed=11, reproducible=True, score_each_iteration=True)


@pytest.fixture(scope="module")
def prostate(cloud):
    fr = frame.import_file(str(PROSTATE))
    fr["CAPSULE"] = fr["CAPSULE"].asfactor()
    return fr


@pytest.fixture(scope="module")
def base(prostate):
    """Two epochs; the DataInfo state inside its meta holds numpy arrays (means, scales)."""
    return DeepLearningEstimator(epochs=2, **BASE).train(x=X, y="CAPSULE", training_frame=prostate).model


@pytest.fixture(scope="module")
def saved(base, tmp_path_factory):
    return algos.save_model(base, tmp_path_factory.mktemp("models"))


def fit(prostate, **kw):
    return DeepLearningEstimator(**{**BASE, **kw}).train(x=X, y="CAPSULE", training_frame=prostate).model


# ------------------------------------------------------------------------------------------- files
def test_round_trip_predicts_bit_exactly_and_keeps_everything(cloud, prostate, base, saved):
    assert saved == os.path.join(os.path.dirname(saved), base.model_id)      # named after the model id
    expected = base.predict(prostate).as_numpy()
    meta = base.meta.to_meta()
    algos.remove_model(base.model_id)
    with pytest.raises(KeyError, match=base.model_id):
        algos.get_model(base.model_id)
    loaded = algos.load_model(saved)
    assert loaded.model_id == base.model_id
    assert np.array_equal(loaded.predict(prostate).as_numpy(), expected)
    for k in ("params", "history", "metrics", "response_domain", "samples", "iterations", "epochs", "threshold",
              "x", "spec"):
        assert getattr(loaded.meta, k) == meta[k], k
    assert loaded.info.to_state().keys() == base.info.to_state().keys()
    assert loaded.info.coef_names == base.info.coef_names
    np.testing.assert_array_equal(loaded.info.norm_mul, base.info.norm_mul)
    assert loaded.model_performance(train=True).auc() == base.model_performance(train=True).auc()
    assert loaded.scoring_history().equals(base.scoring_history())
    assert np.array_equal(loaded.state.w, base.state.w) and loaded.state.w.dtype == np.float32
    assert algos.get_model(base.model_id).kind == "binomial"


def test_balanced_model_keeps_its_priors(prostate, tmp_path):
    """balance_classes stores the class priors (a 2-D array) in the meta; predictions are corrected by them."""
    m = fit(prostate, epochs=1, balance_classes=True)
    expected = m.predict(prostate).as_numpy()
    loaded = algos.load_model(algos.save_model(m, tmp_path))
    assert loaded.meta.priors.shape == (2, 2)
    np.testing.assert_array_equal(loaded.meta.priors, m.meta.priors)
    assert np.array_equal(loaded.predict(prostate).as_numpy(), expected)
    algos.remove_model(m.model_id)


def test_export_weights_are_recreated_on_load(cloud, tmp_path):
    boston = frame.import_file(str(SMALL / "BostonHousing.csv"))
    m = DeepLearningEstimator(hidden=[4], epochs=1, seed=3, reproducible=True, export_weights_and_biases=True,
                              variable_importances=True).train(y="medv", training_frame=boston).model
    w0 = m.weights(0).as_numpy()
    path = algos.save_model(m, tmp_path, filename="boston.model")
    assert path == os.path.realpath(tmp_path / "boston.model")
    algos.remove_model(m.model_id)                                  # takes the exported frames with it
    assert not cloud.dkv.keys(f"{m.model_id}.weights.0")
    loaded = algos.load_model(path)
    np.testing.assert_array_equal(loaded.weights(0).as_numpy(), w0)
    assert loaded.varimp() == m.varimp()
    assert np.array_equal(loaded.predict(boston).as_numpy(), m.predict(boston).as_numpy())
    algos.remove_model(m.model_id)
    boston.remove()


def test_fresh_process_loads_and_predicts_identically(prostate, base, saved, tmp_path):
    out = tmp_path / "preds.npy"
    script = textwrap.dedent(f"""
        import sys, numpy as np, cluster, frame, algos
        from cloudkit import free_port_pair
        cloud = cluster.init(port=free_port_pair(), verbose=False)     # stdout holds only the answer
        try:
            fr = frame.import_file({str(PROSTATE)!r})
            fr["CAPSULE"] = fr["CAPSULE"].asfactor()
            model = algos.load_model({saved!r})
            np.save({str(out)!r}, model.predict(fr).as_numpy(), allow_pickle=False)
            print(model.model_id, repr(model.meta.epochs))
        finally:
            cloud.shutdown()
    """)
    env = dict(os.environ, PYTHONPATH=f"{REPO}{os.pathsep}{REPO / 'tests'}", AQUIFER_NO_PROGRESS="1")
    res = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120, env=env,
                         cwd=str(REPO))
    assert res.returncode == 0, res.stderr[-3000:]
    assert res.stdout.split() == [base.model_id, repr(base.meta.epochs)]
    theirs = np.load(out, allow_pickle=False)
    assert np.array_equal(theirs, base.predict(prostate).as_numpy())


def test_overwrite_needs_force(base, saved, tmp_path):
    before = Path(saved).read_bytes()
    with pytest.raises(FileExistsError, match=f"{re.escape(saved)} exists: pass force=True"):     # naming the file
        algos.save_model(base, os.path.dirname(saved))
    assert Path(saved).read_bytes() == before
    assert algos.save_model(base, os.path.dirname(saved), force=True) == saved
    assert persistence.read_model_file(saved)[0] == base.model_id
    with pytest.raises(ValueError, match="save_model needs a model"):
        algos.save_model(42, tmp_path)
    with pytest.raises(ValueError, match="not been trained|needs a model"):
        algos.save_model(DeepLearningEstimator(), tmp_path)


def test_save_model_takes_a_directory_as_h2o_save_model(cloud, prostate, base, tmp_path, monkeypatch):
    """h2o.save_model(model, path="", force=False, export_cross_validation_predictions=False, filename=None): path
    is always a directory (created when missing), the file is <path>/<model id> or <path>/<filename>, and the
    full path comes back. Saving a grid's models in a loop into a new folder keeps every one of them."""
    other = fit(prostate, epochs=0.5)
    folder = tmp_path / "models"                                       # does not exist yet
    paths = [algos.save_model(m, str(folder)) for m in (base, other)]
    assert paths == [os.path.realpath(folder / m.model_id) for m in (base, other)]
    assert sorted(os.listdir(folder)) == sorted([base.model_id, other.model_id])
    assert [persistence.read_model_file(p)[0] for p in paths] == [base.model_id, other.model_id]
    deep = folder / "deep" / "er"                                      # nor its parent: both made
    assert algos.save_model(other.model_id, deep) == os.path.realpath(deep / other.model_id)
    # filename= names the file; the model inside keeps its id
    named = algos.save_model(base, folder, filename="best.model")
    assert named == os.path.realpath(folder / "best.model")
    assert persistence.read_model_file(named)[0] == base.model_id
    with pytest.raises(FileExistsError, match=f"{re.escape(named)} exists: pass force=True"):
        algos.save_model(other, folder, filename="best.model")
    assert persistence.read_model_file(named)[0] == base.model_id     # the refused save changed nothing
    assert algos.save_model(other, folder, filename="best.model", force=True) == named
    assert persistence.read_model_file(named)[0] == other.model_id
    # the default path is the current directory; a relative path comes back absolute
    monkeypatch.chdir(tmp_path)
    assert algos.save_model(base) == os.path.realpath(tmp_path / base.model_id)
    assert algos.save_model(base, "rel") == os.path.realpath(tmp_path / "rel" / base.model_id)
    # a path that is a file is refused (it used to be written as the file itself), naming it
    with pytest.raises(NotADirectoryError, match=f"{re.escape(named)} is a file, not a directory"):
        algos.save_model(base, named)
    # a filename that is not one
    for bad, why in (("", "is empty"), ("a/b", "path separator"), ("..", "not a file name"),
                     ("a\nb", "control characters"), ("x\x00", "control characters")):
        with pytest.raises(ValueError, match=f"filename .* {why}"):
            algos.save_model(base, folder, filename=bad)
    with pytest.raises(TypeError, match="filename must be a str"):
        algos.save_model(base, folder, filename=Path("m"))
    with pytest.raises(TypeError, match="force must be True or False"):
        algos.save_model(base, folder, "yes")
    with pytest.raises(TypeError, match="path must be"):
        algos.save_model(base, 42)
    assert sorted(os.listdir(folder)) == sorted([base.model_id, other.model_id, "deep", "best.model"])
    # a model id that cannot name a file needs filename=
    cloud.dkv.put("team/model", cloud.dkv.get(base.model_id))
    try:
        with pytest.raises(ValueError, match="model id 'team/model' holds a path separator.*pass filename="):
            algos.save_model("team/model", folder)
        assert persistence.read_model_file(algos.save_model("team/model", folder, filename="team_model"))[0] == \
            "team/model"
    finally:
        cloud.dkv.delete("team/model")
    algos.remove_model(other.model_id)


def test_export_cross_validation_predictions_is_refused_only_when_there_are_some(prostate, base, tmp_path):
    """H2O would put the kept cross-validation prediction frames in the file; aquifer's files hold the model alone."""
    assert algos.save_model(base, tmp_path, export_cross_validation_predictions=True) == \
        os.path.realpath(tmp_path / base.model_id)                     # nothing kept: nothing to include
    cv = fit(prostate, epochs=0.5, nfolds=2, keep_cross_validation_predictions=True)
    with pytest.raises(ValueError, match="hold the model alone.*export_cross_validation_predictions=False"):
        algos.save_model(cv, tmp_path, export_cross_validation_predictions=True)
    assert not (tmp_path / cv.model_id).exists()
    assert persistence.read_model_file(algos.save_model(cv, tmp_path))[0] == cv.model_id
    with pytest.raises(TypeError, match="export_cross_validation_predictions must be True or False"):
        algos.save_model(cv, tmp_path, export_cross_validation_predictions=1)
    algos.remove_model(cv.model_id)


def test_newer_format_versions_are_refused_naming_both(saved, tmp_path):
    data = bytearray(Path(saved).read_bytes())
    data[8:12] = (persistence.FILE_VERSION + 1).to_bytes(4, "little")
    newer = tmp_path / "newer"
    newer.write_bytes(bytes(data))
    with pytest.raises(persistence.ModelFileError,
                       match=rf"version {persistence.FILE_VERSION + 1}; .* up to {persistence.FILE_VERSION}"):
        algos.load_model(newer)
    # a model meta format from the future, in an otherwise valid file
    from algos.deeplearning import MODEL_FORMAT
    from cluster.dkv import Value
    key, value = persistence.read_model_file(saved)
    future = Value("model", {**value.meta, "format": MODEL_FORMAT + 1}, value.buffers)
    header, arrays = persistence._encode(key, future)
    persistence._write(tmp_path / "future", header, arrays)
    with pytest.raises(persistence.ModelFileError, match=rf"version {MODEL_FORMAT + 1}.* up to version "
                                                         rf"{MODEL_FORMAT}"):
        algos.load_model(tmp_path / "future")


def test_a_model_meta_with_unknown_or_missing_fields_is_refused(saved, tmp_path):
    """The model's fields are declared once (DeepLearningMetadata): a file whose meta differs names the fields."""
    from cluster.dkv import Value
    key, value = persistence.read_model_file(saved)
    for name, meta in (("extra", {**value.meta, "bogus": 1}),
                       ("lacking", {k: v for k, v in value.meta.items() if k != "spec"})):
        header, arrays = persistence._encode(key, Value("model", meta, value.buffers))
        persistence._write(tmp_path / name, header, arrays)
    with pytest.raises(persistence.ModelFileError, match=r"unknown fields \['bogus'\]"):
        algos.load_model(tmp_path / "extra")
    with pytest.raises(persistence.ModelFileError, match=r"lacks \['spec'\]"):
        algos.load_model(tmp_path / "lacking")


def test_corrupt_and_foreign_files_fail_clearly(saved, tmp_path):
    data = Path(saved).read_bytes()
    cases = {"flipped": data[:len(data) // 2] + bytes([data[len(data) // 2] ^ 1]) + data[len(data) // 2 + 1:],
             "truncated": data[:-100], "short": data[:30]}
    for name, blob in cases.items():
        (tmp_path / name).write_bytes(blob)
        with pytest.raises(persistence.ModelFileError, match="corrupt"):
            algos.load_model(tmp_path / name)
    (tmp_path / "empty").write_bytes(b"")
    with pytest.raises(persistence.ModelFileError, match="not an aquifer model file"):
        algos.load_model(tmp_path / "empty")
    with pytest.raises(persistence.ModelFileError, match="not an aquifer model file"):
        algos.load_model(PROSTATE)
    with pytest.raises(persistence.ModelFileError, match="directory"):
        algos.load_model(tmp_path)
    with pytest.raises(FileNotFoundError):
        algos.load_model(tmp_path / "nope")


def _crafted(saved, path, model_id=None, **meta_changes):
    """A copy of the ``saved`` file with its model id or meta fields changed, written with a valid digest (what a
    hostile tool can make)."""
    from cluster.dkv import Value
    key, value = persistence.read_model_file(saved)
    header, arrays = persistence._encode(model_id or key, Value("model", {**value.meta, **meta_changes},
                                                                value.buffers))
    persistence._write(path, header, arrays)
    return path


def test_a_loaded_model_never_adopts_keys_already_in_the_cloud(cloud, prostate, base, saved, tmp_path):
    """A file naming the user's frame and model as owned must not make remove_model delete them."""
    victim = fit(prostate, epochs=1, model_id="victim_model")
    evil = _crafted(saved, tmp_path / "evil", model_id="evil_model", owned_frames=[prostate.key],
                    owned_models=[victim.model_id])
    loaded = algos.load_model(evil)
    assert loaded.meta.owned_frames == [] and loaded.meta.owned_models == []
    algos.remove_model(loaded.model_id)
    assert frame.get_frame(prostate.key).nrows == 380
    assert algos.get_model(victim.model_id).kind == "binomial"
    algos.remove_model(victim.model_id)


def test_a_file_whose_model_id_is_a_frame_key_is_refused(cloud, prostate, saved, tmp_path):
    clash = _crafted(saved, tmp_path / "clash", model_id=prostate.key)
    with pytest.raises(persistence.ModelFileError, match=rf"'{prostate.key}' is the key of a frame: expected a "
                                                         r"value of type Model; found a Frame"):
        algos.load_model(clash)
    assert frame.get_frame(prostate.key).types["CAPSULE"] == "enum"
    again = algos.load_model(saved)                   # replacing a model of the same id is fine (H2O's load)
    assert algos.load_model(saved).model_id == again.model_id


def test_training_refuses_a_model_id_that_is_a_frame_key_before_any_job(cloud, prostate):
    jobs = len(cluster.Job.list(cloud))
    with pytest.raises(ValueError, match=rf"model_id '{prostate.key}' is the key of a frame: expected a value of "
                                         r"type Model; found a Frame"):
        fit(prostate, epochs=1, model_id=prostate.key)
    with pytest.raises(ValueError, match="found a Frame"):
        fit(prostate, epochs=1, model_id=prostate.key, nfolds=2)
    with pytest.raises(ValueError, match="holds control characters"):     # it names files: one line of them
        fit(prostate, epochs=1, model_id="x\nssh-ed25519 AAAA")
    assert len(cluster.Job.list(cloud)) == jobs
    assert frame.get_frame(prostate.key).nrows == 380


# ------------------------------------------------------------------------------------------- checkpoints
def test_checkpoint_continues_epochs_and_history(prostate, base):
    more = fit(prostate, epochs=4, checkpoint=base)
    assert more.model_id != base.model_id
    assert more.meta.epochs == pytest.approx(4.0, abs=0.05)
    assert more.meta.iterations > base.meta.iterations
    old, new = base.meta.history, more.meta.history
    assert len(new) > len(old)
    assert new[:len(old)] == old                                     # the first rows are the checkpoint's
    epochs = [h["epochs"] for h in new]
    assert all(b > a for a, b in zip(epochs, epochs[1:])), epochs
    assert new[-1]["samples"] == pytest.approx(2 * base.meta.samples, rel=0.05)     # twice the epochs
    assert more.params["checkpoint"] == base.model_id


def test_checkpoint_switching_to_mini_batches_keeps_its_adadelta_setting(prostate, base):
    """mini_batch_size may change at a restart; rho/epsilon may not, so defaults go on as the checkpoint's."""
    assert (base.params["mini_batch_size"], base.params["rho"], base.params["epsilon"]) == (1, 0.99, 1e-8)
    batched = fit(prostate, epochs=4, checkpoint=base, mini_batch_size=16)
    assert (batched.params["mini_batch_size"], batched.params["rho"], batched.params["epsilon"]) == (16, 0.99, 1e-8)
    fresh = fit(prostate, epochs=2, mini_batch_size=16)
    assert (fresh.params["rho"], fresh.params["epsilon"]) == (0.95, 1e-6)
    back = fit(prostate, epochs=4, checkpoint=fresh)                 # per-sample again: the batches' setting goes on
    assert (back.params["mini_batch_size"], back.params["rho"], back.params["epsilon"]) == (1, 0.95, 1e-6)


@pytest.mark.parametrize("change, name", [({"activation": "Tanh"}, "activation"), ({"hidden": [9]}, "hidden"),
                                          ({"rho": 0.9}, "rho"), ({"epochs": 1}, "epochs"),
                                          ({"epochs": 2}, "epochs")])
def test_checkpoint_refuses_forbidden_changes(cloud, prostate, base, change, name):
    jobs = len(cluster.Job.list(cloud))
    with pytest.raises(ValueError, match=name):
        fit(prostate, **{"epochs": 4, **change, "checkpoint": base.model_id})
    assert len(cluster.Job.list(cloud)) == jobs                       # refused before any job started


def test_checkpoint_needs_the_same_presence_of_a_validation_frame(cloud, prostate, base):
    assert base.params["training_frame"] == prostate.key and base.params["validation_frame"] is None
    est = DeepLearningEstimator(**{**BASE, "epochs": 4, "checkpoint": base.model_id})
    with pytest.raises(ValueError, match="validation_frame"):
        est.train(x=X, y="CAPSULE", training_frame=prostate, validation_frame=prostate)


def test_loaded_model_is_an_equal_checkpoint(prostate, base, saved):
    direct = fit(prostate, epochs=3, checkpoint=base.model_id)
    algos.remove_model(base.model_id)
    loaded = algos.load_model(saved)
    again = fit(prostate, epochs=3, checkpoint=loaded)
    assert np.array_equal(direct.state.w, again.state.w) and np.array_equal(direct.state.b, again.state.b)
    assert direct.meta.history[-1]["training_logloss"] == again.meta.history[-1]["training_logloss"]


def test_resolve_checkpoint_and_get_model_errors(cloud, prostate, base):
    est = DeepLearningEstimator(epochs=1, **BASE).train(x=X, y="CAPSULE", training_frame=prostate)
    assert registry.resolve_checkpoint(est, cloud).model_id == est.model.model_id
    assert registry.resolve_checkpoint(base, cloud).model_id == base.model_id
    with pytest.raises(ValueError, match="'nope' is not in the cloud.*load_model"):
        registry.resolve_checkpoint("nope", cloud)
    with pytest.raises(ValueError, match="not been trained"):
        registry.resolve_checkpoint(DeepLearningEstimator(), cloud)
    with pytest.raises(ValueError, match="got int"):
        registry.resolve_checkpoint(3, cloud)
    with pytest.raises(ValueError, match="holds a frame, not a model"):
        algos.get_model(prostate.key)
    with pytest.raises(ValueError, match="non-empty string"):
        algos.get_model("")
    rows = {r["model_id"]: r for r in algos.list_models()}
    row = rows[est.model.model_id]
    assert (row["kind"], row["response"], row["metric"]) == ("binomial", "CAPSULE", "AUC")
    assert row["epochs"] == est.model.meta.epochs == pytest.approx(1.0, abs=0.05)
    assert row["training"] == pytest.approx(est.model_performance(train=True).auc())
    assert row["validation"] is None and row["bytes"] > 0
    algos.remove_model(est.model.model_id)
    assert est.model.model_id not in {r["model_id"] for r in algos.list_models()}


# ------------------------------------------------------------------------------------------- a real cloud
def test_three_nodes_load_get_model_from_another_client_and_admin(launcher, prostate, base, saved):
    expected = base.predict(prostate).as_numpy()
    nodes = launcher.cloud(3, extra=["--nthreads", "1"])
    first = cluster.connect(nodes[0].address, timeout=10, progress=False)
    other = cluster.connect(nodes[2].address, timeout=10, progress=False)
    try:
        algos.load_model(saved, cloud=first)
        model = algos.get_model(base.model_id, cloud=other)
        # 6 chunks spread over the 3 nodes: every node scores some rows
        fr = frame.Frame.from_pandas(prostate.as_pandas(), nchunks=6, cloud=other)
        assert len({c["home"] for c in fr.mr_layout(["AGE"])["chunks"]}) == 3
        assert np.array_equal(model.predict(fr).as_numpy(), expected)
        res = admin("--cluster", nodes[1].address, "models", "--json")
        assert res.returncode == 0, res.stderr
        rows = json.loads(res.stdout)                                  # exactly one JSON document
        assert [r["model_id"] for r in rows] == [base.model_id]
        row = rows[0]
        assert (row["algo"], row["kind"], row["response"], row["metric"]) == ("deeplearning", "binomial", "CAPSULE",
                                                                              "AUC")
        assert row["epochs"] == base.meta.epochs
        assert row["training"] == pytest.approx(base.model_performance(train=True).auc())
        assert row["bytes"] >= base.state.w.nbytes
        text = admin("--cluster", nodes[1].address, "models").stdout
        assert "1 model(s)" in text and base.model_id in text and "binomial" in text
        assert admin("--cluster", nodes[0].address, "rm", base.model_id).returncode == 0
        assert json.loads(admin("--cluster", nodes[1].address, "models", "--json").stdout) == []
    finally:
        other.shutdown()
        first.shutdown()


def test_checkpoint_restart_refuses_other_predictors(cloud, prostate, base):
    """H2O: "Ignored columns must be the same as for the checkpointed model" (the restart trained the checkpoint's
    columns and recorded the new ones)."""
    with pytest.raises(ValueError, match=r"Ignored columns must be the same .* lose \['DCAPS', 'DPROS'"):
        DeepLearningEstimator(**{**BASE, "epochs": 3, "checkpoint": base}).train(
            x=["AGE", "RACE", "PSA", "VOL", "GLEASON"], y="CAPSULE", training_frame=prostate)
    same = DeepLearningEstimator(**{**BASE, "epochs": 3, "checkpoint": base}).train(
        x=list(reversed(X)), y="CAPSULE", training_frame=prostate).model
    assert same.meta.x == base.meta.x


@pytest.mark.parametrize("changes, pattern", [
    ({"format": "3"}, "field 'format' must be int"),
    ({"kind": "ranking"}, "field 'kind' must be one of"),
    ({"params": ["hidden"]}, "field 'params' must be dict"),
    ({"response_domain": [0, 1]}, "field 'response_domain' must be distinct labels"),
    ({"response_domain": None}, "field 'response_domain': a binomial model needs its class labels"),
    ({"threshold": "0.5"}, "field 'threshold' must be float"),
    ({"threshold": float("nan")}, "threshold must be finite"),
    ({"kind": "regression", "response_domain": None}, "a Regression model needs a linear output"),
    ({"kind": "multinomial"}, "3 or more for multinomial"),
    ({"x": "AGE"}, "field 'x' must be list"),
    ({"spec": {"units": [7, 8]}}, "malformed model meta"),
])
def test_a_hand_made_meta_is_refused_at_load_naming_the_field(cloud, saved, tmp_path, changes, pattern):
    """A file whose digest is valid but whose meta has a wrong type or an inconsistent value fails at load, not later
    in predict, and stores nothing."""
    bad = _crafted(saved, tmp_path / "bad", model_id="hand_made", **changes)
    with pytest.raises(persistence.ModelFileError, match=pattern):
        algos.load_model(bad)
    assert "hand_made" not in {r["model_id"] for r in algos.list_models()}


def test_a_buffer_of_negative_shape_is_refused(saved, tmp_path):
    data = Path(saved).read_bytes()
    import msgpack
    import struct
    _, _, _, hlen = struct.unpack("<8sIIQ", data[:24])
    header = msgpack.unpackb(data[24:24 + hlen], raw=False)
    header["buffers"][0][1] = [-1, 4]
    packed = msgpack.packb(header, use_bin_type=True)
    persistence._write(tmp_path / "neg", packed, [])
    with pytest.raises(persistence.ModelFileError, match="buffer 0 has shape .* non-negative ints"):
        algos.load_model(tmp_path / "neg")


def test_a_full_disk_names_the_model_file_and_leaves_nothing(base, tmp_path):
    """A full disk failed save_model (and every checkpoint write) with '[Errno 28] No space left on device',
    naming no file. A real tmpfs too small for the model (root only: skipped elsewhere)."""
    small = tmp_path / "small"
    small.mkdir()
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=16k", "tmpfs", str(small)],
                      capture_output=True).returncode != 0:
        pytest.skip("needs root to mount a small tmpfs")
    try:
        with pytest.raises(OSError, match=rf"cannot write model file {re.escape(str(small))}/{base.model_id}: "
                                          r"No space left on device") as info:
            algos.save_model(base, str(small))
        assert info.value.errno == 28 and os.listdir(small) == []       # no partial file left behind
    finally:
        subprocess.run(["umount", str(small)], capture_output=True)
