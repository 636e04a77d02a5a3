"""What every node needs from the frame layer: the chunk codec for MRTask and the frame task classes."""
from cluster.mrtask import register_chunk_codec

from . import histogram, importer, ops, rollups  # noqa: F401  (their MRTask classes register on import)
from .chunks import ColumnBlock, decode_float64, encode_chunk

register_chunk_codec(decode_float64, encode_chunk, ColumnBlock)
