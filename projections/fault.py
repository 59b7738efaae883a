"""A test-only crash point of the projection worker (PARLEY_PROJECTION_FAULT): the crash tests
kill the worker between writing a batch's rows and committing them, or between committing and
acknowledging, and check that the restarted worker applies every event exactly once."""

from __future__ import annotations

import os
import signal
from dataclasses import dataclass

from services import logs

log = logs.get("projections.worker")


@dataclass(frozen=True, slots=True)
class Fault:
    """Test-only crash point (PARLEY_PROJECTION_FAULT): SIGKILL this process at ``point`` of batch ``batch``."""

    point: str  # after_apply (rows written, not committed) | after_commit (committed, not acked)
    batch: int

    @classmethod
    def parse(cls, text: str | None) -> Fault | None:
        if not text:
            return None
        point, _, n = text.partition(":")
        return cls(point, int(n))

    def hit(self, point: str, batch_number: int) -> None:
        if point == self.point and batch_number == self.batch:
            log.warning("fault injected: killing this process", point=point, batch=batch_number)
            os.kill(os.getpid(), signal.SIGKILL)
