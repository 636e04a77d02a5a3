"""The Deep Learning model: a handle on its DKV value, scored and predicted by MRTasks.

A model value holds the effective parameters, the input encoding (DataInfo), the network (flat arrays),
the training/validation metrics, and the scoring history (the fields: :class:`.metadata.DeepLearningMetadata`).
``predict`` writes a new frame next to the test frame's chunks: ``predict`` plus one probability column per
class (named after the levels), or ``predict`` alone for regression, as H2O.
"""
from __future__ import annotations

import warnings
from contextlib import contextmanager
from dataclasses import dataclass
from typing import ClassVar, Mapping

import numpy as np

import frame as frame_mod
from frame import Frame, from_task_outputs, get_frame
from frame.store import delete_vecs
from scoring.metrics import ModelMetrics
from scoring.portable import prediction_names

from ..datainfo import DataInfo
from ..model import Model
from . import hyper
from .metadata import ALGO, MODEL_FORMAT, DeepLearningMetadata
from .network import STATE_ARRAYS, NetSpec, NetState
from .predict import PredictTask, Scoring
from .tasks import ClassCountTask, DLScoreTask


@dataclass(frozen=True)
class FrameRules:
    """The one statement of what a frame scored by a model (``predict``, ``model_performance``) or used to validate
    a training run must hold, and how it is adapted: H2O's ``Model.adaptTestForTrain``.

    * a predictor the frame lacks is read as NA (H2O substitutes a column of NaN); a frame with none of them is
      refused;
    * a categorical predictor (or a classifier's response) that arrived as strings or numbers is made categorical
      (``asfactor``: numbers name their levels "1", "2.5") and its levels mapped onto the training domain, unseen
      predictor levels to the NA slot;
    * a numeric predictor given as strings or levels, a regression response given as levels or strings, and a
      weights or offset column that is not numeric are refused, naming the column;
    * the response is required where it is scored; a response level unseen in training is refused, naming the levels
      and their rows (the model cannot score them; dropping the rows would change the metrics silently).

    ``predictors``: name -> categorical in training.
    """
    predictors: Mapping[str, bool]
    kind: str
    response: str | None
    weights_column: str | None = None
    offset_column: str | None = None

    @property
    def classifier(self) -> bool:
        return self.kind in ("binomial", "multinomial")

    def check(self, fr: Frame, response: bool, warn: bool = True) -> list[str]:
        """Refuse what cannot be adapted (no work: types and names only); return the predictors ``fr`` lacks
        (with a warning naming them, unless ``warn`` is False: :meth:`roles` of a frame :meth:`adapted` checked)."""
        types = fr.types
        missing = [c for c in self.predictors if c not in types]
        if self.predictors and len(missing) == len(self.predictors):
            raise ValueError(f"frame {fr.key} has no columns in common with the training set (the model's "
                             f"predictors: {list(self.predictors)[:10]})")
        if missing and warn:     # as H2O's "Test/Validation dataset is missing column ...: substituting in a column of NaN"
            warnings.warn(f"frame {fr.key} lacks the model's predictor(s) {missing[:10]}"
                          f"{' ...' if len(missing) > 10 else ''}: read as NA", UserWarning, stacklevel=3)
        for c, categorical in self.predictors.items():
            t = types.get(c)
            if t is None:
                continue
            if categorical and t not in ("enum", "string", "numeric"):
                raise ValueError(f"column {c!r} is categorical in the model but {t} in {fr.key}")
            if not categorical and t in ("string", "enum"):
                raise ValueError(f"column {c!r} is numeric in the model but {t} in {fr.key}")
        y = self.response
        if response and self.kind != "autoencoder":
            if y not in types:
                raise ValueError(f"frame {fr.key} has no response column {y!r}")
            if self.classifier and types[y] not in ("enum", "string", "numeric"):
                raise ValueError(f"response column {y!r} is categorical in the model but {types[y]} in {fr.key}")
            if not self.classifier and types[y] != "numeric":
                raise ValueError(f"response column {y!r} is numeric in the model (regression) but {types[y]} in "
                                 f"{fr.key}: its level codes are not values")
        for name, what in ((self.weights_column, "weights"), (self.offset_column, "offset")):
            if name and name in types and types[name] != "numeric":
                raise ValueError(f"{what} must be numeric: column {name!r} is {types[name]} in {fr.key}")
        if self.offset_column and self.offset_column not in types:
            raise ValueError(f"frame {fr.key} lacks the offset column {self.offset_column!r}")
        return missing

    @contextmanager
    def adapted(self, fr: Frame, cloud, response: bool = False):
        """``fr`` checked, with each categorical predictor (and, with ``response``, a classifier's response) that
        arrived as strings or numbers made categorical; the converted columns are deleted when the block ends."""
        self.check(fr, response)
        types = fr.types
        convert = [c for c, categorical in self.predictors.items() if categorical and types.get(c) in
                   ("string", "numeric")]
        y = self.response
        if response and self.classifier and types.get(y) in ("string", "numeric"):
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
            delete_vecs(cloud, temp)

    def roles(self, fr: Frame, info: DataInfo, cloud, response: bool,
              weights_column: str | None = None) -> tuple[dict, list[str]]:
        """The ``resp`` of the chunk tasks (see ``tasks.prepared_chunk``) and the columns to read, of an adapted
        frame: predictors (domain maps; a missing one read as NA), the response when scored (``ymap``), the
        weights column (when given and in ``fr``) and the offset."""
        missing = set(self.check(fr, response, warn=False))
        cols = [c if c not in missing else fr.names[0] for c in info.columns]    # a stand-in, read as NA
        scored = response and self.kind != "autoencoder"
        kind = ("classification" if self.classifier else self.kind) if scored else "autoencoder"
        resp = {"n_pred": len(cols), "y": -1, "w": -1, "off": -1, "kind": kind, "maps": {},
                "na": [j for j, c in enumerate(info.columns) if c in missing]}
        domains = fr.domains
        for j, c in enumerate(info.columns):
            if c in info.domains and c not in missing and list(domains[c] or []) != list(info.domains[c]):
                resp["maps"][str(j)] = info.map_domain(c, domains[c] or []).astype(np.float64)
        if scored:
            y = self.response
            resp["y"] = len(cols)
            cols.append(y)
            if self.classifier and list(domains[y] or []) != list(info.response["domain"]):
                ymap = info.map_domain(y, domains[y] or [])
                _refuse_unseen_levels(fr, y, ymap, cloud)
                resp["ymap"] = ymap.astype(np.float64).tolist()
        for key, name in (("w", weights_column), ("off", self.offset_column)):
            if name and name in fr.names:
                resp[key] = len(cols)
                cols.append(name)
        return resp, cols


    def refuse_unseen_response_levels(self, fr: Frame, domain: list, cloud) -> None:
        """Refuse ``fr`` (a validation frame, before the training's job starts) when its enum response holds rows
        of levels outside the training ``domain``; :meth:`roles` checks the adapted frame again when it scores."""
        y = self.response
        if self.classifier and fr.types.get(y) == "enum" and list(fr.domains[y] or []) != list(domain):
            index = {d: i for i, d in enumerate(domain)}
            _refuse_unseen_levels(fr, y, np.array([index.get(d, -1) for d in fr.domains[y] or []]), cloud)


def _refuse_unseen_levels(fr: Frame, y: str, ymap: np.ndarray, cloud) -> None:
    """A response level unseen in training that rows of ``fr`` hold cannot be scored: refused, naming them."""
    unseen = np.flatnonzero(ymap < 0)
    if unseen.size == 0:
        return
    counts = ClassCountTask(nclasses=len(ymap), resp={"y": 0, "w": -1}).do_all(fr, columns=[y], cloud=cloud).counts
    held = [(fr.domains[y][i], int(counts[i])) for i in unseen if counts is not None and counts[i] > 0]
    if held:
        text = ", ".join(f"{lv!r} ({n} rows)" for lv, n in held[:10])
        raise ValueError(f"response column {y!r} of {fr.key} has levels unseen in training: {text}; the model "
                         f"cannot score them (H2O refuses them too): drop or relabel those rows")


class DeepLearningModel(Model):
    """A trained Deep Learning model (a handle on its DKV value).

    >>> model.model_performance(valid=True).logloss()       # doctest: +SKIP
    >>> preds = model.predict(test)                         # doctest: +SKIP
    """

    algo: ClassVar[str] = ALGO
    MODEL_FORMAT: ClassVar[int] = MODEL_FORMAT
    Metadata = DeepLearningMetadata
    meta: DeepLearningMetadata

    # ---------------------------------------------------------------- parts
    @property
    def info(self) -> DataInfo:
        return DataInfo.from_state(self.meta.info)

    @property
    def spec(self) -> NetSpec:
        return NetSpec.from_dict(self.meta.spec)

    @property
    def state(self) -> NetState:
        """The network's weights, biases and optimiser state (copies: changing them leaves the model as it is)."""
        return NetState.from_arrays(self.spec, self.arrays, copy=True)

    @property
    def scoring(self) -> Scoring:
        m = self.meta
        return Scoring(m.kind, self.info, m.params, m.response_domain, m.priors, m.huber_delta)

    def kernel_arrays(self) -> tuple[np.ndarray, np.ndarray]:
        """The kernels' hyper-parameter and flag arrays of this model."""
        return hyper.kernel_arrays(self.meta.params, self.spec, self.meta.huber_delta)

    # ---------------------------------------------------------------- scoring frames
    def _columns(self) -> "FrameRules":
        """What a frame to score must hold, and how it is adapted (:class:`FrameRules`)."""
        info, p = self.info, self.meta.params
        return FrameRules(predictors={c: c in info.domains for c in info.columns}, kind=self.kind,
                          response=self.meta.response, weights_column=p.get("weights_column"),
                          offset_column=p.get("offset_column"))

    def _resp_for(self, fr: Frame, anomaly: bool = False) -> tuple[dict, list]:
        """How a scoring frame's columns feed the model: predictor columns (by name, with domain maps)."""
        resp, cols = self._columns().roles(fr, self.info, self.cloud, response=False)
        resp["anomaly"] = anomaly
        return resp, cols

    @contextmanager
    def _adapted(self, fr: Frame, response: bool = False):
        """``fr`` checked and adapted as H2O's ``adaptTestForTrain`` (:meth:`FrameRules.adapted`)."""
        with self._columns().adapted(fr, self.cloud, response=response) as view:
            yield view

    def predict(self, test_data: Frame) -> Frame:
        """A frame of predictions (computed by an MRTask on the nodes holding ``test_data``); categorical
        columns may arrive as strings or numbers (mapped onto the training levels, as H2O's adaptTestForTrain).
        A classifier's frame is ``predict`` then one probability per class, named as H2O names them: ``p0``,
        ``p1`` for levels that are integers, other levels as they are (:func:`scoring.prediction_names`)."""
        with self._adapted(self.frame_of(test_data)) as adapted:
            return self._predict(adapted)

    def _predict(self, test_data: Frame) -> Frame:
        resp, cols = self._resp_for(test_data)
        kind = self.kind
        if kind == "autoencoder":
            names = self.info.reconstruction_names()
        elif kind == "regression":
            names = ["predict"]
        else:
            names = prediction_names(self.response_domain)      # p0, p1 for integer levels, as H2O
        types = ["numeric"] * len(names)
        if kind in ("binomial", "multinomial"):
            types[0] = "enum"
        task = self._predict_task(resp, kind=kind)
        task.do_all(test_data, columns=cols, outputs=types, cloud=self.cloud)
        out = from_task_outputs(task, names, cloud=self.cloud)
        if kind in ("binomial", "multinomial"):
            out.set_domain(0, list(self.response_domain))
        return out

    def _predict_task(self, resp, **kw) -> PredictTask:
        hyper, flags = self.kernel_arrays()
        m = self.meta
        return PredictTask(info=m.info, spec=m.spec, model=self.arrays, hyper=hyper, flags=flags, resp=resp,
                           distribution=m.params["distribution"], threshold=float(m.threshold), priors=m.priors,
                           **kw)

    def _scores(self, fr: Frame, weights_column: str | None) -> tuple[np.ndarray, ...]:
        """(rows, y, raw outputs, weights, offsets) of the rows of ``fr`` with a response and a positive weight."""
        rules = self._columns()
        rules.check(fr, response=True)
        resp, cols = rules.roles(fr, self.info, self.cloud, response=True, weights_column=weights_column)
        hyper, flags = self.kernel_arrays()
        task = DLScoreTask(info=self.meta.info, spec=self.meta.spec, model=self.arrays, hyper=hyper, flags=flags,
                           resp=resp, sample_fraction=1.0, seed=0)
        task.do_all(fr, columns=cols, cloud=self.cloud)
        return task.collect()

    def score_frame(self, fr: Frame) -> ModelMetrics:
        """Metrics of this model on a frame holding the response column (weighted by the model's weights column
        when the frame has it)."""
        w = self.meta.params.get("weights_column")
        with self._adapted(fr, response=True) as fr:
            return self.scoring.metrics_of_scores(*self._scores(fr, w if w and w in fr.names else None))

    def holdout_scores(self, fr: Frame, weights_column: str | None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        if self.kind == "autoencoder":
            raise ValueError("an autoencoder has no response to score holdout rows on")
        _, y, pred, w, _ = self._scores(fr, weights_column)
        return (*self.scoring.natural(y, pred), w)

    def metrics_from(self, actual: np.ndarray, predicted: np.ndarray, weights: np.ndarray) -> ModelMetrics:
        return self.scoring.metrics(actual, predicted, weights)

    def anomaly(self, test_data: Frame, per_feature: bool = False) -> Frame:
        """Per-row reconstruction MSE (``Reconstruction.MSE``), or per-feature squared errors."""
        if self.kind != "autoencoder":
            raise ValueError("anomaly() needs an autoencoder model (autoencoder=True)")
        with self._adapted(self.frame_of(test_data)) as test_data:
            resp, cols = self._resp_for(test_data, anomaly=True)
            names = [f"reconstr_{c}.SE" for c in self.info.coef_names] if per_feature else ["Reconstruction.MSE"]
            task = self._predict_task(resp, kind="autoencoder", per_feature=per_feature)
            task.do_all(test_data, columns=cols, outputs=["numeric"] * len(names), cloud=self.cloud)
        return from_task_outputs(task, names, cloud=self.cloud)

    def deepfeatures(self, test_data: Frame, layer: int) -> Frame:
        """Hidden layer ``layer`` (0-based) activations as columns ``DF.L{layer+1}.C{j+1}``."""
        n_hidden = len(self.spec.units) - 2
        if not isinstance(layer, (int, np.integer)) or isinstance(layer, bool):
            raise TypeError(f"layer must be an int (a hidden layer, 0-based), got {type(layer).__name__} {layer!r:.20}")
        if not 0 <= layer < n_hidden:
            raise ValueError(f"layer must be in [0, {n_hidden}), got {layer}")
        with self._adapted(self.frame_of(test_data)) as test_data:
            resp, cols = self._resp_for(test_data)
            width = self.spec.units[layer + 1]
            names = [f"DF.L{layer + 1}.C{j + 1}" for j in range(width)]
            task = self._predict_task(resp, kind=self.kind, layer=layer)
            task.do_all(test_data, columns=cols, outputs=["numeric"] * width, cloud=self.cloud)
        return from_task_outputs(task, names, cloud=self.cloud)

    # ---------------------------------------------------------------- export (.export)
    def download_mojo(self, path: str = ".") -> str:
        """Write the portable model file (numpy-only scoring: ``scoring.load_scorer``); returns its path."""
        from .export import download_mojo
        return download_mojo(self, path)

    def download_pojo(self, path: str = "", inline_limit: int | None = None) -> str | None:
        """Write the model as one self-contained Java class (JDK only); ``path=""`` prints it."""
        from .export import INLINE_LIMIT, download_pojo
        return download_pojo(self, path, INLINE_LIMIT if inline_limit is None else inline_limit)

    def validate(self) -> None:
        """A model read from a file: every parameter recorded, the state arrays named and shaped as the network
        says, and the rest what the portable model checks (encoding, network, kind against the output layer,
        threshold, priors): one set of rules for both model files (:class:`scoring.PortableModel`)."""
        from .export import portable_model
        from .parameters import PARAMS
        lacking = sorted(set(PARAMS) - set(self.meta.params))
        if lacking:
            raise ValueError(f"model meta field 'params' lacks {lacking[:10]}")
        if list(self.meta.array_names) != list(STATE_ARRAYS) or len(self.buffers) != len(STATE_ARRAYS):
            raise ValueError(f"model meta field 'array_names' must be {list(STATE_ARRAYS)} with one buffer each, got "
                             f"{list(self.meta.array_names)} and {len(self.buffers)} buffers")
        try:
            portable_model(self)
        except ValueError:
            raise
        except (KeyError, TypeError, IndexError, AttributeError) as exc:
            raise ValueError(f"malformed model meta ({type(exc).__name__}: {exc})") from None

    def restore_exports(self) -> None:
        """Re-create the exported weight and bias frames of a model trained with ``export_weights_and_biases``."""
        if self.meta.params.get("export_weights_and_biases"):
            keys = self.export_weights_and_biases()
            self.meta.owned_frames = [k for k in self.meta.owned_frames if k not in keys] + keys
            self.store()

    # ---------------------------------------------------------------- explaining
    def compute_varimp(self) -> list:
        """Gedeon's variable importances over the first two weight layers, per expanded input (H2O's
        ``DeepLearningModelInfo.computeVariableImportances``): rows (variable, relative, scaled, percentage), most
        important first. As H2O, the relative importances are already divided by their maximum (the top variable's
        is 1.0, equal to its scaled importance) before the NA slots of columns that had no NA in training are
        zeroed; ``hex.VarImp``/``ModelMetrics.calcVarImp`` then give scaled = relative / max(relative) and
        percentage = relative / sum(relative)."""
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
        if vi.size and vi.max() > 0:
            vi = vi / vi.max()                      # H2O: ArrayUtils.div(vi, maxValue(vi)), before the NA slots
        never = info.na_slots_never_seen()
        if never.size:
            vi[never] = 0.0
        top = vi.max() if vi.size and vi.max() > 0 else 1.0
        total = vi.sum() if vi.sum() > 0 else 1.0
        rows = [(name, float(v), float(v / top), float(v / total)) for name, v in zip(info.coef_names, vi)]
        return sorted(rows, key=lambda r: -r[1])

    def varimp(self, use_pandas: bool = False):
        """Variable importances (variable, relative_importance, scaled_importance, percentage), most
        important first, as H2O reports Deep Learning's: relative_importance already scaled so the top variable's
        is 1.0 (so it equals scaled_importance), percentage its share of the sum; needs
        ``variable_importances=True`` at training. ``use_pandas=True`` gives a DataFrame with h2o-py's columns."""
        rows = self.meta.varimp
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
                    frame_mod.remove(key, cloud=self.cloud)
                except KeyError:
                    pass
                Frame.from_numpy(arr, names=cols, destination_frame=key, cloud=self.cloud)
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
        if key not in self.meta.owned_frames:
            raise ValueError(f"no exported frame {key}: train with export_weights_and_biases=True "
                             f"(layers 0..{len(self.spec.units) - 2})")
        return get_frame(key, cloud=self.cloud)

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
        """H2O's "Status of Neuron Layers" table, with its columns: per layer the learning rate (ADADELTA: the
        mean and standard deviation over the weights of ``sqrt(E[dx^2] + eps) / sqrt(E[g^2] + eps)``; a manual
        rate: the annealed, decayed rate now), the momentum now, and the mean and standard deviation of the
        weights and of the biases (H2O calls the deviations "RMS")."""
        import pandas as pd

        from .kernels.optimizers import momentum_at
        st = self.state
        spec = st.spec
        p = self.meta.params
        n = float(self.meta.samples)
        ratios = p.get("hidden_dropout_ratios") or [0.0] * (len(spec.units) - 2)
        hyper_arr, flags = self.kernel_arrays()
        rows = [{"layer": 1, "units": spec.units[0], "type": "Input",
                 "dropout": f"{100 * p['input_dropout_ratio']:.2f} %"}]
        for l in range(spec.n_layers):
            w, b = st.layer_weights(l).astype(np.float64), st.layer_biases(l)
            out = l == spec.n_layers - 1
            typ = ("Softmax" if spec.output == "softmax" else "Linear") if out and spec.output != "autoencoder" \
                else spec.activation
            if p["adaptive_rate"]:
                lo, hi = int(st.w_off[l]), int(st.w_off[l + 1])
                eps = np.float32(p["epsilon"])
                rate = np.sqrt((st.w_dx2[lo:hi] + eps) / (st.w_g2[lo:hi] + eps), dtype=np.float64)
                mean_rate, rate_rms, mom = float(rate.mean()), float(rate.std()), 0.0
            else:
                mom = float(momentum_at(hyper_arr, n, flags[hyper.F_QUIRKS]))
                mean_rate = p["rate"] * p["rate_decay"] ** l / (1.0 + p["rate_annealing"] * n)
                rate_rms = 0.0
            rows.append({"layer": l + 2, "units": spec.units[l + 1], "type": typ,
                         "dropout": "" if out else f"{100 * ratios[l]:.2f} %", "l1": p["l1"], "l2": p["l2"],
                         "mean_rate": mean_rate, "rate_rms": rate_rms, "momentum": mom,
                         "mean_weight": float(w.mean()), "weight_rms": float(w.std()),
                         "mean_bias": float(b.mean()), "bias_rms": float(b.std())})
        return pd.DataFrame(rows)

    def __repr__(self) -> str:
        return f"<DeepLearningModel {self.model_id}: {self.kind}, units {list(self.spec.units)}>"

    def __str__(self) -> str:
        p = self.meta.params
        lines = ["Model Details", "=============", "DeepLearningModel: Deep Learning", f"Model Key: {self.model_id}",
                 "", f"Status of Neuron Layers: predicting {self.meta.response or '(autoencoder)'}, {self.kind}, "
                 f"{p['distribution']} distribution, {p['loss']} loss, "
                 f"{self.state.n_params:,} weights/biases, {int(self.meta.samples):,} training samples, "
                 f"mini-batch size {p['mini_batch_size']}", self.summary().to_string(index=False)]
        for which, title in (("train", "training data"), ("valid", "validation data"), ("xval",
                                                                                        "cross-validation data")):
            m = self.metrics(which)
            if m is not None:
                lines += ["", f"ModelMetrics reported on {title}:", str(m)]
        lines += ["", "Scoring History:", self.scoring_history().to_string(index=False)]
        return "\n".join(lines)

    def show(self) -> None:
        print(str(self))
