"""Connecting to NATS and publishing events."""

from __future__ import annotations

import nats
from nats.aio.client import Client
from nats.aio.msg import Msg
from nats.js import JetStreamContext
from nats.js.api import PubAck

from events import codec, subjects
from events.schema import Event
from events.streams import StreamSettings
from services import credentials, logs
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


def sequences(msg: Msg) -> tuple[int, int]:
    """(stream, consumer) sequence of a delivered message, read from its ack subject
    ``$JS.ACK.<stream>.<consumer>.<delivered>.<stream seq>.<consumer seq>.<time>.<pending>``
    (nats-py's ``metadata`` also builds a datetime and three objects per message)."""
    tokens = msg.reply.split(".") if msg.reply else ()
    if len(tokens) == 9 and tokens[0] == "$JS" and tokens[1] == "ACK":
        return int(tokens[5]), int(tokens[6])
    meta = msg.metadata  # the longer form (with a domain and account): nats-py reads it
    return meta.sequence.stream, meta.sequence.consumer
