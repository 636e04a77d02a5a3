"""What every node needs from the algorithms layer: their MRTask classes (registered on import)."""
