"""``parley edge``: uvicorn on PARLEY_HOST:PARLEY_PORT, ``PARLEY_EDGE_WORKERS`` processes sharing
the port. SIGTERM closes open sockets with 1001 (clients resume on another edge)."""

from __future__ import annotations

import os
import tempfile
from typing import Any

import uvicorn

from services import logs, runtime
from services.edge.app import body_limit, create_app
from services.edge.auth import Authenticator, check_exposure
from services.settings import Settings

log = logs.get("edge")

WS_PROTOCOL = "services.edge.wsprotocol:EdgeWebSocketProtocol"
GRACEFUL_SHUTDOWN_S = 10


def uvicorn_options(settings: Settings) -> dict[str, Any]:
    """The uvicorn settings every edge runs with (also used by in-process tests)."""
    return {
        "host": settings.host,
        "port": settings.port,
        "ws": WS_PROTOCOL,
        # Ping every interval; a peer that has not answered by the next one is closed (4002).
        "ws_ping_interval": settings.ws_heartbeat_s,
        "ws_ping_timeout": settings.ws_heartbeat_s,
        "ws_max_size": max(1024 * 1024, body_limit(settings)),
        # No permessage-deflate (every browser offers it): its zlib state takes ~110 KiB per socket
        # after one frame, up to ~300 KiB, and 37 KiB of RSS already idle: several times the rest
        # of a socket (~17 KiB), for frames of a token or two.
        "ws_per_message_deflate": False,
        "lifespan": "on",
        "log_config": None,  # structlog (services.logs) is configured already
        "access_log": False,
        "timeout_graceful_shutdown": GRACEFUL_SHUTDOWN_S,
        "proxy_headers": True,
    }


def main(settings: Settings) -> None:
    runtime.resolve(settings)  # fail now, naming the variable, not inside a worker
    Authenticator.from_settings(settings)
    check_exposure(settings)  # auth off on a reachable address: refuse, naming the variables
    options = uvicorn_options(settings)
    log.info("edge starting", url=f"http://{settings.host}:{settings.port}", workers=settings.edge_workers)
    if settings.edge_workers > 1:
        # One /metrics for all workers: prometheus_client's multiprocess mode.
        os.environ.setdefault("PROMETHEUS_MULTIPROC_DIR", tempfile.mkdtemp(prefix="parley-edge-metrics-"))
        uvicorn.run("services.edge.app:factory", factory=True, workers=settings.edge_workers, **options)
    else:
        uvicorn.run(create_app(settings), **options)
