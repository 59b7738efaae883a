"""Settings of the edge: where it listens, sockets, auth, and each user's fair use."""

from __future__ import annotations

from pathlib import Path

from services.settings.area import Area, CommaList, env


class Edge(Area):
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
    admin_users: CommaList = env(
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

    @property
    def auth_enabled(self) -> bool:
        return bool(self.jwt_secret or self.jwt_public_key)
