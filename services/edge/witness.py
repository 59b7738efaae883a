"""Which sent messages this edge has seen stored, in the sessions it has seen whole.

A send with a ``client_message_id`` is checked against the projection (is that message stored
already?), so that a retry after JetStream's dedup window is not stored and answered twice: one
PostgreSQL read per message sent. But the bridge sees every event stored after the edge started,
once and in stream order (its ordered consumer, and its resubscription from the next sequence
after a reconnect, lose none). So for a session whose ``session.created`` it saw, it has seen
every message sent in it, and a message id it has not seen was never stored: the read is skipped.
Anything else (a session created before this edge started, or dropped from here by the bound) is
read from PostgreSQL as before; and so is every send while the bridge may be behind (``current``:
after a reconnect, or while events stored over a second ago are still pending for it), since a
message stored but not yet seen would pass for new. (The retry read had the same limit with the
projection's lag, which is longer.)

Kept: a hash per message id (a collision can only make a new message look seen, which costs the
read, never a skipped check), up to ``MESSAGES`` in all, over at most ``SESSIONS`` sessions; the
session idle longest is dropped first.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable

from events.schema import ChatEvent, MessageSubmitted, SessionCreated, SessionDeleted

SESSIONS = 20_000
MESSAGES = 200_000


class Witness:
    def __init__(
        self, sessions: int = SESSIONS, messages: int = MESSAGES, current: Callable[[], bool] = lambda: True
    ) -> None:
        self.current = current  # whether the events observed are all there are (the bridge is caught up)
        self._sessions: OrderedDict[str, set[int]] = OrderedDict()  # session id -> its sent messages' hashes
        self._count = 0
        self._max_sessions = sessions
        self._max_messages = messages

    def observe(self, event: ChatEvent) -> None:
        """Called by the bridge for every event it receives, in stream order."""
        if isinstance(event, MessageSubmitted):
            seen = self._sessions.get(event.session_id)
            if seen is not None and event.client_message_id is not None:
                self._sessions.move_to_end(event.session_id)
                if (key := hash(event.message_id)) not in seen:
                    seen.add(key)
                    self._count += 1
                    self._bound()
        elif isinstance(event, SessionCreated):
            if event.session_id not in self._sessions:
                self._sessions[event.session_id] = set()
                self._bound()
        elif isinstance(event, SessionDeleted):
            self._count -= len(self._sessions.pop(event.session_id, ()))

    def never_stored(self, session_id: str, message_id: str) -> bool:
        """True only if ``message_id`` was certainly never stored in ``session_id``."""
        seen = self._sessions.get(session_id)
        return seen is not None and hash(message_id) not in seen and self.current()

    def _bound(self) -> None:
        while self._sessions and (len(self._sessions) > self._max_sessions or self._count > self._max_messages):
            _, dropped = self._sessions.popitem(last=False)
            self._count -= len(dropped)

    def __len__(self) -> int:
        return len(self._sessions)
