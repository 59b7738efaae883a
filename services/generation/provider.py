"""One LLM provider: an OpenAI-compatible endpoint, its streamed answers and its health.

The streamed answer goes through aiohttp (its C HTTP parser and a connection pool that takes
and returns a connection in O(1)); the rare calls (models, health, the tokenizer's) through
httpx. Measured per streamed event on this machine (one process, 50-200 streams): httpx +
httpx-sse 93-163 µs, aiohttp 35-50 µs; and httpcore's pool walks all its connections, for
each idle one, on every request and every response's end (O(n²) once connections are
reused), while httpx-sse's early return on ``[DONE]`` left each connection unfinished, so
every answer had reconnected.

Before the first token, connect errors, 429 and 5xx are retried with exponential backoff
(``PARLEY_PROVIDER_RETRIES``); after it, a failure is raised as is (the caller keeps the partial
text). Reading the wire (chunks, error statuses) is ``completions``'.
"""

from __future__ import annotations

import asyncio
import random
import ssl
import time
import urllib.parse
import urllib.request
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import certifi
import httpx
import msgspec

from services import logs
from services.generation import completions, sse
from services.generation.completions import Delta, Done
from services.generation.errors import (
    ProviderError,
    ProviderFailure,
    ProviderTimeout,
    ProviderUnavailable,
)

log = logs.get("generation.providers")

RETRY_BASE_S = 0.25
RETRY_MAX_S = 8.0


class Health(msgspec.Struct, kw_only=True):
    provider: str
    base_url: str
    ok: bool | None = None  # None: never checked
    latency_ms: float | None = None
    error: str | None = None  # of the latest check
    checked_at: float | None = None  # unix seconds
    last_error: str | None = None  # the latest failure, from a check or an answer
    last_error_at: float | None = None
    default_model: str = ""


def _proxy(url: str) -> str | None:
    """The proxy the environment names for ``url`` (HTTPS_PROXY / HTTP_PROXY, NO_PROXY), as httpx
    reads them. Read once: aiohttp's ``trust_env`` reads them and ~/.netrc in a thread per request."""
    host = urllib.parse.urlsplit(url).hostname or ""
    if urllib.request.proxy_bypass(host):
        return None
    return urllib.request.getproxies().get(urllib.parse.urlsplit(url).scheme)


class Provider:
    """One OpenAI-compatible endpoint. ``stream`` yields ``Delta``s then one ``Done``."""

    def __init__(
        self,
        name: str,
        base_url: str,
        default_model: str,
        *,
        api_key: str | None = None,
        headers: dict[str, str] | None = None,
        connect_timeout_s: float = 5.0,
        request_timeout_s: float = 60.0,
        retries: int = 2,
        retry_base_s: float = RETRY_BASE_S,
        transport: httpx.AsyncBaseTransport | None = None,  # of the httpx client (tests)
    ) -> None:
        self.name, self.base_url, self.default_model = name, base_url.rstrip("/"), default_model
        self.retries, self.retry_base_s = retries, retry_base_s
        sent = dict(headers or {})
        if api_key:
            sent["Authorization"] = f"Bearer {api_key}"
        self.headers = sent
        # read timeout = longest wait for the next token (or the response's headers)
        self.timeout = aiohttp.ClientTimeout(total=None, sock_connect=connect_timeout_s, sock_read=request_timeout_s)
        self.read_timeout_s = request_timeout_s
        self.client = httpx.AsyncClient(  # models, health, tokenizer: a few calls, not the answers
            base_url=self.base_url,
            headers=sent,
            timeout=httpx.Timeout(request_timeout_s, connect=connect_timeout_s),
            transport=transport,
        )
        self._session: aiohttp.ClientSession | None = None  # made in the loop, at the first answer
        self._proxy = _proxy(self.base_url)
        self._health = Health(provider=name, base_url=self.base_url, default_model=default_model)
        self.models: list[str] = []  # from the latest successful health check

    def _answers(self) -> aiohttp.ClientSession:
        """The answers' session. No connection limit (concurrency is the worker's); every finished
        answer's connection stays alive for the next one, so the pool is as large as the most
        answers in flight at once, and one that was not read to its end is closed, never reused."""
        if self._session is None:
            self._session = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(
                    limit=0, limit_per_host=0, ssl=ssl.create_default_context(cafile=certifi.where())
                ),
                # The body is JSON encoded here (msgspec), not by aiohttp's json.dumps: a conversation of
                # 15 / 100 turns took 31 / 192 us per answer that way, 3 / 21 with msgspec.
                headers={
                    **self.headers,
                    "Accept": "text/event-stream",
                    "Cache-Control": "no-store",
                    "Content-Type": "application/json",
                },
                timeout=self.timeout,
            )
        return self._session

    def __repr__(self) -> str:
        return f"Provider({self.name!r}, {self.base_url!r})"

    # -- health and models ------------------------------------------------------------------------

    def note_error(self, message: str) -> None:
        self._health.last_error, self._health.last_error_at = message, time.time()

    @property
    def last_health(self) -> Health:
        return self._health

    async def list_models(self) -> list[str]:
        """Model ids the provider serves (``GET /models``)."""
        try:
            response = await self.client.get("/models")
        except httpx.TimeoutException as exc:
            raise ProviderTimeout(f"{self.name}: listing models timed out", provider=self.name) from exc
        except httpx.HTTPError as exc:
            raise ProviderUnavailable(
                f"{self.name}: connection failed: {type(exc).__name__}: {exc}", provider=self.name
            ) from exc
        if response.status_code != 200:
            raise completions.failure(
                self.name,
                response.status_code,
                response.content,
                response.reason_phrase,
                response.headers.get("retry-after"),
                "",
            )
        try:
            data = response.json()["data"]
            return [str(m["id"]) for m in data]
        except (ValueError, KeyError, TypeError) as exc:
            raise ProviderError(f"{self.name}: malformed model list: {exc}", provider=self.name) from None

    async def health(self) -> Health:
        """Check now: latency of ``GET /models``, and the error if it failed (``models`` keeps the list)."""
        started = time.perf_counter()
        try:
            self.models = await self.list_models()
        except ProviderFailure as exc:
            self._health.ok, self._health.error = False, str(exc)
            self.note_error(str(exc))
        else:
            self._health.ok, self._health.error = True, None
        self._health.latency_ms = round((time.perf_counter() - started) * 1000, 2)
        self._health.checked_at = time.time()
        return msgspec.structs.replace(self._health)

    # -- streaming --------------------------------------------------------------------------------

    def _backoff(self, attempt: int, failure: ProviderFailure) -> float:
        delay = self.retry_base_s * (2**attempt) * (0.5 + random.random())  # jitter spreads retries out
        if failure.retry_after is not None:
            delay = max(delay, failure.retry_after)
        return min(delay, RETRY_MAX_S)

    async def stream(
        self, messages: list[dict[str, Any]], *, model: str | None = None, **params: Any
    ) -> AsyncIterator[Delta | Done]:
        """Stream one answer. ``params``: temperature, top_p, max_tokens (None values are left out)."""
        model = model or self.default_model
        body: dict[str, Any] = {
            "model": model,
            "messages": messages,
            "stream": True,
            "stream_options": {"include_usage": True},
            **{k: v for k, v in params.items() if v is not None},
        }
        attempt = 0
        while True:
            started = False
            try:
                async for item in self._stream_once(body, model):
                    started = True
                    yield item
                return
            except ProviderFailure as failure:
                if started or not failure.retryable or attempt >= self.retries:
                    self.note_error(str(failure))
                    raise
                delay = self._backoff(attempt, failure)
                log.info(
                    "provider retry",
                    provider=self.name,
                    model=model,
                    attempt=attempt + 1,
                    in_s=round(delay, 3),
                    error=str(failure),
                )
                attempt += 1
                await asyncio.sleep(delay)

    async def _stream_once(self, body: dict[str, Any], model: str) -> AsyncIterator[Delta | Done]:
        reader = completions.Reader(self.name, model)
        try:
            # Leaving this block before the body's end (cancel, error, [DONE] read early) closes
            # the connection at once: the provider stops generating.
            url = f"{self.base_url}/chat/completions"
            async with self._answers().post(url, data=msgspec.json.encode(body), proxy=self._proxy) as response:
                if response.status != 200:
                    raise completions.failure(
                        self.name,
                        response.status,
                        await response.read(),
                        response.reason or "",
                        response.headers.get("Retry-After"),
                        model,
                    )
                decoder = sse.Decoder()
                chunks = response.content.iter_any()
                stall = _Stall(response, self.read_timeout_s)
                try:
                    while True:
                        raw = await anext(chunks, None)
                        stall.read()
                        for data in decoder.feed(raw) if raw is not None else decoder.end():
                            for item in reader.read(data):
                                yield item
                                if type(item) is Done:
                                    return
                        if raw is None:
                            break
                finally:
                    stall.cancel()
                yield reader.end()
        except ProviderFailure:
            raise
        except aiohttp.ServerTimeoutError as exc:  # before TimeoutError and the connection errors
            connecting = isinstance(exc, aiohttp.ConnectionTimeoutError)
            what = "connecting" if connecting else "waiting for the next token"
            cls = ProviderUnavailable if connecting else ProviderTimeout
            raise cls(f"{self.name}: timed out {what}", **reader.where) from exc
        except (aiohttp.ClientConnectionError, aiohttp.ClientPayloadError) as exc:
            # Before the first token a lost connection is worth a retry; after it, the answer is cut.
            cls = ProviderError if reader.got_token else ProviderUnavailable
            raise cls(f"{self.name}: connection failed: {type(exc).__name__}: {exc}", **reader.where) from exc
        except aiohttp.ClientError as exc:
            raise ProviderError(f"{self.name}: {type(exc).__name__}: {exc}", **reader.where) from exc

    async def aclose(self) -> None:
        await self.client.aclose()
        if self._session is not None:
            await self._session.close()


class _Stall:
    """The read timeout between a response's reads, as one timer re-armed only when it fires:
    aiohttp's ``sock_read`` (kept for the wait for the headers) re-arms a timer at every read, 2 %
    of a worker's CPU at one read per token. A stall fails the body's next read the way aiohttp's
    own timeout does (``SocketTimeoutError``), so it ends as a ``ProviderTimeout``."""

    __slots__ = ("handle", "last", "loop", "response", "timeout")

    def __init__(self, response: aiohttp.ClientResponse, timeout: float) -> None:
        self.loop, self.response, self.timeout = asyncio.get_running_loop(), response, timeout
        if response.connection is not None:
            response.connection.protocol.read_timeout = None  # from here on: this timer
        self.last = self.loop.time()
        self.handle = self.loop.call_at(self.last + timeout, self._check)

    def read(self) -> None:
        self.last = self.loop.time()

    def _check(self) -> None:
        due = self.last + self.timeout
        if self.loop.time() < due:  # read since it was armed: wait the rest
            self.handle = self.loop.call_at(due, self._check)
            return
        self.response.content.set_exception(aiohttp.SocketTimeoutError("Timeout on reading data from socket"))

    def cancel(self) -> None:
        self.handle.cancel()
