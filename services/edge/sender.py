"""A socket's writing half: its bounded queue, and the frames written from it in order, once.

Frames the bridge offers are written by a callback (``_flush``), all that queued meanwhile in one
write, straight to uvicorn's protocol (``wsprotocol.write_frames``): no task per frame. Only when
the socket cannot take them at once (its write buffer is over the high-water mark) does a sender
task send them through ASGI's ``send``, which waits for the drain; it ends once the queue is
empty. The first sender task also runs the socket's opening (``connected``, the replay, ``live``).
A frame whose event the replay sent already is dropped (``fresh``: by stream sequence). A full
queue, a close code a frame calls for, or a failed write ends the socket through ``end``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

import structlog
from starlette.websockets import WebSocket

from services import tracing
from services.edge import metrics, wsprotocol
from services.edge.errors import Unavailable
from services.edge.outbox import Item, Outbox

CLOSE_NORMAL = 1000
CLOSE_INTERNAL = 1011
CLOSE_TRY_AGAIN = 1013
CLOSE_TOO_SLOW = 4008
CLOSE_DELETED = 4410

TOO_SLOW = "too slow: send queue overflowed; resume with after_seq"


class Sender:
    # Slots: thousands of idle sockets each hold one.
    __slots__ = ("_due", "_end", "_log", "_task", "_writer", "ended", "last", "message_id", "outbox", "ws")

    def __init__(
        self,
        ws: WebSocket,
        *,
        queue_size: int,
        message_id: str | None,
        after_seq: int | None,
        end: Callable[[int | None, str], None],
        log: Callable[[], structlog.stdlib.BoundLogger],
    ) -> None:
        self.ws = ws
        self.outbox = Outbox(queue_size)
        self.message_id = message_id  # set: an answer socket, closed after its answer's last event
        self.last = after_seq  # the newest stream sequence sent
        self.ended = False  # the socket is ending: nothing more is written
        self._end = end
        self._log = log
        self._task: asyncio.Task | None = None  # the opening, or frames waiting for the socket to drain
        self._due = False  # a _flush is scheduled
        self._writer: wsprotocol.EdgeWebSocketProtocol | None = None  # found at the first flush

    def start(self, opening: Callable[[], Awaitable[int | None]]) -> None:
        """Run the socket's opening in the first sender task; frames queued meanwhile follow it."""
        self._task = asyncio.create_task(self._sending(opening))

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)

    def queue(self, item: Item) -> None:
        """Queue a frame; never waits. A full queue ends the socket (4008)."""
        if not self.outbox.put(item):
            if not self.ended:
                metrics.OVERFLOWS.inc()
            self._end(CLOSE_TOO_SLOW, TOO_SLOW)
        elif self._task is None and not self.ended and not self._due:
            self._due = True
            asyncio.get_running_loop().call_soon(self._flush)

    def _flush(self) -> None:
        """Write every queued frame now, in one write (the frames the bridge offered in one go meet
        here); a close code the frames call for ends the socket."""
        self._due = False
        if self._task is not None or self.ended or not len(self.outbox):
            return
        writer = self._writer
        if writer is None:
            writer = self._writer = wsprotocol.writer_of(getattr(self.ws, "_send", None))
        if writer is None or not writer.ready():
            self._task = asyncio.create_task(self._sending(None))
            return
        payloads: list[bytes] = []
        code = None
        try:
            while code is None and (item := self.outbox.pop()) is not None:
                if self.fresh(item):
                    payloads.append(item.data)
                    code = self.sent(item)
            if payloads:
                writer.write_frames(payloads)
        except Exception as exc:
            self._end(*self.outcome(exc))
            return
        if code is not None:
            self._end(code, "")

    async def _sending(self, opening: Callable[[], Awaitable[int | None]] | None) -> None:
        """The sender task: the opening, if given; then the queue until it is empty."""
        try:
            code = await opening() if opening is not None else None
            while code is None and (item := self.outbox.pop()) is not None:
                if self.fresh(item):
                    code = await self.send(item)
        except Exception as exc:  # not a cancel: the socket cancels the sender only once it ends
            self._end(*self.outcome(exc))
            return
        if code is not None:
            self._end(code, "")
        else:
            self._task = None  # empty: the next frame queued is flushed, or starts another

    async def send(self, item: Item) -> int | None:
        """Send one frame through ASGI's ``send`` (waits for the socket); the close code it calls for."""
        await self.ws.send_text(item.data.decode())
        return self.sent(item)

    def fresh(self, item: Item) -> bool:
        """False for an event the replay sent already; the newest sequence sent moves on."""
        if item.seq is not None:
            if self.last is not None and item.seq <= self.last:
                return False
            self.last = item.seq
        return True

    def sent(self, item: Item) -> int | None:
        """Account a frame sent (or being written); the close code it calls for, if any."""
        tracing.frame_sent(item.seq)
        metrics.count_frame(item.kind)
        if item.ends_session:
            return CLOSE_DELETED
        if self.message_id is not None and item.terminal and item.message_id == self.message_id:
            return CLOSE_NORMAL
        return None

    def outcome(self, exc: Exception) -> tuple[int | None, str]:
        """How a failed send or opening ends the socket."""
        if isinstance(exc, Unavailable):
            self._log().warning("replay failed", error=exc.detail)
            return CLOSE_TRY_AGAIN, "NATS unavailable; reconnect with after_seq"
        if isinstance(exc, RuntimeError | OSError) or type(exc).__name__ in {
            "WebSocketDisconnect",
            "ClientDisconnected",
        }:
            return None, ""  # the peer went away mid-send
        metrics.ERRORS.labels("socket_sender").inc()
        self._log().error("socket sender failed", error=repr(exc), exc_info=exc)
        return CLOSE_INTERNAL, "internal error; reconnect with after_seq"
