"""LLM management for the dashboard: providers with health and models (as the generation workers
publish them: the edge holds no provider key and calls no provider), and the live configuration
(NATS KV: every generation worker applies a change to its next answer, without a restart)."""

from __future__ import annotations

from typing import Any

import msgspec
from fastapi import APIRouter, Body, Request
from nats.errors import Error as NatsError

from services.edge import schemas
from services.edge.deps import Admin, User
from services.edge.errors import Invalid, Unavailable
from services.edge.route import CheckedRoute
from services.generation import config, status
from services.generation.errors import ConfigError

router = APIRouter(prefix="/llm", tags=["llm"], route_class=CheckedRoute)


async def _reports(request: Request) -> list[status.ProviderStatus]:
    try:
        return status.merged(await status.read(request.app.state.js))
    except (NatsError, TimeoutError) as exc:
        raise Unavailable(f"NATS: {exc or type(exc).__name__}") from None


@router.get("/providers", response_model=list[schemas.ProviderStatus])
async def providers(request: Request, user: User) -> list[dict[str, Any]]:
    """Every known provider, as the generation workers last checked it (every few seconds): health,
    latency, last error, models; unconfigured ones with why not."""
    return msgspec.to_builtins(await _reports(request))


@router.get("/models", response_model=list[schemas.ProviderModels])
async def models(request: Request, user: User) -> list[dict[str, Any]]:
    """The models each configured provider serves (``error`` when it could not be asked)."""
    return [
        {"provider": p.name, "default_model": p.default_model, "models": p.models, "error": p.models_error}
        for p in await _reports(request)
        if p.configured
    ]


@router.get("/health", response_model=schemas.LlmHealth)
async def health(request: Request, user: User) -> dict[str, Any]:
    """``ok`` when the default provider answered its latest check; every configured provider's check."""
    checks = [p.health for p in await _reports(request) if p.configured and p.health is not None]
    default = request.app.state.llm_config.current.default_provider
    ok = any(h.provider == default and h.ok for h in checks)
    return {"ok": ok, "default_provider": default, "providers": msgspec.to_builtins(checks)}


@router.get("/config", response_model=schemas.LlmConfigState)
async def get_config(request: Request, user: User) -> dict[str, Any]:
    """The configuration in force (stored in NATS KV, else from the settings) and its revision."""
    state = request.app.state
    try:
        stored, revision = await config.get(state.js)
    except ConfigError as exc:
        raise Unavailable(str(exc)) from None
    cfg = stored if stored is not None else config.from_settings(state.settings)
    return {**config.to_builtins(cfg), "revision": revision, "stored": stored is not None}


@router.put("/config", response_model=schemas.LlmConfigState)
async def put_config(request: Request, user: Admin, body: dict[str, Any] = Body(...)) -> dict[str, Any]:  # noqa: B008
    """Replace the configuration: ``{default_provider, default_model, failover, limits}``."""
    state = request.app.state
    try:
        stored, _ = await config.get(state.js)
    except ConfigError as exc:
        raise Unavailable(str(exc)) from None
    try:
        # What is in force now fills what the body leaves out of `limits` (the token cap).
        cfg = config.convert(body, stored if stored is not None else config.from_settings(state.settings))
    except ConfigError as exc:
        raise Invalid(str(exc), _field_of(str(exc))) from None
    try:
        revision = await config.put(state.js, cfg)
    except ConfigError as exc:
        raise Unavailable(str(exc)) from None
    return {**config.to_builtins(cfg), "revision": revision, "stored": True}


def _field_of(message: str) -> str | None:
    """The field a config error names (msgspec says "... - at `$.limits.max_tokens`")."""
    if "`$." in message:
        return message.rsplit("`$.", 1)[1].split("`", 1)[0]
    if message.startswith("failover["):
        return "failover"
    return None
