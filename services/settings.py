"""One typed settings object per process, read from environment variables (``pydantic-settings``).

Every field names its variable (``env(NAME, description, ...)``); ``load()`` turns a missing or
malformed value into one ``SettingsError`` line naming it. ``load(mapping)`` reads that mapping
instead of ``os.environ`` (a settings source built from it), so tests never see the caller's
environment. The README's settings table is generated from this class (``parley settings``).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Literal
from urllib.parse import urlsplit

from pydantic import AliasChoices, Field, ValidationError, field_validator
from pydantic_settings import BaseSettings, EnvSettingsSource, NoDecode, SettingsConfigDict
from pydantic_settings.sources.utils import parse_env_vars

from services import credentials
from services.errors import SettingsError

Provider = Literal["local", "openrouter"]


def env(name: str, description: str, **kwargs):
    return Field(validation_alias=AliasChoices(name), description=description, **kwargs)


class Settings(BaseSettings):
    # Empty values mean "unset": a blank NATS_URL= must not disable the embedded default by accident.
    model_config = SettingsConfigDict(extra="ignore", frozen=True, case_sensitive=True, env_ignore_empty=True)

    # -- infrastructure ---------------------------------------------------------------------------
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
    delta_retention_s: float = env(
        "PARLEY_DELTA_RETENTION_S",
        "How long token deltas stay in the stream for live delivery and resume; terminal events keep the"
        " text and token timing for good (0: keep deltas too).",
        default=3600.0,
        ge=0,
    )

    # -- edge -------------------------------------------------------------------------------------
    host: str = env("PARLEY_HOST", "Address the edge listens on.", default="127.0.0.1")
    port: int = env("PARLEY_PORT", "Port the edge listens on.", default=8000, ge=0, le=65535)
    edge_workers: int = env(
        "PARLEY_EDGE_WORKERS", "Edge processes `parley up` starts (share the port).", default=1, ge=1, le=64
    )
    max_message_bytes: int = env(
        "PARLEY_MAX_MESSAGE_BYTES", "Largest message content accepted (bytes).", default=32 * 1024, ge=1
    )
    ws_queue_size: int = env(
        "PARLEY_WS_QUEUE_SIZE",
        "Frames queued per socket; on overflow the socket closes with 4008 and the client resumes.",
        default=1024,
        ge=8,
    )
    ws_heartbeat_s: float = env(
        "PARLEY_WS_HEARTBEAT_S", "Seconds between server pings; two missed pongs close the socket.", default=20.0, gt=0
    )
    jwt_secret: str | None = env(
        "PARLEY_JWT_SECRET",
        "HS256 secret, at least 32 bytes. With neither key set, auth is off (one local user).",
        default=None,
        min_length=32,
    )
    jwt_public_key: str | None = env(
        "PARLEY_JWT_PUBLIC_KEY", "RS256 public key (PEM text or a path to a PEM file).", default=None
    )
    admin_users: Annotated[list[str], NoDecode] = env(
        "PARLEY_ADMIN_USERS",
        "User ids (token `sub`) allowed to change /llm/config, comma separated. Auth off: the local user.",
        default_factory=list,
    )
    jwt_audience: str | None = env("PARLEY_JWT_AUDIENCE", "Required `aud` claim, if set.", default=None)
    jwt_issuer: str | None = env("PARLEY_JWT_ISSUER", "Required `iss` claim, if set.", default=None)
    jwt_leeway_s: float = env(
        "PARLEY_JWT_LEEWAY_S", "Clock skew allowed on `exp` (every token must have one) and `nbf`.", default=30.0, ge=0
    )
    allow_insecure: bool = env(
        "PARLEY_ALLOW_INSECURE",
        "1: let the edge listen on a non-loopback address with auth off (anyone reaching it is the one user).",
        default=False,
    )
    public_docs: bool = env(
        "PARLEY_PUBLIC_DOCS", "0: no /docs, /redoc, /openapi.json (the API reference) on this edge.", default=True
    )
    metrics_token: str | None = env(
        "PARLEY_METRICS_TOKEN",
        "If set, /metrics answers only `Authorization: Bearer <this>` (a scraper's secret), else 401.",
        default=None,
    )
    ready_max_lag: int = env(
        "PARLEY_READY_MAX_LAG", "Projection lag (events) above which /readyz reports not ready.", default=10_000, ge=0
    )
    # -- fair use, per user (docs/protocol.md#limits) ------------------------------------------------
    sends_per_minute: int = env(
        "PARLEY_SENDS_PER_MINUTE",
        "Messages and regenerations one user may ask for per minute (429 / `rate_limited`; 0: no limit).",
        default=60,
        ge=0,
    )
    answers_in_flight: int = env(
        "PARLEY_ANSWERS_IN_FLIGHT",
        "Answers one user may have pending or streaming at once (429 / `rate_limited`; 0: no limit).",
        default=8,
        ge=0,
    )
    sockets_per_user: int = env(
        "PARLEY_SOCKETS_PER_USER", "Open sockets per user on one edge (close 4429; 0: no limit).", default=32, ge=0
    )
    sessions_per_user: int = env(
        "PARLEY_SESSIONS_PER_USER", "Live sessions one user may keep (429 on create; 0: no limit).", default=1000, ge=0
    )
    web_dist: Path | None = env(
        "PARLEY_WEB_DIST", "Built web UI to serve at /. Default: services/edge/web/dist.", default=None
    )

    # -- generation -------------------------------------------------------------------------------
    generation_workers: int = env(
        "PARLEY_GENERATION_WORKERS", "Generation processes `parley up` starts.", default=1, ge=0, le=64
    )
    generation_concurrency: int = env(
        "PARLEY_GENERATION_CONCURRENCY", "Answers one generation process streams at once.", default=64, ge=1
    )
    generation_user_share: float = env(
        "PARLEY_GENERATION_USER_SHARE",
        "Share of a generation process's answers one user may stream at once (1: no cap; at least one answer).",
        default=0.5,
        gt=0,
        le=1,
    )
    default_provider: Provider = env(
        "PARLEY_DEFAULT_PROVIDER", "Provider for sessions that name none: local or openrouter.", default="local"
    )
    failover: Annotated[list[str], NoDecode] = env(
        "PARLEY_FAILOVER", "Ordered fallbacks, comma separated `provider` or `provider:model`.", default_factory=list
    )
    local_base_url: str | None = env(
        "PARLEY_LOCAL_BASE_URL",
        "OpenAI-compatible server (llama.cpp, Ollama, vLLM). Unset: embedded SmolLM2.",
        default=None,
    )
    local_model: str = env(
        "PARLEY_LOCAL_MODEL", "Default model name on the local provider.", default="smollm2-135m-instruct"
    )
    local_api_key: str | None = env(
        "PARLEY_LOCAL_API_KEY", "Bearer key for the local server, if it wants one.", default=None
    )
    openrouter_base_url: str = env(
        "PARLEY_OPENROUTER_BASE_URL", "OpenRouter API base URL.", default="https://openrouter.ai/api/v1"
    )
    openrouter_api_key: str | None = env(
        "OPENROUTER_API_KEY", "OpenRouter key. Unset: the openrouter provider is not configured.", default=None
    )
    openrouter_model: str = env("PARLEY_OPENROUTER_MODEL", "Default model on OpenRouter.", default="openai/gpt-4o-mini")
    max_tokens: int = env(
        "PARLEY_MAX_TOKENS",
        "Cap on completion tokens per answer until /llm/config sets one (0: no cap).",
        default=1024,
        ge=0,
    )
    connect_timeout_s: float = env("PARLEY_CONNECT_TIMEOUT_S", "Provider connect timeout.", default=5.0, gt=0)
    request_timeout_s: float = env(
        "PARLEY_REQUEST_TIMEOUT_S", "Longest wait for the next token from a provider.", default=60.0, gt=0
    )
    provider_retries: int = env(
        "PARLEY_PROVIDER_RETRIES", "Retries before the first token on connect errors, 429, 5xx.", default=2, ge=0, le=10
    )
    chunk_flush_ms: float = env(
        "PARLEY_CHUNK_FLUSH_MS",
        "Tokens arriving within this window share one chunk event, on an idle worker (the first token"
        " after a pause goes out at once).",
        default=5.0,
        ge=0,
    )
    chunk_budget_ms: float = env(
        "PARLEY_CHUNK_BUDGET_MS",
        "Under load (event-loop lag) the chunk window grows up to this: the most coalescing adds.",
        default=20.0,
        ge=0,
    )
    chunk_max_tokens: int = env("PARLEY_CHUNK_MAX_TOKENS", "Most tokens in one chunk event.", default=32, ge=1)
    ack_wait_s: float = env(
        "PARLEY_ACK_WAIT_S",
        "Seconds before a dead worker's prompt goes to another worker (live ones send progress acks).",
        default=10.0,
        gt=0,
    )
    max_deliver: int = env(
        "PARLEY_MAX_DELIVER", "Deliveries of one prompt before it is given up as failed.", default=5, ge=1
    )

    # -- projections ------------------------------------------------------------------------------
    projection_batch: int = env(
        "PARLEY_PROJECTION_BATCH", "Events applied per projection transaction.", default=500, ge=1
    )
    projection_flush_ms: float = env(
        "PARLEY_PROJECTION_FLUSH_MS", "How often streaming content is written to Postgres.", default=250.0, gt=0
    )
    projections: Annotated[list[str], NoDecode] = env(
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

    # -- audit ------------------------------------------------------------------------------------
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

    # -- logging ----------------------------------------------------------------------------------
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

    @field_validator("local_base_url", "openrouter_base_url", "otel_endpoint")
    @classmethod
    def _http_url(cls, value: str | None) -> str | None:
        if value is None or value == "":
            return None
        parts = urlsplit(value)
        if parts.scheme not in {"http", "https"} or not parts.hostname:
            raise ValueError(f"expected an http(s) URL, got {credentials.redact(value)!r}")
        return value.rstrip("/")

    @field_validator("failover", "admin_users", "projections", mode="before")
    @classmethod
    def _comma_list(cls, value: object) -> object:
        if isinstance(value, str):
            return [item.strip() for item in value.split(",") if item.strip()]
        return value

    @field_validator("failover")
    @classmethod
    def _failover_providers(cls, value: list[str]) -> list[str]:
        for item in value:
            if item.split(":", 1)[0] not in {"local", "openrouter"}:
                raise ValueError(f"unknown provider in {item!r}; expected local or openrouter")
        return value

    @property
    def auth_enabled(self) -> bool:
        return bool(self.jwt_secret or self.jwt_public_key)


def variable_of(field: str) -> str:
    alias = Settings.model_fields[field].validation_alias
    return alias.choices[0] if isinstance(alias, AliasChoices) else field.upper()


class _Environ(EnvSettingsSource):
    """Environment variables from a given mapping instead of ``os.environ``."""

    def __init__(self, settings_cls: type[BaseSettings], environ: Mapping[str, str]) -> None:
        self._environ = environ
        super().__init__(settings_cls)

    def _load_env_vars(self) -> Mapping[str, str | None]:
        return parse_env_vars(self._environ, self.case_sensitive, self.env_ignore_empty, self.env_parse_none_str)


# Never quoted in an error: an error message ends up in logs and terminals.
SECRETS = frozenset(
    {
        "PARLEY_JWT_SECRET",
        "PARLEY_NATS_STORE_KEY",
        "PARLEY_METRICS_TOKEN",
        "PARLEY_LOCAL_API_KEY",
        "OPENROUTER_API_KEY",
    }
)


def load(environ: Mapping[str, str] | None = None) -> Settings:
    """Read settings from ``environ`` (default ``os.environ``); raise one clear ``SettingsError``."""
    source = os.environ if environ is None else environ
    try:
        return Settings(_build_sources=((_Environ(Settings, source),), {}))
    except ValidationError as exc:
        first = exc.errors()[0]
        var = str(first["loc"][0]) if first["loc"] else "settings"
        message = first["msg"].removeprefix("Value error, ")
        if first["type"] != "value_error" and var not in SECRETS:  # our own validators quote it, redacted
            message += f" (got {source.get(var, '')!r})"
        raise SettingsError(f"{var}: {message}") from None


def table() -> str:
    """The Markdown table of every setting, for the README."""
    rows = ["| variable | default | meaning |", "| --- | --- | --- |"]
    for name, field in Settings.model_fields.items():
        default = field.get_default(call_default_factory=True)
        shown = (
            "unset" if default is None else ", ".join(default) or "empty" if isinstance(default, list) else str(default)
        )
        rows.append(f"| `{variable_of(name)}` | `{shown}` | {field.description} |")
    return "\n".join(rows)
