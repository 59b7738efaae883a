"""The OpenAI-compatible chat-completions wire, read: pure, no I/O.

A streamed answer is server-sent events whose data are JSON chunks, then ``[DONE]``. ``Reader``
turns one answer's event data into ``Delta``s (text, usually one token) and one ``Done`` (finish
reason and the usage the provider reported); ``failure`` turns an error status into the typed
``ProviderFailure`` the retry and failover rules read.
"""

from __future__ import annotations

import json
from typing import Any

import msgspec

from events.schema import Usage
from services.generation.errors import ProviderError, ProviderFailure, ProviderUnavailable, RateLimited


class Delta(msgspec.Struct, frozen=True):
    """Text from one streamed chunk (usually one token). A msgspec struct: one is made per token,
    and a frozen dataclass takes ~5x as long to build."""

    text: str
    reasoning: bool = False  # the model's reasoning, not the answer


class Done(msgspec.Struct, frozen=True):
    finish_reason: str | None
    usage: Usage | None  # None when the provider did not report it


# The parts of a streamed chunk an answer reads, decoded straight into structs: the fields a
# provider adds (id, object, created, model, logprobs, ...) are skipped, not built into dicts.
# Values stay ``Any`` where providers differ (a reasoning object, a null): ``read`` checks them.
class _Delta(msgspec.Struct):
    content: Any = None
    reasoning_content: Any = None  # llama.cpp, vLLM, DeepSeek
    reasoning: Any = None  # OpenRouter


class _Choice(msgspec.Struct):
    delta: _Delta | None = None
    finish_reason: Any = None


class _Chunk(msgspec.Struct):
    choices: list[_Choice] | None = None
    usage: Any = None
    error: Any = msgspec.UNSET  # present, even as null, means the stream failed


_decode = msgspec.json.Decoder(_Chunk).decode


class Reader:
    """One streamed answer: each event's data in, its ``Delta``s (then one ``Done``) out."""

    __slots__ = ("finish", "got_token", "name", "usage", "where")

    def __init__(self, provider: str, model: str) -> None:
        self.name = provider
        self.where = {"provider": provider, "model": model}
        self.got_token = False
        self.finish: str | None = None
        self.usage: Usage | None = None

    def read(self, data: str | bytes) -> list[Delta | Done]:
        """The items of one event; a ``Done`` is the last item of the answer."""
        data = data.strip()
        if not data:
            return []
        if data == "[DONE]" or data == b"[DONE]":
            return [Done(self.finish, self.usage)]
        try:
            chunk = _decode(data)  # one per token
        except (msgspec.DecodeError, msgspec.ValidationError):  # not JSON, or not a chunk object
            shown = data if isinstance(data, str) else data.decode("utf-8", "replace")
            raise ProviderError(f"{self.name} sent a malformed chunk: {shown[:200]!r}", **self.where) from None
        if chunk.error is not msgspec.UNSET:
            error = chunk.error
            message = error.get("message") if isinstance(error, dict) else error
            raise ProviderError(f"{self.name} failed mid-stream: {message}", **self.where)
        if isinstance(chunk.usage, dict):
            u = chunk.usage
            self.usage = Usage(
                prompt_tokens=int(u.get("prompt_tokens") or 0),
                completion_tokens=int(u.get("completion_tokens") or 0),
                reported=True,
            )
        items: list[Delta | Done] = []
        for choice in chunk.choices or ():
            delta = choice.delta
            if delta is not None:
                # Reasoning models stream their thinking apart from the answer.
                thought = delta.reasoning_content or delta.reasoning
                if isinstance(thought, str) and thought:
                    self.got_token = True
                    items.append(Delta(thought, True))
                text = delta.content
                if isinstance(text, str) and text:
                    self.got_token = True
                    items.append(Delta(text))
            if choice.finish_reason:
                self.finish = choice.finish_reason
                if self.finish == "error":  # OpenRouter's way of saying it mid-stream
                    raise ProviderError(f"{self.name} ended the stream with an error", **self.where)
        return items

    def end(self) -> Done:
        """The body ended without ``[DONE]``: complete only if the provider said it finished."""
        if self.finish is None:
            raise ProviderError(f"{self.name} closed the stream before the answer ended", **self.where)
        return Done(self.finish, self.usage)


def failure(
    provider: str, status: int, body: bytes, reason: str, retry_after: str | None, model: str
) -> ProviderFailure:
    """The typed failure of an error status: 429 rate limited, 5xx unavailable (both retryable)."""
    who = f"{provider}:{model}" if model else provider
    message = f"{who} answered {status}: {error_message(body, reason)}"
    common = {"provider": provider, "model": model, "status": status}
    if status == 429:
        return RateLimited(message, retry_after=seconds(retry_after), **common)
    if status >= 500:
        return ProviderUnavailable(message, **common)
    return ProviderError(message, **common)


def error_message(body: bytes, reason: str) -> str:
    try:
        data = json.loads(body)
    except ValueError:
        return body.decode("utf-8", "replace")[:300] or reason
    if isinstance(data, dict):
        error = data.get("error", data)
        if isinstance(error, dict):
            return str(error.get("message") or error)[:300]
        return str(error)[:300]
    return str(data)[:300]


def seconds(retry_after: str | None) -> float | None:
    """A ``Retry-After`` header's delay in seconds."""
    try:
        return float(retry_after) if retry_after is not None else None
    except ValueError:  # an HTTP date: not worth parsing for a bounded wait
        return None
