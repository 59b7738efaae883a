"""Answering one delivered prompt, the I/O shell of a pure core: load the session's events, let
``answer.opening`` decide what the delivery calls for, then per provider candidate relay its
stream (``attempt``), let ``policy.verdict`` decide what its end means, and publish that.

``handle`` returns when the answer's terminal event is stored (the consumer then acks), or raises
``PoisonMessage`` (terminate) or ``PublishError`` (JetStream trouble: redeliver later). Provider
trouble never raises: it ends as a failed event that keeps the partial text.
"""

from __future__ import annotations

import os
import socket
import time
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager

from msgspec.structs import replace
from nats.aio.client import Client
from nats.aio.msg import Msg
from nats.js import JetStreamContext

from events import codec
from events.errors import EventDecodeError
from events.schema import GenerationChunk, GenerationDelta, GenerationRequested
from services import bus, logs, tracing
from services.generation import answer, context, policy, tokenizer
from services.generation.answer import Answer, Command
from services.generation.attempt import Attempt
from services.generation.cancels import Cancel, Cancels
from services.generation.config import LiveConfig
from services.generation.errors import NotConfigured, PoisonMessage, ProviderFailure
from services.generation.policy import Broke, Crashed
from services.generation.pressure import Pressure
from services.generation.providers import Providers
from services.generation.publisher import Publisher
from services.generation.sessions import Sessions
from services.settings import Settings

log = logs.get("generation")


def worker_id() -> str:
    return f"{socket.gethostname()}-{os.getpid()}"


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
        self.pipeline = bus.Pipeline(nc)  # one ack inbox and write for all answers
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
        seq, delivered, _ = bus.delivery(msg)
        traced = msg.headers is not None and tracing.TRACEPARENT in msg.headers
        tracing.taken(msg.headers, msg.metadata.timestamp if traced else None)
        bound = log.bind(
            session_id=request.session_id, message_id=request.message_id, stream_seq=seq, delivery=delivered
        )
        cancel = self.cancels.track(request.message_id)
        try:
            history = await self.sessions.settled(
                request.session_id, seq, request.message_id, cancel, self.wait_limit_s, idle, bound
            )
            tracing.step("answer.context")
            opening = answer.opening(history, request, delivered)
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

    async def give_up(self, data: bytes, deliveries: int, subject: str) -> None:
        """End the answer of a prompt that used up its deliveries, unless it already ended."""
        try:
            request = codec.decode(data, subject)
        except EventDecodeError:
            return  # poison: terminated and logged when it was delivered
        if not isinstance(request, GenerationRequested):
            return
        history = context.fold(request.session_id, await context.load(self.js, request.session_id))
        if context.is_terminal(history, request.message_id):
            return
        message = f"given up after {deliveries} deliveries: the workers answering it stopped or could not store events"
        state = answer.streamed(Answer.of(request, max(1, deliveries)), await self._deltas(request))
        attempt = Attempt(state, Publisher(self.js, pipeline=self.pipeline))
        await attempt.apply(answer.Fail("internal", message), terminal=True)
        log.error(
            "prompt given up", session_id=request.session_id, message_id=request.message_id, deliveries=deliveries
        )

    async def _deltas(self, request: GenerationRequested) -> list[GenerationChunk]:
        """The answer's stored deltas: its end keeps what streamed, as every end does (the read
        model is not delivered deltas, projections/chat.py)."""
        stored = await context.load(self.js, request.session_id, types=(GenerationDelta,))
        return [e for _, e in stored if isinstance(e, GenerationChunk) and e.message_id == request.message_id]

    async def _end_early(self, request: GenerationRequested, command: Command, bound) -> None:
        await Attempt(Answer.of(request, 1), Publisher(self.js, pipeline=self.pipeline)).apply(command, terminal=True)
        bound.info("answer ended before streaming", outcome=type(command).__name__.lower())

    # -- streaming ------------------------------------------------------------------------------------

    async def _answer(
        self, request: GenerationRequested, history: context.History, begin: answer.Begin, cancel: Cancel, bound
    ) -> None:
        """Start, then per candidate: relay its stream, ask the policy what its end means, and
        publish that end (or try the next candidate)."""
        cfg = self.live.current
        provider_name, model = policy.choice(history, request, cfg)
        candidates = self.providers.candidates(provider_name, model, cfg.failover)
        messages = context.conversation(
            history, request.prompt_message_id, request.message_id, cfg.limits.max_context_messages
        )
        assert messages is not None  # the opening checked the prompt message is there
        call = policy.params(history.settings, cfg.limits)
        attempt = Attempt(
            Answer.of(request, begin.attempt),
            Publisher(self.js, pipeline=self.pipeline),
            self.pressure,
            self.settings.chunk_max_tokens,
        )
        first_name, first_model = candidates[0]
        reason = f"delivery {begin.attempt}: an earlier worker did not finish" if begin.restarted else ""
        # Started once the first request is on its way (relay): its event is stored while the provider
        # begins, not before the request, which is off the idle path to the first token.
        start = answer.Start(first_name, first_model or "", self.worker_id, begin.restarted, reason)
        if begin.restarted:
            bound.warning("answer restarted", attempt=begin.attempt)
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
            attempt.state = replace(attempt.state, context_dropped=fitted.dropped)
            pending = start if attempt.state.status == "pending" else None
            ending = await attempt.relay(provider, candidate_model, fitted.messages, call, cancel, pending)
            tried = attempt.tried(provider, candidate_model, ending)
            command = policy.verdict(tried, messages)
            if command is None:
                assert isinstance(ending, Broke)
                failures.append(ending.failure)
                bound.warning(
                    "provider failed before the first token; trying the next",
                    provider=name,
                    model=candidate_model,
                    error=str(ending.failure),
                )
                continue
            if isinstance(ending, Crashed):
                bound.error("answer crashed", exc_info=ending.error)
            await attempt.apply(command, terminal=True)
            _ended(bound, command, tried, attempt.state, cancel)
            return
        if attempt.state.status == "pending":  # no candidate was tried: started all the same, then ended
            await attempt.start(start)
        command = policy.unanswered(cancel.requested, failures, attempt.timings(), attempt.marks())
        await attempt.apply(command, terminal=True)
        _ended(bound, command, None, attempt.state, cancel)


def _ended(bound, command: Command, tried: policy.Tried | None, state: Answer, cancel: Cancel) -> None:
    """Log how an answer ended, once its end event is stored. ``tried``: the stream that ended it."""
    ending = None if tried is None else tried.ending
    match command:
        case answer.Complete():
            bound.info(
                "answer completed",
                provider=command.provider,
                model=tried.model if tried else None,
                chunks=state.chunk_count,
                tokens=state.token_count,
                ttft_ms=command.timings.time_to_first_token_ms,
                total_ms=command.timings.total_ms,
            )
        case answer.Cancel():
            latency = None if cancel.requested_at is None else round((time.time() - cancel.requested_at) * 1000)
            bound.info("answer cancelled", partial_chars=len(state.content), cancel_to_end_ms=latency)
        case answer.Fail() if isinstance(ending, Broke):
            bound.warning(
                "answer failed mid-stream",
                error_kind=command.kind,
                error=command.message,
                partial_chars=len(state.content),
            )
        case answer.Fail() if ending is None:
            bound.warning("answer failed: no provider answered", error_kind=command.kind, error=command.message)
        case answer.Fail():
            pass  # a crash: logged with its traceback before its end was published
        case _:
            raise TypeError(f"not an end command: {command!r}")
