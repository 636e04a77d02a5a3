"""The Deep Learning model: stored in the DKV under its id, scored and predicted by MRTasks.

A model value holds the effective parameters, the input encoding (DataInfo), the network (flat arrays),
the training/validation metrics, and the scoring history. ``predict`` writes a new frame next to the
test frame's chunks: ``predict`` plus one probability column per class (named after the levels), or
``predict`` alone for regression, as H2O.
"""
from __future__ import annotations

from contextlib import contextmanager

import numpy as np

import cluster
from cluster.dkv import Value
from frame import Frame, from_task_outputs
from frame.frame import delete_vecs
from scoring import distributions
from scoring.metrics import (ModelMetricsAutoEncoder, ModelMetricsBinomial, ModelMetricsMultinomial,
                             ModelMetricsRegression, metrics_from_dict)

from .datainfo import DataInfo
from .dl_net import DLHyper, NetSpec, NetState
from .dl_task import DLScoreTask, _STATE_NAMES
from cluster.mrtask import MRTask


def hyper_of(params: dict, spec: NetSpec, huber_delta: float = 1.0) -> tuple[np.ndarray, np.ndarray]:
    """The kernels' packed hyper-parameters from effective model parameters."""
    ratios = params.get("hidden_dropout_ratios")
    return DLHyper(
        adaptive_rate=params["adaptive_rate"], rho=params["rho"], epsilon=params["epsilon"], rate=params["rate"],
        rate_annealing=params["rate_annealing"], rate_decay=params["rate_decay"],
        momentum_start=params["momentum_start"], momentum_ramp=params["momentum_ramp"],
        momentum_stable=params["momentum_stable"],
        nesterov_accelerated_gradient=params["nesterov_accelerated_gradient"], l1=params["l1"], l2=params["l2"],
        max_w2=params["max_w2"], input_dropout_ratio=params["input_dropout_ratio"],
        hidden_dropout_ratios=None if ratios is None else tuple(ratios), fast_mode=params["fast_mode"],
        loss=params["loss"], distribution=params["distribution"],
        tweedie_power=params["tweedie_power"], quantile_alpha=params["quantile_alpha"], huber_delta=huber_delta,
        sparsity_beta=params["sparsity_beta"] if params.get("autoencoder") else 0.0,
        average_activation=params["average_activation"],
    ).pack(spec)


class PredictTask(MRTask):
    """Predictions written as new columns next to the test frame's chunks."""
    info: dict = None
    spec: dict = None
    model: dict = None
    hyper: np.ndarray = None
    flags: np.ndarray = None
    resp: dict = None
    kind: str = ""
    distribution: str = "gaussian"
    threshold: float = 0.5
    priors: np.ndarray = None          # balance_classes: (prior, model class distribution) correction
    layer: int = -1
    per_feature: bool = False

    def setup_local(self):
        from .dl_task import _spec, _state
        self._info = DataInfo.from_state(self.info)
        self._net = _state(_spec(self.spec), self.model)

    def map(self, cs):
        from .dl_task import _prepare_uncached
        from .dl_kernels import forward
        X, _, _, off = _prepare_uncached(cs, self._info, self.resp)
        spec = self._net.spec
        if self.layer >= 0:
            out = np.empty((cs.nrows, spec.units[self.layer + 1]))
            forward(self._net, X, out, self.hyper, self.flags, layer=self.layer)
            cols = [out[:, j] for j in range(out.shape[1])]
        elif self.kind == "autoencoder":
            out = np.empty((cs.nrows, spec.units[-1]))
            forward(self._net, X, out, self.hyper, self.flags)
            if self.resp.get("anomaly"):
                se = (out - X) ** 2
                cols = [se[:, j] for j in range(se.shape[1])] if self.per_feature else [se.mean(axis=1)]
            else:
                rec = self._info.untransform_numerics(out)
                cols = [rec[:, j] for j in range(rec.shape[1])]
        elif self.kind == "regression":
            out = np.empty((cs.nrows, 1))
            forward(self._net, X, out, self.hyper, self.flags, offset=off)
            cols = [link_inverse(self._info, self.distribution, out[:, 0])]
        else:
            out = np.empty((cs.nrows, spec.units[-1]))
            forward(self._net, X, out, self.hyper, self.flags)
            if self.priors is not None:
                out = correct_probabilities(out, self.priors)
            cols = [predicted_label(out, self.kind, self.threshold).astype(np.float64)] + \
                [out[:, j] for j in range(out.shape[1])]
        for j, c in enumerate(cols):
            cs.outputs[j][:] = c
        self.model = None


def link_inverse(info: DataInfo, distribution: str, raw: np.ndarray) -> np.ndarray:
    """Network output (link space, standardised for identity links) to the response's units."""
    if distributions.link_name(distribution) == "identity":
        return info.inverse_response(raw)
    return distributions.link_inv(distribution, raw)


def correct_probabilities(p: np.ndarray, priors: np.ndarray) -> np.ndarray:
    """H2O's correction after balance_classes: p_c *= prior_c / model_c, then renormalise."""
    prior, model = priors
    q = p * (prior / np.maximum(model, 1e-300))
    return q / q.sum(axis=1, keepdims=True)


def predicted_label(p: np.ndarray, kind: str, threshold: float) -> np.ndarray:
    if kind == "binomial":
        return (p[:, 1] >= threshold).astype(np.int64)
    return np.argmax(p, axis=1)


class DeepLearningModel:
    """A trained Deep Learning model (a handle on its DKV value).

    >>> model.model_performance(valid=True).logloss()       # doctest: +SKIP
    >>> preds = model.predict(test)                         # doctest: +SKIP
    """

    def __init__(self, key: str, value: Value | None = None, cloud=None):
        self._cloud = cloud or cluster.current()
        value = value or self._cloud.dkv.get(key)
        if value is None or value.type != "model":
            raise KeyError(f"no model {key!r} in the cloud")
        self.model_id = key
        self._m = value.meta
        self._arrays = dict(zip(value.meta["array_names"], value.buffers))

    # ---------------------------------------------------------------- parts
    @property
    def params(self) -> dict:
        """Every effective parameter value (what the model was really trained with)."""
        return dict(self._m["params"])

    actual_params = params

    @property
    def kind(self) -> str:
        return self._m["kind"]

    @property
    def info(self) -> DataInfo:
        return DataInfo.from_state(self._m["info"])

    @property
    def spec(self) -> NetSpec:
        s = self._m["spec"]
        return NetSpec(tuple(s["units"]), s["activation"], s["output"])

    @property
    def state(self) -> NetState:
        return NetState.from_arrays(self.spec, {k: np.array(self._arrays[k]) for k in _STATE_NAMES})

    @property
    def response_domain(self) -> list[str] | None:
        return self._m.get("response_domain")

    def _hyper(self):
        return hyper_of(self._m["params"], self.spec, self._m.get("huber_delta", 1.0))

    # ---------------------------------------------------------------- metrics
    def _metrics(self, which: str):
        d = self._m["metrics"].get(which)
        return None if d is None else metrics_from_dict(d)

    def model_performance(self, test_data: Frame | None = None, train: bool = False, valid: bool = False,
                          xval: bool = False):
        """Metrics on ``test_data`` (scored now), or the stored training/validation/cross-validation metrics."""
        if test_data is not None:
            with self._adapted(test_data, response=True) as adapted:
                return self._score_frame(adapted)
        if xval:
            m = self._metrics("xval")
            if m is None:
                raise ValueError("this model has no cross-validation metrics (train with nfolds >= 2)")
            return m
        if valid:
            m = self._metrics("valid")
            if m is None:
                raise ValueError("this model has no validation metrics (train with a validation_frame)")
            return m
        return self._metrics("train")

    def _pick(self, name, train, valid, xval):
        if valid:
            return self.model_performance(valid=True).metric(name)
        if xval:
            return self.model_performance(xval=True).metric(name)
        return self.model_performance(train=True).metric(name)

    def mse(self, train=False, valid=False, xval=False):
        return self._pick("MSE", train, valid, xval)

    def rmse(self, train=False, valid=False, xval=False):
        return self._pick("RMSE", train, valid, xval)

    def logloss(self, train=False, valid=False, xval=False):
        return self._pick("logloss", train, valid, xval)

    def auc(self, train=False, valid=False, xval=False):
        return self._pick("AUC", train, valid, xval)

    def mae(self, train=False, valid=False, xval=False):
        return self._pick("MAE", train, valid, xval)

    def r2(self, train=False, valid=False, xval=False):
        return self._pick("r2", train, valid, xval)

    def classification_error(self, train=False, valid=False, xval=False):
        return self._pick("misclassification", train, valid, xval)

    def confusion_matrix(self, train=False, valid=False, xval=False):
        m = self.model_performance(valid=valid, xval=xval) if (valid or xval) else self.model_performance()
        return m.confusion_matrix()

    def scoring_history(self):
        """The scoring history as a pandas DataFrame with H2O's columns."""
        import pandas as pd
        df = pd.DataFrame(self._m["history"])
        return df.drop(columns=[c for c in df.columns if c == "duration_s" or c.startswith("_")])

    # ---------------------------------------------------------------- cross-validation (algos.cross_validation)
    def cross_validation_models(self) -> list:
        from .cross_validation import cross_validation_models
        return cross_validation_models(self)

    def cross_validation_predictions(self) -> list:
        from .cross_validation import cross_validation_predictions
        return cross_validation_predictions(self)

    def cross_validation_holdout_predictions(self) -> Frame:
        from .cross_validation import cross_validation_holdout_predictions
        return cross_validation_holdout_predictions(self)

    def cross_validation_fold_assignment(self) -> Frame:
        from .cross_validation import cross_validation_fold_assignment
        return cross_validation_fold_assignment(self)

    def cross_validation_metrics_summary(self):
        from .cross_validation import cross_validation_metrics_summary
        return cross_validation_metrics_summary(self)

    # ---------------------------------------------------------------- scoring frames
    def _resp_for(self, fr: Frame, anomaly: bool = False) -> tuple[dict, list]:
        """How a scoring frame's columns feed the model: predictor columns (by name, with domain maps)."""
        info = self.info
        missing = [c for c in info.columns if c not in fr.names]
        if missing:
            raise ValueError(f"frame {fr.key} lacks the model's predictor columns {missing[:10]}")
        maps = {}
        for j, c in enumerate(info.columns):
            if c in info.domains:
                if fr.types[c] != "enum":
                    raise ValueError(f"column {c!r} is categorical in the model but {fr.types[c]} in {fr.key}")
                test_dom = fr.domains[c] or []
                if list(test_dom) != list(info.domains[c]):
                    maps[str(j)] = info.map_domain(c, test_dom).astype(np.float64)
            elif fr.types[c] in ("string", "enum"):
                raise ValueError(f"column {c!r} is numeric in the model but {fr.types[c]} in {fr.key}")
        cols = list(info.columns)
        resp = {"n_pred": len(cols), "y": -1, "w": -1, "off": -1, "kind": "autoencoder", "maps": maps,
                "anomaly": anomaly}
        off_col = self._m["params"].get("offset_column")
        if off_col:
            if off_col not in fr.names:
                raise ValueError(f"frame {fr.key} lacks the offset column {off_col!r}")
            resp["off"] = len(cols)
            cols.append(off_col)
        return resp, cols

    @contextmanager
    def _adapted(self, fr: Frame, response: bool = False):
        """H2O's ``adaptTestForTrain``: ``fr`` with each categorical predictor (and, with ``response``, a
        classifier's response) that arrived as strings or numbers made categorical (``asfactor``: numbers name
        their levels "1", "2.5"), so that ``_resp_for`` maps its levels onto the training domain (unseen levels
        take the NA slot). The converted columns are dropped when the block ends."""
        info = self.info
        convert = [c for c in info.columns if c in info.domains and c in fr.names
                   and fr.types[c] in ("string", "numeric")]
        y = self._m["response"]
        if response and self.kind in ("binomial", "multinomial") and y in fr.names \
                and fr.types[y] in ("string", "numeric"):
            convert.append(y)
        if not convert:
            yield fr
            return
        view, temp = fr[fr.names], []
        try:
            for c in convert:
                view[c] = fr[c].asfactor()
                temp.append(view.vecs[view.col_index(c)])
            yield view
        finally:
            delete_vecs(self._cloud, temp)

    def predict(self, test_data: Frame) -> Frame:
        """A frame of predictions (computed by an MRTask on the nodes holding ``test_data``); categorical
        columns may arrive as strings or numbers (mapped onto the training levels, as H2O's adaptTestForTrain)."""
        with self._adapted(test_data) as adapted:
            return self._predict(adapted)

    def _predict(self, test_data: Frame) -> Frame:
        resp, cols = self._resp_for(test_data)
        kind = self.kind
        if kind == "autoencoder":
            names, types = self.info.reconstruction_names(), None
        elif kind == "regression":
            names = ["predict"]
        else:
            names = ["predict"] + list(self.response_domain)
        types = ["numeric"] * len(names)
        if kind in ("binomial", "multinomial"):
            types[0] = "enum"
        task = self._predict_task(resp, kind=kind)
        task.do_all(test_data, columns=cols, outputs=types, cloud=self._cloud)
        out = from_task_outputs(task, names, cloud=self._cloud)
        if kind in ("binomial", "multinomial"):
            _set_domain(out, 0, list(self.response_domain), self._cloud)
        return out

    def _predict_task(self, resp, **kw) -> PredictTask:
        hyper, flags = self._hyper()
        return PredictTask(info=self._m["info"], spec=self._m["spec"], model=self._arrays, hyper=hyper, flags=flags,
                           resp=resp, distribution=self._m["params"]["distribution"],
                           threshold=float(self._m.get("threshold", 0.5)),
                           priors=self._m.get("priors"), **kw)

    def _score_frame(self, fr: Frame):
        """Metrics of this model on a frame holding the response column."""
        y = self._m["response"]
        if self.kind != "autoencoder" and y not in fr.names:
            raise ValueError(f"frame {fr.key} has no response column {y!r}")
        resp, cols = self._resp_for(fr)
        if self.kind != "autoencoder":
            resp.update(kind="classification" if self.kind in ("binomial", "multinomial") else "regression",
                        y=len(cols))
            cols.append(y)
            if self.kind in ("binomial", "multinomial"):
                test_dom = fr.domains[y] or []
                if list(test_dom) != list(self.response_domain):
                    resp["ymap"] = self.info.map_domain(y, test_dom).astype(np.float64).tolist()
        w_col = self._m["params"].get("weights_column")
        if w_col and w_col in fr.names:
            resp["w"] = len(cols)
            cols.append(w_col)
        hyper, flags = self._hyper()
        task = DLScoreTask(info=self._m["info"], spec=self._m["spec"], model=self._arrays, hyper=hyper, flags=flags,
                           resp=resp, sample_fraction=1.0, seed=0)
        task.do_all(fr, columns=cols, cloud=self._cloud)
        return make_metrics(self, *task.collect())

    def anomaly(self, test_data: Frame, per_feature: bool = False) -> Frame:
        """Per-row reconstruction MSE (``Reconstruction.MSE``), or per-feature squared errors."""
        if self.kind != "autoencoder":
            raise ValueError("anomaly() needs an autoencoder model (autoencoder=True)")
        with self._adapted(test_data) as test_data:
            resp, cols = self._resp_for(test_data, anomaly=True)
            names = [f"reconstr_{c}.SE" for c in self.info.coef_names] if per_feature else ["Reconstruction.MSE"]
            task = self._predict_task(resp, kind="autoencoder", per_feature=per_feature)
            task.do_all(test_data, columns=cols, outputs=["numeric"] * len(names), cloud=self._cloud)
        return from_task_outputs(task, names, cloud=self._cloud)

    def deepfeatures(self, test_data: Frame, layer: int) -> Frame:
        """Hidden layer ``layer`` (0-based) activations as columns ``DF.L{layer+1}.C{j+1}``."""
        n_hidden = len(self.spec.units) - 2
        if not 0 <= layer < n_hidden:
            raise ValueError(f"layer must be in [0, {n_hidden}), got {layer}")
        with self._adapted(test_data) as test_data:
            resp, cols = self._resp_for(test_data)
            width = self.spec.units[layer + 1]
            names = [f"DF.L{layer + 1}.C{j + 1}" for j in range(width)]
            task = self._predict_task(resp, kind=self.kind, layer=layer)
            task.do_all(test_data, columns=cols, outputs=["numeric"] * width, cloud=self._cloud)
        return from_task_outputs(task, names, cloud=self._cloud)

    # ---------------------------------------------------------------- export (algos.export)
    def download_mojo(self, path: str = ".") -> str:
        """Write the portable model file (numpy-only scoring: ``scoring.load_scorer``); returns its path."""
        from .export import download_mojo
        return download_mojo(self, path)

    def download_pojo(self, path: str = "", inline_limit: int | None = None) -> str | None:
        """Write the model as one self-contained Java class (JDK only); ``path=""`` prints it."""
        from .export import INLINE_LIMIT, download_pojo
        return download_pojo(self, path, INLINE_LIMIT if inline_limit is None else inline_limit)

    # ---------------------------------------------------------------- explaining
    def compute_varimp(self) -> list:
        """Gedeon's variable importances over the first two weight layers, per expanded input (H2O's
        ``DeepLearningModelInfo.computeVariableImportances``): rows (variable, relative, scaled, percentage)."""
        st, info = self.state, self.info
        spec = st.spec
        k = 2 if spec.base_activation == "Maxout" and spec.n_layers > 1 else 1
        w1 = np.abs(st.layer_weights(0).astype(np.float64))
        if k == 2:                                  # a Maxout neuron's two channels feed it together
            w1 = w1.reshape(-1, 2, w1.shape[1]).sum(axis=1)
        if spec.n_layers == 1:
            vi = w1.sum(axis=0)
        else:
            w2 = np.abs(st.layer_weights(1).astype(np.float64))
            if k == 2 and spec.n_layers > 2:
                w2 = w2.reshape(-1, 2, w2.shape[1]).sum(axis=1)
            p_in = (w1 / np.maximum(w1.sum(axis=1, keepdims=True), 1e-300)).T       # (n_in, h1)
            p_out = (w2 / np.maximum(w2.sum(axis=1, keepdims=True), 1e-300)).T      # (h1, n_next)
            q = p_in @ p_out
            q /= np.maximum(q.sum(axis=0, keepdims=True), 1e-300)
            vi = q.sum(axis=1)
        never = info.na_slots_never_seen()
        if never.size:
            vi[never] = 0.0
        top = vi.max() if vi.size and vi.max() > 0 else 1.0
        total = vi.sum() if vi.sum() > 0 else 1.0
        rows = [(name, float(v), float(v / top), float(v / total)) for name, v in zip(info.coef_names, vi)]
        return sorted(rows, key=lambda r: -r[1])

    def varimp(self, use_pandas: bool = False):
        """Variable importances (variable, relative_importance, scaled_importance, percentage), most
        important first; needs ``variable_importances=True`` at training."""
        rows = self._m.get("varimp")
        if rows is None:
            raise ValueError("variable importances were not computed: train with variable_importances=True")
        rows = [tuple(r) for r in rows]
        if use_pandas:
            import pandas as pd
            return pd.DataFrame(rows, columns=["variable", "relative_importance", "scaled_importance",
                                               "percentage"])
        return rows

    def export_weights_and_biases(self) -> list[str]:
        """Store each layer's weights and biases as frames ``<model>.weights.<i>`` / ``<model>.biases.<i>``."""
        st, info = self.state, self.info
        keys = []
        for l in range(st.spec.n_layers):
            w = st.layer_weights(l).astype(np.float64)
            names = list(info.coef_names) if l == 0 else [f"C{j + 1}" for j in range(w.shape[1])]
            for key, arr, cols in ((f"{self.model_id}.weights.{l}", w, names),
                                   (f"{self.model_id}.biases.{l}", st.layer_biases(l)[:, None], ["C1"])):
                try:
                    import frame as frame_mod
                    frame_mod.remove(key, cloud=self._cloud)
                except KeyError:
                    pass
                Frame.from_numpy(arr, names=cols, destination_frame=key, cloud=self._cloud)
                keys.append(key)
        return keys

    def weights(self, matrix_id: int = 0) -> Frame:
        """Weights of layer ``matrix_id`` as a Frame (rows: neurons of the next layer); needs
        ``export_weights_and_biases=True``."""
        return self._exported(f"{self.model_id}.weights.{matrix_id}")

    def biases(self, vector_id: int = 0) -> Frame:
        """Biases of layer ``vector_id`` as a one-column Frame."""
        return self._exported(f"{self.model_id}.biases.{vector_id}")

    def _exported(self, key: str) -> Frame:
        if key not in self._m.get("owned_frames", []):
            raise ValueError(f"no exported frame {key}: train with export_weights_and_biases=True "
                             f"(layers 0..{len(self.spec.units) - 2})")
        from frame import get_frame
        return get_frame(key, cloud=self._cloud)

    def normmul(self) -> list:
        return self.info.norm_mul.tolist()

    def normsub(self) -> list:
        return self.info.norm_sub.tolist()

    def respmul(self) -> float:
        return self.info.resp_mul

    def respsub(self) -> float:
        return self.info.resp_sub

    def catoffsets(self) -> list:
        return self.info.cat_offsets.tolist()

    # ---------------------------------------------------------------- display
    def summary(self):
        """H2O's "Status of Neuron Layers" table."""
        import pandas as pd
        st = self.state
        spec = st.spec
        p = self._m["params"]
        ratios = p.get("hidden_dropout_ratios") or [0.0] * (len(spec.units) - 2)
        rows = [{"layer": 1, "units": spec.units[0], "type": "Input",
                 "dropout": f"{100 * p['input_dropout_ratio']:.2f} %"}]
        for l in range(spec.n_layers):
            w, b = st.layer_weights(l), st.layer_biases(l)
            out = l == spec.n_layers - 1
            typ = ("Softmax" if spec.output == "softmax" else "Linear") if out and spec.output != "autoencoder" \
                else spec.activation
            rows.append({"layer": l + 2, "units": spec.units[l + 1], "type": typ,
                         "dropout": "" if out else f"{100 * ratios[l]:.2f} %", "l1": p["l1"], "l2": p["l2"],
                         "mean_weight": float(w.mean()), "weight_rms": float(np.sqrt((w.astype(np.float64) ** 2)
                                                                                    .mean())),
                         "mean_bias": float(b.mean()), "bias_rms": float(np.sqrt((b ** 2).mean()))})
        return pd.DataFrame(rows)

    def __repr__(self) -> str:
        return f"<DeepLearningModel {self.model_id}: {self.kind}, units {list(self.spec.units)}>"

    def __str__(self) -> str:
        lines = ["Model Details", "=============", "DeepLearningModel: Deep Learning", f"Model Key: {self.model_id}",
                 "", f"Status of Neuron Layers: predicting {self._m['response'] or '(autoencoder)'}, {self.kind}, "
                 f"{self._m['params']['distribution']} distribution, {self._m['params']['loss']} loss, "
                 f"{self.state.n_params:,} weights/biases, {int(self._m['samples']):,} training samples, "
                 f"mini-batch size {self._m['params']['mini_batch_size']}", self.summary().to_string(index=False)]
        for which, title in (("train", "training data"), ("valid", "validation data"), ("xval",
                                                                                        "cross-validation data")):
            m = self._metrics(which)
            if m is not None:
                lines += ["", f"ModelMetrics reported on {title}:", str(m)]
        lines += ["", "Scoring History:", self.scoring_history().to_string(index=False)]
        return "\n".join(lines)

    def show(self) -> None:
        print(str(self))


def _set_domain(fr: Frame, col: int, domain: list[str], cloud) -> None:
    h = dict(fr._h)
    h["domains"] = list(h["domains"])
    h["domains"][col] = domain
    fr._h = h
    cloud.dkv.put(fr.key, Value("frame", h, immutable=False))


def make_metrics(model: "DeepLearningModel | dict", rows, y, pred, w, off):
    """scoring.metrics object from a score task's collected arrays (for a stored model or a training run)."""
    m = model._m if isinstance(model, DeepLearningModel) else model
    kind = m["kind"]
    info = DataInfo.from_state(m["info"])
    p = m["params"]
    if kind == "autoencoder":
        return ModelMetricsAutoEncoder(np.asarray(y, dtype=np.float64), weights=None)
    if kind == "regression":
        yhat = link_inverse(info, p["distribution"], np.asarray(pred)[:, 0] if len(pred) else np.empty(0))
        actual = info.inverse_response(y) if info.response_transform else np.asarray(y)
        dist = p["distribution"] if p["distribution"] in distributions.DISTRIBUTIONS else "gaussian"
        return ModelMetricsRegression(actual, yhat, w, distribution=dist, tweedie_power=p["tweedie_power"],
                                      quantile_alpha=p["quantile_alpha"],
                                      huber_delta=m.get("huber_delta", 1.0))
    probs = np.asarray(pred)
    if m.get("priors") is not None:
        probs = correct_probabilities(probs, m["priors"])
    dom = m["response_domain"]
    cls = ModelMetricsBinomial if kind == "binomial" else ModelMetricsMultinomial
    kw = {} if kind == "binomial" else {"max_confusion_matrix_size": p["max_confusion_matrix_size"],
                                        "max_hit_ratio_k": p["max_hit_ratio_k"]}
    return cls(np.asarray(y).astype(np.int64), probs, w, domain=list(dom), **kw)


def remove_model(model_id: str, cloud=None) -> None:
    """Delete a model and everything it owns (exported weight frames, CV models and predictions)."""
    cloud = cloud or cluster.current()
    value = cloud.dkv.get(model_id)
    if value is None or value.type != "model":
        raise KeyError(f"no model {model_id!r} in the cloud")
    import frame as frame_mod
    for key in value.meta.get("owned_frames", []):
        try:
            frame_mod.remove(key, cloud=cloud)
        except KeyError:
            pass
    for key in value.meta.get("owned_models", []):
        try:
            remove_model(key, cloud=cloud)
        except KeyError:
            pass
    cloud.dkv.delete(model_id)
