"""What ``parley up`` tells the person watching it start: one line per part with its time on a
terminal; structured events (``part``, ``seconds``) in JSON logs."""

from __future__ import annotations

import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager

from services import logs

log = logs.get("supervisor")


class Progress:
    def __init__(self, console: bool) -> None:
        self.console = console
        self.began = time.monotonic()

    def say(self, text: str, **fields: object) -> None:
        """A line for people (terminal) or an event (JSON logs)."""
        if self.console:
            print(text, file=sys.stderr, flush=True)
        else:
            log.info(text, **fields)

    @contextmanager
    def step(self, part: str) -> Iterator[dict[str, object]]:
        """Time one start-up step; the caller fills ``detail`` (shown after the time)."""
        detail: dict[str, object] = {}
        started = time.monotonic()
        if not self.console:
            log.info("starting", part=part)
        yield detail
        seconds = time.monotonic() - started
        if self.console:
            shown = "  ".join(str(v) for v in detail.values())
            print(f"  ✓ {part:<22} {seconds:5.1f} s  {shown}".rstrip(), file=sys.stderr, flush=True)
        else:
            log.info("ready", part=part, seconds=round(seconds, 3), **detail)

    def elapsed(self) -> float:
        return time.monotonic() - self.began
