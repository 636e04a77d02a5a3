"""Grid search and cross-validation serve any model builder: a second, trivial algorithm proves it.

``MeanBuilder`` (below) predicts the weighted class frequencies of the training rows (classification) or their
weighted mean (regression), shrunk by a ``pseudo_count`` hyper-parameter. It implements only the builder protocol
of ``algos.builder`` and the ``algos.model.Model`` base class; grid search, cross-validation, the registry and
model files handle it as they handle Deep Learning.
"""
from __future__ import annotations

import secrets
import uuid
from dataclasses import dataclass

import numpy as np
import pandas as pd
import pytest

import algos
from algos import registry
from algos.builder import Estimator, ModelBuilder, check_frames, problem_of, resolve_columns
from algos.grid import GridSearch, get_grid
from algos.model import Model, ModelMetadata
from algos.params import COMMON, Param, ParamTable
from cluster import MRTask
from cluster.dkv import Value
from frame import Frame, from_task_outputs
from scoring.metrics import make_metrics

PARAMS = ParamTable("Mean", [*COMMON.values(), Param("pseudo_count", 0.0, "float",
                                                     "Added to every class count (or to the weight sum).", min=0)])


class SumsTask(MRTask):
    """Weighted sums of the response: per class (``nclasses`` > 0) or of the values, and the weight sum."""
    nclasses: int = 0
    has_weights: bool = False
    sums: np.ndarray = None

    def map(self, cs):
        y = cs[0]
        w = np.nan_to_num(cs[1], nan=0.0) if self.has_weights else np.ones(cs.nrows)
        ok = ~np.isnan(y) & (w > 0)
        y, w = y[ok], w[ok]
        if self.nclasses:
            self.sums = np.bincount(y.astype(np.int64), weights=w, minlength=self.nclasses)
        else:
            self.sums = np.array([float(w @ y), float(w.sum())])

    def reduce(self, o):
        self.sums = o.sums if self.sums is None else self.sums + o.sums


class RowsTask(MRTask):
    """The response and weight of every row with a response and a positive weight, in row order."""
    has_weights: bool = False
    parts: list = None

    def map(self, cs):
        y = cs[0]
        w = np.nan_to_num(cs[1], nan=0.0) if self.has_weights else np.ones(cs.nrows)
        ok = ~np.isnan(y) & (w > 0)
        self.parts = [[cs.cidx, y[ok], w[ok]]]

    def reduce(self, o):
        self.parts = (self.parts or []) + (o.parts or [])


class ConstantTask(MRTask):
    """Every row's prediction: the same values (a class code and probabilities, or a number)."""
    values: list = None

    def map(self, cs):
        for j, v in enumerate(self.values):
            cs.outputs[j][:] = v


@dataclass(kw_only=True)
class MeanMetadata(ModelMetadata):
    value: list                 # class probabilities, or [mean]


class MeanModel(Model):
    algo = "mean"
    MODEL_FORMAT = 1
    Metadata = MeanMetadata

    def predict(self, test_data: Frame) -> Frame:
        v = self.meta.value
        if self.kind == "regression":
            names, types, values = ["predict"], ["numeric"], v
        else:
            names, types = ["predict"] + list(self.response_domain), ["enum"] + ["numeric"] * len(v)
            values = [float(np.argmax(v))] + v
        task = ConstantTask(values=values)
        task.do_all(test_data, columns=[0], outputs=types, cloud=self.cloud)
        out = from_task_outputs(task, names, cloud=self.cloud)
        if self.kind != "regression":
            out.set_domain(0, list(self.response_domain))
        return out

    def holdout_scores(self, fr, weights_column):
        cols = [self.meta.response] + ([weights_column] if weights_column else [])
        t = RowsTask(has_weights=weights_column is not None).do_all(fr, columns=cols, cloud=self.cloud)
        parts = sorted(t.parts, key=lambda p: p[0])
        y = np.concatenate([np.asarray(p[1]) for p in parts])
        w = np.concatenate([np.asarray(p[2]) for p in parts])
        if self.kind == "regression":
            return y, np.full(y.size, self.meta.value[0]), w
        return y.astype(np.int64), np.tile(np.asarray(self.meta.value), (y.size, 1)), w

    def metrics_from(self, actual, predicted, weights):
        domain = {} if self.kind == "regression" else {"domain": self.response_domain}
        return make_metrics(self.kind, actual, predicted, weights, **domain)


class MeanRun:
    def __init__(self, params, x, y, train, valid, job):
        check_frames(train, valid)
        self.x, _ = resolve_columns(train, x, y, params, algo_name="the mean model")
        self.y, self.train, self.valid, self.job, self.cloud = y, train, valid, job, train.cloud
        self.kind, self.nclasses = problem_of(train, y)
        self.params = dict(params, seed=params["seed"] if params["seed"] != -1 else secrets.randbits(63))
        self.model_id = params["model_id"] or f"Mean_model_{uuid.uuid4().hex[:10]}"

    def run(self) -> MeanModel:
        if self.job is not None:
            self.job.check_cancelled()
        w = self.params["weights_column"]
        k = self.nclasses if self.kind != "regression" else 0
        sums = SumsTask(nclasses=k, has_weights=w is not None).do_all(
            self.train, columns=[self.y] + ([w] if w else []), cloud=self.cloud).sums
        a = self.params["pseudo_count"]
        value = list((sums + a) / (sums.sum() + k * a)) if k else [sums[0] / (sums[1] + a)]
        meta = MeanMetadata(algo="mean", format=1, model_id=self.model_id, kind=self.kind, params=self.params,
                            response=self.y, response_domain=None if not k else list(self.train.domains[self.y]),
                            x=self.x, metrics={}, training_frame=self.train.key,
                            validation_frame=self.valid.key if self.valid is not None else None, run_time_s=0.0,
                            array_names=[], value=[float(v) for v in value])
        self.cloud.dkv.put(self.model_id, Value("model", meta.to_meta()))
        model = MeanModel(self.model_id, cloud=self.cloud)
        for which, fr in (("train", self.train), ("valid", self.valid)):
            if fr is not None:
                wc = w if w in fr.names else None
                model.meta.metrics[which] = model.metrics_from(*model.holdout_scores(fr, wc)).to_dict()
        model.store()
        return model


class MeanBuilder(ModelBuilder):
    algo = "mean"
    model_prefix = "Mean"
    params = PARAMS
    model_class = MeanModel

    def prepare(self, params, x, y, training_frame, validation_frame, *, job=None, verbose=False):
        return MeanRun(params, x, y, training_frame, validation_frame, job)


class MeanEstimator(Estimator):
    builder = MeanBuilder()


registry.register(MeanEstimator.builder)


@pytest.fixture(scope="module")
def data(cloud):
    rng = np.random.default_rng(5)
    n = 900
    df = pd.DataFrame({"a": rng.normal(size=n), "w": rng.uniform(0.5, 2.0, n)})
    df["cls"] = pd.Categorical(rng.choice(["x", "y", "z"], size=n, p=[0.6, 0.3, 0.1]))
    df["num"] = 3.0 + rng.normal(size=n)
    return df, Frame.from_pandas(df, destination_frame="means_data", nchunks=3)


def test_the_trivial_builder_trains_and_scores(data):
    df, fr = data
    m = MeanEstimator(weights_column="w").train(y="cls", training_frame=fr).model
    counts = df.groupby("cls", observed=False)["w"].sum().to_numpy()
    np.testing.assert_allclose(m.meta.value, counts / counts.sum())
    assert algos.get_model(m.model_id).meta.value == m.meta.value            # the registry reads it back
    assert m.model_performance(train=True).logloss() > 0


def test_grid_search_is_generic(data):
    df, fr = data
    grid = GridSearch(MeanEstimator, {"pseudo_count": [0.0, 50.0, 5000.0]}, grid_id="means_grid")
    grid.train(y="cls", training_frame=fr)
    table = grid.get_grid(sort_by="logloss").sorted_metric_table()
    assert list(table["pseudo_count"]) == [0.0, 50.0, 5000.0]            # frequencies fit best, then shrunk
    assert all(isinstance(m, MeanModel) for m in grid.models)
    again = get_grid("means_grid")
    assert again.builder.algo == "mean" and again.model_ids == grid.model_ids
    with pytest.raises(ValueError, match="unknown Mean parameter 'hidden'"):
        GridSearch(MeanEstimator, {"hidden": [[10]]})
    with pytest.raises(ValueError, match="pseudo_count"):
        GridSearch(MeanEstimator, {"pseudo_count": [-1.0]})


def test_cross_validation_is_generic(data):
    df, fr = data
    est = MeanEstimator(nfolds=3, fold_assignment="Modulo", keep_cross_validation_predictions=True,
                        keep_cross_validation_fold_assignment=True, model_id="means_cv")
    m = est.train(y="cls", training_frame=fr).model
    fold = np.arange(len(df)) % 3                                      # Modulo folds of the row index
    codes = df["cls"].cat.codes.to_numpy()
    probs = np.empty((len(df), 3))
    for i in range(3):                                                 # each fold predicted by the others' counts
        counts = np.bincount(codes[fold != i], minlength=3)
        probs[fold == i] = counts / counts.sum()
    expected = make_metrics("multinomial", codes, probs)
    assert m.model_performance(xval=True).logloss() == pytest.approx(expected.logloss(), rel=1e-12)
    assert [f.meta.value for f in m.cross_validation_models()] == [list(p) for p in probs[:3]]
    holdout = m.cross_validation_holdout_predictions().as_numpy()
    np.testing.assert_allclose(holdout[:, 1:], probs)
    first = m.cross_validation_predictions()[0].as_numpy()
    assert np.isnan(first[fold != 0, 1]).all() and np.allclose(first[fold == 0, 1:], probs[fold == 0])
    np.testing.assert_array_equal(m.cross_validation_fold_assignment().as_numpy()[:, 0], fold)
    assert m.cross_validation_metrics_summary().shape == (10, 5)       # H2O's 10 multinomial rows: mean, sd, 3 folds
    owned = m.meta.owned_models + m.meta.owned_frames
    algos.remove_model(m.model_id)
    assert not [k for k in owned if fr.cloud.dkv.get(k) is not None]


def test_model_files_of_another_algorithm(data, tmp_path):
    df, fr = data
    m = MeanEstimator().train(y="num", training_frame=fr).model
    assert m.meta.value == pytest.approx([df["num"].mean()])
    path = algos.save_model(m, tmp_path)
    algos.remove_model(m.model_id)
    back = algos.load_model(path)
    assert isinstance(back, MeanModel) and back.meta.value == m.meta.value
    assert np.allclose(back.predict(fr).as_numpy()[:, 0], m.meta.value[0])


def test_resolve_columns_follows_h2o_py_and_names_what_is_wrong(data):
    """x and ignored_columns exclude each other; an ignored column, an index out of range, and special columns of
    the wrong type or equal to the response are refused naming them; y may be an index, as x."""
    df, fr = data
    with pytest.raises(ValueError, match="Properties x and ignored_columns cannot be specified simultaneously"):
        resolve_columns(fr, ["a"], "cls", {"ignored_columns": ["w"]})
    with pytest.raises(ValueError, match="ignored column 'NOPE' is not in the training frame"):
        resolve_columns(fr, None, "cls", {"ignored_columns": ["NOPE"]})
    with pytest.raises(ValueError, match="predictor index 100 is out of range: .* has 4 columns"):
        resolve_columns(fr, [0, 100], "cls", {})
    assert resolve_columns(fr, [0, 3], 2, {}) == (["a", "num"], [])
    assert MeanEstimator().train(x=[0], y=2, training_frame=fr).model.meta.response == "cls"
    with pytest.raises(ValueError, match="y index 9 is out of range"):
        resolve_columns(fr, None, 9, {})
    with pytest.raises(ValueError, match="Response column must be different from offset_column"):
        resolve_columns(fr, None, "num", {"offset_column": "num"})
    with pytest.raises(ValueError, match="weights must be numeric: weights_column 'cls' is enum"):
        resolve_columns(fr, None, "num", {"weights_column": "cls"})
    with pytest.raises(ValueError, match="offset must be numeric: offset_column 'cls' is enum"):
        resolve_columns(fr, None, "num", {"offset_column": "cls"})
    negative = Frame.from_pandas(df.assign(w=df.w - 1.0))
    with pytest.raises(ValueError, match="weights must be non-negative: weights_column 'w' has a minimum of -0"):
        resolve_columns(negative, None, "num", {"weights_column": "w"})
