"""H2O's Deep Learning: parameters, network, kernels, training iteration tasks, driver, model.

The package, bottom up (a module imports only those listed before it):

* :mod:`.parameters` -- :data:`PARAMS`, the one parameter table, and the rules between parameters
* :mod:`.network`    -- :class:`NetSpec` (shape), :class:`NetState` (flat arrays), H2O's initialisation
* :mod:`.hyper`      -- the kernels' hyper-parameter and flag arrays, packed from the parameters
* :mod:`.kernels`    -- Numba compute: per-sample SGD, kernel teams, mini-batches, forward, dropout
* :mod:`.reference`  -- a slow float64 numpy network the kernel tests compare with
* :mod:`.tasks`      -- the MRTasks: one training iteration, scoring, counts, the node-local chunk cache
* :mod:`.predict`    -- outputs to predictions and metrics (:class:`~.predict.Scoring`), the prediction MRTask
* :mod:`.metadata`   -- the fields a model stores (:class:`DeepLearningMetadata`), :data:`MODEL_FORMAT`
* :mod:`.model`      -- :class:`DeepLearningModel`: predict, metrics, anomaly, deepfeatures, varimp, weights
* :mod:`.trainer`    -- :class:`~.trainer.Trainer`: the iteration loop, scoring, stopping, block momentum
* :mod:`.estimator`  -- :class:`DeepLearningEstimator` and :class:`DeepLearningBuilder` (grid, CV)

>>> from algos.deeplearning import PARAMS
>>> PARAMS["hidden"].default, PARAMS["thread_mode"].level
((200, 200), 'expert')
"""
from .. import registry
from .estimator import DeepLearningBuilder, DeepLearningEstimator
from .metadata import MODEL_FORMAT, DeepLearningMetadata
from .model import DeepLearningModel
from .network import NetSpec, NetState
from .parameters import PARAMS

registry.register(DeepLearningEstimator.builder)

__all__ = ["MODEL_FORMAT", "PARAMS", "DeepLearningBuilder", "DeepLearningEstimator", "DeepLearningMetadata",
           "DeepLearningModel", "NetSpec", "NetState"]
