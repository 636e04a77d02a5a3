"""A slice of an outer job's progress, for one of several models trained under it (grid search, folds).

>>> sub = ScaledJob(job, 0.5, 0.25, "fold 3/3: ")      # doctest: +SKIP
>>> sub.update(progress=0.5)       # the outer job is now at 62.5 %      # doctest: +SKIP
"""
from __future__ import annotations


class ScaledJob:
    """A slice ``[start, start + span]`` of an outer job's progress.

    It answers what a training run asks of a job (``key``, ``cloud``, ``check_cancelled``, ``update``), so
    cancelling the outer job stops the model at its next iteration.
    """

    def __init__(self, job, start: float, span: float, label: str = ""):
        if not (0.0 <= start <= 1.0 and 0.0 <= span and start + span <= 1.0 + 1e-9):
            raise ValueError(f"a progress slice must lie in [0, 1], got start={start}, span={span}")
        self.job, self.start, self.span, self.label = job, float(start), float(span), label
        self.key, self.cloud = job.key, job.cloud

    def check_cancelled(self) -> None:
        self.job.check_cancelled()

    def cancel_requested(self) -> bool:
        return self.job.cancel_requested()

    def update(self, progress: float | None = None, msg: str | None = None) -> None:
        scaled = None if progress is None else self.start + self.span * min(max(float(progress), 0.0), 1.0)
        self.job.update(progress=scaled, msg=None if msg is None else f"{self.label}{msg}")
