"""Token deltas reach a client without a hole: within one attempt, a delta is passed on only if
it follows the last one passed on.

The stream can hold a hole: when nats-server goes away, events generation had written to the
old connection may never be stored while later ones are. Generation then ends that attempt and
the prompt is answered anew (a ``restarted`` frame, then the new attempt from its first delta),
and the terminal event carries the whole text. So a delta after a hole (or a repeat) is held
back here, and the client sees the attempt pause, then start over: never a gap or a duplicate.
One ``Continuity`` per reader of the stream in order (the bridge; each replay).
"""

from __future__ import annotations

from events.schema import (
    ChatEvent,
    GenerationCancelled,
    GenerationChunk,
    GenerationCompleted,
    GenerationFailed,
    GenerationRestarted,
    GenerationStarted,
)

TRACKED = 100_000  # answers streaming at once that one edge follows; more is cheap to forget
# Tuples, not unions: isinstance with a tuple is several times faster, and this runs per event.
_ENDS = (GenerationCompleted, GenerationFailed, GenerationCancelled)
_STARTS = (GenerationRestarted, GenerationStarted)


class Continuity:
    def __init__(self) -> None:
        self._next: dict[str, tuple[int, int]] = {}  # message id -> (attempt, next delta index)

    def admit(self, event: ChatEvent) -> bool:
        """Whether ``event`` may be passed on; every event of the stream goes through, in order."""
        if isinstance(event, GenerationChunk):
            return self._admit_delta(event)
        if isinstance(event, _ENDS):
            self._next.pop(event.message_id, None)
            return True
        if isinstance(event, _STARTS):
            known = self._next.get(event.message_id)
            if known is None or event.attempt > known[0]:  # a new attempt starts from its first delta
                self._remember(event.message_id, event.attempt, 0)
        return True

    def _admit_delta(self, event: GenerationChunk) -> bool:
        known = self._next.get(event.message_id)
        if known is not None:
            attempt, expected = known
            if event.attempt < attempt:
                return False  # a void attempt's straggler
            expected = expected if event.attempt == attempt else 0
            if event.index != expected:
                self._next[event.message_id] = (event.attempt, expected)
                return False
            self._next[event.message_id] = (event.attempt, event.index + 1)
            return True
        # Unknown answer: this reader joined it midway, so its first delta is where it starts.
        self._remember(event.message_id, event.attempt, event.index + 1)
        return True

    def _remember(self, message_id: str, attempt: int, expected: int) -> None:
        if message_id not in self._next and len(self._next) >= TRACKED:
            self._next.clear()
        self._next[message_id] = (attempt, expected)
