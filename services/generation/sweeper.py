"""Removes token deltas once they are older than ``PARLEY_DELTA_RETENTION_S``.

Deltas serve live delivery and resume only; each answer's terminal event keeps its text and
token timing for good. One JetStream purge per sweep: every ``generation.delta`` below the first
sequence stored at or after ``now - retention``. Stateless and idempotent, so every generation
worker may run one; old ``generation.chunk`` events (streams from before deltas) are never touched,
since their answers' terminal events carry no token timing.
"""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime, timedelta

from nats.aio.client import Client

from events import subjects
from events.streams import CHAT_STREAM
from services import logs

log = logs.get("generation.sweeper")


def interval_for(retention_s: float) -> float:
    """Sweep often enough that deltas outlive their retention by at most a tenth (1 s to 1 min)."""
    return min(60.0, max(1.0, retention_s / 10))


class Sweeper:
    def __init__(self, nc: Client, retention_s: float, *, interval_s: float | None = None) -> None:
        self.nc, self.retention_s = nc, retention_s
        self.interval_s = interval_for(retention_s) if interval_s is None else interval_s
        self._task: asyncio.Task | None = None

    async def _cut(self, before: datetime) -> int | None:
        """The first sequence stored at or after ``before``; None when nothing was stored since."""
        request = {"start_time": before.isoformat().replace("+00:00", "Z")}
        reply = await self.nc.request(f"$JS.API.DIRECT.GET.{CHAT_STREAM}", json.dumps(request).encode(), timeout=5)
        headers = reply.headers or {}
        if "Status" in headers or "Nats-Sequence" not in headers:
            if headers.get("Status") == "404":
                return None
            raise RuntimeError(f"direct get by time failed: {headers.get('Status')} {headers.get('Description', '')}")
        return int(headers["Nats-Sequence"])

    async def _last_seq(self) -> int:
        reply = await self.nc.request(f"$JS.API.STREAM.INFO.{CHAT_STREAM}", b"", timeout=5)
        answer = json.loads(reply.data)
        if "error" in answer:
            raise RuntimeError(f"stream info failed: {answer['error']}")
        return int(answer["state"]["last_seq"])

    async def sweep(self, now: datetime | None = None) -> int:
        """Purge the deltas older than the retention; the number removed."""
        before = (now or datetime.now(UTC)) - timedelta(seconds=self.retention_s)
        # Read the last sequence first: if nothing was stored since ``before``, everything up to
        # it is older, while a delta stored during this sweep is above it and stays.
        last = await self._last_seq()
        cut = await self._cut(before)
        request = {"filter": subjects.DELTAS, "seq": last + 1 if cut is None else min(cut, last + 1)}
        reply = await self.nc.request(f"$JS.API.STREAM.PURGE.{CHAT_STREAM}", json.dumps(request).encode(), timeout=10)
        answer = json.loads(reply.data)
        if "error" in answer:
            raise RuntimeError(f"purge failed: {answer['error']}")
        purged = int(answer.get("purged", 0))
        if purged:
            log.info("expired deltas removed", purged=purged, below_seq=request["seq"], retention_s=self.retention_s)
        return purged

    async def _run(self) -> None:
        while True:
            try:
                await self.sweep()
            except Exception as exc:  # NATS away or restarting: the next sweep catches up
                log.warning("delta sweep failed; retrying later", error=repr(exc))
            await asyncio.sleep(self.interval_s)

    def start(self) -> Sweeper:
        if self.retention_s > 0 and self._task is None:
            self._task = asyncio.create_task(self._run(), name="delta-sweeper")
        return self

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None
