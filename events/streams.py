"""Stream and bucket definitions, and the one place that creates or updates them."""

from __future__ import annotations

from dataclasses import dataclass

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
    max_bytes: int = -1


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
        discard=api.DiscardPolicy.OLD,
        # Direct gets let readers fetch a session's last event by subject without a consumer.
        allow_direct=True,
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


async def ensure(js: JetStreamContext, cfg: StreamSettings) -> api.StreamInfo:
    """Create the stream and buckets, or bring an existing stream's config up to date."""
    config = chat_stream(cfg)
    try:
        await js.stream_info(CHAT_STREAM)
    except NotFoundError:
        info = await js.add_stream(config)
    else:
        info = await js.update_stream(config)
    try:
        await js.stream_info(AUDIT_STREAM)
    except NotFoundError:
        await js.add_stream(audit_stream(cfg))
    await js.create_key_value(
        api.KeyValueConfig(bucket=CONFIG_BUCKET, history=10, replicas=cfg.replicas, storage=api.StorageType.FILE)
    )
    return info
