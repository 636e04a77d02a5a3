"""Warnings about what strangers send, logged at a bounded rate with counts (a flood writes a few lines).

Per kind, the first ``burst`` events of each ``interval`` are logged; the rest are counted and reported in
one line when the interval is over (at the next event or :meth:`flush`).

>>> import logging; rl = RateLimitedLog(logging.getLogger("demo"), burst=2, interval=10.0, clock=lambda: 0.0)
>>> [rl.warning("malformed", "dropped a message") for _ in range(5)]
[True, True, False, False, False]
>>> rl.suppressed("malformed")
3
"""
from __future__ import annotations

import logging
import time
from typing import Callable


class RateLimitedLog:
    def __init__(self, logger: logging.Logger, *, burst: int, interval: float,
                 clock: Callable[[], float] = time.monotonic):
        self.logger, self.burst, self.interval, self.clock = logger, burst, interval, clock
        self._windows: dict[str, list] = {}          # kind -> [window start, logged, suppressed]

    def warning(self, kind: str, text: str, *args) -> bool:
        """Log ``text % args`` unless ``kind`` already used its burst this interval; True when logged."""
        now = self.clock()
        w = self._windows.get(kind)
        if w is None or now - w[0] >= self.interval:
            self._report(kind)
            w = self._windows[kind] = [now, 0, 0]
        if w[1] < self.burst:
            w[1] += 1
            self.logger.warning(text, *args)
            return True
        w[2] += 1
        return False

    def suppressed(self, kind: str) -> int:
        w = self._windows.get(kind)
        return w[2] if w else 0

    def flush(self) -> None:
        """Report the kinds whose interval is over (called from the node's heartbeat loop)."""
        now = self.clock()
        for kind, w in list(self._windows.items()):
            if now - w[0] >= self.interval:
                self._report(kind)
                del self._windows[kind]

    def _report(self, kind: str) -> None:
        w = self._windows.get(kind)
        if w and w[2]:
            self.logger.warning("... and %d more %s events in the last %.0f s (not logged one by one)", w[2], kind,
                                self.interval)
            w[2] = 0
