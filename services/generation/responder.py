"""Answering one delivered prompt: load the session's events, decide, stream from a provider
(failing over before the first token), coalesce tokens into chunks, publish.

``handle`` returns when the answer's terminal event is stored (the consumer then acks), or raises
``PoisonMessage`` (terminate) or ``PublishError`` (JetStream trouble: redeliver later). Provider
trouble never raises: it ends as a failed event that keeps the partial text.
"""

from __future__ import annotations

import asyncio
import os
import socket
import time
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager, AsyncExitStack
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any

from nats.aio.client import Client
from nats.aio.msg import Msg
from nats.js import JetStreamContext

from events import codec, tokens
from events.errors import EventDecodeError
from events.schema import (
    GenerationRequested,
    SessionSettings,
    Timings,
    utcnow,
)
from services import logs, tracing
from services.generation import answer, context, policy, tokenizer
from services.generation.answer import Answer, Command
from services.generation.cancels import Cancel, Cancels
from services.generation.coalescer import Chunk, Coalescer, End, Tick, Token, step
from services.generation.config import Limits, LiveConfig
from services.generation.errors import NotConfigured, PoisonMessage, ProviderFailure
from services.generation.pressure import Pressure
from services.generation.providers import Delta, Done, Provider, Providers
from services.generation.publisher import Publisher
from services.generation.sessions import Sessions
from services.settings import Settings

log = logs.get("generation")

_CANCELLED = object()  # queue sentinel: the user pressed stop


def worker_id() -> str:
    return f"{socket.gethostname()}-{os.getpid()}"


@dataclass(frozen=True, slots=True)
class Finished:
    done: Done


@dataclass(frozen=True, slots=True)
class Broke:
    failure: ProviderFailure


@dataclass(frozen=True, slots=True)
class Stopped:
    pass


@dataclass(frozen=True, slots=True)
class Crashed:
    error: BaseException


@dataclass
class Progress:
    """Clock readings and counts of one attempt, across failover candidates."""

    started: float
    first_token: float | None = None
    tokens: int = 0

    def timings(self) -> Timings:
        now = time.monotonic()
        ttft = None if self.first_token is None else round((self.first_token - self.started) * 1000)
        return Timings(time_to_first_token_ms=ttft, total_ms=round((now - self.started) * 1000))


def params(settings: SessionSettings, limits: Limits) -> dict[str, Any]:
    caps = [v for v in (settings.max_tokens, limits.max_tokens) if v is not None]
    return {"temperature": settings.temperature, "top_p": settings.top_p, "max_tokens": min(caps) if caps else None}


# How long a finished answer's provider response may take to close before it is abandoned.
CLOSE_WAIT_S = 5.0


class Responder:
    def __init__(
        self,
        js: JetStreamContext,
        nc: Client,
        providers: Providers,
        live: LiveConfig,
        settings: Settings,
        cancels: Cancels,
        worker: str | None = None,
        sessions: Sessions | None = None,
        pressure: Pressure | None = None,
    ) -> None:
        self.js, self.nc, self.providers, self.live, self.settings, self.cancels = (
            js,
            nc,
            providers,
            live,
            settings,
            cancels,
        )
        self.worker_id = worker or worker_id()
        self.sessions = sessions or Sessions(js)  # not started: every read loads directly
        # not started: the lag stays 0, so chunks use the idle window
        self.pressure = pressure or Pressure(settings.chunk_flush_ms, settings.chunk_budget_ms)
        self.sizes = tokenizer.Sizes()  # context windows and tokenizers of the providers, cached
        # How long an answer waits for earlier unfinished answers of its session (its context).
        self.wait_limit_s = max(settings.request_timeout_s, settings.ack_wait_s) * 2

    # -- one delivery ---------------------------------------------------------------------------------

    async def handle(self, msg: Msg, idle: Callable[[], AbstractAsyncContextManager] | None = None) -> None:
        """Answer one prompt. ``idle()``: a context to hold while waiting for an earlier answer
        of the session (the consumer lends the slot to other prompts meanwhile)."""
        try:
            request = codec.decode(msg.data, msg.subject)
        except EventDecodeError as exc:
            raise PoisonMessage(str(exc)) from None
        if not isinstance(request, GenerationRequested):
            raise PoisonMessage(f"expected generation.requested, got {type(request).__name__}")
        meta = msg.metadata
        tracing.taken(msg.headers, meta.timestamp)
        bound = log.bind(
            session_id=request.session_id,
            message_id=request.message_id,
            stream_seq=meta.sequence.stream,
            delivery=meta.num_delivered,
        )
        cancel = self.cancels.track(request.message_id)
        try:
            history = await self._history(request, meta.sequence.stream, cancel, bound, idle)
            tracing.step("answer.context")
            opening = answer.opening(history, request, meta.num_delivered)
            match opening:
                case answer.AlreadyEnded():
                    bound.info("answer already ended; acknowledging")
                case answer.CancelledEarly():
                    await self._end_early(request, answer.Cancel(), bound)
                case answer.Rejected(kind=kind, message=message):
                    bound.warning("prompt rejected", error_kind=kind, error=message)
                    await self._end_early(request, answer.Fail(kind, message), bound)
                case answer.Begin():
                    await self._answer(request, history, opening, cancel, bound)
                case _:
                    raise TypeError(f"unknown opening {opening!r}")
        finally:
            self.cancels.forget(request.message_id)

    async def give_up(self, data: bytes, deliveries: int) -> None:
        """End the answer of a prompt that used up its deliveries, unless it already ended."""
        try:
            request = codec.decode(data)
        except EventDecodeError:
            return  # poison: terminated and logged when it was delivered
        if not isinstance(request, GenerationRequested):
            return
        history = context.fold(request.session_id, await context.load(self.js, request.session_id))
        if context.is_terminal(history, request.message_id):
            return
        message = f"given up after {deliveries} deliveries: the workers answering it stopped or could not store events"
        state = Answer.of(request, max(1, deliveries))
        publisher = Publisher(self.js)
        for event in answer.decide(state, answer.Fail("internal", message)):
            await publisher.finish(event)
        log.error(
            "prompt given up", session_id=request.session_id, message_id=request.message_id, deliveries=deliveries
        )

    async def _history(
        self,
        request: GenerationRequested,
        seq: int,
        cancel: Cancel,
        bound,
        idle: Callable[[], AbstractAsyncContextManager] | None = None,
    ) -> context.History:
        """The session's events up to the prompt (``seq``) at least; if earlier answers are still
        streaming, wait for them first, so this answer's context holds them (a quick second
        message sees the first answer). While waiting, ``idle()`` is held: the slot serves others."""
        sid = request.session_id
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.wait_limit_s
        since = utcnow() - timedelta(seconds=self.wait_limit_s)
        async with AsyncExitStack() as lent:
            while True:
                history = await self.sessions.history(sid, seq)
                waiting = context.unfinished_before(history, request.message_id, since)
                if not waiting or cancel.requested:
                    return history
                if loop.time() >= deadline:
                    bound.warning("earlier answers still unfinished; answering without them", waiting=waiting)
                    return history
                bound.info("waiting for earlier answers", waiting=waiting)
                if idle is not None:
                    await lent.enter_async_context(idle())
                    idle = None  # lent once; taken back when this returns
                waiter = asyncio.create_task(self.sessions.changed(sid, history.last_seq))
                stopper = asyncio.create_task(cancel.event.wait())
                await asyncio.wait(
                    {waiter, stopper}, timeout=min(1.0, deadline - loop.time()), return_when="FIRST_COMPLETED"
                )
                waiter.cancel()
                stopper.cancel()

    async def _end_early(self, request: GenerationRequested, command: Command, bound) -> None:
        state = Answer.of(request, 1)
        publisher = Publisher(self.js)
        for event in answer.decide(state, command):
            await publisher.finish(event)
        bound.info("answer ended before streaming", outcome=type(command).__name__.lower())

    # -- streaming ------------------------------------------------------------------------------------

    async def _apply(self, state: Answer, command: Command, publisher: Publisher, terminal: bool = False) -> Answer:
        for event in answer.decide(state, command):
            state = answer.evolve(state, event)
            if terminal:
                await publisher.finish(event)
            else:
                await publisher.send(event)
        return state

    async def _chunks(
        self, state: Answer, chunks: list[Chunk], publisher: Publisher, recorder: tokens.Recorder, at: datetime | None
    ) -> Answer:
        for chunk in chunks:
            recorder.chunk(chunk.token_index)
            state = await self._apply(state, answer.AddChunk(chunk, at), publisher)
        return state

    async def _answer(
        self, request: GenerationRequested, history: context.History, begin: answer.Begin, cancel: Cancel, bound
    ) -> None:
        cfg = self.live.current
        provider_name, model = answer.choice(history, request, cfg)
        candidates = self.providers.candidates(provider_name, model, cfg.failover)
        messages = context.conversation(
            history, request.prompt_message_id, request.message_id, cfg.limits.max_context_messages
        )
        assert messages is not None  # the opening checked the prompt message is there
        call = params(history.settings, cfg.limits)
        publisher = Publisher(self.js)
        state = Answer.of(request, begin.attempt)
        first_name, first_model = candidates[0]
        reason = f"delivery {begin.attempt}: an earlier worker did not finish" if begin.restarted else ""
        state = await self._apply(
            state, answer.Start(first_name, first_model or "", self.worker_id, begin.restarted, reason), publisher
        )
        if begin.restarted:
            bound.warning("answer restarted", attempt=begin.attempt)
        progress = Progress(started=time.monotonic())
        recorder = tokens.Recorder()  # failover happens before the first token: one per attempt
        failures: list[ProviderFailure] = []
        for name, candidate_model in candidates:
            if cancel.requested:
                break
            try:
                provider = self.providers.get(name)
            except NotConfigured as exc:
                failures.append(exc)
                bound.warning("provider not configured; trying the next", provider=name, error=str(exc))
                continue
            fitted = await tokenizer.fit(
                self.sizes,
                provider,
                candidate_model or provider.default_model,
                messages,
                max_tokens=call["max_tokens"],
                fallback_window=cfg.limits.context_window,
            )
            if fitted.dropped:
                bound.info("context trimmed to fit", dropped=fitted.dropped, prompt_tokens=fitted.tokens)
            state = replace(state, context_dropped=fitted.dropped)
            state, result = await self._stream(
                state, provider, candidate_model, fitted.messages, call, cancel, publisher, progress, recorder
            )
            match result:
                case Finished(done=done):
                    usage = policy.usage(done.usage, messages, progress.tokens)
                    command = answer.Complete(
                        provider.name,
                        candidate_model or provider.default_model,
                        usage,
                        progress.timings(),
                        done.finish_reason,
                        recorder.encode(state.token_count),
                    )
                    state = await self._apply(state, command, publisher, terminal=True)
                    bound.info(
                        "answer completed",
                        provider=provider.name,
                        model=candidate_model,
                        chunks=state.chunk_count,
                        tokens=state.token_count,
                        ttft_ms=command.timings.time_to_first_token_ms,
                        total_ms=command.timings.total_ms,
                    )
                    return
                case Stopped():
                    break
                case Broke(failure=failure) if progress.first_token is None:
                    failures.append(failure)
                    bound.warning(
                        "provider failed before the first token; trying the next",
                        provider=name,
                        model=candidate_model,
                        error=str(failure),
                    )
                    continue
                case Broke(failure=failure):
                    command = answer.Fail(
                        failure.kind,
                        str(failure),
                        progress.timings(),
                        provider.name,
                        candidate_model,
                        recorder.encode(state.token_count),
                    )
                    await self._apply(state, command, publisher, terminal=True)
                    bound.warning(
                        "answer failed mid-stream",
                        error_kind=failure.kind,
                        error=str(failure),
                        partial_chars=len(state.content),
                    )
                    return
                case Crashed(error=error):
                    bound.error("answer crashed", exc_info=error)
                    command = answer.Fail(
                        "internal",
                        f"internal error: {type(error).__name__}: {error}",
                        progress.timings(),
                        provider.name,
                        candidate_model,
                        recorder.encode(state.token_count),
                    )
                    await self._apply(state, command, publisher, terminal=True)
                    return
                case _:
                    raise TypeError(f"unknown stream result {result!r}")
        if cancel.requested:
            command = answer.Cancel(progress.timings(), recorder.encode(state.token_count))
            state = await self._apply(state, command, publisher, terminal=True)
            latency = None if cancel.requested_at is None else round((time.time() - cancel.requested_at) * 1000)
            bound.info("answer cancelled", partial_chars=len(state.content), cancel_to_end_ms=latency)
            return
        end = policy.no_answer(failures)
        await self._apply(
            state,
            answer.Fail(end.kind, end.message, progress.timings(), end.provider, end.model),
            publisher,
            terminal=True,
        )
        bound.warning("answer failed: no provider answered", error_kind=end.kind, error=end.message)

    async def _stream(
        self,
        state: Answer,
        provider: Provider,
        model: str | None,
        messages: list[dict[str, Any]],
        call: dict[str, Any],
        cancel: Cancel,
        publisher: Publisher,
        progress: Progress,
        recorder: tokens.Recorder,
    ) -> tuple[Answer, Finished | Broke | Stopped | Crashed]:
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue = asyncio.Queue()

        async def produce() -> None:
            tracing.step("answer.start")
            try:
                async for item in provider.stream(messages, model=model, **call):
                    queue.put_nowait(item)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # handed to the consumer loop, which decides what it means
                queue.put_nowait(exc)

        producer = asyncio.create_task(produce(), name=f"provider-{provider.name}")

        def stop_reading() -> None:
            # Cancelling the reader unwinds the HTTP stream: the provider sees the connection close.
            # Only once: a second cancel would interrupt that unwinding (httpx's shielded close does
            # not shield against asyncio cancellation) and leave the connection open.
            if not producer.done() and not producer.cancelling():
                producer.cancel()

        def on_cancel() -> None:
            stop_reading()
            queue.put_nowait(_CANCELLED)

        cancel.hooks.append(on_cancel)
        if cancel.requested:
            on_cancel()
        coalescer = Coalescer.of(self.pressure.window_ms, self.settings.chunk_max_tokens)
        finished = False
        try:
            while True:
                deadline = coalescer.deadline
                try:
                    if deadline is None:
                        item = await queue.get()
                    else:
                        async with asyncio.timeout_at(deadline):
                            item = await queue.get()
                except TimeoutError:
                    coalescer, chunks = step(coalescer, Tick(loop.time()))
                    state = await self._chunks(state, chunks, publisher, recorder, None)
                    continue
                if isinstance(item, Delta):
                    now = loop.time()
                    if progress.first_token is None:
                        progress.first_token = time.monotonic()
                        tracing.first_token()
                    progress.tokens += 1
                    # One clock reading dates the token and a chunk it cuts at once: the
                    # terminal event's timing then equals what the live deltas said.
                    wall_ns = time.time_ns()
                    recorder.token(item.text, round(wall_ns / 1e6))
                    window_s = self.pressure.window_ms / 1000  # adaptive: grows with the worker's load
                    if window_s != coalescer.flush_s:
                        coalescer = replace(coalescer, flush_s=window_s)
                    coalescer, chunks = step(coalescer, Token(item.text, now, item.reasoning))
                    at = datetime.fromtimestamp(wall_ns / 1e9, UTC) if chunks else None
                    state = await self._chunks(state, chunks, publisher, recorder, at)
                    continue
                # Whatever ends the stream, the tokens already received go out first: the
                # terminal event's content (or partial content) equals the chunks joined.
                coalescer, chunks = step(coalescer, End())
                state = await self._chunks(state, chunks, publisher, recorder, None)
                if isinstance(item, Done):
                    finished = True
                    return state, Finished(item)
                if item is _CANCELLED:
                    return state, Stopped()
                if isinstance(item, ProviderFailure):
                    return state, Broke(item)
                return state, Crashed(item)
        finally:
            cancel.hooks.remove(on_cancel)
            # A finished stream's reader is closing its response: let it (cancelling it then
            # leaked one connection per answer); anything else stops it.
            if not finished:
                stop_reading()
            elif not (await asyncio.wait({producer}, timeout=CLOSE_WAIT_S))[0]:
                stop_reading()  # a response that will not close: give up on it
            await asyncio.gather(producer, return_exceptions=True)
