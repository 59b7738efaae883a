"""Fair use per user (docs/protocol.md, "Limits"). Pure: the clock is passed in.

Answers asked for and answers in flight are counted from the stream: every edge's bridge sees
every ``generation.requested`` and terminal event (``observe``), so the counts hold across
edges, not only for the requests this edge took. Open sockets are this edge's own.
"""

from __future__ import annotations

import math
import time
from collections import Counter, OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

from events.schema import ChatEvent, GenerationCancelled, GenerationCompleted, GenerationFailed, GenerationRequested

WINDOW_S = 60.0
# An answer with no end for this long is not counted any more (its worker died and nobody
# ended it; the user must not stay blocked for it).
STALE_S = 900.0
# Retry hint when the in-flight limit is what refused: answers end within seconds to minutes.
IN_FLIGHT_RETRY_S = 5.0


@dataclass(frozen=True, slots=True)
class Refusal:
    reason: str
    retry_after_s: float | None


class Quota:
    def __init__(
        self,
        *,
        sends_per_minute: int,
        answers_in_flight: int,
        sockets_per_user: int,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.sends_per_minute = sends_per_minute
        self.answers_in_flight = answers_in_flight
        self.sockets_per_user = sockets_per_user
        self.clock = clock
        # user -> answer id -> when it was asked for (the last WINDOW_S only)
        self._asked: dict[str, OrderedDict[str, float]] = {}
        # user -> answer id -> when it was asked for (until it ends, or STALE_S)
        self._open: dict[str, dict[str, float]] = {}
        self._sockets: Counter[str] = Counter()

    # -- what the stream says ---------------------------------------------------------------------

    def observe(self, event: ChatEvent) -> None:
        """Called for every event this edge stores or sees (twice for its own: idempotent)."""
        match event:
            case GenerationRequested():
                now = self.clock()
                self._asked.setdefault(event.user_id, OrderedDict()).setdefault(event.message_id, now)
                self._open.setdefault(event.user_id, {}).setdefault(event.message_id, now)
                self._prune(event.user_id, now)
            case GenerationCompleted() | GenerationFailed() | GenerationCancelled():
                answers = self._open.get(event.user_id)
                if answers is not None:
                    answers.pop(event.message_id, None)
                    if not answers:
                        del self._open[event.user_id]
            case _:
                pass

    def _prune(self, user: str, now: float) -> None:
        asked = self._asked.get(user)
        while asked and next(iter(asked.values())) <= now - WINDOW_S:
            asked.popitem(last=False)
        if asked is not None and not asked:
            del self._asked[user]
        answers = self._open.get(user)
        if answers:
            for answer_id in [a for a, at in answers.items() if at <= now - STALE_S]:
                del answers[answer_id]
            if not answers:
                del self._open[user]

    # -- decisions --------------------------------------------------------------------------------

    def check_send(self, user: str) -> Refusal | None:
        """May ``user`` ask for one more answer now (a message or a regeneration)?"""
        now = self.clock()
        self._prune(user, now)
        asked = self._asked.get(user)
        if self.sends_per_minute and asked and len(asked) >= self.sends_per_minute:
            oldest = next(iter(asked.values()))
            wait = max(1.0, math.ceil(oldest + WINDOW_S - now))
            return Refusal(f"at most {self.sends_per_minute} messages a minute (PARLEY_SENDS_PER_MINUTE)", wait)
        answers = self._open.get(user)
        if self.answers_in_flight and answers and len(answers) >= self.answers_in_flight:
            return Refusal(
                f"at most {self.answers_in_flight} answers at once (PARLEY_ANSWERS_IN_FLIGHT); wait for one to end",
                IN_FLIGHT_RETRY_S,
            )
        return None

    def open_socket(self, user: str) -> Refusal | None:
        """Count a socket of ``user``, unless that would pass the limit (then nothing is counted)."""
        if self.sockets_per_user and self._sockets[user] >= self.sockets_per_user:
            return Refusal(f"at most {self.sockets_per_user} open sockets per user (PARLEY_SOCKETS_PER_USER)", None)
        self._sockets[user] += 1
        return None

    def close_socket(self, user: str) -> None:
        self._sockets[user] -= 1
        if self._sockets[user] <= 0:
            del self._sockets[user]

    def in_flight(self, user: str) -> int:
        return len(self._open.get(user, ()))
