"""The hash chain over the permanent log and its signed checkpoints (pure: no I/O).

Each link is SHA-256 over the previous link, the stream sequence, the subject and the stored
bytes, with lengths so no two inputs run together. A checkpoint, signed with Ed25519, closes a
run of links: it carries the link before and after the run, the sequences it covers, and per
event a short digest of (subject, bytes) and a tag of its session, so ``verify`` can name the
first sequence that differs and check one session alone.
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime

import msgspec
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from events import subjects
from events.errors import InvalidSubjectToken
from events.schema import GenerationDelta, type_tag

GENESIS = bytes(32)
DIGEST_BYTES = 8
TAG_BYTES = 4
ENTRY_BYTES = DIGEST_BYTES + TAG_BYTES


# Subjects whose events are short-lived by design (token deltas, swept after
# PARLEY_DELTA_RETENTION_S; events.subjects.DELTAS): outside the chain, which covers the
# permanent log only. Everything else is sealed (old generation.chunk events included: never purged).
SHORT_LIVED_SUFFIXES = (f".{type_tag(GenerationDelta)}",)


def permanent(subject: str) -> bool:
    return not subject.endswith(SHORT_LIVED_SUFFIXES)


def link(prev: bytes, seq: int, subject: str, data: bytes) -> bytes:
    s = subject.encode()
    return hashlib.sha256(
        prev + seq.to_bytes(8, "big") + len(s).to_bytes(4, "big") + s + len(data).to_bytes(8, "big") + data
    ).digest()


def digest(subject: str, data: bytes) -> bytes:
    """What was stored, without where: equal digests at two sequences mean a move, not an edit."""
    s = subject.encode()
    return hashlib.sha256(len(s).to_bytes(4, "big") + s + data).digest()[:DIGEST_BYTES]


def session_tag(session_id: str) -> bytes:
    return hashlib.sha256(session_id.encode()).digest()[:TAG_BYTES]


def tag_of(subject: str) -> bytes:
    try:
        return session_tag(subjects.session_of(subject))
    except InvalidSubjectToken:
        return bytes(TAG_BYTES)


class Checkpoint(msgspec.Struct, frozen=True, kw_only=True):
    """The signed body. ``seqs`` are [first, last] ranges of sealed sequences (gaps are real);
    ``entries`` is base64 of ENTRY_BYTES per sealed event (digest then session tag), in order."""

    version: int = 1
    stream: str
    number: int  # 1, 2, ... : the checkpoints form a chain too (prev_link = the last one's link)
    first_seq: int
    through_seq: int
    count: int  # events sealed so far, this checkpoint's included
    prev_link: str  # hex
    link: str  # hex
    seqs: list[tuple[int, int]]
    entries: str
    sealed_at: datetime
    key_id: str

    def sequences(self) -> list[int]:
        return [s for first, last in self.seqs for s in range(first, last + 1)]

    def entry_list(self) -> list[tuple[bytes, bytes]]:
        raw = base64.b64decode(self.entries)
        return [
            (raw[i : i + DIGEST_BYTES], raw[i + DIGEST_BYTES : i + ENTRY_BYTES])
            for i in range(0, len(raw), ENTRY_BYTES)
        ]


class Signed(msgspec.Struct, frozen=True, kw_only=True):
    """What the checkpoint stream stores: the body's exact bytes and the signature over them."""

    body: str  # base64 of the Checkpoint's JSON
    signature: str  # base64 Ed25519
    public_key: str  # base64 raw, for convenience only: verify trusts the key it is given


def key_id(public: Ed25519PublicKey) -> str:
    return hashlib.sha256(raw_public(public)).hexdigest()[:16]


def raw_public(public: Ed25519PublicKey) -> bytes:
    from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

    return public.public_bytes(Encoding.Raw, PublicFormat.Raw)


def sign(body: Checkpoint, key: Ed25519PrivateKey) -> bytes:
    data = msgspec.json.encode(body)
    signed = Signed(
        body=base64.b64encode(data).decode(),
        signature=base64.b64encode(key.sign(data)).decode(),
        public_key=base64.b64encode(raw_public(key.public_key())).decode(),
    )
    return msgspec.json.encode(signed)


class BadCheckpoint(Exception):
    pass


def open_signed(data: bytes, public: Ed25519PublicKey) -> Checkpoint:
    """The checkpoint in ``data`` if ``public`` signed it; ``BadCheckpoint`` otherwise."""
    try:
        signed = msgspec.json.decode(data, type=Signed)
        body = base64.b64decode(signed.body)
        public.verify(base64.b64decode(signed.signature), body)
        return msgspec.json.decode(body, type=Checkpoint)
    except InvalidSignature:
        raise BadCheckpoint("signature does not verify with the given public key") from None
    except (msgspec.DecodeError, msgspec.ValidationError, ValueError) as exc:
        raise BadCheckpoint(f"malformed checkpoint: {exc}") from None


@dataclass
class Sealer:
    """The chain's running state: fold events in, cut a checkpoint when asked."""

    stream: str
    prev_link: bytes = GENESIS
    count: int = 0
    number: int = 0
    through_seq: int = 0
    pending: list[tuple[int, bytes]] = field(default_factory=list)  # (seq, entry)
    link: bytes = GENESIS

    @classmethod
    def after(cls, last: Checkpoint) -> Sealer:
        done = bytes.fromhex(last.link)
        return cls(
            stream=last.stream,
            prev_link=done,
            link=done,
            count=last.count,
            number=last.number,
            through_seq=last.through_seq,
        )

    def add(self, seq: int, subject: str, data: bytes) -> None:
        if seq <= self.through_seq or not permanent(subject):
            return  # already sealed (a redelivery after a restart), or not part of the permanent log
        self.link = link(self.link, seq, subject, data)
        self.pending.append((seq, digest(subject, data) + tag_of(subject)))
        self.through_seq = seq

    def cut(self, at: datetime, key: Ed25519PrivateKey) -> tuple[Checkpoint, bytes] | None:
        """The next checkpoint over everything pending (signed bytes too); None when nothing is."""
        if not self.pending:
            return None
        body = Checkpoint(
            stream=self.stream,
            number=self.number + 1,
            first_seq=self.pending[0][0],
            through_seq=self.through_seq,
            count=self.count + len(self.pending),
            prev_link=self.prev_link.hex(),
            link=self.link.hex(),
            seqs=ranges(s for s, _ in self.pending),
            entries=base64.b64encode(b"".join(e for _, e in self.pending)).decode(),
            sealed_at=at,
            key_id=key_id(key.public_key()),
        )
        return body, sign(body, key)

    def committed(self, body: Checkpoint) -> None:
        self.prev_link, self.count, self.number = bytes.fromhex(body.link), body.count, body.number
        self.pending = [(s, e) for s, e in self.pending if s > body.through_seq]


def ranges(seqs: Iterable[int]) -> list[tuple[int, int]]:
    out: list[list[int]] = []
    for s in seqs:
        if out and s == out[-1][1] + 1:
            out[-1][1] = s
        else:
            out.append([s, s])
    return [(a, b) for a, b in out]
