"""The waterfall per prompt (services/bench/spans.py): stages from spans, and the bench's own
OTLP/HTTP receiver fed by the real OpenTelemetry SDK exporter."""

from __future__ import annotations

import asyncio

from services.bench import spans
from services.bench.spans import Span

MS = 1_000_000


def trace(trace_id: str, at_ms: int, stages_ms: list[int]) -> list[Span]:
    """Consecutive spans of the given lengths from ``at_ms``, one per stage."""
    out, t = [], at_ms * MS
    for name, length in zip(spans.STAGES, stages_ms, strict=False):
        out.append(Span(trace_id, name, t, t + length * MS))
        t += length * MS
    return out


def test_stages_of_each_trace_and_their_medians():
    all_spans = trace("a", 1000, [2, 3, 10, 1, 50, 4, 2]) + trace("b", 2000, [4, 5, 20, 1, 50, 6, 2])
    all_spans += trace("c", 3000, [1, 1])  # unfinished: no frame sent yet
    all_spans += [Span("orphan", "answer.context", 0, MS)]  # no root: not a prompt we know
    rows = spans.stages(all_spans)
    assert set(rows) == {"a", "b", "c"}
    assert rows["a"]["answer.context"] == 10.0 and rows["a"]["total"] == 72.0 and rows["a"]["at"] == 1.0
    assert "total" not in rows["c"]
    found = spans.waterfall(spans.between(rows, 0.5, 2.5))
    assert found["prompts"] == 2 and found["complete"] == 2
    assert found["answer.context"]["p50"] == 10.0 and found["answer.context"]["p99"] == 20.0
    assert found["total"]["p50"] == 72.0


async def test_the_receiver_takes_what_the_sdk_exports():
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor

    async with spans.Receiver() as receiver:
        provider = TracerProvider()
        provider.add_span_processor(SimpleSpanProcessor(OTLPSpanExporter(endpoint=f"{receiver.url}/v1/traces")))
        tracer = provider.get_tracer("test")

        def emit() -> None:
            with tracer.start_as_current_span("prompt.store"):
                with tracer.start_as_current_span("prompt.queue"):
                    pass
            provider.shutdown()

        await asyncio.to_thread(emit)  # the exporter posts synchronously
    names = sorted(s.name for s in receiver.spans)
    assert names == ["prompt.queue", "prompt.store"] and receiver.errors == []
    assert len({s.trace_id for s in receiver.spans}) == 1
