"""Progress bars of jobs in a terminal, as h2o-py shows them (part of the user-facing API, not the runtime).

A :class:`cluster.Job` reports progress to whatever its cloud handle gives it (``Cloud.progress_bar``): a
:class:`ProgressBar` when the handle shows progress and stderr is a terminal, else nothing.

>>> bar = ProgressBar("demo", enabled=False)
>>> bar.show(0.5, "half way"); bar.close(done=True)
"""
from __future__ import annotations

import sys


class ProgressBar:
    """A tqdm bar in percent, with the job's last message as postfix; inert when ``enabled`` is false."""

    def __init__(self, description: str, *, enabled: bool = True):
        self._bar = None
        if enabled:
            from tqdm import tqdm
            self._bar = tqdm(total=100, desc=description[:40], unit="%", leave=True,
                             bar_format="{desc}: {percentage:3.0f}%|{bar}| {elapsed}<{remaining} {postfix}")

    @classmethod
    def for_terminal(cls, description: str, wanted: bool) -> "ProgressBar | None":
        """A bar when ``wanted`` and stderr is a terminal, else None."""
        return cls(description) if wanted and sys.stderr.isatty() else None

    def show(self, progress: float, msg: str | None = None) -> None:
        if self._bar is None:
            return
        self._bar.n = round(100 * progress)
        if msg:
            self._bar.set_postfix_str(msg[:60], refresh=False)
        self._bar.refresh()

    def close(self, done: bool) -> None:
        if self._bar is None:
            return
        if done:
            self._bar.n = 100
            self._bar.refresh()
        self._bar.close()
        self._bar = None
