"""Deep Learning, H2O's way: ``DeepLearningEstimator(**params).train(x, y, training_frame, validation_frame)``.

>>> import cluster, frame
>>> from algos import DeepLearningEstimator
>>> cluster.init()                                                                 # doctest: +SKIP
>>> train = frame.import_file("data/fmnist_train.csv")                            # doctest: +SKIP
>>> train["C785"] = train["C785"].asfactor()                                      # doctest: +SKIP
>>> dl = DeepLearningEstimator(activation="RectifierWithDropout", hidden=[200, 200, 200],
...                            input_dropout_ratio=0.2, l1=1e-5, epochs=10)       # doctest: +SKIP
>>> dl.train(x=train.names[:-1], y="C785", training_frame=train)                 # doctest: +SKIP
>>> dl.model_performance(train=True).classification_error()                       # doctest: +SKIP

:class:`DeepLearningBuilder` is the algorithm as grid search and cross-validation drive it (the
:mod:`algos.builder` protocol): the parameter table, a checked :class:`~.trainer.Trainer` per model, and H2O's
cross-validation rules for Deep Learning.
"""
from __future__ import annotations

import numpy as np

from ..builder import Estimator, ModelBuilder
from .metadata import ALGO, MODEL_PREFIX
from .model import DeepLearningModel
from .parameters import PARAMS
from .trainer import Trainer


class DeepLearningBuilder(ModelBuilder):
    """Deep Learning as a model builder (see :mod:`algos.builder`)."""

    algo = ALGO
    model_prefix = MODEL_PREFIX
    params = PARAMS
    model_class = DeepLearningModel

    def prepare(self, params, x, y, training_frame, validation_frame, *, job=None, verbose=False) -> Trainer:
        return Trainer(params, x, y, training_frame, validation_frame, verbose, job=job)

    def cv_fold_params(self, params: dict) -> dict:
        """Fold models are scored on their holdout rows as trained: no best-model swap (H2O)."""
        return {"overwrite_with_best_model": False}

    def cv_main_params(self, params: dict, fold_models: list) -> dict:
        """H2O's ``DeepLearning.cv_computeAndSetOptimalParameters``: with early stopping or a time limit, the main
        model trains as long as the fold models did on average, without stopping."""
        out = {"overwrite_with_best_model": False}
        if params["stopping_rounds"] > 0 or params["max_runtime_secs"] > 0:
            out.update(epochs=float(np.mean([m.meta.epochs for m in fold_models])), stopping_rounds=0)
        return out


class DeepLearningEstimator(Estimator):
    """H2O's Deep Learning estimator: every parameter of the booklet's Appendix A, H2O's names and defaults
    (:data:`algos.deeplearning.PARAMS`); ``autoencoder=True`` takes no ``y``."""

    builder = DeepLearningBuilder()
