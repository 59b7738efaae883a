"""LLM management for the dashboard: providers with health, models, and the live configuration
(NATS KV: every generation worker applies a change to its next answer, without a restart)."""

from __future__ import annotations

import asyncio
from typing import Any

import msgspec
from fastapi import APIRouter, Body, Request

from services.edge.deps import Admin, User
from services.edge.errors import Invalid, Unavailable
from services.edge.route import CheckedRoute
from services.generation import config
from services.generation.errors import ConfigError, ProviderFailure

router = APIRouter(prefix="/llm", tags=["llm"], route_class=CheckedRoute)

# A provider that does not answer its model list within this is reported unhealthy, not waited for.
CHECK_TIMEOUT_S = 5.0


async def _health(provider) -> dict[str, Any]:
    try:
        health = await asyncio.wait_for(provider.health(), CHECK_TIMEOUT_S)
    except TimeoutError:
        health = provider.last_health()
        health.ok, health.error = False, f"no answer within {CHECK_TIMEOUT_S:g}s"
    return msgspec.to_builtins(health)


@router.get("/providers")
async def providers(request: Request, user: User) -> list[dict[str, Any]]:
    """Every known provider: configured ones with a fresh health check, the others with why not."""
    found = request.app.state.providers
    checks = await asyncio.gather(*(_health(p) for p in found.all()))
    listed = [
        {"name": p.name, "configured": True, "base_url": p.base_url, "default_model": p.default_model, "health": h}
        for p, h in zip(found.all(), checks, strict=True)
    ]
    listed += [
        {"name": name, "configured": False, "reason": why, "health": None} for name, why in found.unconfigured.items()
    ]
    return listed


@router.get("/models")
async def models(request: Request, user: User) -> list[dict[str, Any]]:
    """The models each configured provider serves (``error`` when it could not be asked)."""

    async def listed(provider) -> dict[str, Any]:
        try:
            ids = await asyncio.wait_for(provider.list_models(), CHECK_TIMEOUT_S)
        except (ProviderFailure, TimeoutError) as exc:
            return {"provider": provider.name, "default_model": provider.default_model, "models": [], "error": str(exc)}
        return {"provider": provider.name, "default_model": provider.default_model, "models": ids, "error": None}

    return list(await asyncio.gather(*(listed(p) for p in request.app.state.providers.all())))


@router.get("/health")
async def health(request: Request, user: User) -> dict[str, Any]:
    """``ok`` when the default provider answers; every configured provider's check."""
    found = request.app.state.providers
    checks = await asyncio.gather(*(_health(p) for p in found.all()))
    default = request.app.state.llm_config.current.default_provider
    by_name = {c["provider"]: c for c in checks}
    return {"ok": bool(by_name.get(default, {}).get("ok")), "default_provider": default, "providers": checks}


@router.get("/config")
async def get_config(request: Request, user: User) -> dict[str, Any]:
    """The configuration in force (stored in NATS KV, else from the settings) and its revision."""
    state = request.app.state
    try:
        stored, revision = await config.get(state.js)
    except ConfigError as exc:
        raise Unavailable(str(exc)) from None
    cfg = stored if stored is not None else config.from_settings(state.settings)
    return {**config.to_builtins(cfg), "revision": revision, "stored": stored is not None}


@router.put("/config")
async def put_config(request: Request, user: Admin, body: dict[str, Any] = Body(...)) -> dict[str, Any]:  # noqa: B008
    """Replace the configuration: ``{default_provider, default_model, failover, limits}``."""
    state = request.app.state
    try:
        cfg = config.convert(body)
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
