"""One client socket: a session socket (``/chat/websocket/{session_id}``) or an answer socket
(``/chat/llm-stream/{message_id}``).

An idle socket costs no task of its own: the task uvicorn runs the socket in reads the client's
frames (``receiver.Receiver``); its writing half (``sender.Sender``) runs ``connected``, the
replay and ``live`` in its first task, and after that writes the frames the bridge offers from a
callback, with a task only while the socket cannot take them at once. The token's expiry is a
timer. Whatever ends the socket (a close code a frame calls for, an overflow, the expiry) decides
the close code once (``_end``) and stops the reading. The bridge only ever ``offer``s frames
(never waits), so a slow client never stalls the others; its queue overflows and it is closed
with 4008.

Lossless resume. With ``after_seq=N`` the socket registers with the bridge FIRST, so every
event the bridge receives from then on is queued; THEN it replays the stored events of the
session after N. The replay stops once it has caught up with the stream, or at the first event
already queued. Then the queue is drained, dropping anything with ``seq`` <= the last one sent.
Why nothing is missed: an event stored before the replay started is in the replay (it reads
the stream up to its end, or up to the first queued event, and everything before that one
that reached the bridge before registration is stored, so the replay has it). An event stored
later reaches the bridge after registration, so it is queued. Why nothing is doubled: the queue
is delivered in stream order, and each frame's ``seq`` is compared with the last one sent.
"""

from __future__ import annotations

import asyncio
import time
from contextlib import aclosing
from typing import Any

import structlog
from starlette.websockets import WebSocket

from events import codec, subjects
from services import logs
from services.edge import frames, metrics, replay
from services.edge.auth import Authenticator
from services.edge.bridge import Bridge, item_for
from services.edge.chat import Chat
from services.edge.continuity import Continuity
from services.edge.outbox import Item
from services.edge.receiver import Receiver
from services.edge.sender import Sender

log = logs.get("edge.socket")

# Close codes (docs/protocol.md); those the writing half decides are in services/edge/sender.py.
CLOSE_GOING_AWAY = 1001
CLOSE_HEARTBEAT = 4002
CLOSE_BAD_REQUEST = 4400
CLOSE_UNAUTHORIZED = 4401
CLOSE_NOT_FOUND = 4404
CLOSE_TOO_MANY = 4429  # a fair-use limit (docs/protocol.md)


async def close(ws: WebSocket, code: int, reason: str = "") -> None:
    """Close with ``code``; a peer that is already gone is not an error."""
    metrics.WS_CLOSED.labels(str(code)).inc()
    try:
        # Close reasons are limited to 123 bytes by the protocol.
        await asyncio.wait_for(ws.close(code, reason.encode()[:120].decode(errors="ignore")), 5.0)
    except Exception:
        pass


TOKEN_EXPIRED = "token expired; send {type: auth} with a fresh one before it expires"


class Connection:
    # Slots: thousands of idle sockets each hold one (no attribute dict per socket).
    __slots__ = (
        "_outcome",
        "_reading",
        "_task",
        "_timer",
        "after_seq",
        "auth",
        "bridge",
        "chat",
        "connection_id",
        "endpoint",
        "expires_at",
        "message_id",
        "receiver",
        "sender",
        "session_id",
        "user_id",
        "ws",
    )

    def __init__(
        self,
        ws: WebSocket,
        *,
        chat: Chat,
        bridge: Bridge,
        user_id: str,
        session_id: str,
        after_seq: int | None,
        queue_size: int,
        message_id: str | None = None,
        auth: Authenticator | None = None,
        expires_at: float | None = None,
    ) -> None:
        self.ws = ws
        self.chat = chat
        self.bridge = bridge
        self.user_id = user_id
        self.session_id = session_id
        self.after_seq = after_seq
        self.message_id = message_id  # set: an answer socket (llm-stream)
        self.connection_id = codec.new_id()
        self.auth = auth
        # When the token stops counting (its exp + leeway); an `auth` frame with a fresh one moves it.
        self.expires_at = expires_at
        self.endpoint = "llm-stream" if message_id else "session"
        self.sender = Sender(
            ws, queue_size=queue_size, message_id=message_id, after_seq=after_seq, end=self._end, log=self._log
        )
        self.receiver = Receiver(
            ws,
            chat=chat,
            user_id=user_id,
            session_id=session_id,
            message_id=message_id,
            connection_id=self.connection_id,
            auth=auth,
            control=self._control,
            renew=self._renew,
            log=self._log,
        )
        self._task: asyncio.Task | None = None  # the socket's own: it reads the client's frames
        self._outcome: tuple[int | None, str] | None = None  # (close code, reason) once decided
        self._reading = False
        self._timer: asyncio.TimerHandle | None = None  # the token's expiry

    def _log(self) -> structlog.stdlib.BoundLogger:
        """Bound when something is logged, not held by every idle socket."""
        return log.bind(
            session_id=self.session_id,
            connection_id=self.connection_id,
            user_id=self.user_id,
            message_id=self.message_id,
        )

    # -- called by the bridge (never awaits) ------------------------------------------------------

    def offer(self, item: Item) -> None:
        if self.message_id is not None and item.message_id != self.message_id and not item.ends_session:
            return
        self.sender.queue(item)

    def _control(self, frame: dict[str, Any]) -> None:
        """Queue a frame with no event behind it (pong, error): same queue, so sends never interleave."""
        self.sender.queue(Item(frames.to_bytes(frame), kind=frame["type"]))

    def _end(self, code: int | None, reason: str = "") -> None:
        """Decide how the socket closes (the first reason counts) and stop reading the client."""
        if self._outcome is not None:
            return
        self._outcome = (code, reason)
        self.sender.ended = True
        if self._reading and self._task is not None:
            self._task.cancel()

    # -- the socket's life ------------------------------------------------------------------------

    async def run(self) -> None:
        self._task = asyncio.current_task()
        self.bridge.register(self)  # before the replay starts: see the module docstring
        # No await from here to the reading: every offer from now on finds the sender running.
        self.sender.start(self._open)
        self._renew(self.expires_at)
        metrics.WS_OPENED.labels(self.endpoint).inc()
        metrics.WS_CONNECTIONS.labels(self.endpoint).inc()
        self._log().info("socket open", after_seq=self.after_seq)
        try:
            self._reading = True
            await self.receiver.run(stopped=lambda: self._outcome is not None)
        except asyncio.CancelledError:
            # Ours (_end) is taken back; one from outside (shutdown) goes on.
            if self._outcome is None or self._task.uncancel() > 0:
                raise
        else:
            self._end(None)  # the client left: nothing to close
        finally:
            self._reading = False
            if self._outcome is None:  # cancelled from outside: nothing more is sent
                self._outcome = (None, "")
                self.sender.ended = True
            self.bridge.unregister(self)
            metrics.WS_CONNECTIONS.labels(self.endpoint).dec()
            if self._timer is not None:
                self._timer.cancel()
            await self.sender.stop()
        code, reason = self._outcome or (None, "")
        if code is not None:
            await close(self.ws, code, reason)
        self._log().info("socket closed", code=code, reason=reason or None)

    def _renew(self, expires_at: float | None) -> None:
        """(Re)arm the token's expiry; a fresh token for the same user keeps the socket open past
        the old one's (never, for a token without one: auth off)."""
        self.expires_at = expires_at
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if expires_at is not None:
            left = max(0.0, expires_at - time.time())
            self._timer = asyncio.get_running_loop().call_later(left, self._end, CLOSE_UNAUTHORIZED, TOKEN_EXPIRED)

    async def _send_frame(self, frame: dict[str, Any]) -> None:
        await self.sender.send(Item(frames.to_bytes(frame), kind=frame["type"]))

    async def _open(self) -> int | None:
        """``connected``, the replay after ``after_seq`` and ``live``; a close code if one is due."""
        mid = self.message_id or ""
        last_seq = await self.chat.access.last_seq(self.session_id)
        await self._send_frame(
            frames.connected(self.session_id, self.connection_id, self.user_id, self.after_seq, last_seq, mid)
        )
        if self.after_seq is not None:
            # An after_seq past the session's newest event (a stale or foreign number) would drop
            # the session's next events as "already seen": there is nothing of this session
            # between its newest event and after_seq, so starting from the newest loses nothing.
            self.sender.last, code = await self._replay(min(self.after_seq, last_seq or 0))
            if code is not None:
                return code
        await self._send_frame(frames.live(self.session_id, self.sender.last, mid))
        return None

    async def _replay(self, after_seq: int) -> tuple[int, int | None]:
        """Send the stored events after ``after_seq``: (last seq sent, close code if one is due)."""
        started = asyncio.get_running_loop().time()
        last = after_seq
        count = 0
        # An answer socket needs only generation events: the replay skips the rest on the server.
        filter_subject = f"{subjects.ROOT}.{subjects.token(self.session_id)}.generation.*"
        events = replay.events_after(
            self.chat.js,
            self.session_id,
            after_seq,
            filter_subject=filter_subject if self.message_id else None,
            stop_at=self.sender.outbox.first_seq,
        )
        continuity = Continuity()
        try:
            # aclosing: leaving early (a close code) still deletes the replay's consumer now.
            async with aclosing(events):
                async for seq, event in events:
                    last = seq
                    if event is None or not continuity.admit(event):
                        continue
                    mid = frames.message_id_of(event)
                    if self.message_id is not None and mid != self.message_id:
                        continue
                    code = await self.sender.send(item_for(event, seq))
                    count += 1
                    if code is not None:
                        return last, code
        finally:
            metrics.REPLAYED.inc(count)
            metrics.REPLAY_SECONDS.observe(asyncio.get_running_loop().time() - started)
        return last, None
