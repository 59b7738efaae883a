"""Token timing of an answer, as one compact string on its terminal event (``tokens``).

Chunk events are short-lived (see ``events/streams.py``); the permanent log keeps each answer's
text on its terminal event, and this encoding keeps how that text streamed: every token's length,
the time the worker received it, and whether it opened a new chunk. So an exact replay with token
timing needs only the permanent log.

Wire format: base64url without padding of the bytes ``1`` (version), then per token
``varint(length << 1 | chunk_start)`` and ``varint(zigzag(at_ms - previous at_ms))``, where the
first token's previous is 0 (so it carries its epoch milliseconds). ``length`` counts Unicode
code points (Python ``len``; ``Array.from(text).length`` in JavaScript). At chat speeds a token
costs 2 bytes, about 2.7 characters once in base64.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from typing import NamedTuple

from events.errors import EventDecodeError

VERSION = 1
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


class Mark(NamedTuple):
    """One token without its text."""

    length: int  # code points
    at_ms: int  # epoch milliseconds when the worker received it
    chunk_start: bool  # the first token of a chunk event


class Token(NamedTuple):
    text: str
    at: datetime  # UTC, millisecond precision
    chunk: int  # index of the chunk event that carried it


def _varint(value: int, out: bytearray) -> None:
    while value > 0x7F:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    out.append(value)


def _zigzag(value: int) -> int:
    return value * 2 if value >= 0 else -value * 2 - 1


def encode(marks: Iterable[Mark]) -> str:
    """The ``tokens`` string of an answer; "" when it has no tokens."""
    out = bytearray((VERSION,))
    previous = 0
    for length, at_ms, chunk_start in marks:
        if length < 0:
            raise ValueError(f"negative token length {length}")
        _varint(length << 1 | bool(chunk_start), out)
        _varint(_zigzag(at_ms - previous), out)
        previous = at_ms
    if len(out) == 1:
        return ""
    return base64.urlsafe_b64encode(bytes(out)).rstrip(b"=").decode("ascii")


def decode_marks(encoded: str) -> list[Mark]:
    """Every token's length, time and chunk start; raises ``EventDecodeError`` on a bad string."""
    if not encoded:
        return []
    try:
        data = base64.b64decode(encoded + "=" * (-len(encoded) % 4), altchars=b"-_", validate=True)
    except (binascii.Error, ValueError) as exc:
        raise EventDecodeError(f"token timing is not base64url: {exc}") from None
    if not data or data[0] != VERSION:
        raise EventDecodeError(f"unknown token timing version {data[:1]!r}")
    values: list[int] = []
    value = shift = 0
    for byte in data[1:]:
        value |= (byte & 0x7F) << shift
        if byte & 0x80:
            shift += 7
            continue
        values.append(value)
        value = shift = 0
    if shift or len(values) % 2:
        raise EventDecodeError("token timing is truncated")
    marks: list[Mark] = []
    at = 0
    for head, step in zip(values[::2], values[1::2], strict=True):
        at += (step >> 1) ^ -(step & 1)  # un-zigzag
        marks.append(Mark(head >> 1, at, bool(head & 1)))
    return marks


def decode(content: str, encoded: str) -> list[Token]:
    """The answer's tokens with their text cut from ``content`` (the terminal event's text)."""
    marks = decode_marks(encoded)
    if sum(m.length for m in marks) != len(content):
        raise EventDecodeError(
            f"token timing covers {sum(m.length for m in marks)} characters, the text has {len(content)}"
        )
    out: list[Token] = []
    pos, chunk = 0, -1
    for length, at_ms, chunk_start in marks:
        if chunk_start or chunk < 0:
            chunk += 1
        out.append(Token(content[pos : pos + length], _EPOCH + timedelta(milliseconds=at_ms), chunk))
        pos += length
    return out


class Recorder:
    """Collects one attempt's marks as its tokens arrive (generation's side of ``encode``)."""

    __slots__ = ("lengths", "starts", "times")

    def __init__(self) -> None:
        self.lengths: list[int] = []
        self.times: list[int] = []
        self.starts: set[int] = set()

    def token(self, text: str, at_ms: int) -> None:
        self.lengths.append(len(text))
        self.times.append(at_ms)

    def chunk(self, token_index: int) -> None:
        """A chunk event begins at token ``token_index``."""
        self.starts.add(token_index)

    def encode(self, upto: int | None = None) -> str:
        """The marks of the first ``upto`` tokens (default all): those the chunks carried."""
        n = len(self.lengths) if upto is None else upto
        return encode(Mark(self.lengths[i], self.times[i], i in self.starts) for i in range(n))
