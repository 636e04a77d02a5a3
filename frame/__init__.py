"""Distributed frames: compressed column chunks in the DKV, CSV import, numpy/pandas in and out.

>>> import cluster, frame
>>> cluster.init()                                                       # doctest: +SKIP
>>> fr = frame.import_file("tests/data/h2o-smalldata/prostate.csv")         # doctest: +SKIP
>>> fr["CAPSULE"] = fr["CAPSULE"].asfactor()                             # doctest: +SKIP
"""
from .frame import Frame, from_task_outputs, get_frame, remove
from .csv_parser import ParseError
from .importer import ParseWarning, import_file, upload_file

__all__ = ["Frame", "from_task_outputs", "get_frame", "remove", "import_file", "upload_file", "ParseError",
           "ParseWarning"]
