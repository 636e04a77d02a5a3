"""Algorithms: H2O's Deep Learning, its models, and where models live (files, the DKV registry).

>>> import algos
>>> dl = algos.DeepLearningEstimator(hidden=[10], epochs=2)                  # doctest: +SKIP
>>> path = algos.save_model(dl.train(y="CAPSULE", training_frame=fr).model, "/tmp/models/")  # doctest: +SKIP
>>> algos.load_model(path).predict(fr)                                       # doctest: +SKIP
"""
from .deeplearning import DeepLearningEstimator
from .dl_model import DeepLearningModel, remove_model
from .export import download_mojo, download_pojo
from .persistence import ModelFileError, get_model, list_models, load_model, resolve_checkpoint, save_model

__all__ = ["DeepLearningEstimator", "DeepLearningModel", "ModelFileError", "download_mojo", "download_pojo",
           "get_model", "list_models", "load_model", "remove_model", "resolve_checkpoint", "save_model"]
