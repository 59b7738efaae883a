"""Cancel requests reach every worker over core NATS (the stored event's subject); the worker
streaming that answer reacts at once. Cancels for answers not in flight here are ignored: the
worker that takes such a prompt later sees the cancel in the session's events."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

from nats.aio.client import Client
from nats.aio.msg import Msg

from events import codec, subjects
from events.errors import EventDecodeError
from events.schema import GenerationCancelRequested
from services import logs

log = logs.get("generation.cancels")


class Cancel:
    """The cancel state of one answer in flight: ``event`` is set on cancel, ``hooks`` run at once."""

    def __init__(self) -> None:
        self.event = asyncio.Event()
        self.hooks: list[Callable[[], None]] = []
        self.requested_at: float | None = None

    @property
    def requested(self) -> bool:
        return self.event.is_set()

    def fire(self) -> None:
        if self.event.is_set():
            return
        self.requested_at = time.time()
        self.event.set()
        for hook in self.hooks:
            hook()


class Cancels:
    def __init__(self) -> None:
        self.inflight: dict[str, Cancel] = {}
        self._sub = None

    def track(self, message_id: str) -> Cancel:
        return self.inflight.setdefault(message_id, Cancel())

    def forget(self, message_id: str) -> None:
        self.inflight.pop(message_id, None)

    async def start(self, nc: Client) -> Cancels:
        self._sub = await nc.subscribe(subjects.CANCELS, cb=self._on_message)
        return self

    async def _on_message(self, msg: Msg) -> None:
        try:
            event = codec.decode(msg.data, msg.subject)
        except EventDecodeError as exc:
            log.warning("undecodable cancel ignored", subject=msg.subject, error=str(exc))
            return
        if not isinstance(event, GenerationCancelRequested):
            return
        cancel = self.inflight.get(event.message_id)
        if cancel is not None:
            log.info("cancel received", session_id=event.session_id, message_id=event.message_id)
            cancel.fire()

    async def stop(self) -> None:
        if self._sub is not None:
            try:
                await self._sub.unsubscribe()
            except Exception:  # closed connection at shutdown
                pass
