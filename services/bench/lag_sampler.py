"""Projection lag during a run: how far the ``chat`` projection's checkpoint is behind the stream,
in events and in time (now minus ``occurred_at`` of the oldest event not yet applied), sampled
every ``interval`` seconds with ``projections.lag.measure``."""

from __future__ import annotations

import asyncio
import contextlib
import time
from dataclasses import dataclass

import asyncpg

from events import codec
from events.streams import CHAT_STREAM
from projections import lag
from services import bus
from services.bench import stats


@dataclass(frozen=True, slots=True)
class Sample:
    at: float
    stream_last: int
    checkpoint: int
    oldest_unapplied_at: float | None  # occurred_at of event checkpoint + 1, when behind


def seconds_behind(sample: Sample) -> float:
    if sample.checkpoint >= sample.stream_last or sample.oldest_unapplied_at is None:
        return 0.0
    return max(0.0, sample.at - sample.oldest_unapplied_at)


def summarize(samples: list[Sample]) -> dict[str, object]:
    return {
        "samples": len(samples),
        "events": stats.summary([max(0, s.stream_last - s.checkpoint) for s in samples], scale=1.0),
        "ms": stats.summary([seconds_behind(s) for s in samples]),
    }


class LagSampler:
    def __init__(self, nats_url: str, database_url: str, interval: float = 0.05) -> None:
        self.nats_url, self.database_url, self.interval = nats_url, database_url, interval
        self.samples: list[Sample] = []
        self._task: asyncio.Task | None = None
        self._stopping = False
        self.errors: list[str] = []

    async def __aenter__(self) -> LagSampler:
        self._nc = await bus.connect(self.nats_url, "parley-bench-lag")
        self._js = self._nc.jetstream()
        self._conn = await asyncpg.connect(self.database_url)
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()
        await self._conn.close()
        await self._nc.close()

    def start(self) -> None:
        self.samples = []
        self._stopping = False
        self._task = asyncio.create_task(self._loop())

    async def stop(self) -> list[Sample]:
        """Stop after the probe in flight. Not by cancelling it mid-probe: a cancel that lands as a
        nats-py request completes can be swallowed (asyncio.wait_for in Python 3.11), and a loop
        that only ends on cancellation then runs forever."""
        if self._task is not None:
            self._stopping = True
            done, _ = await asyncio.wait({self._task}, timeout=15)
            if not done:
                self._task.cancel()
                with contextlib.suppress(asyncio.CancelledError, TimeoutError):
                    async with asyncio.timeout(5):
                        await self._task
            self._task = None
        return self.samples

    async def _loop(self) -> None:
        while not self._stopping:
            try:
                self.samples.append(await self.sample())
            except Exception as exc:  # one failed probe must not end the run; it is reported
                self.errors.append(f"{type(exc).__name__}: {exc}")
            await asyncio.sleep(self.interval)

    async def sample(self) -> Sample:
        measured = await lag.measure(self._js, self._conn)
        at = time.time()
        oldest = None
        if measured.checkpoint < measured.stream_last_seq:
            msg = await self._js.get_msg(CHAT_STREAM, seq=measured.checkpoint + 1, direct=True)
            oldest = codec.decode(msg.data, msg.subject).occurred_at.timestamp()
        return Sample(at, measured.stream_last_seq, measured.checkpoint, oldest)
