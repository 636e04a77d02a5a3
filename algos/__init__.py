"""Algorithms: H2O's Deep Learning, its models, where models live (files, the DKV registry), grid search and
cross-validation for any model builder.

>>> import algos
>>> dl = algos.DeepLearningEstimator(hidden=[10], epochs=2)                  # doctest: +SKIP
>>> path = algos.save_model(dl.train(y="CAPSULE", training_frame=fr).model, "/tmp/models/")  # doctest: +SKIP
>>> algos.load_model(path).predict(fr)                                       # doctest: +SKIP

The layout (bottom up): :mod:`.params` (parameter tables), :mod:`.stopping`, :mod:`.datainfo`, :mod:`.model`
(what every model stores and offers), :mod:`.registry` (algorithms and stored models), :mod:`.persistence`
(model files), :mod:`.progress`, :mod:`.cross_validation`, :mod:`.builder` (the model-builder protocol and the
estimator base), :mod:`.grid`, and the algorithms: :mod:`.deeplearning` (its ``export`` gives ``download_mojo`` and
``download_pojo``: models for scoring outside the cloud).
"""
from .deeplearning import DeepLearningEstimator, DeepLearningModel
from .deeplearning.export import download_mojo, download_pojo
from .grid import GridSearch, get_grid, remove_grid
from .persistence import ModelFileError, load_model, save_model
from .registry import get_model, list_models, remove_model, resolve_checkpoint

__all__ = ["DeepLearningEstimator", "DeepLearningModel", "GridSearch", "ModelFileError", "download_mojo",
           "download_pojo", "get_grid", "get_model", "list_models", "load_model", "remove_grid", "remove_model",
           "resolve_checkpoint", "save_model"]
