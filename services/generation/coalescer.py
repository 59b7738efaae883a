"""Tokens into chunk events: tokens arriving within ``flush_s`` of the first pending one, or up to
``max_tokens`` of them, become one chunk (whichever limit comes first). Pure: the caller feeds
``Token``/``Tick``/``End`` with its own clock and publishes the chunks that come out.

Leading edge: a token that finds nothing pending and no chunk sent within the last ``flush_s``
goes out at once. A slow stream (tokens further apart than the window) then pays no waiting at
all, while a fast one still coalesces: only the first token of a burst travels alone."""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

import msgspec
from msgspec.structs import replace


class Chunk(NamedTuple):
    index: int  # chunk number within the attempt, from 0
    token_index: int  # index of the chunk's first token
    token_count: int
    delta: str
    reasoning: bool = False  # the model's reasoning: never in one chunk with answer text


class Token(msgspec.Struct, frozen=True):
    """One token (a msgspec struct: one is made per token, a dataclass costs ~3× more)."""

    text: str
    at: float
    reasoning: bool = False


@dataclass(frozen=True, slots=True)
class Tick:
    at: float


@dataclass(frozen=True, slots=True)
class End:
    pass


class Coalescer(msgspec.Struct, frozen=True):
    """A msgspec struct, not a dataclass: it is replaced two or three times per token, and
    ``dataclasses.replace`` of a frozen dataclass costs ~5× more."""

    flush_s: float
    max_tokens: int
    pending: tuple[str, ...] = ()
    opened_at: float | None = None  # arrival of the first pending token
    next_index: int = 0
    next_token: int = 0
    flushed_at: float | None = None  # when the last chunk went out
    reasoning: bool = False  # what the pending tokens are

    @classmethod
    def of(cls, flush_ms: float, max_tokens: int) -> Coalescer:
        if max_tokens < 1 or flush_ms < 0:
            raise ValueError(f"need max_tokens >= 1 and flush_ms >= 0, got {max_tokens}, {flush_ms}")
        return cls(flush_s=flush_ms / 1000, max_tokens=max_tokens)

    @property
    def deadline(self) -> float | None:
        """When the pending tokens must go out (``None``: nothing pending)."""
        return None if self.opened_at is None else self.opened_at + self.flush_s


def _flush(state: Coalescer, at: float | None = None) -> tuple[Coalescer, list[Chunk]]:
    if not state.pending:
        return state, []
    chunk = Chunk(state.next_index, state.next_token, len(state.pending), "".join(state.pending), state.reasoning)
    return (
        replace(
            state,
            pending=(),
            opened_at=None,
            next_index=state.next_index + 1,
            next_token=state.next_token + len(state.pending),
            flushed_at=at if at is not None else state.flushed_at,
        ),
        [chunk],
    )


def step(state: Coalescer, event: Token | Tick | End) -> tuple[Coalescer, list[Chunk]]:
    """The new state and the chunks ready to publish, in order."""
    match event:
        case Token(text=text, at=at, reasoning=reasoning):
            if not state.pending and (
                state.flushed_at is None or at - state.flushed_at >= state.flush_s or state.max_tokens == 1
            ):
                # The usual token of a paced stream: nothing pending and quiet, so it is a chunk of
                # its own at once; the general path below gives the same in two replaces, not one.
                chunk = Chunk(state.next_index, state.next_token, 1, text, reasoning)
                return replace(
                    state,
                    next_index=state.next_index + 1,
                    next_token=state.next_token + 1,
                    flushed_at=at,
                    reasoning=reasoning,
                ), [chunk]
            out: list[Chunk] = []
            if state.deadline is not None and at >= state.deadline:  # overdue: the old window closes first
                state, out = _flush(state, at)
            elif state.pending and reasoning != state.reasoning:  # reasoning ends (or starts): its own chunk
                state, out = _flush(state, at)
            quiet = not state.pending and (state.flushed_at is None or at - state.flushed_at >= state.flush_s)
            state = replace(
                state,
                pending=(*state.pending, text),
                opened_at=state.opened_at if state.pending else at,
                reasoning=reasoning,
            )
            if quiet or len(state.pending) >= state.max_tokens or state.flush_s == 0:
                state, more = _flush(state, at)
                out += more
            return state, out
        case Tick(at=at):
            if state.deadline is not None and at >= state.deadline:
                return _flush(state, at)
            return state, []
        case End():
            return _flush(state)
        case _:
            raise TypeError(f"not a coalescer event: {event!r}")
