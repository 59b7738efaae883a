"""Connecting to NATS and publishing events."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

import nats
from nats.aio.client import Client
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


async def publish_in_order(
    js: JetStreamContext, events: Sequence[tuple[Event, dict[str, str] | None]], *, ack_timeout: float = 5.0
) -> list[PubAck]:
    """Store events in order in one round trip: a ``publish`` per event, all started at once.
    asyncio runs the tasks in the order they were made and each queues its PUB before its first
    real wait, so every PUB is queued before nats-py's flusher runs: they leave in one socket
    write, in order, and a lost connection loses a suffix of them, never an earlier one alone.
    The acks in order, or the first failure. (Not nats-py's ``publish_async``: it never resolves
    a publish that JetStream refuses, so a full stream would wait out the ack timeout.)"""
    tasks = [asyncio.ensure_future(publish(js, event, ack_timeout=ack_timeout, headers=h)) for event, h in events]
    try:
        return list(await asyncio.gather(*tasks))
    finally:
        for task in tasks:
            task.cancel()  # after a failure: the others' acks are no longer awaited
