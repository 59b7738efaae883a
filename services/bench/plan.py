"""What one load-generator process is asked to do, and what it reports back (msgspec Structs:
the plan goes over as JSON, the result comes back as a msgpack file)."""

from __future__ import annotations

from typing import Literal

import msgspec

# Frame receive times are counted in buckets of this many seconds (a timeline of the run).
BUCKET_S = 0.25


class Plan(msgspec.Struct, kw_only=True, frozen=True):
    kind: Literal["chat", "idle", "replay"]
    base_url: str  # http://host:port of the edge or the baseline
    run: str  # prefix of every nonce: unique per scenario and system
    clients: int  # sockets this process opens
    first_client: int = 0  # global number of its first client (nonces, stagger)
    total_clients: int = 0  # clients over all processes (stagger); 0: ``clients``
    tokens: int = 40  # tokens per answer ([[tokens:N]])
    rate: float = 30.0  # tokens per second per answer ([[rate:R]])
    duration_s: float = 10.0  # clients send prompts until t0 + duration
    stagger_s: float = 0.0  # client starts spread uniformly over this many seconds
    drain_s: float = 20.0  # after the deadline, wait this long at most for answers in flight
    answer_timeout_s: float = 60.0  # an answer not finished by then counts as an error
    connect_concurrency: int = 50
    sessions: list[str] = msgspec.field(default_factory=list)  # replay: existing sessions to replay
    # Open loop: prompts at these offsets from t0 (this process's share of a Poisson schedule),
    # each on a socket that is free; empty: closed loop (each client asks again once answered).
    arrivals: list[float] = msgspec.field(default_factory=list)
    result_path: str = ""


class Answer(msgspec.Struct, array_like=True):
    """One prompt and its answer as one client saw it. ``tokens``: ``[token_index, token_count,
    receive time, attempt]`` per token frame (a chunk's tokens share its receive time)."""

    nonce: str
    sent_at: float
    message_id: str = ""
    tokens: list[tuple[int, int, float, int]] = msgspec.field(default_factory=list)
    done_at: float | None = None
    outcome: str = "unfinished"  # completed | failed | cancelled | error | timeout | unfinished
    resent: int = 0
    scheduled_at: float = 0.0  # open loop: when the prompt was due (sent_at is later if no socket was free)


class Replay(msgspec.Struct, array_like=True):
    """One full-session replay: ``after_seq=0`` until the ``live`` frame."""

    session_id: str
    frames: int  # frames with a sequence number (stored events) replayed
    started_at: float
    live_at: float


class Result(msgspec.Struct, kw_only=True):
    kind: str
    clients: int
    connected: int = 0
    sessions: list[str] = msgspec.field(default_factory=list)
    answers: list[Answer] = msgspec.field(default_factory=list)
    errors: list[str] = msgspec.field(default_factory=list)
    anomalies: list[str] = msgspec.field(default_factory=list)
    frames: int = 0
    frames_by_type: dict[str, int] = msgspec.field(default_factory=dict)
    frame_buckets: dict[int, int] = msgspec.field(default_factory=dict)  # bucket -> frames received
    reconnects: dict[str, int] = msgspec.field(default_factory=dict)  # close code -> count
    restarts: int = 0  # "restarted" updates seen: another worker took an answer over
    replays: list[Replay] = msgspec.field(default_factory=list)
    t0: float = 0.0
    ended_at: float = 0.0
    cpu_user_s: float = 0.0
    cpu_system_s: float = 0.0
