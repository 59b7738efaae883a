"""How busy this worker is, and how long tokens may wait to share a chunk because of it.

Adaptive coalescing: an idle worker cuts a chunk within ``PARLEY_CHUNK_FLUSH_MS`` of its first
token; a busy one lets chunks grow up to ``PARLEY_CHUNK_BUDGET_MS``, so fewer events carry the
same tokens when every event costs CPU someone else is waiting for. Busy is measured as the event
loop's lag (how late a short sleep wakes up), smoothed; the coalescer's leading edge still sends
the first token after a pause at once, whatever the window.
"""

from __future__ import annotations

import asyncio

LAG_FREE_MS = 2.0  # at or below this loop lag the worker counts as idle: the idle window
LAG_FULL_MS = 20.0  # at or above it, the whole budget
PERIOD_S = 0.05  # how often the lag is sampled
SMOOTHING = 0.2  # weight of the newest sample


def window_ms(idle_ms: float, budget_ms: float, lag_ms: float) -> float:
    """The coalescing window for a loop lag of ``lag_ms``: ``idle_ms`` when idle, growing
    linearly to ``budget_ms`` (never below ``idle_ms``) as the lag reaches ``LAG_FULL_MS``."""
    top = max(idle_ms, budget_ms)
    share = min(1.0, max(0.0, (lag_ms - LAG_FREE_MS) / (LAG_FULL_MS - LAG_FREE_MS)))
    return idle_ms + (top - idle_ms) * share


class Pressure:
    """The worker's smoothed loop lag, sampled by one background task."""

    def __init__(self, idle_ms: float, budget_ms: float) -> None:
        self.idle_ms, self.budget_ms = idle_ms, budget_ms
        self.lag_ms = 0.0
        self.window_s = idle_ms / 1000  # the window in seconds, as the coalescer reads it per token
        self._task: asyncio.Task | None = None

    @property
    def window_ms(self) -> float:
        return window_ms(self.idle_ms, self.budget_ms, self.lag_ms)

    def observe(self, lag_ms: float) -> None:
        self.lag_ms += SMOOTHING * (max(0.0, lag_ms) - self.lag_ms)
        self.window_s = self.window_ms / 1000

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            started = loop.time()
            await asyncio.sleep(PERIOD_S)
            self.observe((loop.time() - started - PERIOD_S) * 1000)

    def start(self) -> Pressure:
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name="loop-pressure")
        return self

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None
