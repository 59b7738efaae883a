"""Stream and bucket definitions, and the one place that creates or updates them."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace

import structlog
from nats.js import JetStreamContext, api
from nats.js.errors import NotFoundError

from events import subjects

CHAT_STREAM = "PARLEY_CHAT"
# Live LLM configuration (default provider, model, failover order, limits); every generation
# worker watches it, so a change applies without restart.
CONFIG_BUCKET = "parley_llm_config"
# Signed checkpoints of the hash chain over PARLEY_CHAT (services/audit): kept forever.
AUDIT_STREAM = "PARLEY_AUDIT"
AUDIT_CHECKPOINTS = "parley.audit.checkpoints"


@dataclass(frozen=True, slots=True)
class StreamSettings:
    replicas: int = 1
    duplicate_window_s: float = 120.0
    max_age_s: float = 0.0  # 0 keeps events forever: the stream is the source of truth
    max_bytes: int = -1  # -1: no limit; when full, new events are refused (DiscardPolicy.NEW)


# Limits an operator may own: ``ensure`` sets them from settings, but keeps (and reports) a value
# someone else changed. The stream's metadata remembers what Parley last set, to tell the two apart.
LIMITS = ("max_age", "max_bytes")
_APPLIED = "parley_applied_"


@dataclass(frozen=True, slots=True)
class KeptLimit:
    """A limit the stream has that Parley did not set: kept, and reported."""

    stream: str
    limit: str
    value: float
    setting: float
    parley_set: float


def chat_stream(cfg: StreamSettings) -> api.StreamConfig:
    return api.StreamConfig(
        name=CHAT_STREAM,
        description="Parley chat events: the source of truth for sessions, messages and answers",
        subjects=[subjects.ALL],
        retention=api.RetentionPolicy.LIMITS,
        storage=api.StorageType.FILE,
        num_replicas=cfg.replicas,
        duplicate_window=cfg.duplicate_window_s,
        max_age=cfg.max_age_s,
        max_bytes=cfg.max_bytes,
        # A full stream refuses new events (the edge answers 503) rather than dropping the oldest:
        # an accepted message is never lost to make room. Age limits still expire old events.
        discard=api.DiscardPolicy.NEW,
        # Direct gets let readers fetch a session's last event by subject without a consumer.
        allow_direct=True,
        metadata={_APPLIED + name: _text(_limit_of(cfg, name)) for name in LIMITS},
    )


def audit_stream(cfg: StreamSettings) -> api.StreamConfig:
    return api.StreamConfig(
        name=AUDIT_STREAM,
        description="Parley audit: signed checkpoints of the hash chain over PARLEY_CHAT",
        subjects=[AUDIT_CHECKPOINTS],
        retention=api.RetentionPolicy.LIMITS,
        storage=api.StorageType.FILE,
        num_replicas=cfg.replicas,
        allow_direct=True,
    )


def _limit_of(cfg: StreamSettings, name: str) -> float:
    return {"max_age": cfg.max_age_s, "max_bytes": cfg.max_bytes}[name]


def _text(value: float) -> str:
    return repr(float(value))


def _same(a: float | None, b: float | None) -> bool:
    # The server reports max_age in nanoseconds, nats-py turns it back into seconds: allow rounding.
    return a is not None and b is not None and abs(float(a) - float(b)) <= 1e-6 * max(1.0, abs(float(b)))


def reconcile(current: api.StreamConfig, wanted: api.StreamConfig) -> tuple[api.StreamConfig, list[KeptLimit]]:
    """The config to apply to an existing stream: ``wanted``, except limits an operator changed
    (the stream's value differs from the one Parley recorded setting), which stay as they are."""
    metadata = dict(current.metadata or {})
    out = replace(current, **{f: getattr(wanted, f) for f in _OWNED})
    kept = []
    for name in LIMITS:
        have, want = getattr(current, name), getattr(wanted, name)
        recorded = metadata.get(_APPLIED + name)
        ours = recorded is None or _same(have, float(recorded))  # no record: set by an older Parley
        if ours or _same(have, want):
            setattr(out, name, want)
            metadata[_APPLIED + name] = _text(want)
        else:
            kept.append(KeptLimit(current.name, name, have, want, float(recorded)))
    out.metadata = metadata
    return out, kept


# Fields Parley decides whatever the stream has (everything else an operator set is left alone).
_OWNED = (
    "description",
    "subjects",
    "retention",
    "storage",
    "num_replicas",
    "duplicate_window",
    "discard",
    "allow_direct",
)


def _differs(current: api.StreamConfig, new: api.StreamConfig) -> bool:
    for name in (*_OWNED, *LIMITS):
        a, b = getattr(current, name), getattr(new, name)
        if isinstance(a, float | int) and isinstance(b, float | int) and not isinstance(a, bool):
            if not _same(a, b):
                return True
        elif a != b:
            return True
    return any((current.metadata or {}).get(k) != v for k, v in (new.metadata or {}).items())


async def ensure(
    js: JetStreamContext, cfg: StreamSettings, report: Callable[[KeptLimit], None] | None = None
) -> api.StreamInfo:
    """Create the stream and buckets, or bring an existing stream's config up to date without
    undoing an operator's own limits (each kept one goes to ``report``, by default a warning)."""
    wanted = chat_stream(cfg)
    try:
        info = await js.stream_info(CHAT_STREAM)
    except NotFoundError:
        info = await js.add_stream(wanted)
    else:
        new, kept = reconcile(info.config, wanted)
        for limit in kept:
            (report or _warn)(limit)
        if _differs(info.config, new):
            info = await js.update_stream(new)
    try:
        await js.stream_info(AUDIT_STREAM)
    except NotFoundError:
        await js.add_stream(audit_stream(cfg))
    await js.create_key_value(
        api.KeyValueConfig(bucket=CONFIG_BUCKET, history=10, replicas=cfg.replicas, storage=api.StorageType.FILE)
    )
    return info


def _warn(limit: KeptLimit) -> None:
    structlog.get_logger("streams").warning(
        "stream limit changed outside Parley; kept",
        stream=limit.stream,
        limit=limit.limit,
        value=limit.value,
        setting=limit.setting,
        parley_set=limit.parley_set,
    )
