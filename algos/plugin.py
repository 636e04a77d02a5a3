"""What every node needs from the algorithms layer: their MRTask classes (registered on import)."""
from . import dl_model, dl_task  # noqa: F401
