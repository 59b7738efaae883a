"""Settings of the infrastructure: NATS, PostgreSQL, the embedded servers, the stream's limits."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlsplit

from pydantic import field_validator

from services import credentials
from services.settings.area import Area, env


class Infrastructure(Area):
    nats_url: str | None = env(
        "NATS_URL", "NATS server(s), comma separated. Unset: start an embedded one.", default=None
    )
    database_url: str | None = env("DATABASE_URL", "PostgreSQL DSN. Unset: start an embedded one.", default=None)
    data_dir: Path = env(
        "PARLEY_DATA_DIR", "Where the embedded NATS, PostgreSQL and logs keep data.", default=Path(".parley")
    )
    nats_port: int = env(
        "PARLEY_NATS_PORT", "Port of the embedded NATS server (0: any free port).", default=4222, ge=0, le=65535
    )
    pg_port: int = env(
        "PARLEY_PG_PORT", "Port of the embedded PostgreSQL (0: any free port).", default=5433, ge=0, le=65535
    )
    min_free_mb: int = env(
        "PARLEY_MIN_FREE_MB", "Free space (MiB) the data folder needs for `parley up` to start.", default=512, ge=0
    )
    model_port: int = env(
        "PARLEY_MODEL_PORT",
        "Port of the embedded model server (0: a free port at the first start, kept across its restarts).",
        default=0,
        ge=0,
        le=65535,
    )
    stream_replicas: int = env(
        "PARLEY_STREAM_REPLICAS", "JetStream replicas (1 local, 3 in a cluster).", default=1, ge=1, le=5
    )
    nats_store_key: str | None = env(
        "PARLEY_NATS_STORE_KEY",
        "Key of the embedded NATS store cipher. Unset: generated at the first start into "
        "PARLEY_DATA_DIR/credentials.json (mode 0600).",
        default=None,
        min_length=16,
    )
    stream_max_age_s: float = env(
        "PARLEY_STREAM_MAX_AGE_S",
        "Events older than this leave the stream (0: kept forever). A limit changed on the stream "
        "by an operator is kept and reported at start, not overwritten.",
        default=0.0,
        ge=0,
    )
    stream_max_bytes: int = env(
        "PARLEY_STREAM_MAX_BYTES",
        "Largest stream size (-1: no limit, the default: the log is the audit record). When full, new "
        "messages get 503 / `unavailable`; nothing stored is dropped to make room.",
        default=-1,
        ge=-1,
    )
    duplicate_window_s: float = env(
        "PARLEY_DUPLICATE_WINDOW_S", "JetStream dedup window for idempotent sends.", default=120.0, gt=0
    )
    nats_sync: str = env(
        "PARLEY_NATS_SYNC",
        "When the embedded NATS (and deploy/'s) fsyncs its store: `always` (before every ack) or an"
        " interval (`1s`, `500ms`; nats-server's own default is `2m`). See README: Durability.",
        default="1s",
        pattern=r"^(always|[0-9]+(ms|s|m|h))$",
    )
    nats_procs: int = env(
        "PARLEY_NATS_PROCS",
        "Cores the embedded nats-server's Go runtime may run on at once (GOMAXPROCS; 0: all of them)."
        " One spends ~30 % less CPU per event beside Parley's own processes on a small machine: Go's"
        " idle threads spin looking for work on every other core. See README: Benchmarks.",
        default=1,
        ge=0,
    )
    delta_retention_s: float = env(
        "PARLEY_DELTA_RETENTION_S",
        "How long token deltas stay in the stream for live delivery and resume; terminal events keep the"
        " text and token timing for good (0: keep deltas too).",
        default=3600.0,
        ge=0,
    )

    @field_validator("nats_url")
    @classmethod
    def _nats_url(cls, value: str | None) -> str | None:
        if value is None or value == "":
            return None
        for url in value.split(","):
            parts = urlsplit(url.strip())
            if parts.scheme not in {"nats", "tls", "ws", "wss"} or not parts.hostname:
                raise ValueError(f"expected nats://host:port[,nats://...], got {credentials.redact(url.strip())!r}")
        return value

    @field_validator("database_url")
    @classmethod
    def _database_url(cls, value: str | None) -> str | None:
        if value is None or value == "":
            return None
        parts = urlsplit(value)
        if parts.scheme not in {"postgres", "postgresql"}:
            raise ValueError(f"expected postgresql://user@host:port/db, got {credentials.redact(value)!r}")
        return value
