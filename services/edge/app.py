"""The edge as an ASGI app: ``create_app(settings)`` (and ``factory()`` for uvicorn workers).

Lifespan: connect NATS, make sure the stream exists, open the PostgreSQL pool, start the bridge.
"""

from __future__ import annotations

import math
import os
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import asyncpg
from fastapi import FastAPI, Request, WebSocket
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.types import ASGIApp, Receive, Scope, Send

from events import streams
from services import bus, logs, runtime, tracing
from services.edge import access, metrics
from services.edge.auth import LOCAL_USER, Authenticator
from services.edge.bridge import Bridge
from services.edge.chat import Chat
from services.edge.commands import Limits
from services.edge.errors import EdgeError, Invalid, RateLimited, Unauthorized
from services.edge.headers import SecurityHeaders
from services.edge.quota import Quota
from services.edge.route import validation_errors
from services.edge.routers import exports, health, llm, messages, search, sessions, sockets, usage
from services.edge.web import SinglePageApp, dist_dir
from services.errors import StartupError
from services.generation import config
from services.settings import Settings, load

log = logs.get("edge")

API_PREFIX = "/api/v1"


def limits_of(settings: Settings, cfg: config.LlmConfig) -> Limits:
    """Size limit and the defaults of a new session, from the live LLM configuration."""
    models = {"local": settings.local_model, "openrouter": settings.openrouter_model}
    if cfg.default_model:
        models[cfg.default_provider] = cfg.default_model
    return Limits(
        max_message_bytes=settings.max_message_bytes,
        default_provider=cfg.default_provider,
        default_models=models,
        allowed_models=dict(cfg.models),
    )


def body_limit(settings: Settings) -> int:
    # JSON escaping can blow content up several times; the exact byte check (413) is on the content.
    return 8 * settings.max_message_bytes + 64 * 1024


class RequestMetrics:
    """Count and time every HTTP request by route template (not by raw path: ids would explode labels)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        started = time.perf_counter()
        status = 500

        async def send_status(message):
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_status)
        finally:
            route = scope.get("route")
            path = getattr(route, "path", None) or "unmatched"
            metrics.HTTP_REQUESTS.labels(scope["method"], path, str(status)).inc()
            metrics.HTTP_SECONDS.labels(scope["method"], path).observe(time.perf_counter() - started)


class Edge(FastAPI):
    """FastAPI, except that a WebSocket to one of the two socket endpoints goes straight to it.

    An idle socket holds, for its whole life, every layer it passed through: a coroutine frame per
    middleware (each only passes sockets on), the included routers' scope copies and FastAPI's
    exit stacks of the route call. That was about 13 KiB of an idle socket's ~45 (measured with
    tracemalloc at 1,000 sockets), more than all of Parley's own state for it."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "websocket":
            path = scope["path"].removeprefix(scope.get("root_path", ""))
            if path.startswith(API_PREFIX) and (found := sockets.find(path[len(API_PREFIX) :])):
                endpoint, value = found
                scope["app"] = self  # as Starlette sets it: the endpoints read app.state
                try:
                    await endpoint(WebSocket(scope, receive, send), value)
                except Exception as exc:  # as the app's handler of last resort would report it
                    metrics.ERRORS.labels("internal").inc()
                    log.error("unhandled error", path=path, error=repr(exc), exc_info=exc)
                return
        await super().__call__(scope, receive, send)


def create_app(settings: Settings) -> FastAPI:
    auth = Authenticator.from_settings(settings)  # a bad key fails here, naming the variable
    tracing.setup(settings, "edge")
    rt = runtime.resolve(settings)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        nc = await bus.connect(rt.nats_url, f"parley-edge-{os.getpid()}")
        js = nc.jetstream()
        try:
            await streams.ensure(js, bus.stream_settings(settings))
        except Exception as exc:  # another process may be creating it at the same moment
            log.warning("stream check failed; using it as it is", error=str(exc))
        try:
            pool = await access.open_pool(rt.database_url)
        except (OSError, asyncpg.PostgresError) as exc:
            await nc.close()
            raise StartupError(f"cannot connect to PostgreSQL: {exc}") from exc
        llm_config = await config.LiveConfig(config.from_settings(settings)).start(js, first_value_s=2.0)
        quota = Quota(
            sends_per_minute=settings.sends_per_minute,
            answers_in_flight=settings.answers_in_flight,
            sockets_per_user=settings.sockets_per_user,
        )
        chat = Chat(
            nc=nc,
            js=js,
            pool=pool,
            limits=lambda: limits_of(settings, llm_config.current),
            quota=quota,
            sessions_per_user=settings.sessions_per_user,
        )
        bridge = Bridge(nc, js, on_deleted=chat.access.forget)
        bridge.watchers.append(quota.observe)  # before it starts: every request on the stream counts
        bridge.watchers.append(chat.witness.observe)  # sessions seen whole: sends skip the retry read
        chat.witness.current = bridge.caught_up
        await bridge.start()
        app.state.llm_config = llm_config
        app.state.settings = settings
        app.state.auth = auth
        app.state.nc = nc
        app.state.js = js
        app.state.pool = pool
        app.state.bridge = bridge
        app.state.quota = quota
        app.state.chat = chat
        if not auth.enabled:
            log.info(
                "auth is off: every caller is one local user (set PARLEY_JWT_SECRET or PARLEY_JWT_PUBLIC_KEY)",
                user_id=LOCAL_USER,
            )
        log.info("edge ready", pid=os.getpid(), auth=auth.enabled, algorithms=sorted(auth.keys))
        try:
            yield
        finally:
            await bridge.stop()
            await llm_config.stop()
            await pool.close()
            await nc.close()
            log.info("edge stopped", pid=os.getpid())

    app = Edge(
        title="Parley",
        description="Event-sourced real-time LLM chat. Protocol: docs/protocol.md",
        version="1",
        lifespan=lifespan,
        # PARLEY_PUBLIC_DOCS=0: no API reference for whoever reaches the edge.
        docs_url="/docs" if settings.public_docs else None,
        redoc_url="/redoc" if settings.public_docs else None,
        openapi_url="/openapi.json" if settings.public_docs else None,
        # Oversized bodies get 413 before they are read (chunked ones too).
        max_body_size=body_limit(settings),
    )
    app.state.settings = settings
    app.state.auth = auth

    @app.exception_handler(EdgeError)
    async def edge_error(request: Request, exc: EdgeError) -> JSONResponse:
        if isinstance(exc, Invalid) and exc.field:
            where = "query" if exc.field == "before" else "body"
            detail = [{"loc": [where, *exc.field.split(".")], "msg": exc.detail, "type": "value_error"}]
            return JSONResponse({"detail": detail}, status_code=exc.status)
        headers = {"WWW-Authenticate": "Bearer"} if isinstance(exc, Unauthorized) else None
        if isinstance(exc, RateLimited) and exc.retry_after_s is not None:
            headers = {"Retry-After": str(math.ceil(exc.retry_after_s))}
        if exc.status >= 500:
            metrics.ERRORS.labels(exc.code).inc()
        return JSONResponse({"detail": exc.detail}, status_code=exc.status, headers=headers)

    @app.exception_handler(RequestValidationError)
    async def invalid_request(request: Request, exc: RequestValidationError) -> JSONResponse:
        return JSONResponse({"detail": validation_errors(exc.errors())}, status_code=422)

    @app.exception_handler(Exception)
    async def internal_error(request: Request, exc: Exception) -> JSONResponse:
        metrics.ERRORS.labels("internal").inc()
        log.error("unhandled error", path=request.url.path, error=repr(exc), exc_info=exc)
        return JSONResponse({"detail": "internal error"}, status_code=500)

    # exports first: its /chat/sessions/import must not be taken for a session id.
    for router in (
        exports.router,
        sessions.router,
        messages.router,
        search.router,
        usage.router,
        llm.router,
        health.router,
    ):
        app.include_router(router, prefix=API_PREFIX)
    app.include_router(health.router)  # probes at the root too
    if (dist := dist_dir(settings)) is not None:
        # Mounted last: API routes take precedence.
        app.mount("/", SinglePageApp(dist), name="web")
    app.add_middleware(RequestMetrics)
    app.add_middleware(SecurityHeaders)  # outermost: error responses get them too
    return app


def factory() -> FastAPI:
    """For uvicorn workers (``PARLEY_EDGE_WORKERS`` > 1): each worker reads the environment."""
    settings = load()
    logs.configure(settings.log_level, settings.log_format, process="edge")
    return create_app(settings)
