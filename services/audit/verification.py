"""Checking stored events against signed checkpoints (pure): the first sequence that differs.

Kinds of findings, each naming a stream sequence:
- ``deleted``: a sealed sequence is gone (deleted, purged, or the tail truncated);
- ``altered``: what is stored at a sealed sequence is not what was sealed there;
- ``reordered``: what is stored there was sealed at another sequence;
- ``inserted``: a sequence inside the sealed range that was not there when sealed;
- ``checkpoint``: the checkpoints themselves do not chain (one removed, replaced or forged).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from services.audit import chain
from services.audit.chain import Checkpoint
from services.audit.conversation import StoredEvent


@dataclass(frozen=True, slots=True)
class Finding:
    seq: int
    kind: str
    detail: str

    def line(self) -> str:
        return f"audit: FAILED at stream seq {self.seq}: {self.kind} ({self.detail})"


@dataclass(frozen=True, slots=True)
class Report:
    events: int  # sealed events found intact
    sealed_through: int
    unsealed: int  # events after the last checkpoint (not yet provable)
    finding: Finding | None = None

    @property
    def ok(self) -> bool:
        return self.finding is None

    def line(self) -> str:
        if self.finding is not None:
            return self.finding.line()
        return f"audit: OK {self.events} events, sealed through seq {self.sealed_through}"


def chained(checkpoints: list[Checkpoint]) -> Finding | None:
    """Each checkpoint continues the one before: numbering, links, sequences, counts."""
    prev_link, through, count = chain.GENESIS.hex(), 0, 0
    for n, cp in enumerate(checkpoints, 1):
        problems = []
        if cp.number != n:
            problems.append(f"checkpoint {cp.number} where {n} was expected")
        if cp.prev_link != prev_link:
            problems.append(f"checkpoint {cp.number} does not continue the chain of checkpoint {n - 1}")
        if cp.first_seq <= through:
            problems.append(f"checkpoint {cp.number} starts at {cp.first_seq}, inside the previous one")
        if cp.count != count + len(cp.sequences()) or len(cp.entry_list()) != len(cp.sequences()):
            problems.append(f"checkpoint {cp.number} counts do not add up")
        if problems:
            return Finding(cp.first_seq, "checkpoint", "; ".join(problems))
        prev_link, through, count = cp.link, cp.through_seq, cp.count
    return None


class Walk:
    """Feed stored events (the whole stream, or with ``session_id`` that session's events) in
    stream order; the first finding ends the walk. Incremental, so a long log is never held."""

    def __init__(self, checkpoints: list[Checkpoint], session_id: str | None = None) -> None:
        self.sealed_through = checkpoints[-1].through_seq if checkpoints else 0
        self.finding = chained(checkpoints)
        self.by_seq: dict[int, tuple[bytes, bytes]] = {}
        for cp in checkpoints:
            self.by_seq.update(zip(cp.sequences(), cp.entry_list(), strict=True))
        self.where = {d: s for s, (d, _) in self.by_seq.items()}
        self.tag = chain.session_tag(session_id) if session_id is not None else None
        self.expected = [s for s, (_, t) in self.by_seq.items() if self.tag is None or t == self.tag]
        # Links can only be recomputed over the whole stream; one session is checked by digests.
        self.boundaries = {cp.through_seq: cp.link for cp in checkpoints} if session_id is None else {}
        self.link, self.i, self.intact, self.unsealed = chain.GENESIS, 0, 0, 0

    def feed(self, item: StoredEvent) -> Finding | None:
        if self.finding is None:
            self.finding = self._step(item)
        return self.finding

    def _step(self, item: StoredEvent) -> Finding | None:
        if not chain.permanent(item.subject):
            return None  # short-lived by design: never sealed, its removal is no tampering
        if self.i < len(self.expected) and self.expected[self.i] < item.seq:
            return _deleted(self.expected[self.i])
        sealed = self.by_seq.get(item.seq)
        if sealed is None:
            if item.seq <= self.sealed_through:
                return Finding(item.seq, "inserted", "not there when sealed")
            self.unsealed += 1
            return None
        d = chain.digest(item.subject, item.data)
        if d != sealed[0]:
            if (other := self.where.get(d)) is not None:
                return Finding(item.seq, "reordered", f"holds what was sealed at seq {other}")
            return Finding(item.seq, "altered", f"{item.subject}: stored bytes differ from the sealed ones")
        if self.tag is not None and sealed[1] != self.tag:
            return Finding(item.seq, "altered", "sealed under another session")
        if self.boundaries:
            self.link = chain.link(self.link, item.seq, item.subject, item.data)
            if item.seq in self.boundaries and self.link.hex() != self.boundaries[item.seq]:
                return Finding(item.seq, "altered", "hash chain breaks here")
        self.i += 1
        self.intact += 1
        return None

    def finish(self) -> Report:
        if self.finding is None and self.i < len(self.expected):
            self.finding = _deleted(self.expected[self.i])  # the tail is gone
        return Report(self.intact, self.sealed_through, self.unsealed, self.finding)


def check(checkpoints: list[Checkpoint], stored: Iterable[StoredEvent], session_id: str | None = None) -> Report:
    walk = Walk(checkpoints, session_id)
    for item in stored:
        if walk.feed(item) is not None:
            break
    return walk.finish()


def _deleted(seq: int) -> Finding:
    return Finding(seq, "deleted", "sealed, no longer stored")
