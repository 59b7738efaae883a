"""Where one prompt's time goes, as OpenTelemetry spans: the waterfall of issue 10.

    stored → taken by a worker → context ready → request sent → first provider token
           → first chunk stored → first frame sent

One trace per prompt. The edge starts it while storing the prompt and puts the W3C
``traceparent`` in the prompt event's NATS headers; only prompt events carry it, never chunks.
Generation and the edge's bridge continue the trace from those headers. Each stage is one span
from the previous point to the next:

| span                   | process    | from → to                                          |
| ---------------------- | ---------- | -------------------------------------------------- |
| ``prompt.store``       | edge       | command received → prompt stored (the trace root)  |
| ``prompt.queue``       | generation | stored (JetStream's timestamp) → taken by a worker |
| ``answer.context``     | generation | taken → the session's context is loaded            |
| ``answer.start``       | generation | context ready → request sent to the provider       |
| ``provider.first_token`` | generation | request sent → first token received              |
| ``chunk.store``        | generation | first token → its chunk acknowledged by JetStream  |
| ``frame.deliver``      | edge       | first chunk stored → its frame written to a socket |

Off unless ``PARLEY_OTEL_ENDPOINT`` is set (OTLP over HTTP, e.g. ``http://collector:4318``);
``PARLEY_TRACE_SAMPLE`` is the share of prompts traced. Off, every call below is one check of a
module flag or a context variable: nothing on the token path pays for it.
"""

from __future__ import annotations

import contextvars
import time
from collections import OrderedDict
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from opentelemetry import propagate, trace
from opentelemetry.context import Context

from events.schema import GenerationChunk, GenerationRequested
from services.settings import Settings

TRACEPARENT = "traceparent"
STAGES = (
    "prompt.store",
    "prompt.queue",
    "answer.context",
    "answer.start",
    "provider.first_token",
    "chunk.store",
    "frame.deliver",
)
_REMEMBER = 10_000  # prompts the edge keeps a trace for until their first chunk (bounded)

_tracer: trace.Tracer | None = None
_provider: Any = None


def setup(settings: Settings, service: str) -> bool:
    """Export spans when an endpoint is configured; True if tracing is on."""
    global _tracer, _provider
    if not settings.otel_endpoint:
        return False
    # Imported here: a process with tracing off never loads the SDK and exporter.
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor
    from opentelemetry.sdk.trace.sampling import ParentBased, TraceIdRatioBased

    _provider = TracerProvider(
        resource=Resource.create({"service.name": f"parley-{service}"}),
        sampler=ParentBased(TraceIdRatioBased(settings.trace_sample)),
    )
    endpoint = settings.otel_endpoint.rstrip("/") + "/v1/traces"
    _provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter(endpoint=endpoint)))
    _tracer = _provider.get_tracer("parley")
    return True


def shutdown() -> None:
    """Send what is buffered (the SDK also does this at exit)."""
    if _provider is not None:
        _provider.shutdown()


def _ns(at: datetime | float) -> int:
    return int((at.timestamp() if isinstance(at, datetime) else at) * 1e9)


def _span(name: str, parent: Context, start_ns: int, end_ns: int | None = None, **attributes: Any) -> None:
    assert _tracer is not None
    span = _tracer.start_span(name, context=parent, start_time=start_ns, attributes=attributes or None)
    span.end(end_time=end_ns or time.time_ns())


# -- edge: storing a prompt ---------------------------------------------------------------------


class Prompt:
    """The root span while the edge stores a prompt: ``headers`` go on the prompt event."""

    __slots__ = ("headers", "span")

    def __init__(self, span: Any = None, headers: dict[str, str] | None = None) -> None:
        self.span, self.headers = span, headers

    def stored(self) -> None:
        if self.span is not None:
            self.span.end()


_UNTRACED = Prompt()


def prompt(session_id: str, message_id: str) -> Prompt:
    """Start a prompt's trace (if on and sampled); ``.headers`` is None when not traced."""
    if _tracer is None:
        return _UNTRACED
    span = _tracer.start_span("prompt.store", attributes={"session_id": session_id, "message_id": message_id})
    if not span.is_recording():
        return _UNTRACED
    headers: dict[str, str] = {}
    propagate.inject(headers, context=trace.set_span_in_context(span))
    return Prompt(span, headers)


# -- generation: one answer ---------------------------------------------------------------------


@dataclass(slots=True)
class _Answer:
    parent: Context
    last_ns: int
    chunk_seen: bool = False


_answer: contextvars.ContextVar[_Answer | None] = contextvars.ContextVar("parley_trace_answer", default=None)


def taken(headers: dict[str, str] | None, stored_at: datetime | None) -> None:
    """A worker took a prompt: its trace (if the prompt carries one) follows this task."""
    if _tracer is None:
        return
    if not headers or TRACEPARENT not in headers:
        _answer.set(None)
        return
    parent = propagate.extract(headers)
    now = time.time_ns()
    if stored_at is not None:
        _span("prompt.queue", parent, _ns(stored_at), now)
    _answer.set(_Answer(parent, now))


def step(name: str) -> None:
    """The span from the previous point of this answer's trace to now (no trace: nothing)."""
    current = _answer.get()
    if current is None:
        return
    now = time.time_ns()
    _span(name, current.parent, current.last_ns, now)
    current.last_ns = now


def first_token() -> None:
    step("provider.first_token")


def chunk_published(index: int, ack: Any) -> None:
    """The first chunk's ack ends ``chunk.store`` (``ack``: the publish's future)."""
    current = _answer.get()
    if current is None or index != 0 or current.chunk_seen:
        return
    current.chunk_seen = True
    started = current.last_ns
    ack.add_done_callback(lambda _: _span("chunk.store", current.parent, started))


# -- edge: the first frame of an answer ---------------------------------------------------------

_waiting: OrderedDict[str, Context] = OrderedDict()  # answer id -> its prompt's trace
_armed: dict[int, tuple[Context, int]] = {}  # stream seq of a first chunk -> (trace, stored ns)


def bridged(event: Any, seq: int, msg: Any) -> None:
    """The edge's bridge received a stored event (``msg``: the JetStream message)."""
    if _tracer is None:
        return
    if isinstance(event, GenerationRequested):
        prompt_seen(event.message_id, msg.headers)
    elif isinstance(event, GenerationChunk) and event.index == 0 and event.message_id in _waiting:
        # Only then the stored time: nats-py parses a message's metadata into four objects.
        chunk_seen(event.message_id, event.index, seq, msg.metadata.timestamp)


def prompt_seen(answer_id: str, headers: dict[str, str] | None) -> None:
    """The bridge saw a prompt event: remember its trace until the answer's first chunk."""
    if _tracer is None or not headers or TRACEPARENT not in headers:
        return
    _waiting[answer_id] = propagate.extract(headers)
    if len(_waiting) > _REMEMBER:
        _waiting.popitem(last=False)


def chunk_seen(answer_id: str, index: int, seq: int, stored_at: datetime | None) -> None:
    """The bridge saw a chunk; the first of a traced answer is timed until a socket sends it."""
    if not _waiting or index != 0:
        return
    parent = _waiting.pop(answer_id, None)
    if parent is None:
        return
    _armed[seq] = (parent, _ns(stored_at) if stored_at is not None else time.time_ns())
    if len(_armed) > _REMEMBER:  # first chunks no socket ever sent
        _armed.pop(next(iter(_armed)))


def frame_sent(seq: int | None) -> None:
    """A socket wrote the frame of stream event ``seq``."""
    if not _armed or seq is None:
        return
    found = _armed.pop(seq, None)
    if found is not None:
        _span("frame.deliver", found[0], found[1])
