"""Prometheus metrics of one edge process (``GET /metrics``).

With several uvicorn workers (``PARLEY_EDGE_WORKERS`` > 1) ``main`` sets
``PROMETHEUS_MULTIPROC_DIR`` so that /metrics, whichever worker answers, sums all of them.
"""

from __future__ import annotations

import asyncio
import os

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
    multiprocess,
)

_LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)

WS_CONNECTIONS = Gauge(
    "parley_edge_ws_connections",
    "Open WebSocket connections.",
    ["endpoint"],
    multiprocess_mode="livesum",
)
WS_OPENED = Counter("parley_edge_ws_connections_opened", "WebSocket connections accepted.", ["endpoint"])
WS_CLOSED = Counter("parley_edge_ws_connections_closed", "WebSocket connections closed, by close code.", ["code"])
FRAMES_SENT = Counter("parley_edge_ws_frames_sent", "Frames sent to clients, by frame type.", ["type"])
FRAMES_RECEIVED = Counter("parley_edge_ws_frames_received", "Client frames received, by frame type.", ["type"])
FRAME_ERRORS = Counter("parley_edge_ws_frame_errors", "Client frames refused, by error code.", ["code"])
EVENTS = Counter("parley_edge_events", "Stored events the bridge received, by event type.", ["type"])
EVENT_DELIVERY = Histogram(
    "parley_edge_event_delivery_seconds",
    "From an event's occurred_at to its fan-out to this edge's sockets (one event in DELIVERY_SAMPLE).",
    buckets=_LATENCY_BUCKETS,
)
# Per event and per frame the labelled lookup and a histogram's observe cost more than decoding the
# event (measured: ~17 us for labels().inc(), ~30 us for observe(), ~6 us to decode a delta), so
# the children are kept per label and the delivery latency is sampled.
DELIVERY_SAMPLE = 8
REPLAYED = Counter("parley_edge_replayed_events", "Stored events replayed to resuming sockets.")
REPLAY_SECONDS = Histogram(
    "parley_edge_replay_seconds", "Time to replay a socket's missed events.", buckets=_LATENCY_BUCKETS
)
OVERFLOWS = Counter("parley_edge_ws_overflows", "Sockets closed because their send queue overflowed (4008).")
HEARTBEAT_MISSES = Counter("parley_edge_ws_heartbeat_misses", "Sockets closed because pongs stopped (4002).")
PUBLISH_SECONDS = Histogram(
    "parley_edge_publish_seconds", "JetStream publish round trip of a command's events.", buckets=_LATENCY_BUCKETS
)
HTTP_REQUESTS = Counter(
    "parley_edge_http_requests", "HTTP requests, by route and status.", ["method", "route", "status"]
)
HTTP_SECONDS = Histogram(
    "parley_edge_http_request_seconds", "HTTP request latency, by route.", ["method", "route"], buckets=_LATENCY_BUCKETS
)
ERRORS = Counter("parley_edge_errors", "Errors handled by the edge, by kind.", ["kind"])
DELTAS_HELD_BACK = Counter(
    "parley_edge_deltas_held_back", "Token deltas not passed on: after a hole in the stream, or repeated."
)


_children: dict[tuple[Counter, str], Counter] = {}
# Counted per event and per frame, added to the Counters at most FLUSH_S later and before every
# render: a plain dict increment, where Counter.inc takes a lock (~1 us, twice per token).
_pending: dict[tuple[Counter, str], int] = {}
_flush_on: asyncio.AbstractEventLoop | None = None  # the loop a flush is scheduled on
FLUSH_S = 1.0


def flush() -> None:
    """Add the counts kept since the last flush to their Counters."""
    global _flush_on
    _flush_on = None
    for key, n in _pending.items():
        child = _children.get(key)
        if child is None:
            child = _children[key] = key[0].labels(key[1])
        child.inc(n)
    _pending.clear()


def _count(counter: Counter, label: str) -> None:
    global _flush_on
    key = (counter, label)
    _pending[key] = _pending.get(key, 0) + 1
    try:
        loop = asyncio.get_running_loop()
    except RuntimeError:  # no event loop (a script, a test): count now
        flush()
        return
    if _flush_on is not loop:  # none scheduled, or on a loop that has gone (tests run several)
        _flush_on = loop
        loop.call_later(FLUSH_S, flush)


def count_event(kind: str) -> None:
    _count(EVENTS, kind)


def count_frame(kind: str) -> None:
    _count(FRAMES_SENT, kind)


def count_received(kind: str) -> None:
    _count(FRAMES_RECEIVED, kind)


def render() -> tuple[bytes, str]:
    """The exposition text and its content type."""
    flush()
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
        return generate_latest(registry), CONTENT_TYPE_LATEST
    from prometheus_client import REGISTRY

    return generate_latest(REGISTRY), CONTENT_TYPE_LATEST
