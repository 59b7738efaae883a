"""The waterfall per prompt, as an operator's collector would see it: the bench runs its own
OTLP/HTTP receiver (``POST /v1/traces``, protobuf), the services export their spans to it
(``PARLEY_OTEL_ENDPOINT``), and each trace becomes one prompt's stages (services/tracing.py).

``Receiver`` is the I/O (uvicorn + Starlette in the bench's own event loop; the request bodies
are decoded with ``opentelemetry-proto``); ``stages`` and ``waterfall`` are pure.
"""

from __future__ import annotations

import asyncio
import contextlib
import gzip
from dataclasses import dataclass
from typing import Any

import uvicorn
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from services.bench import stats
from services.embedded import free_port
from services.tracing import STAGES

ROOT = STAGES[0]


@dataclass(frozen=True, slots=True)
class Span:
    trace_id: str
    name: str
    start_ns: int
    end_ns: int


def decode(body: bytes) -> list[Span]:
    request = ExportTraceServiceRequest()
    request.ParseFromString(body)
    return [
        Span(span.trace_id.hex(), span.name, span.start_time_unix_nano, span.end_time_unix_nano)
        for resource in request.resource_spans
        for scope in resource.scope_spans
        for span in scope.spans
    ]


def stages(spans: list[Span]) -> dict[str, dict[str, float]]:
    """Per trace with a root: ``at`` (root start, unix seconds) and each stage's milliseconds
    (the first span of a name counts: a retried stage is timed from its first try)."""
    traces: dict[str, dict[str, Span]] = {}
    for span in spans:
        traces.setdefault(span.trace_id, {}).setdefault(span.name, span)
    out = {}
    for trace_id, named in traces.items():
        root = named.get(ROOT)
        if root is None:
            continue
        row = {"at": root.start_ns / 1e9}
        for name in STAGES:
            if name in named:
                row[name] = (named[name].end_ns - named[name].start_ns) / 1e6
        if "frame.deliver" in named:  # command received -> first frame of the answer on a socket
            row["total"] = (named["frame.deliver"].end_ns - root.start_ns) / 1e6
        out[trace_id] = row
    return out


def waterfall(rows: list[dict[str, float]]) -> dict[str, Any]:
    """Median and p99 of each stage over some prompts (``stages`` rows), in milliseconds."""
    out: dict[str, Any] = {"prompts": len(rows), "complete": sum(1 for r in rows if "total" in r)}
    for name in (*STAGES, "total"):
        out[name] = stats.summary([r[name] for r in rows if name in r], scale=1.0)
    return out


def between(rows: dict[str, dict[str, float]], start: float, end: float) -> list[dict[str, float]]:
    """The prompts whose trace began in ``[start, end)`` (unix seconds)."""
    return [row for row in rows.values() if start <= row["at"] < end]


class _QuietServer(uvicorn.Server):
    # In the bench's own process: Ctrl-C is the bench's.
    @contextlib.contextmanager
    def capture_signals(self):
        yield


class Receiver:
    """``async with Receiver() as r:`` an OTLP/HTTP endpoint at ``r.url``; spans in ``r.spans``."""

    def __init__(self) -> None:
        self.port = free_port()
        self.spans: list[Span] = []
        self.errors: list[str] = []
        self._server: uvicorn.Server | None = None
        self._task: asyncio.Task | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def _traces(self, request: Request) -> Response:
        body = await request.body()
        if request.headers.get("content-encoding") == "gzip":
            body = gzip.decompress(body)
        try:
            self.spans += decode(body)
        except Exception as exc:  # a bad body is reported with the results, not fatal
            self.errors.append(f"{type(exc).__name__}: {exc}")
            return Response(status_code=400)
        return Response(
            ExportTraceServiceResponse().SerializeToString(), media_type="application/x-protobuf", status_code=200
        )

    async def __aenter__(self) -> Receiver:
        app = Starlette(routes=[Route("/v1/traces", self._traces, methods=["POST"])])
        config = uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="warning", lifespan="off")
        self._server = _QuietServer(config)
        self._task = asyncio.create_task(self._server.serve())
        while not self._server.started:
            if self._task.done():
                self._task.result()
            await asyncio.sleep(0.05)
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._server is not None:
            self._server.should_exit = True
        if self._task is not None:
            await asyncio.gather(self._task, return_exceptions=True)
