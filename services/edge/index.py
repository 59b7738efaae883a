"""What this edge has seen on the stream lately: session owners and which session each message
belongs to. Fed by the bridge with every stored event, so a session created a moment ago (not
yet in the projection) is already known. Bounded (least recently used entries go first)."""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass
from datetime import datetime
from typing import Generic, TypeVar

from events.schema import ChatEvent, GenerationRequested, MessageSubmitted, SessionCreated, SessionDeleted

K = TypeVar("K")
V = TypeVar("V")


class LRU(Generic[K, V]):
    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self._items: OrderedDict[K, V] = OrderedDict()

    def get(self, key: K) -> V | None:
        value = self._items.get(key)
        if value is not None:
            self._items.move_to_end(key)
        return value

    def put(self, key: K, value: V) -> None:
        self._items[key] = value
        self._items.move_to_end(key)
        while len(self._items) > self.capacity:
            self._items.popitem(last=False)

    def __len__(self) -> int:
        return len(self._items)


@dataclass(frozen=True, slots=True)
class SessionRef:
    session_id: str
    user_id: str
    deleted: bool = False
    last_seq: int | None = None


@dataclass(frozen=True, slots=True)
class MessageRef:
    message_id: str
    session_id: str
    role: str  # "user" | "assistant"
    seq: int | None  # stream sequence that created it (the request, for answers); None: unknown
    created_at: datetime | None = None
    prompt_message_id: str | None = None
    llm_provider: str | None = None
    llm_model: str | None = None


class Index:
    def __init__(self, capacity: int = 100_000) -> None:
        self.sessions: LRU[str, SessionRef] = LRU(capacity)
        self.messages: LRU[str, MessageRef] = LRU(capacity)

    def observe(self, event: ChatEvent, seq: int) -> None:
        match event:
            case SessionCreated():
                self.sessions.put(event.session_id, SessionRef(event.session_id, event.user_id, last_seq=seq))
            case SessionDeleted():
                self.sessions.put(event.session_id, SessionRef(event.session_id, event.user_id, True, seq))
            case MessageSubmitted():
                self.messages.put(
                    event.message_id,
                    MessageRef(event.message_id, event.session_id, "user", seq, event.occurred_at),
                )
            case GenerationRequested():
                self.messages.put(
                    event.message_id,
                    MessageRef(
                        event.message_id,
                        event.session_id,
                        "assistant",
                        seq,
                        event.occurred_at,
                        event.prompt_message_id,
                        event.llm_provider,
                        event.llm_model,
                    ),
                )
            case _:
                pass  # other events change neither owners nor message membership
