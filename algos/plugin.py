"""What every node needs from the algorithms layer: their MRTask classes (registered on import)."""
from . import cross_validation, dl_model, dl_task  # noqa: F401
