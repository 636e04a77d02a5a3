"""What every node needs from the algorithms layer: their MRTask classes, registered on import (importing this
module imports ``algos``, which registers the model builders)."""
from . import cross_validation  # noqa: F401  (fold assignment and holdout frame tasks)
from .deeplearning import predict, tasks  # noqa: F401  (training, scoring and prediction tasks)
