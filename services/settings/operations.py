"""Settings of what runs beside the answers: projections, the audit sealer, logs and traces."""

from __future__ import annotations

from typing import Literal

from pydantic import field_validator

from services.settings.area import Area, CommaList, env, http_url


class Projections(Area):
    projection_batch: int = env(
        "PARLEY_PROJECTION_BATCH", "Events applied per projection transaction.", default=500, ge=1
    )
    projection_flush_ms: float = env(
        "PARLEY_PROJECTION_FLUSH_MS",
        "How long a projection worker waits for events before it counts itself idle and moves its checkpoint over the events it is not delivered (token deltas); the usage projection gathers a batch this long.",
        default=250.0,
        gt=0,
    )
    projection_settle_ms: float = env(
        "PARLEY_PROJECTION_SETTLE_MS",
        "How long any other event (a message, an answer's start or end) waits for the events that"
        " follow it before it is written to Postgres: reads after a write wait at most this much longer.",
        # 25, not 5: fewer, bigger transactions. 100 streams x 30 tok/s of synthetic events: worker
        # 67.8 -> 58.8 us/token, PostgreSQL 34.0 -> 28.5 (-13 / -16 %); a read waits <= 20 ms more.
        default=25.0,
        ge=0,
    )
    projection_nice: int = env(
        "PARLEY_PROJECTION_NICE",
        "CPU priority (nice value) `parley projections` lowers itself and its local PostgreSQL"
        " backends to: under contention the read models lag a little more instead of delaying tokens. 0: unchanged.",
        # 5, not 10: at 10 the read models fell 1.7-3.3 s behind at 100 streams (p50), beyond the
        # edge's 2 s read-your-writes wait; at 5, 0.3-0.5 s (quick bench, busy machine).
        default=5,
        ge=0,
        le=19,
    )
    projections: CommaList = env(
        "PARLEY_PROJECTIONS",
        "Projections `parley projections` runs and rebuilds, comma separated (chat, usage). Unset: all.",
        default_factory=list,
    )
    projection_fault: str | None = env(
        "PARLEY_PROJECTION_FAULT",
        "Tests only: `after_apply:N` or `after_commit:N` SIGKILLs the worker at that point of its N-th batch.",
        default=None,
        pattern=r"^(after_apply|after_commit):[1-9][0-9]*$",
    )


class Audit(Area):
    audit_signing_key: str | None = env(
        "PARLEY_AUDIT_SIGNING_KEY",
        "Ed25519 private key (PEM text or a path) the sealer signs checkpoints with. Unset: one is"
        " generated at first start in <PARLEY_DATA_DIR>/audit/signing-key.pem (mode 0600).",
        default=None,
    )
    audit_checkpoint_events: int = env(
        "PARLEY_AUDIT_CHECKPOINT_EVENTS", "The sealer signs a checkpoint every this many events...", default=1000, ge=1
    )
    audit_checkpoint_s: float = env(
        "PARLEY_AUDIT_CHECKPOINT_S", "... or this many seconds after the first unsealed event.", default=10.0, gt=0
    )


class Observability(Area):
    log_level: Literal["debug", "info", "warning", "error"] = env(
        "PARLEY_LOG_LEVEL", "debug, info, warning or error.", default="info"
    )
    log_format: Literal["auto", "json", "console"] = env(
        "PARLEY_LOG_FORMAT", "auto: console on a terminal, JSON otherwise.", default="auto"
    )
    otel_endpoint: str | None = env(
        "PARLEY_OTEL_ENDPOINT",
        "OTLP/HTTP collector (e.g. `http://collector:4318`) for each prompt's waterfall of spans. Unset: tracing off.",
        default=None,
    )
    trace_sample: float = env(
        "PARLEY_TRACE_SAMPLE", "Share of prompts traced when PARLEY_OTEL_ENDPOINT is set.", default=1.0, ge=0, le=1
    )

    @field_validator("otel_endpoint")
    @classmethod
    def _otel_url(cls, value: str | None) -> str | None:
        return http_url(value)
