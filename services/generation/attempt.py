"""One attempt at an answer, the I/O around the pure ``answer`` state: every command is decided,
evolved and published (chunks pipelined, the end awaited), and a provider's stream is relayed as
chunk events while the attempt keeps its clock readings and token marks.

``relay`` reads the provider in a task of its own, so a cancel closes the upstream at once; its
tokens are coalesced (``coalescer.step``, the window adapting to the worker's ``Pressure``) and
each chunk goes out as it is cut. It returns how the stream ended; ``policy.verdict`` says what
that means for the answer.
"""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime
from typing import Any

from msgspec.structs import replace

from events import tokens
from events.schema import Timings
from services import tracing
from services.generation import answer
from services.generation.answer import Answer, Command
from services.generation.cancels import Cancel
from services.generation.coalescer import Chunk, Coalescer, End, Tick, Token, step
from services.generation.errors import ProviderFailure
from services.generation.inbox import TICK, Inbox
from services.generation.policy import Broke, Crashed, Ending, Finished, Stopped, Tried
from services.generation.pressure import Pressure
from services.generation.providers import Delta, Done, Provider
from services.generation.publisher import Publisher

# How long a finished answer's provider response may take to close before it is abandoned.
CLOSE_WAIT_S = 5.0

_CANCELLED = object()  # inbox sentinel: the user pressed stop


class Attempt:
    def __init__(
        self, state: Answer, publisher: Publisher, pressure: Pressure | None = None, max_tokens: int = 1
    ) -> None:
        self.state, self.publisher = state, publisher
        self.pressure, self.max_tokens = pressure, max_tokens  # chunking: needed only to relay
        self.recorder = tokens.Recorder()  # failover happens before the first token: one per attempt
        self.started = time.monotonic()
        self.first_token: float | None = None
        self.tokens = 0  # received, across failover candidates

    async def apply(self, command: Command, terminal: bool = False) -> Answer:
        """Decide, evolve, publish: a terminal command's event waits until every earlier one is stored."""
        for event in answer.decide(self.state, command):
            self.state = answer.evolve(self.state, event)
            if terminal:
                await self.publisher.finish(event)
            else:
                await self.publisher.send(event)
        return self.state

    async def start(self, command: answer.Start) -> None:
        await self.apply(command)
        self.started = time.monotonic()  # the clock of ttft and total runs from the start event

    def timings(self) -> Timings:
        now = time.monotonic()
        ttft = None if self.first_token is None else round((self.first_token - self.started) * 1000)
        return Timings(time_to_first_token_ms=ttft, total_ms=round((now - self.started) * 1000))

    def tried(self, provider: Provider, model: str | None, ending: Ending) -> Tried:
        """How one candidate's stream ended, with what an end event of the answer records."""
        return Tried(
            provider.name,
            model,
            provider.default_model,
            ending,
            streamed=self.first_token is not None,
            timings=self.timings(),
            tokens=self.marks(),
            received=self.tokens,
        )

    def marks(self) -> str:
        """The ``events.tokens`` encoding of the tokens the published chunks carried."""
        return self.recorder.encode(self.state.token_count)

    async def _chunks(self, chunks: list[Chunk], at: datetime | None) -> None:
        for chunk in chunks:
            self.recorder.chunk(chunk.token_index)
            await self.apply(answer.AddChunk(chunk, at))

    async def relay(
        self,
        provider: Provider,
        model: str | None,
        messages: list[dict[str, Any]],
        call: dict[str, Any],
        cancel: Cancel,
        start: answer.Start | None = None,
    ) -> Ending:
        """Stream from ``provider``, publishing chunks, until it ends, fails or ``cancel`` fires.
        ``start``: the answer's start, applied once the reader has sent its request."""
        assert self.pressure is not None
        loop = asyncio.get_running_loop()
        inbox = Inbox()

        async def produce() -> None:
            tracing.step("answer.start")
            try:
                async for item in provider.stream(messages, model=model, **call):
                    inbox.put(item)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # handed to the consumer loop, which decides what it means
                inbox.put(exc)

        producer = asyncio.create_task(produce(), name=f"provider-{provider.name}")

        def stop_reading() -> None:
            # Cancelling the reader unwinds the HTTP stream: the provider sees the connection close.
            # Only once: a second cancel would interrupt that unwinding and leave the connection open.
            if not producer.done() and not producer.cancelling():
                producer.cancel()

        def on_cancel() -> None:
            stop_reading()
            inbox.put(_CANCELLED)

        cancel.hooks.append(on_cancel)
        if cancel.requested:
            on_cancel()
        coalescer = Coalescer.of(self.pressure.window_ms, self.max_tokens)
        finished = False
        try:
            if start is not None:
                await asyncio.sleep(0)  # the reader's first step: the request goes out, then the event
                await self.start(start)
            while True:
                item = await inbox.get(coalescer.deadline)
                if item is TICK:
                    coalescer, chunks = step(coalescer, Tick(loop.time()))
                    await self._chunks(chunks, None)
                    continue
                if isinstance(item, Delta):
                    now = loop.time()
                    if self.first_token is None:
                        self.first_token = time.monotonic()
                        tracing.first_token()
                    self.tokens += 1
                    # One clock reading dates the token and a chunk it cuts at once: the
                    # terminal event's timing then equals what the live deltas said.
                    wall_ns = time.time_ns()
                    self.recorder.token(item.text, round(wall_ns / 1e6))
                    window_s = self.pressure.window_s  # adaptive: grows with the worker's load
                    if window_s != coalescer.flush_s:
                        coalescer = replace(coalescer, flush_s=window_s)
                    coalescer, chunks = step(coalescer, Token(item.text, now, item.reasoning))
                    await self._chunks(chunks, datetime.fromtimestamp(wall_ns / 1e9, UTC) if chunks else None)
                    continue
                # Whatever ends the stream, the tokens already received go out first: the
                # terminal event's content (or partial content) equals the chunks joined.
                coalescer, chunks = step(coalescer, End())
                await self._chunks(chunks, None)
                if isinstance(item, Done):
                    finished = True
                    return Finished(item.usage, item.finish_reason)
                if item is _CANCELLED:
                    return Stopped()
                if isinstance(item, ProviderFailure):
                    return Broke(item)
                return Crashed(item)
        finally:
            cancel.hooks.remove(on_cancel)
            # A finished stream's reader is closing its response: let it (cancelling it then
            # leaked one connection per answer); anything else stops it.
            if not finished:
                stop_reading()
            elif not (await asyncio.wait({producer}, timeout=CLOSE_WAIT_S))[0]:
                stop_reading()  # a response that will not close: give up on it
            await asyncio.gather(producer, return_exceptions=True)
