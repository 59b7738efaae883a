"""Which fetched prompt a generation worker starts next. Pure: no I/O, no clock.

Three rules, so one user's burst cannot take every slot while others wait:

- a user runs at most ``per_user`` answers at once in this worker (a share of its slots);
- among the prompts that may start, the user with the fewest running answers goes first, then
  the oldest prompt;
- a prompt whose session already has an answer running (or paused) here does not start: it
  would only wait for that answer's end while holding a slot. An answer that waits for an
  earlier answer streaming on another worker is ``pause``d and holds no slot meanwhile.
"""

from __future__ import annotations

import math
from collections import Counter, OrderedDict
from collections.abc import Hashable
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Prompt:
    user_id: str
    session_id: str


def share(slots: int, fraction: float) -> int:
    """Answers one user may run at once: ``fraction`` of the slots, at least one."""
    return max(1, min(slots, math.ceil(slots * fraction)))


class Fairness:
    def __init__(self, slots: int, per_user: int, lookahead: int) -> None:
        self.slots = slots
        self.per_user = per_user
        self.lookahead = lookahead  # prompts fetched and not started this worker may hold
        self.running: dict[Hashable, Prompt] = {}
        self.waiting: OrderedDict[Hashable, Prompt] = OrderedDict()
        self.paused: dict[Hashable, Prompt] = {}
        self.resuming: set[Hashable] = set()  # paused answers ready to go on, waiting for a slot

    def wants_more(self) -> bool:
        """Fetch another prompt? Only with a slot free (a busy worker leaves prompts to idle ones)
        and room to look past prompts that may not start yet."""
        return len(self.running) < self.slots and len(self.waiting) < self.lookahead

    def room(self) -> int:
        """How many prompts to fetch now: the free slots, within the look-ahead's room."""
        if not self.wants_more():
            return 0
        return min(self.slots - len(self.running), self.lookahead - len(self.waiting))

    def add(self, key: Hashable, prompt: Prompt) -> None:
        self.waiting[key] = prompt

    def next(self) -> Hashable | None:
        """The waiting prompt to start now (it then counts as running), or None."""
        if len(self.running) + len(self.resuming) >= self.slots or not self.waiting:
            return None
        busy = {p.session_id for p in self.running.values()} | {p.session_id for p in self.paused.values()}
        counts = Counter(p.user_id for p in self.running.values())
        best: Hashable | None = None
        best_count = self.per_user
        for key, prompt in self.waiting.items():  # oldest first
            if prompt.session_id in busy:
                continue
            count = counts[prompt.user_id]
            if count < best_count:
                best, best_count = key, count
                if count == 0:
                    break
        if best is not None:
            self.running[best] = self.waiting.pop(best)
        return best

    def pause(self, key: Hashable) -> None:
        """A running answer waits for something else: its slot is free meanwhile."""
        self.paused[key] = self.running.pop(key)

    def resume(self, key: Hashable) -> bool:
        """Take a slot again for a paused answer, if one is free (paused answers ask first)."""
        if len(self.running) >= self.slots:
            self.resuming.add(key)
            return False
        self.resuming.discard(key)
        self.running[key] = self.paused.pop(key)
        return True

    def finish(self, key: Hashable) -> None:
        for group in (self.running, self.waiting, self.paused):
            group.pop(key, None)
        self.resuming.discard(key)

    def users_running(self) -> Counter[str]:
        return Counter(p.user_id for p in self.running.values())
