"""Connecting to NATS and publishing events."""

from __future__ import annotations

import asyncio
import json

import nats
from nats.aio.client import Client
from nats.aio.msg import Msg
from nats.js import JetStreamContext
from nats.js.api import PubAck
from nats.js.errors import APIError, NoStreamResponseError

from events import codec, subjects
from events.schema import Event
from events.streams import StreamSettings
from services import credentials, inline, logs
from services.errors import StartupError
from services.settings import Settings


def stream_settings(settings: Settings) -> StreamSettings:
    return StreamSettings(
        replicas=settings.stream_replicas,
        duplicate_window_s=settings.duplicate_window_s,
        max_age_s=settings.stream_max_age_s,
        max_bytes=settings.stream_max_bytes,
    )


def _callbacks(name: str) -> tuple[dict, dict]:
    """One log line per outage and per recovery, instead of nats-py's traceback per reconnect try."""
    log = logs.get("bus").bind(connection=name)
    state: dict = {"down": False, "client": None}

    async def error_cb(exc: Exception) -> None:
        if not state["down"]:
            log.warning("nats error", error=str(exc) or type(exc).__name__)

    async def disconnected_cb() -> None:
        client = state["client"]
        if client is not None and client.is_closed:  # our own close(), not an outage
            return
        if not state["down"]:
            state["down"] = True
            log.warning("nats disconnected; reconnecting")

    async def reconnected_cb() -> None:
        state["down"] = False
        log.info("nats reconnected")

    return state, {"error_cb": error_cb, "disconnected_cb": disconnected_cb, "reconnected_cb": reconnected_cb}


async def connect(url: str, name: str, *, connect_timeout: float = 5.0) -> Client:
    """Connect with reconnects on (forever), so a NATS restart is survived, not fatal."""
    state, callbacks = _callbacks(name)
    try:
        state["client"] = await nats.connect(
            servers=[u.strip() for u in url.split(",")],
            name=name,
            connect_timeout=connect_timeout,
            max_reconnect_attempts=-1,
            reconnect_time_wait=0.5,
            allow_reconnect=True,
            pending_size=64 * 1024 * 1024,
            **callbacks,
        )
        return state["client"]
    except Exception as exc:  # nats-py raises several unrelated types for "cannot connect"
        raise StartupError(f"cannot connect to NATS at {credentials.redact(url)}: {exc or type(exc).__name__}") from exc


async def publish(
    js: JetStreamContext, event: Event, *, ack_timeout: float = 5.0, headers: dict[str, str] | None = None
) -> PubAck:
    """Store one event and wait for its ack (the event id is JetStream's dedup id); ``headers``
    are added to the event's own (a prompt's trace context). No ``Nats-Expected-Stream`` header:
    the subjects belong to one stream, and every stored header costs bytes forever."""
    own = codec.headers(event)
    if headers:
        own = (own or {}) | headers
    return await js.publish(
        subjects.for_event(event),
        codec.encode(event),
        timeout=ack_timeout,
        headers=own,
    )


def ack_tokens(reply: str | None) -> list[str] | None:
    """The parts of a delivered message's ack subject in its short form, ``$JS.ACK.<stream>.
    <consumer>.<delivered>.<stream seq>.<consumer seq>.<stored ns>.<pending>``; None for another
    form (with a domain and account) or no reply. Read per message instead of nats-py's
    ``metadata``, which also builds a datetime and several objects."""
    tokens = reply.split(".") if reply else ()
    if len(tokens) == 9 and tokens[0] == "$JS" and tokens[1] == "ACK":
        return tokens
    return None


def sequences(msg: Msg) -> tuple[int, int]:
    """(stream, consumer) sequence of a delivered message."""
    tokens = ack_tokens(msg.reply)
    if tokens is not None:
        return int(tokens[5]), int(tokens[6])
    meta = msg.metadata  # the longer form: nats-py reads it
    return meta.sequence.stream, meta.sequence.consumer


def delivery(msg: Msg) -> tuple[int, int, int]:
    """(stream sequence, deliveries, messages pending after it) of a delivered message."""
    tokens = ack_tokens(msg.reply)
    if tokens is not None:
        return int(tokens[5]), int(tokens[4]), int(tokens[8])
    meta = msg.metadata  # the longer form: nats-py reads it
    return meta.sequence.stream, meta.num_delivered, meta.num_pending


class Pipeline:
    """Pipelined JetStream publishes of one process: ``publish`` hands back the future of the
    event's ack without waiting for it (``None`` once stored; an exception if JetStream refused
    it). Acks come to one inbox subscription of our own, read without parsing a successful one:
    nats-py's ``publish_async`` never resolves a publish JetStream refuses (``APIError.from_error``
    raises inside its reply handler), so a full stream cost the whole ack timeout; it also drew
    random bytes (a syscall) for every reply subject and parsed every ack into a dataclass.
    """

    def __init__(self, nc: Client) -> None:
        self.nc = nc
        self.prefix = f"{nc.new_inbox()}."
        self.acks: dict[str, asyncio.Future] = {}  # reply token -> the ack's future
        self._count = 0
        self._sub: asyncio.Future | None = None

    async def _subscribe(self) -> None:
        sub = await self.nc.subscribe(f"{self.prefix}*", cb=self._ack_queued)
        # Acks are handled as nats-py parses them: one per event published, and none awaits.
        inline.handle_inline(sub, self._ack)

    async def publish(self, subject: str, data: bytes, headers: dict[str, str] | None = None) -> asyncio.Future:
        if self._sub is None:  # once: the ack inbox (a future, so concurrent first publishes share it)
            self._sub = asyncio.ensure_future(self._subscribe())
        if not self._sub.done():
            await asyncio.shield(self._sub)
        self._count += 1
        token = str(self._count)
        future = asyncio.get_running_loop().create_future()
        self.acks[token] = future
        try:
            await self.nc.publish(subject, data, reply=self.prefix + token, headers=headers)
        except BaseException:
            del self.acks[token]
            raise
        return future

    async def _ack_queued(self, msg: Msg) -> None:
        self._ack(msg)  # only until handle_inline takes over (or if it cannot)

    def _ack(self, msg: Msg) -> None:
        future = self.acks.pop(msg.subject[len(self.prefix) :], None)
        if future is None or future.done():
            return  # given up on, or a late answer from before a reconnect
        if msg.headers and msg.headers.get("Status") == "503":
            future.set_exception(NoStreamResponseError())
        elif b'"error"' in msg.data:
            try:
                APIError.from_error(json.loads(msg.data)["error"])  # raises the error's own type
            except APIError as exc:
                future.set_exception(exc)
            except (ValueError, KeyError, TypeError) as exc:
                future.set_exception(APIError(description=f"unreadable ack {msg.data[:200]!r}: {exc}"))
        else:
            future.set_result(None)

    def forget(self) -> None:
        """Drop the futures of acks that will never come (given up on after a lost connection)."""
        self.acks = {token: f for token, f in self.acks.items() if not f.done()}
