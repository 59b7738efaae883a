"""The scripted server's HTTP side: a Starlette app speaking the OpenAI chat API over real SSE.

Streams are raw ASGI so the server notices a client leaving at once (it listens for
``http.disconnect`` while it sends), which is what the cancellation tests measure.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import time
from collections import Counter
from collections.abc import AsyncIterator
from typing import Any

import msgspec
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from starlette.types import Receive, Scope, Send

from services.scripted_llm import script as scripting
from services.scripted_llm.errors import ScriptError
from services.scripted_llm.script import Script

# Headers a test may want to assert (attribution, auth); everything else is noise in a record.
_RECORDED_HEADERS = ("authorization", "http-referer", "x-title", "user-agent", "content-type")


class Record(msgspec.Struct, kw_only=True):
    """What happened to one request. Times are unix seconds (``time.time()``)."""

    id: int
    received_at: float
    path: str
    messages: list[Any] = msgspec.field(default_factory=list)
    model: str | None = None
    stream: bool = False
    params: dict[str, Any] = msgspec.field(default_factory=dict)
    headers: dict[str, str] = msgspec.field(default_factory=dict)
    status: int = 200
    # completed | failed_mid_stream | dropped | status | hang | disconnected | bad_request | in_progress
    outcome: str = "in_progress"
    error: str | None = None
    tokens_sent: int = 0
    token_times: list[float] = msgspec.field(default_factory=list)
    first_token_at: float | None = None
    finished_at: float | None = None
    disconnected_at: float | None = None  # the client closed the connection before the end


class State:
    def __init__(self, defaults: Script) -> None:
        self.initial = defaults
        self.script = defaults
        self.records: list[Record] = []
        self.status_counts: Counter[tuple[int, str]] = Counter()
        self._ids = itertools.count(1)

    def new_record(self, request: Request) -> Record:
        record = Record(
            id=next(self._ids),
            received_at=time.time(),
            path=request.url.path,
            headers={k: v for k in _RECORDED_HEADERS if (v := request.headers.get(k)) is not None},
        )
        self.records.append(record)
        return record


def _error(status: int, message: str, kind: str = "invalid_request_error") -> JSONResponse:
    return JSONResponse({"error": {"message": message, "type": kind, "code": status}}, status_code=status)


def _sse(payload: dict[str, Any] | str) -> bytes:
    data = payload if isinstance(payload, str) else json.dumps(payload, ensure_ascii=False)
    return f"data: {data}\n\n".encode()


class Dropped(Exception):
    """Raised mid-response so uvicorn closes the connection without ending the body."""


class Answer(Response):
    """One scripted completion, streamed (SSE) or whole, watching for the client leaving."""

    def __init__(self, record: Record, script: Script, tokens: list[str], finish: str, body: dict[str, Any]) -> None:
        super().__init__()
        self.record, self.script, self.tokens, self.finish = record, script, tokens, finish
        self.model = body.get("model") or script.model
        self.include_usage = bool((body.get("stream_options") or {}).get("include_usage"))
        self.prompt_tokens = scripting.count_words(record.messages)
        self.cid = f"chatcmpl-scripted-{record.id}"
        self.created = int(time.time())

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        work = asyncio.create_task(self._stream(send) if self.record.stream else self._whole(send))
        watch = asyncio.create_task(self._watch(receive))
        done, _ = await asyncio.wait({work, watch}, return_when=asyncio.FIRST_COMPLETED)
        if work not in done:  # the client left first
            self.record.disconnected_at = watch.result()
            if self.record.outcome in ("in_progress", "hang"):
                self.record.outcome = "disconnected" if self.record.outcome == "in_progress" else "hang"
            work.cancel()
        else:
            watch.cancel()
        await asyncio.gather(work, watch, return_exceptions=True)
        if work.done() and not work.cancelled() and isinstance(work.exception(), Dropped):
            raise work.exception()  # type: ignore[misc]

    async def _watch(self, receive: Receive) -> float:
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return time.time()

    async def _pace(self, start: float, i: int) -> None:
        due = start + self.script.first_token_delay_ms / 1000 + (i / self.script.rate if self.script.rate else 0)
        delay = due - asyncio.get_running_loop().time()
        await asyncio.sleep(max(0.0, delay))

    def _chunk(self, delta: dict[str, Any], finish: str | None = None) -> dict[str, Any]:
        return {
            "id": self.cid,
            "object": "chat.completion.chunk",
            "created": self.created,
            "model": self.model,
            "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
        }

    def _usage(self) -> dict[str, int]:
        return {
            "prompt_tokens": self.prompt_tokens,
            "completion_tokens": self.record.tokens_sent,
            "total_tokens": self.prompt_tokens + self.record.tokens_sent,
        }

    async def _paced(self) -> AsyncIterator[tuple[int, str]]:
        """Each token when it is due; stops at a scripted failure, raises at a scripted drop.
        Reasoning tokens (streamed mode) come first, paced the same, and count as no answer token."""
        start = asyncio.get_running_loop().time()
        thinking = scripting.split(self.script.reasoning or "") if self.record.stream else []
        for j, token in enumerate(thinking):
            await self._pace(start, j)
            yield -1, token
        start += len(thinking) / self.script.rate if self.script.rate else 0
        for i, token in enumerate(self.tokens):
            if self.script.fail_after is not None and i >= self.script.fail_after:
                return
            if self.script.drop_after is not None and i >= self.script.drop_after:
                self.record.outcome, self.record.finished_at = "dropped", time.time()
                raise Dropped(f"scripted drop after {i} tokens")
            await self._pace(start, i)
            yield i, token

    def _sent(self) -> None:
        now = time.time()
        self.record.tokens_sent += 1
        self.record.token_times.append(now)
        if self.record.first_token_at is None:
            self.record.first_token_at = now

    async def _stream(self, send: Send) -> None:
        record, script = self.record, self.script
        headers = [(b"content-type", b"text/event-stream; charset=utf-8"), (b"cache-control", b"no-cache")]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        if script.hang:
            record.outcome = "hang"
            await asyncio.Event().wait()  # until the client leaves (the watcher cancels us)
        opened = False
        async for i, token in self._paced():
            body = b"" if opened else _sse(self._chunk({"role": "assistant", "content": ""}))
            opened = True
            delta = {script.reasoning_field: token} if i < 0 else {"content": token}
            await send({"type": "http.response.body", "body": body + _sse(self._chunk(delta)), "more_body": True})
            if i >= 0:
                self._sent()
        if script.fail_after is not None and script.fail_after <= len(self.tokens):
            error = {
                "message": f"scripted failure after {record.tokens_sent} tokens",
                "type": "server_error",
                "code": 500,
            }
            await send({"type": "http.response.body", "body": _sse({"error": error}), "more_body": False})
            record.outcome, record.error, record.finished_at = "failed_mid_stream", error["message"], time.time()
            return
        if script.drop_after is not None and script.drop_after <= len(self.tokens):
            record.outcome, record.finished_at = "dropped", time.time()
            raise Dropped(f"scripted drop after {record.tokens_sent} tokens")
        tail = _sse(self._chunk({}, self.finish))
        if self.include_usage and script.usage:
            tail += _sse({**self._chunk({}), "choices": [], "usage": self._usage()})
        await send({"type": "http.response.body", "body": tail + _sse("[DONE]"), "more_body": False})
        record.outcome, record.finished_at = "completed", time.time()

    async def _whole(self, send: Send) -> None:
        record, script = self.record, self.script
        if script.hang:
            record.outcome = "hang"
            await asyncio.Event().wait()
        async for _ in self._paced():
            self._sent()
        if script.fail_after is not None and script.fail_after <= len(self.tokens):
            record.status, record.outcome, record.finished_at = 500, "failed_mid_stream", time.time()
            record.error = f"scripted failure after {record.tokens_sent} tokens"
            response: Response = _error(500, record.error, "server_error")
        else:
            content = "".join(self.tokens)
            payload: dict[str, Any] = {
                "id": self.cid,
                "object": "chat.completion",
                "created": self.created,
                "model": self.model,
                "choices": [
                    {"index": 0, "message": {"role": "assistant", "content": content}, "finish_reason": self.finish}
                ],
            }
            if script.usage:
                payload["usage"] = self._usage()
            response = JSONResponse(payload)
            record.outcome, record.finished_at = "completed", time.time()
        headers = [(k.encode("latin-1"), v.encode("latin-1")) for k, v in response.headers.items()]
        await send({"type": "http.response.start", "status": response.status_code, "headers": headers})
        await send({"type": "http.response.body", "body": response.body, "more_body": False})


def _scripted_status(state: State, record: Record, script: Script, messages: list[Any]) -> Response | None:
    if script.status is None:
        return None
    key = (script.status, scripting.last_user_text(messages))
    state.status_counts[key] += 1
    if script.status_times is not None and state.status_counts[key] > script.status_times:
        return None
    record.status, record.outcome, record.finished_at = script.status, "status", time.time()
    record.error = f"scripted status {script.status}"
    kind = "rate_limit_error" if script.status == 429 else "server_error"
    return _error(script.status, record.error, kind)


def build(defaults: Script | None = None) -> Starlette:
    state = State(defaults or Script())

    async def health(request: Request) -> Response:
        return JSONResponse({"ok": True})

    async def models(request: Request) -> Response:
        script = state.script
        if script.status is not None and script.status_times is None:  # a server scripted down is down
            return _error(script.status, f"scripted status {script.status}", "server_error")
        entry: dict[str, Any] = {"id": script.model, "object": "model", "owned_by": "scripted"}
        if script.context_window is not None:
            entry["context_length"] = script.context_window
        return JSONResponse({"object": "list", "data": [entry]})

    async def tokenize(request: Request) -> Response:
        """llama.cpp's tokenizer endpoint; here a token is a whitespace-separated word."""
        try:
            content = json.loads(await request.body())["content"]
        except (ValueError, KeyError, TypeError):
            return _error(400, '/tokenize wants {"content": text}')
        return JSONResponse({"tokens": list(range(len(scripting.split(str(content)))))})

    async def completions(request: Request) -> Response:
        record = state.new_record(request)
        try:
            body = json.loads(await request.body())
        except ValueError as exc:
            return _bad(record, f"request body is not JSON: {exc}")
        if not isinstance(body, dict) or not isinstance(body.get("messages"), list) or not body["messages"]:
            return _bad(record, "request body must be a JSON object with a non-empty `messages` list")
        record.messages, record.model, record.stream = body["messages"], body.get("model"), bool(body.get("stream"))
        record.params = {k: body[k] for k in ("temperature", "top_p", "max_tokens", "stream_options") if k in body}
        try:
            script = scripting.for_request(state.script, body["messages"])
        except ScriptError as exc:
            return _bad(record, str(exc))
        if (failed := _scripted_status(state, record, script, body["messages"])) is not None:
            return failed
        max_tokens = body.get("max_tokens", body.get("max_completion_tokens"))
        if max_tokens is not None and (not isinstance(max_tokens, int) or max_tokens < 1):
            return _bad(record, f"max_tokens must be a positive integer, got {max_tokens!r}")
        tokens, finish = scripting.plan(script, body["messages"], max_tokens)
        return Answer(record, script, tokens, finish, body)

    def _bad(record: Record, message: str) -> Response:
        record.status, record.outcome, record.error, record.finished_at = 400, "bad_request", message, time.time()
        return _error(400, message)

    async def get_script(request: Request) -> Response:
        return Response(msgspec.json.encode(state.script), media_type="application/json")

    async def set_script(request: Request) -> Response:
        try:
            state.script = scripting.updated(state.script, json.loads(await request.body() or b"{}"))
        except ValueError as exc:  # ScriptError is not a ValueError; json errors are
            return _error(400, f"/_script body is not JSON: {exc}")
        except ScriptError as exc:
            return _error(400, str(exc))
        return Response(msgspec.json.encode(state.script), media_type="application/json")

    async def reset_script(request: Request) -> Response:
        state.script = state.initial
        state.status_counts.clear()
        return Response(msgspec.json.encode(state.script), media_type="application/json")

    async def get_record(request: Request) -> Response:
        return Response(msgspec.json.encode(state.records), media_type="application/json")

    async def clear_record(request: Request) -> Response:
        state.records.clear()
        state.status_counts.clear()
        return JSONResponse({"cleared": True})

    app = Starlette(
        routes=[
            Route("/_health", health),
            Route("/v1/models", models),
            Route("/v1/chat/completions", completions, methods=["POST"]),
            Route("/tokenize", tokenize, methods=["POST"]),
            Route("/_script", get_script, methods=["GET"]),
            Route("/_script", set_script, methods=["POST"]),
            Route("/_script", reset_script, methods=["DELETE"]),
            Route("/_record", get_record, methods=["GET"]),
            Route("/_record", clear_record, methods=["DELETE"]),
        ]
    )
    app.state.scripted = state
    return app
