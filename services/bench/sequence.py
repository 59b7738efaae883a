"""Gap and duplicate detection for one client's token stream, per ``(message_id, attempt)``.

Each token frame carries ``index`` (chunk number within the attempt, from 0), ``token_index``
(its first token) and ``token_count``; the answer's end says how many tokens there were. A
chunk behind the expected position is a duplicate, one ahead of it a gap (of chunks or tokens).
``evolve`` is pure; ``Checker`` keeps one ``Track`` per stream and collects the anomalies.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Literal

Kind = Literal["gap", "duplicate", "short", "overrun"]


@dataclass(frozen=True, slots=True)
class Track:
    next_index: int = 0
    next_token: int = 0
    ended: bool = False


@dataclass(frozen=True, slots=True)
class Chunk:
    index: int
    token_index: int
    token_count: int


@dataclass(frozen=True, slots=True)
class End:
    """The answer ended; ``tokens`` is how many it had (None: unknown, nothing to check)."""

    tokens: int | None


@dataclass(frozen=True, slots=True)
class Anomaly:
    kind: Kind
    detail: str


def evolve(track: Track, seen: Chunk | End) -> tuple[Track, list[Anomaly]]:
    match seen:
        case Chunk(index=index, token_index=first, token_count=count):
            if track.ended or index < track.next_index or first < track.next_token:
                return track, [
                    Anomaly(
                        "duplicate",
                        f"chunk {index} (tokens {first}+{count}) after chunk {track.next_index - 1}"
                        + (" and the end" if track.ended else ""),
                    )
                ]
            found = []
            if index > track.next_index or first > track.next_token:
                found.append(
                    Anomaly(
                        "gap",
                        f"expected chunk {track.next_index} at token {track.next_token}, "
                        f"got chunk {index} at token {first}",
                    )
                )
            return replace(track, next_index=index + 1, next_token=first + count), found
        case End(tokens=tokens):
            found = []
            if tokens is not None and track.next_token < tokens:
                found.append(Anomaly("short", f"ended after {track.next_token} of {tokens} tokens"))
            elif tokens is not None and track.next_token > tokens:
                found.append(Anomaly("overrun", f"{track.next_token} tokens seen, the answer had {tokens}"))
            return replace(track, ended=True), found
        case _:
            raise TypeError(f"not a stream observation: {seen!r}")


class Checker:
    """Every stream one client sees: ``chunk(...)``/``end(...)``; ``anomalies`` lists findings."""

    def __init__(self) -> None:
        self.tracks: dict[tuple[str, int], Track] = {}
        self.anomalies: list[str] = []

    def _step(self, message_id: str, attempt: int, seen: Chunk | End) -> list[Anomaly]:
        key = (message_id, attempt)
        track, found = evolve(self.tracks.get(key, Track()), seen)
        self.tracks[key] = track
        self.anomalies += [f"{a.kind}: {message_id} attempt {attempt}: {a.detail}" for a in found]
        return found

    def chunk(self, message_id: str, attempt: int, index: int, token_index: int, token_count: int) -> list[Anomaly]:
        return self._step(message_id, attempt, Chunk(index, token_index, token_count))

    def end(self, message_id: str, attempt: int, tokens: int | None) -> list[Anomaly]:
        return self._step(message_id, attempt, End(tokens))

    def count(self, kind: Kind) -> int:
        return sum(1 for a in self.anomalies if a.startswith(f"{kind}:"))
